"""The tick's C kernels give exactly what the numpy expressions they replaced give."""
import numpy as np
import pytest

from trunkline.dsp.g711 import ALAW_DECODE, ULAW_DECODE, MixedLawCodec
from trunkline.media import tick_kernel as tk
from trunkline.media.player import ClipPool, PlayerBank

BLOCK = 160


def test_decode_encode_match_the_mixed_law_codec():
    laws = ["alaw", "ulaw", "alaw", "ulaw", "ulaw"] * 40
    kern, codec = tk.TickKernel(laws, BLOCK), MixedLawCodec(laws)
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (len(laws), BLOCK), dtype=np.uint8)
    assert np.array_equal(kern.decode(codes), codec.decode(codes))
    acc = rng.integers(-80000, 80000, (len(laws), BLOCK)).astype(np.int32)
    acc[0, :4] = [-32769, -32768, 32767, 32768]
    out, enc = kern.encode(acc)
    ref = np.clip(acc, -32768, 32767).astype(np.int16)
    assert np.array_equal(out, ref) and np.array_equal(enc, codec.encode(ref))


def test_decode_every_code_both_laws():
    """All 256 codes on A-law and mu-law rows (G.711's rule in AVX2 where the CPU has it): the dsp.g711 tables."""
    codes = np.tile(np.arange(256, dtype=np.uint8), 5).reshape(8, BLOCK)
    for law, table in (("alaw", ALAW_DECODE), ("ulaw", ULAW_DECODE)):
        assert np.array_equal(tk.TickKernel([law] * 8, BLOCK).decode(codes), table[codes]), law


def test_encode_every_value_both_laws():
    """Every int16 value and beyond (clipped), on A-law rows (arithmetic encoder where the CPU has AVX2) and
    mu-law rows (table): the codes of dsp.g711's tables."""
    acc = np.arange(-33040, -33040 + 413 * BLOCK, dtype=np.int32).reshape(413, BLOCK)     # -33040 .. 33039
    clipped = np.clip(acc, -32768, 32767).astype(np.int16)
    for law in ("alaw", "ulaw"):
        out, codes = tk.TickKernel([law] * acc.shape[0], BLOCK).encode(acc)
        codec = MixedLawCodec([law] * acc.shape[0])
        assert np.array_equal(out, clipped) and np.array_equal(codes, codec.encode(clipped)), law


def test_gather_add_is_the_bridge_sum():
    rng = np.random.default_rng(4)
    src = rng.integers(-30000, 30000, (10, BLOCK)).astype(np.int16)
    acc = rng.integers(-1000, 1000, (10, BLOCK)).astype(np.int32)
    want = acc.copy()
    dst, frm = np.array([1, 2, 7, 8]), np.array([2, 1, 8, 7])
    want[dst] += src[frm]
    tk.gather_add(acc, src, dst, frm)
    assert np.array_equal(acc, want)


def test_players_inside_ending_wrapping_and_short_clips():
    pool = ClipPool(4000)
    rng = np.random.default_rng(5)
    long_clip = pool.add(rng.integers(-9000, 9000, 1000).astype(np.int16))
    short = pool.add(rng.integers(-9000, 9000, 70).astype(np.int16))   # shorter than a block
    bank = PlayerBank(6, BLOCK, pool)
    bank.play(0, long_clip)
    bank.play(1, long_clip, loop=True)
    bank.play(2, short, loop=True)
    bank.play(3, short)
    bank.play(5, long_clip)
    data = pool.data.copy()
    refs = {ch: [] for ch in range(6)}
    for ch, (start, n), loop in ((0, long_clip, False), (1, long_clip, True), (2, short, True), (3, short, False),
                                 (5, long_clip, False)):
        clip = data[start:start + n]
        whole = np.tile(clip, 12 * BLOCK // n + 1) if loop else np.concatenate([clip, np.zeros(12 * BLOCK, np.int16)])
        refs[ch] = whole
    for t in range(9):
        acc = np.full((6, BLOCK), 3, np.int32)
        bank.mix(acc)
        for ch in range(6):
            want = np.full(BLOCK, 3, np.int32)
            if ch != 4:
                want += refs[ch][t * BLOCK:(t + 1) * BLOCK]
            if ch in (0, 3, 5) and t * BLOCK >= (1000 if ch != 3 else 70):
                want[:] = 3                      # ended: no longer mixed
            assert np.array_equal(acc[ch], want), (t, ch)
    assert not bank.playing(0) and not bank.playing(3) and bank.playing(1) and bank.playing(2)


@pytest.mark.parametrize("aligned", [True, False])
def test_capture_and_interleave(aligned):
    rng = np.random.default_rng(6)
    # an aligned buffer takes the streaming-store path, a buffer one byte off the plain copy
    buf = np.zeros((8, 5, 2, BLOCK), np.uint8) if aligned else \
        np.zeros(8 * 5 * 2 * BLOCK + 1, np.uint8)[1:].reshape(8, 5, 2, BLOCK)
    ci = rng.integers(0, 256, (12, BLOCK), dtype=np.uint8)
    co = rng.integers(0, 256, (12, BLOCK), dtype=np.uint8)
    ch = np.array([3, 0, 11, 5, 0, 0, 0, 0])
    for t in range(5):
        tk.capture(buf, 4, t, ch, np.roll(ci, t, axis=1), co)
    for s in range(4):
        for t in range(5):
            assert np.array_equal(buf[s, t, 0], np.roll(ci, t, axis=1)[ch[s]])
            assert np.array_equal(buf[s, t, 1], co[ch[s]])
    assert not buf[4:].any()
    pairs = tk.interleave(buf, 2, 1, 4)
    assert pairs.shape == (3 * BLOCK, 2)
    assert np.array_equal(pairs[:, 0], buf[2, 1:4, 0].reshape(-1))
    assert np.array_equal(pairs[:, 1], buf[2, 1:4, 1].reshape(-1))


def test_bad_rows_and_dtypes_raise_instead_of_reading_out_of_bounds():
    buf = np.zeros((4, 5, 2, BLOCK), np.uint8)
    codes = np.zeros((3, BLOCK), np.uint8)
    with pytest.raises(IndexError):
        tk.capture(buf, 2, 0, np.array([0, 3]), codes, codes)
    with pytest.raises(IndexError):
        tk.gather_add(np.zeros((3, BLOCK), np.int32), codes.astype(np.int16), np.array([0]), np.array([-1]))
    with pytest.raises(ValueError):
        tk.TickKernel(["alaw"] * 3, BLOCK).encode(np.zeros((3, BLOCK), np.int64))


def _stage1_margin(det, frames, nw):
    """Per window, the smallest relative distance (float64) of stage 1's quantities from a decision boundary."""
    x = frames[:, :nw * det.win].reshape(-1, det.win)[:, ::det.decim].astype(np.float64)
    e = (x * x).sum(axis=1)
    y = x @ det._basis_t.astype(np.float64)
    p = y[:, :8] ** 2 + y[:, 8:] ** 2
    rows, cols = np.sort(p[:, :4], axis=1), np.sort(p[:, 4:], axis=1)
    row, col = rows[:, -1], cols[:, -1]
    tiny = 1e-30
    return np.min(np.stack([
        abs(e / float(det._min_energy) - 1),
        abs(np.minimum(row, col) / float(det._thr) - 1),
        abs((row + col) / np.maximum(float(det._frac) * e, tiny) - 1),
        (rows[:, -1] - rows[:, -2]) / np.maximum(row, tiny),     # near-tie of the two strongest row tones
        (cols[:, -1] - cols[:, -2]) / np.maximum(col, tiny)]), axis=0)


def test_dtmf_stage1_matches_numpy_up_to_float32_rounding_at_the_gates():
    """Speech-like noise at many levels, key presses from -45 to 0 dBm0 (around the -36 dBm0 threshold),
    twisted and off-frequency pairs, silence: the C stage 1 marks the candidates numpy marks; a window may
    differ only when it lies within float32 rounding (1e-4) of a threshold or of a tie."""
    from dtmf_corpus import tone_pair

    from trunkline.dsp.dtmf import DIGITS, DTMFDetector
    rng = np.random.default_rng(21)
    chans, nw = 600, 40
    a = np.zeros((chans, nw * 80), np.float64)
    for ch in range(chans):
        kind = ch % 4
        if kind == 0:
            a[ch] = rng.normal(0, float(rng.choice([3, 100, 1000, 6000])), a.shape[1])
        elif kind == 1:      # key presses near and above the threshold, with twist and frequency offsets
            d = DIGITS[ch % 16]
            low = float(rng.uniform(-45, 0))
            drow, dcol = rng.uniform(-0.03, 0.03, 2)
            pair = tone_pair(d, 400, low=low, high=low + float(rng.uniform(-8, 8)), drow=drow, dcol=dcol, rng=rng)
            a[ch, :len(pair)] = pair[:a.shape[1]]
            a[ch] += rng.normal(0, float(rng.choice([1, 30, 300])), a.shape[1])
        elif kind == 2:      # speech-like: noise shaped by a slow envelope, with voiced harmonics
            t = np.arange(a.shape[1]) / 8000
            f0 = float(rng.uniform(90, 250))
            voiced = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 12))
            a[ch] = (3000 * voiced + rng.normal(0, 500, t.size)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    frames = np.clip(np.rint(a), -32768, 32767).astype(np.int16)
    det = DTMFDetector(chans)
    ref, todo, _ = det._stage1_numpy(frames, nw)
    for gi, digit, _, _ in todo:         # windows for stage 2 (every candidate here: no digit is held yet)
        ref[gi] = digit
    got, _, _ = DTMFDetector(chans, stage1=tk.dtmf_stage1)._stage1_compiled(tk.dtmf_stage1, frames, nw)
    assert np.count_nonzero(ref >= 0) > 200                  # plenty of candidates, and plenty of rejections
    differ = np.flatnonzero(ref != got)
    margin = _stage1_margin(det, frames, nw)
    print(f"\n{ref.size} windows, {np.count_nonzero(ref >= 0)} candidates, {differ.size} differ "
          f"(margins {np.round(margin[differ], 7).tolist()})")
    assert np.all(margin[differ] < 1e-4)
    assert differ.size <= 3
    # 16 kHz (decimation 4): the kernel's generic one-window path, same rule
    wide = np.repeat(frames[:200], 2, axis=1)
    det16 = DTMFDetector(200, rate=16000)
    ref16, todo16, _ = det16._stage1_numpy(wide, nw)
    for gi, digit, _, _ in todo16:
        ref16[gi] = digit
    got16, _, _ = DTMFDetector(200, rate=16000)._stage1_compiled(tk.dtmf_stage1, wide, nw)
    differ16 = np.flatnonzero(ref16 != got16)
    assert np.count_nonzero(ref16 >= 0) > 50 and differ16.size <= 3
    assert np.all(_stage1_margin(det16, wide, nw)[differ16] < 1e-4)


def test_dtmf_stage1_rejects_bad_shapes():
    basis = np.zeros((40, 16), np.float32)
    frames = np.zeros((3, 160), np.int16)
    frames[:, 120:] = np.arange(40)
    out, tail = np.zeros(6, np.int8), np.zeros((3, 40), np.int16)
    assert tk.dtmf_stage1(frames, 2, 80, 2, basis, 1.0, 1.0, 1.0, out, tail) == 0 and (out == -1).all()
    assert (tail == np.arange(40)).all()                                           # each row's last half window
    with pytest.raises(ValueError):
        tk.dtmf_stage1(frames, 3, 80, 2, basis, 1.0, 1.0, 1.0, out, tail)        # more windows than samples
    with pytest.raises(ValueError):
        tk.dtmf_stage1(frames, 2, 80, 2, basis[:20], 1.0, 1.0, 1.0, out, tail)   # basis of the wrong size
    with pytest.raises(ValueError):
        tk.dtmf_stage1(frames, 2, 80, 2, basis, 1.0, 1.0, 1.0, out, tail[:2])    # tail rows
    with pytest.raises(ValueError):
        tk.dtmf_stage1(frames.astype(np.int32), 2, 80, 2, basis, 1.0, 1.0, 1.0, out, tail)


def test_dtmf_stage2_matches_numpy_up_to_float32_rounding():
    """Key presses with frequency offsets around the 2.5 % tolerance and twists around the limits, in noise: the
    C stage 2 measures the deviations numpy's _verify measures (to float32 rounding) and passes the same windows
    but for a few within rounding of a limit."""
    from dtmf_corpus import tone_pair

    from trunkline.dsp.dtmf import DIGITS, DTMFDetector
    rng = np.random.default_rng(22)
    chans, nw = 400, 20
    a = np.zeros((chans, nw * 80), np.float64)
    for ch in range(chans):
        low = float(rng.uniform(-30, -3))
        drow, dcol = rng.uniform(-0.035, 0.035, 2)
        pair = tone_pair(DIGITS[ch % 16], 200, low=low, high=low + float(rng.uniform(-11, 11)), drow=drow, dcol=dcol,
                         rng=rng)
        a[ch, :len(pair)] = pair[:a.shape[1]]
        a[ch] += rng.normal(0, float(rng.choice([1, 30, 300])), a.shape[1])
    frames = np.clip(np.rint(a), -32768, 32767).astype(np.int16)
    ref_det, c_det = DTMFDetector(chans), DTMFDetector(chans, stage2=tk.dtmf_stage2)
    cand, todo, touched = ref_det._stage1_numpy(frames, nw)
    ref, ref_dev, _ = ref_det._stage2(frames, nw, cand.copy(), todo, touched)
    got, got_dev, _ = c_det._stage2(frames, nw, cand.copy(), todo, touched)
    gi = np.concatenate([t[0] for t in todo])
    assert gi.size > 2000 and np.count_nonzero(ref >= 0) > 1000 and np.count_nonzero(ref.ravel()[gi] < 0) > 300
    assert np.allclose(got_dev, ref_dev, rtol=1e-4, atol=0.02)
    assert np.count_nonzero(got != ref) <= 3
