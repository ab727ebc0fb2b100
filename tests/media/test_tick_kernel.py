"""The tick's C kernels give exactly what the numpy expressions they replaced give."""
import numpy as np
import pytest

from trunkline.dsp.g711 import MixedLawCodec
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


def test_capture_and_interleave():
    rng = np.random.default_rng(6)
    buf = np.zeros((8, 5, 2, BLOCK), np.uint8)
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
