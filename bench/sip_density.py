"""RTP channel density on one core: N concurrent G.711 calls on a SIP span, full duplex with 20 ms packets,
through the whole engine tick (RTP receive + jitter buffer + PLC, G.711, DTMF detection on every channel,
a looping prompt on every channel, G.711, RTP send).

Run: python -m bench.sip_density [--channels 1000 5000] [--ticks 100] [--per-socket 16 1]

The far ends are a second RTP bank in the same process (the same C core) sending every stream mixed
traffic (DTMF presses, noise bursts, silence) over loopback UDP; its time is measured and left out.
Reported per tick: the engine's CPU time (RTP I/O included), the far end's, and channels per core =
N x 20 ms / engine time; the last line is
`sip_density channels=N per_socket=P engine_ms=E rtp_io_ms=I far_ms=F rx_packets=R digits=D channels_per_core=X`
per N (rtp_io_ms: the RTP send/receive/jitter-buffer call alone, part of engine_ms).
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from bench.engine_density import traffic  # noqa: E402
from trunkline.drivers.backends.rtp_bank import PCMA, RtpBank  # noqa: E402
from trunkline.drivers.board import open_board  # noqa: E402
from trunkline.drivers.sip.config import SipSettings  # noqa: E402
from trunkline.dsp.g711 import ALAW_ENCODE  # noqa: E402
from trunkline.media import Engine  # noqa: E402

TICK = 0.020


def raise_fd_limit(need):
    """Raise the open-files limit to `need` (3 sockets per call: our RTP and RTCP, the far end's RTP)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < need:
        raise SystemExit(f"need {need} open files, the limit is {soft} (ulimit -n)")


def measure(channels, ticks=100, seed=1, per_socket=16):
    """(engine s/tick, far end s/tick, packets Trunkline received, digits detected) with all channels busy;
    `per_socket` streams share one RTP socket on both sides (1: a socket per call, the old way)."""
    raise_fd_limit(3 * channels // per_socket + 256)
    board = open_board("sip://bench", sip=SipSettings("127.0.0.1:0", channels=channels, rtp_per_socket=per_socket))
    engine = Engine(board)
    rtp = board.sip_parts[0][0].rtp
    far = RtpBank(channels, per_socket=per_socket, rtcp=False)    # the far ends send no RTCP
    for ch in range(channels):
        ours = rtp.open(ch)
        theirs = far.open(ch)
        rtp.start(ch, ("127.0.0.1", theirs), PCMA, 101, comedia=False, remote_ssrc=far.ssrc(ch))
        far.start(ch, ("127.0.0.1", ours), PCMA, 101, comedia=False, remote_ssrc=rtp.ssrc(ch))
    rng = np.random.default_rng(seed)
    n = (ticks + 10) * 160
    patterns = np.stack([ALAW_ENCODE[traffic(n / 8000, rng).astype(np.int32) + 32768] for _ in range(16)])
    rows = np.arange(channels) % 16
    prompt = (np.sin(np.arange(8000) * 2 * np.pi * 425 / 8000) * 4000).astype(np.int16)
    clip = engine.pool.add(prompt, key="bench-prompt")
    for ch in range(channels):
        engine.players.play(ch, clip, loop=True)
    digits = [0]
    orig = engine.detector.process if engine.detector is not None else None

    def counting(block):
        found = orig(block) if orig is not None else []
        digits[0] += len(found)
        return found
    engine.detector.process = counting   # type: ignore[union-attr]
    io_time = [0.0]
    rtp_io = rtp.io

    def timed_io(*a):
        t0 = time.process_time()
        out = rtp_io(*a)
        io_time[0] += time.process_time() - t0
        return out
    rtp.io = timed_io
    far_in = np.zeros((channels, 160), dtype=np.uint8)
    far_time = 0.0
    eng_time = 0.0
    for t in range(ticks + 5):
        t0 = time.process_time()
        far.set_out(patterns[rows, t * 160:(t + 1) * 160])
        far.io(far_in, t * 160)
        t1 = time.process_time()
        engine.tick()
        t2 = time.process_time()
        if t == 4:
            io_time[0] = 0.0
        if t >= 5:                               # warm-up ticks left out
            far_time += t1 - t0
            eng_time += t2 - t1
    received = sum(rtp.stats(ch).rx_packets for ch in range(channels))
    far.close_all()
    board.close()
    engine.close()
    return eng_time / ticks, far_time / ticks, received, digits[0], io_time[0] / ticks


def main(argv=None):
    """Print the SIP/RTP density report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, nargs="+", default=[1000, 5000])
    p.add_argument("--ticks", type=int, default=100)
    p.add_argument("--per-socket", type=int, nargs="+", default=[16],
                   help="RTP streams per shared socket (1: a socket per call, as before #19's shared sockets)")
    args = p.parse_args(argv)
    print("SIP/RTP density (one core; CPU time per 20 ms tick, full duplex G.711, DTMF detection on all)")
    for per in args.per_socket:
        for n in args.channels:
            eng, far, rx, digits, rtp_io = measure(n, args.ticks, per_socket=per)
            print(f"sip_density channels={n} per_socket={per} engine_ms={eng * 1e3:.2f} rtp_io_ms={rtp_io * 1e3:.2f} "
                  f"far_ms={far * 1e3:.2f} rx_packets={rx} digits={digits} channels_per_core={TICK / (eng / n):.0f}")


if __name__ == "__main__":
    main()
