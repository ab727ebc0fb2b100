"""DTMFGenerator: spandsp's dtmf_rx decodes everything it makes; our detector decodes spandsp's dtmf_tx."""
import numpy as np
import pytest
from peers.spandsp_dtmf import spandsp_detect, spandsp_generate

from trunkline.dsp.dtmf import DIGITS, DTMFDetector, DTMFGenerator
from trunkline.dsp.level import block_dbm0


def run_generator(gen, block=160, tail=800):
    out = []
    while any(gen.busy(c) for c in range(gen.channels)):
        out.append(gen.generate(block))
    out.append(gen.generate(tail))
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize("level", [-26, -20, -10, -3, 0])
@pytest.mark.parametrize("on_ms,off_ms", [(40, 40), (50, 50), (100, 100)])
def test_spandsp_decodes_our_digits(level, on_ms, off_ms):
    gen = DTMFGenerator(3, level=level, on_ms=on_ms, off_ms=off_ms)
    gen.put(0, DIGITS)
    gen.put(1, DIGITS[::-1])
    gen.put(2, "5")
    sig = run_generator(gen)
    got = [spandsp_detect(sig[c]) for c in range(3)]
    det = DTMFDetector(3)
    mine = [""] * 3
    for c, d in det.process(sig):
        mine[c] += d
    print(f"\nours at {level} dBm0 {on_ms}/{off_ms} ms -> spandsp {got} | our detector {mine}")
    assert got == [DIGITS, DIGITS[::-1], "5"]
    assert mine == got


@pytest.mark.parametrize("level,twist", [(-26, 0), (-10, 0), (-10, 2), (-4, -3), (-6, 0)])
@pytest.mark.parametrize("on_ms,off_ms", [(40, 40), (50, 55), (100, 100)])
def test_we_decode_spandsp_digits(level, twist, on_ms, off_ms):
    sig = spandsp_generate(DIGITS, level=level, twist=twist, on_ms=on_ms, off_ms=off_ms)
    det = DTMFDetector(1)
    mine = "".join(d for k in range(0, len(sig), 160) for _, d in det.process(sig[None, k:k + 160]))
    sp = spandsp_detect(sig)
    print(f"\nspandsp tx {level} dBm0 twist {twist} {on_ms}/{off_ms} ms: ours {mine!r} | spandsp {sp!r}")
    assert mine == DIGITS


def test_level_timing_and_queue():
    gen = DTMFGenerator(2, level=-10, on_ms=100, off_ms=50)
    gen.set_level(1, -20, twist=2)
    gen.put(0, "1")
    gen.put(1, "1")
    assert gen.busy(0) and gen.busy(1)
    sig = gen.generate(800 + 400)
    on = sig[:, :800]
    # two tones at L dBm0 each: 3 dB above one tone
    lv = block_dbm0(on)
    print(f"\nmeasured levels {lv.round(2)} dBm0 "
          f"(want {-10 + 3.01:.2f} and about {-20 + 10 * np.log10(1 + 10 ** 0.2):.2f})")
    assert abs(lv[0] - (-10 + 3.01)) < 0.1
    assert abs(lv[1] - (-20 + 10 * np.log10(1 + 10 ** 0.2))) < 0.1
    assert np.all(sig[:, 800:] == 0)          # the pause
    assert not gen.busy(0)
    with pytest.raises(ValueError):
        gen.put(0, "12X")
    assert not gen.busy(0)                     # bad input queued nothing
    with pytest.raises(ValueError):
        gen.set_timing(0, 0, 10)
    gen.put(0, "123")
    gen.clear(0)
    assert not gen.busy(0)
    assert np.all(gen.generate(160) == 0)
