"""Per-tick I/O cost of the dahdi:// backend on the emulated /dev/dahdi, beside sim://.

Run: python -m bench.dahdi_io [--channels 120 480 1920] [--ticks 500]

For N bearer channels (N/30 E1 spans, PRI: 30 clear channels + an HDLC D-channel each) the board
does what the engine does every tick: read every channel's block, write one back, tick, take the
events. On dahdi:// that is one C call (`tld_io`: write + poll + read over every channel fd) going
through the LD_PRELOAD shim; on sim:// one memcpy each way. Both run the same card core underneath
(its tick is inside both figures). Reported: CPU microseconds per channel per tick, and the dahdi
overhead (dahdi - sim). On a real card the shim's part is the kernel's. The command starts itself
again with the shim preloaded when needed.
"""
import argparse
import os
import sys
import time

from trunkline.drivers.board import Board, open_board
from trunkline.hw_sim import forget_card, open_card
from trunkline.hw_sim.dahdi_emu import EmulatedDahdi, preload_env, shim_loaded


def per_tick(board: Board, ticks: int) -> float:
    """CPU seconds per tick of read + write + tick + events on a board."""
    for _ in range(10):
        board.write(board.read())
        board.tick()
        board.events()
    t0 = time.process_time()
    for _ in range(ticks):
        codes = board.read()
        board.write(codes)
        board.tick()
        board.events()
    return (time.process_time() - t0) / ticks


def measure(channels: int, ticks: int) -> tuple[float, float]:
    """(sim us, dahdi us) per channel per tick for `channels` bearer channels."""
    spans = max(1, channels // 30)
    forget_card("bench_sim")
    sim_board = open_board(f"sim://bench_sim?e1={spans}")
    sim = per_tick(sim_board, ticks)
    forget_card("bench_sim")
    forget_card("bench_dahdi")
    card = open_card(f"sim://bench_dahdi?e1={spans}")
    emu = EmulatedDahdi(card, "pri")
    board = open_board("dahdi://?ec=0")
    board.set_realtime(False)
    try:
        dahdi = per_tick(board, ticks)
    finally:
        board.close()
        emu.close()
        forget_card("bench_dahdi")
    n = spans * 30
    return sim / n * 1e6, dahdi / n * 1e6


def main(argv: list[str] | None = None) -> int:
    """Print one line per channel count; the last line sums up the largest."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, nargs="+", default=[120, 480, 1920])
    p.add_argument("--ticks", type=int, default=500)
    args = p.parse_args(argv)
    if not shim_loaded():
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, "-m", "bench.dahdi_io", *sys.argv[1:]], preload_env())
    rows = []
    for n in args.channels:
        sim, dahdi = measure(n, args.ticks)
        rows.append((n, sim, dahdi))
        print(f"channels={n:5d}  sim:// {sim:7.3f} us/ch/tick   dahdi:// (emulated) {dahdi:7.3f} us/ch/tick   "
              f"overhead {dahdi - sim:7.3f} us/ch/tick   ({dahdi * n / 20000 * 100:5.2f}% of a 20 ms tick)")
    n, sim, dahdi = rows[-1]
    print(f"dahdi_io channels={n} sim_us={sim:.3f} dahdi_us={dahdi:.3f} per_channel_per_tick")
    return 0


if __name__ == "__main__":
    sys.exit(main())
