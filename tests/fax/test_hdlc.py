"""HDLC framing and CRC-16/CRC-32 against libspandsp's hdlc_tx/hdlc_rx and crc_itu16/crc_itu32."""
import numpy as np
import pytest
from peers.spandsp_fax import SpandspHDLCRx, SpandspHDLCTx, ffi, spandsp

from trunkline.fax import hdlc
from trunkline.fax.v17 import V17Tx

RNG = np.random.default_rng(7)
FRAMES = [b"\xff\x13\x80\x00\xce\xf4\x80\x80\x81\x80\x80\x80\x18", b"\xff\x03\x40" + b" 7654321 ",
          bytes(range(256)), b"\x7e\x7e\xff\xff\x1f\xf8"] + [RNG.integers(0, 256, n).astype(np.uint8).tobytes()
                                                            for n in (3, 17, 64, 260)]


@pytest.mark.parametrize("n", [1, 2, 5, 64, 256, 1000])
def test_crc_matches_spandsp(n):
    L = spandsp()
    data = RNG.integers(0, 256, n).astype(np.uint8).tobytes()
    buf = ffi.new("uint8_t[]", data)
    c16 = L.crc_itu16_calc(buf, n, 0xFFFF)
    c32 = L.crc_itu32_calc(buf, n, 0xFFFFFFFF)
    print(f"n={n} crc16 ours={hdlc.crc16(data):04x} spandsp={c16:04x}  "
          f"crc32 ours={hdlc.crc32(data):08x} spandsp={c32:08x}")
    assert hdlc.crc16(data) == c16
    assert hdlc.crc32(data) == c32
    b16 = ffi.new("uint8_t[]", n + 2)
    ffi.memmove(b16, data, n)
    L.crc_itu16_append(b16, n)
    assert bytes(ffi.buffer(b16, n + 2)) == hdlc.append_crc16(data)
    b32 = ffi.new("uint8_t[]", n + 4)
    ffi.memmove(b32, data, n)
    L.crc_itu32_append(b32, n)
    assert bytes(ffi.buffer(b32, n + 4)) == hdlc.append_crc32(data)
    assert hdlc.check_crc16(hdlc.append_crc16(data)) and hdlc.check_crc32(hdlc.append_crc32(data))
    bad = bytearray(hdlc.append_crc16(data))
    bad[0] ^= 1
    assert not hdlc.check_crc16(bytes(bad))
    assert L.crc_itu16_check(ffi.new("uint8_t[]", bytes(bad)), n + 2) == 0


@pytest.mark.parametrize("crc32", [False, True])
def test_our_hdlc_tx_to_spandsp_rx(crc32):
    bits = hdlc.HDLCEncoder(fcs32=crc32).encode(FRAMES, preamble_flags=5, between_flags=1, closing_flags=2)
    rx = SpandspHDLCRx(crc32)
    rx.put_bits(bits)
    rx.close()
    got = [f for f, ok in rx.frames if ok]
    print("sent", len(FRAMES), "frames; spandsp received ok:", len(got))
    assert got == FRAMES


@pytest.mark.parametrize("crc32", [False, True])
def test_spandsp_hdlc_tx_to_our_rx(crc32):
    tx = SpandspHDLCTx(crc32)
    tx.flags(40)
    bits = [tx.bits(400)]
    for f in FRAMES:
        tx.frame(f)
        bits.append(tx.bits(len(f) * 10 + 100))
    bits.append(tx.bits(200))
    tx.close()
    dec = hdlc.HDLCDecoder(fcs32=crc32)
    got = dec.put_bits(np.concatenate(bits).astype(np.uint8))
    print("spandsp sent", len(FRAMES), "frames; ours received", [(len(f), ok) for f, ok in got])
    assert [f for f, ok in got if ok] == FRAMES
    assert dec.frames_bad == 0


def test_corrupted_frame_reported_bad_and_abort_drops():
    bits = hdlc.HDLCEncoder().encode([b"\xff\x13\x2e"], 3, 1, 2).copy()
    bits[30] ^= 1
    got = hdlc.HDLCDecoder().put_bits(bits)
    assert len(got) <= 1 and not any(ok for _, ok in got)
    # a run of 7 ones aborts the frame in progress
    good = hdlc.HDLCEncoder().encode([b"\xff\x13\x2e\x01\x02"], 2, 1, 1)
    ab = np.concatenate([good[:40], np.ones(8, np.uint8), good])
    got = hdlc.HDLCDecoder().put_bits(ab)
    assert got == [(b"\xff\x13\x2e\x01\x02", True)]


def test_bits_without_flags_never_grow_a_frame_past_max_len():
    """Issue #16: after a flag, bits that never close a frame (at most 5 ones in a row: no flag, no abort)
    are dropped once they pass max_len octets instead of growing the frame buffer."""
    dec = hdlc.HDLCDecoder(max_len=300)
    dec.put_bits(hdlc.flag_bits(4))
    rng = np.random.default_rng(16)
    for _ in range(500):
        bits = rng.integers(0, 2, 288).astype(np.uint8)
        bits[::6] = 0
        assert dec.put_bits(bits) == []
        assert dec.pending_bits <= (300 + 2 + 1) * 8 + 1


def _ref_stuff(bits):
    out, ones = [], 0
    for b in bits:
        out.append(int(b))
        ones = ones + 1 if b else 0
        if ones == 5:
            out.append(0)
            ones = 0
    return out


@pytest.mark.parametrize("crc32", [False, True])
def test_kernel_encoder_is_bit_exact(crc32):
    """The C framer (flags, FCS, stuffing in one call) gives exactly the per-frame construction it replaced."""
    ref = list(hdlc.flag_bits(3))
    for i, f in enumerate(FRAMES):
        if i:
            ref += list(hdlc.flag_bits(2))
        body = hdlc.append_crc32(f) if crc32 else hdlc.append_crc16(f)
        ref += _ref_stuff(hdlc.bytes_to_bits(body))
    ref += list(hdlc.flag_bits(4))
    got = hdlc.HDLCEncoder(fcs32=crc32).encode(FRAMES, 3, 2, 4)
    assert got.tolist() == ref
    assert hdlc.frame_bits(FRAMES[0], crc32).tolist() == _ref_stuff(
        hdlc.bytes_to_bits(hdlc.append_crc32(FRAMES[0]) if crc32 else hdlc.append_crc16(FRAMES[0])))
    with pytest.raises(ValueError):
        hdlc.HDLCEncoder().encode(FRAMES, -1, 1, 1)


@pytest.mark.parametrize("crc32", [False, True])
def test_packed_framer_is_the_framer_packed_and_sends_the_same_signal(crc32):
    """encode_packed gives encode's bits packed eight an octet (LSB first, spare octets zero-padded at the end), and a
    V.17 transmitter sends exactly the same samples from the packed bits as from the 0/1 octets."""
    for pre, between, closing in ((0, 0, 0), (1, 1, 1), (37, 2, 4)):
        p = hdlc.HDLCEncoder(fcs32=crc32).encode_packed(FRAMES, pre, between, closing)
        u = hdlc.HDLCEncoder(fcs32=crc32).encode(FRAMES, pre, between, closing)
        assert p.nbits == len(u) and np.array_equal(p.unpacked(), u)
        assert np.array_equal(p.data[:(len(u) + 7) // 8], np.packbits(u, bitorder="little"))
        assert len(p.data) >= (len(u) + 7) // 8 + 8
    a, b = V17Tx(14400, short_train=True), V17Tx(14400, short_train=True)
    a.send_packed(p)
    b.send_bits(u)
    a.finish()
    b.finish()
    while not (a.done and b.done):
        assert np.array_equal(a.tx(333), b.tx(333))
    with pytest.raises(ValueError):
        hdlc.HDLCEncoder().encode_packed(FRAMES, -1, 1, 1)
