"""Media engine density on one core: G.711 both ways, DTMF detection and playback on every channel.

Run: python -m bench.engine_density [--channels 1000 10000] [--ticks 50]

A simulated card of N channels (the density preset) feeds every channel a different
stretch of mixed traffic (DTMF key presses, noise bursts standing in for speech,
silence) from its far end; the engine plays a looping prompt on every channel and
runs DTMF detection over all of them. Reported per tick (20 ms of audio): the CPU time
of the engine's own work and of the simulated card's C core separately, the fraction
of the 20 ms tick the engine uses, and channels per core = N x 20 ms / engine time.
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from trunkline.drivers.board import open_board  # noqa: E402
from trunkline.hw_sim import forget_card, open_card  # noqa: E402
from trunkline.media import Engine  # noqa: E402
from trunkline.pstn import render_dtmf  # noqa: E402

TICK = 0.020


def traffic(seconds, rng):
    """One channel's far-end audio: a mix of DTMF, noise bursts and silence (int16, 8 kHz)."""
    n = int(seconds * 8000)
    kind = rng.integers(3)
    if kind == 0:
        digits = "".join(rng.choice(list("0123456789*#"), size=int(seconds * 5)))
        x = render_dtmf(digits, on_ms=100, off_ms=100)[:n]
    elif kind == 1:
        env = np.repeat(rng.random(int(seconds * 10)) > 0.4, 800)[:n]
        x = (rng.normal(0, 2500, n) * env).astype(np.int16)
    else:
        x = rng.normal(0, 20, n).astype(np.int16)
    return np.pad(x, (0, n - len(x)))


def measure(channels, ticks=50, seed=1):
    """Per-tick CPU seconds (engine work, card work) with `channels` channels all busy."""
    name = f"density{channels}"
    forget_card(name)
    url = f"sim://{name}?channels={channels}"
    card = open_card(url)
    rng = np.random.default_rng(seed)
    seconds = (ticks + 5) * TICK
    patterns = [traffic(seconds, rng) for _ in range(16)]
    for ch in range(channels):
        card.far_play(ch, patterns[ch % 16])
    board = open_board(url)
    engine = Engine(board)
    prompt = (np.sin(np.arange(8000) * 2 * np.pi * 425 / 8000) * 4000).astype(np.int16)
    clip = engine.pool.add(prompt, key="bench-prompt")
    for ch in range(channels):
        engine.players.play(ch, clip, loop=True)
    card_time = [0.0]
    orig_tick = board.backend.tick

    def timed_card_tick():
        t0 = time.process_time()
        orig_tick()
        card_time[0] += time.process_time() - t0
    board.backend.tick = timed_card_tick
    for _ in range(3):                       # warm up caches and allocations
        engine.tick()
    card_time[0] = 0.0
    t0 = time.process_time()
    for _ in range(ticks):
        engine.tick()
    total = time.process_time() - t0
    forget_card(name)
    engine.close()
    return (total - card_time[0]) / ticks, card_time[0] / ticks


def main(argv=None):
    """Print the engine density report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--ticks", type=int, default=50)
    args = p.parse_args(argv)
    print("engine density (one core; CPU time per 20 ms tick)")
    print(f"{'channels':>9} {'engine ms/tick':>15} {'card ms/tick':>13} {'tick used':>10} "
          f"{'us/ch/block':>12} {'channels/core':>14}")
    for n in args.channels:
        eng, card = measure(n, args.ticks)
        per = eng / n
        print(f"{n:>9} {eng * 1e3:>15.2f} {card * 1e3:>13.2f} {eng / TICK:>9.1%} {per * 1e6:>12.2f} "
              f"{TICK / per:>14.0f}")


if __name__ == "__main__":
    main()
