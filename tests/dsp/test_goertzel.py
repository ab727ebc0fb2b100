"""The sliding tone bank gives the frames, end offsets, amplitudes and powers of Framer + ToneBank."""
import numpy as np
import pytest

from trunkline.dsp.goertzel import Framer, SlidingToneBank, ToneBank

FREQS = (350.0, 440.0, 450.0, 950.0, 1100.0, 1400.0, 1800.0, 2100.0)


@pytest.mark.parametrize("block", [1, 33, 80, 160, 250, 320, 1000])
def test_sliding_bank_matches_framer_and_tone_bank(block):
    rng = np.random.default_rng(block)
    chans, total = 7, 4000
    t = np.arange(total) / 8000
    x = rng.normal(0, 300, (chans, total))
    x[1] += 8000 * np.sin(2 * np.pi * 450 * t)                 # a tone on a bin, one off bins, a pair
    x[2] += 5000 * np.sin(2 * np.pi * 1117 * t + 1.0)
    x[3] += 3000 * np.sin(2 * np.pi * 950 * t) + 3000 * np.sin(2 * np.pi * 1400 * t)
    x[4] = 0
    pcm = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    framer, bank = Framer(chans, 320, 80), ToneBank(FREQS, 320)
    slide = SlidingToneBank(chans, FREQS, 320, 80)
    seen = 0
    for k in range(0, total, block):
        if k == 2000:                                     # a reset in the middle: both start that channel afresh
            framer.reset(5)
            slide.reset(5)
        frames, ends = framer.push(pcm[:, k:k + block])
        amp, pwr, ends2 = slide.push(pcm[:, k:k + block])
        assert np.array_equal(ends, ends2)
        if frames.shape[1]:
            seen += frames.shape[1]
            want_a, want_p = bank.amplitudes(frames), ToneBank.power(frames)
            scale = np.sqrt(want_p)[..., None] + 1.0           # amplitude units: rounding relative to the frame
            assert np.all(np.abs(amp - want_a) <= 1e-4 * scale)
            assert np.allclose(pwr, want_p, rtol=1e-4, atol=1e-3)
    assert seen == total // 80


def test_sliding_bank_grows_and_checks_shapes():
    slide = SlidingToneBank(2, FREQS, 320, 80)
    slide.push(np.ones((2, 100), np.int16))
    slide.grow(4)
    amp, pwr, ends = slide.push(np.zeros((4, 160), np.int16))
    assert amp.shape == (4, 2, len(FREQS)) and pwr.shape == (4, 2) and list(ends) == [60, 140]
    assert not amp[2:].any() and not pwr[2:].any() and pwr[:2].all()
    with pytest.raises(ValueError):
        slide.push(np.zeros((3, 160), np.int16))
    with pytest.raises(ValueError):
        SlidingToneBank(2, FREQS, 300, 80)
