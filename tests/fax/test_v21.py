"""V.21 channel 2 FSK both ways against libspandsp's fsk_tx/fsk_rx (FSK_V21CH2), carrying HDLC frames."""
import numpy as np
import pytest
from peers.spandsp_fax import SpandspFSKRx, SpandspFSKTx, SpandspHDLCRx

from trunkline.fax import hdlc
from trunkline.fax.v21 import V21Rx, V21Tx

FRAMES = [b"\xff\x03\x40" + b"  +4912345678 " + b"\x00" * 6, b"\xff\x13\x80\x00\xce\xf4\x80\x80\x81\x80\x80\x80\x18",
          bytes([0xFF, 0x13, 0x2E])]


def _frames_bits():
    return hdlc.HDLCEncoder().encode(FRAMES, preamble_flags=40, between_flags=1, closing_flags=3)


def _impair(sig, gain_db, snr_db, seed=1):
    x = sig.astype(np.float64) * 10 ** (gain_db / 20)
    if snr_db is not None:
        p = np.mean(x[np.abs(x) > 0] ** 2)
        x = x + np.random.default_rng(seed).normal(0, np.sqrt(p / 10 ** (snr_db / 10)), len(x))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("gain_db,snr_db", [(0, None), (-17, None), (0, 20)])
def test_our_v21_tx_to_spandsp_fsk_rx(gain_db, snr_db):
    tx = V21Tx(level_dbm0=-13)
    tx.send_bits(_frames_bits())
    sig = [np.zeros(800, np.int16)]
    while not tx.done:
        sig.append(tx.tx(160))
    sig.append(np.zeros(800, np.int16))
    sig = _impair(np.concatenate(sig), gain_db, snr_db)
    rx = SpandspFSKRx()
    for i in range(0, len(sig), 160):
        rx.rx(sig[i:i + 160])
    h = SpandspHDLCRx()
    h.put_bits(rx.bits)
    print(f"gain {gain_db} dB snr {snr_db}: spandsp fsk_rx + hdlc got {[(len(f), ok) for f, ok in h.frames]}")
    assert [f for f, ok in h.frames if ok] == FRAMES


@pytest.mark.parametrize("gain_db,snr_db", [(0, None), (-17, None), (0, 20)])
def test_spandsp_fsk_tx_to_our_v21_rx(gain_db, snr_db):
    tx = SpandspFSKTx(np.concatenate([_frames_bits(), np.ones(10, np.uint8)]), power_dbm0=-14)
    n_samples = int((len(_frames_bits()) + 10) * 8000 / 300) + 160
    sig = np.concatenate([np.zeros(800, np.int16), np.concatenate([tx.tx(160) for _ in range(n_samples // 160 + 1)])])
    sig = _impair(sig, gain_db, snr_db)
    rx = V21Rx()
    dec = hdlc.HDLCDecoder()
    got = []
    for i in range(0, len(sig), 160):
        rx.rx(sig[i:i + 160])
        got += dec.put_bits(rx.take_bits())
    print(f"gain {gain_db} dB snr {snr_db}: ours got {[(len(f), ok) for f, ok in got]}")
    assert [f for f, ok in got if ok] == FRAMES


def test_v21_carrier_detect_and_silence():
    rx = V21Rx()
    rx.rx(np.zeros(1600, np.int16))
    assert not rx.carrier and len(rx.take_bits()) == 0
    rx.rx(np.random.default_rng(3).normal(0, 20, 1600).astype(np.int16))  # about -50 dBm0 noise
    assert not rx.carrier
    tx = V21Tx()
    tx.send_bits(np.ones(60, np.uint8))
    rx.rx(np.concatenate([tx.tx(160) for _ in range(10)]))
    assert rx.carrier or rx.signal_lost
    bits = rx.take_bits()
    assert len(bits) > 40 and bits[5:40].all()


def _ref_fsk(bits, amp):
    """Continuous-phase FSK as the per-session numpy modulator made it: 8000/300 samples per bit, the phase
    of each sample the sum of the frequencies before it."""
    n = int(np.ceil(len(bits) * 80 / 3 - 1e-9))
    idx = (np.arange(n) * 3) // 80
    step = np.where(np.asarray(bits)[idx] == 1, 1650.0, 1850.0) * 2 * np.pi / 8000
    ph = np.concatenate([[0.0], np.cumsum(step)[:-1]])
    return np.round(amp * np.sin(ph)).astype(np.int16)


def test_batched_v21_tx_matches_the_per_session_modulator():
    """Many V.21 transmitters in one kernel call (different bit streams, queued at different times, blocks of
    odd sizes) give each exactly its own continuous-phase FSK; done once the bits are out."""
    from trunkline.fax.v21 import run_v21_tx
    rng = np.random.default_rng(21)
    streams = [_frames_bits(), rng.integers(0, 2, 37).astype(np.uint8), rng.integers(0, 2, 300).astype(np.uint8)]
    txs = [V21Tx() for _ in streams]
    for t, b in zip(txs, streams):
        t.send_bits(b[:20])
    rows = [[] for _ in txs]
    for size in [160, 7, 333] + [160] * 200:
        out = run_v21_tx(txs, size)
        for i, t in enumerate(txs):
            rows[i].append(out[i])
            if len(rows[i]) == 2:
                t.send_bits(streams[i][20:])   # queued while the first part is still going out
    for i, t in enumerate(txs):
        got = np.concatenate(rows[i])
        ref = _ref_fsk(streams[i], t.amp)
        assert t.done
        assert len(np.flatnonzero(got)) and np.max(np.abs(got[:len(ref)].astype(int) - ref)) <= 1
        assert np.count_nonzero(got[:len(ref)] != ref) <= len(ref) // 1000
        assert not np.any(got[len(ref):])
