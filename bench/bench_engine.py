"""pytest-benchmark: one engine tick with every channel busy (G.711 both ways, DTMF, playback)."""
import numpy as np
import pytest

from trunkline.drivers.board import open_board
from trunkline.hw_sim import forget_card, open_card
from trunkline.media import Engine


@pytest.mark.parametrize("channels", [1000, 10000])
def test_engine_tick(benchmark, channels):
    name = f"bench_tick_{channels}"
    forget_card(name)
    url = f"sim://{name}?channels={channels}"
    open_card(url)
    engine = Engine(open_board(url))
    clip = engine.pool.add((np.sin(np.arange(8000) / 3) * 4000).astype(np.int16), key="p")
    for ch in range(channels):
        engine.players.play(ch, clip, loop=True)
    benchmark(engine.tick)
    engine.close()
    forget_card(name)
