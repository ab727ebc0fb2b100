"""Fax high-speed modems (fax/modems.py) against libspandsp's own V.27ter / V.29 / V.17, both directions."""
import numpy as np
import pytest
from fax_signals import (
    BLOCK,
    CASES,
    errors,
    our_rx,
    our_tx_signal,
    random_bits,
    spandsp_rx,
    spandsp_tx_signal,
)
from peers.spandsp_modems import SpandspRx

from trunkline.fax.modems import make_rx, make_tx


@pytest.mark.parametrize("name,rate", CASES)
def test_our_tx_to_spandsp_rx(name, rate):
    bits = random_bits()
    ok, got = spandsp_rx(name, rate, our_tx_signal(name, rate, bits))
    print(f"\n{name} {rate}: our tx -> spandsp rx: trained={ok} bits={len(got)} errors={errors(bits, got)}")
    assert ok
    assert errors(bits, got) == 0


@pytest.mark.parametrize("name,rate", CASES)
def test_spandsp_tx_to_our_rx(name, rate):
    bits = random_bits(seed=2)
    sig = spandsp_tx_signal(name, rate, bits)
    ok, lost, got = our_rx(name, rate, sig)
    sok, sgot = spandsp_rx(name, rate, sig)
    print(f"\n{name} {rate}: spandsp tx -> our rx: trained={ok} errors={errors(bits, got)} | "
          f"spandsp rx: trained={sok} errors={errors(bits, sgot)}")
    assert ok and lost
    assert errors(bits, got) == 0


def test_receiver_ignores_noise_and_silence():
    rng = np.random.default_rng(3)
    noise = np.clip(rng.normal(0, 300, 16000), -32768, 32767).astype(np.int16)
    for name, rate in CASES:
        ok, lost, got = our_rx(name, rate, np.concatenate([np.zeros(4000, np.int16), noise]))
        assert not ok and len(got) == 0


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_tx("v29", 4800)
    with pytest.raises(ValueError):
        make_rx("v34", 9600)
    tx = make_tx("v27ter", 4800)
    with pytest.raises(ValueError):
        tx.send_bits(np.array([0, 2, 1], np.uint8))
    with pytest.raises(TypeError):
        tx.send_bytes("text")
    tx.finish()
    with pytest.raises(RuntimeError):
        tx.send_bits(np.ones(8, np.uint8))


def test_send_bytes_lsb_first():
    tx = make_tx("v29", 9600)
    tx.send_bytes(b"\x01\x80")
    tx.finish()
    out = []
    while not tx.done:
        out.append(tx.tx(BLOCK))
    sig = np.concatenate([np.zeros(800, np.int16)] + out + [np.zeros(4000, np.int16)])
    ok, got = spandsp_rx("v29", 9600, sig)
    assert ok
    assert list(got[:16]) == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]


@pytest.mark.parametrize("rate", [14400, 9600])
def test_v17_short_train_after_long_our_tx(rate):
    """T.30 image data: a long train (TCF) then a short train (TEP off) with the same spandsp receiver."""
    rx = SpandspRx("v17", rate)
    b1, b2 = random_bits(2000, 4), random_bits(3000, 5)
    rx.rx(our_tx_signal("v17", rate, b1))
    first = rx.data_bits()
    rx.restart(short_train=True)
    rx.rx(our_tx_signal("v17", rate, b2, short_train=True))
    second = rx.data_bits()
    print(f"\nv17 {rate}: our long then short train -> spandsp rx: events={rx.events} "
          f"errors long={errors(b1, first)} short={errors(b2, second)}")
    assert rx.events.count("TRAINING_SUCCEEDED") == 2
    assert errors(b1, first) == 0 and errors(b2, second) == 0
    rx.close()


@pytest.mark.parametrize("rate", [14400, 9600])
def test_v17_short_train_after_long_spandsp_tx(rate):
    rx = make_rx("v17", rate)
    b1, b2 = random_bits(2000, 6), random_bits(3000, 7)
    ok1, lost1, got1 = our_rx("v17", rate, spandsp_tx_signal("v17", rate, b1), rx)
    rx.reset()
    short_sig = spandsp_tx_signal("v17", rate, b2, short_train=True)
    ok2, lost2, got2 = our_rx("v17", rate, short_sig, rx)
    # a fresh receiver that never saw the long train copes with the short one too
    ok3, _, got3 = our_rx("v17", rate, short_sig)
    print(f"\nv17 {rate}: spandsp long then short train -> our rx: long ok={ok1} errors={errors(b1, got1)}; "
          f"short ok={ok2} errors={errors(b2, got2)}; short on a fresh rx ok={ok3} errors={errors(b2, got3)}")
    assert ok1 and lost1 and errors(b1, got1) == 0
    assert ok2 and lost2 and errors(b2, got2) == 0
    assert ok3 and errors(b2, got3) == 0


def test_receiver_survives_ced_and_v21_then_trains():
    """A receiver left listening through CED and V.21 FSK (as in T.30) must not train on them, then train on
    the burst."""
    rng = np.random.default_rng(5)
    marks = rng.integers(0, 2, 600)
    f = np.repeat(np.where(marks, 1650, 1850), 8000 // 300 + 1)[:16000]
    fsk = (4000 * np.sin(np.cumsum(2 * np.pi * f / 8000))).astype(np.int16)
    ced = (4000 * np.sin(2 * np.pi * 2100 * np.arange(16000) / 8000)).astype(np.int16)
    for name, rate in [("v27ter", 4800), ("v29", 9600), ("v17", 14400)]:
        bits = random_bits(1500, 3)
        rx = make_rx(name, rate)
        ok0, _, junk = our_rx(name, rate, np.concatenate([ced, np.zeros(600, np.int16), fsk]), rx)
        ok, lost, got = our_rx(name, rate, np.concatenate([np.zeros(600, np.int16),
                                                          spandsp_tx_signal(name, rate, bits)]), rx)
        print(f"\n{name} {rate}: trained on CED+V.21={ok0} ({len(junk)} bits); then burst trained={ok} "
              f"errors={errors(bits, got)}")
        assert not ok0 and len(junk) == 0
        assert ok and lost and errors(bits, got) == 0


def test_odd_block_sizes():
    bits = random_bits(1500, 8)
    burst = spandsp_tx_signal("v17", 14400, bits)
    rx = make_rx("v17", 14400)
    out, i, k, sizes = [], 0, 0, [1, 7, 33, 160, 500, 3, 0]
    while i < len(burst):
        n = sizes[k % len(sizes)]
        k += 1
        rx.rx(burst[i:i + n])
        out.append(rx.take_bits())
        i += n
    got = np.concatenate(out)
    assert rx.trained and errors(bits, got) == 0
    tx = make_tx("v29", 9600)
    assert len(tx.tx(0)) == 0 and tx.tx(1).dtype == np.int16


@pytest.mark.parametrize("name,rate", [("v27ter", 4800), ("v29", 9600), ("v17", 14400)])
@pytest.mark.parametrize("level", [-12.0, -30.0])
def test_tx_level_matches_spandsp(name, rate, level):
    """Our transmit power (data part) matches the requested dBm0 and spandsp's own transmitter at that setting."""
    bits = random_bits(6000, 12)
    ours = our_tx_signal(name, rate, bits, level=level)
    theirs = spandsp_tx_signal(name, rate, bits, level=level)

    def dbm0(sig):
        active = sig[np.abs(sig) > 0].astype(np.float64)
        mid = active[len(active) // 2: len(active) // 2 + 8000]
        return 20 * np.log10(np.sqrt(np.mean(mid ** 2)) / (32768 / np.sqrt(2))) + 3.14

    print(f"\n{name} {rate} at {level} dBm0: ours {dbm0(ours):.2f} dBm0, spandsp {dbm0(theirs):.2f} dBm0")
    assert abs(dbm0(ours) - level) < 0.5
    assert abs(dbm0(ours) - dbm0(theirs)) < 0.5


@pytest.mark.parametrize("name,sent,expected", [("v29", 9600, 7200), ("v17", 14400, 9600), ("v17", 7200, 12000),
                                                ("v27ter", 4800, 2400)])
def test_wrong_rate_does_not_train(name, sent, expected):
    """A burst at another rate than the receiver expects never reports training (our ones check catches it;
    spandsp is printed for comparison: its V.29/V.17 receivers do report training at the wrong rate)."""
    sig = spandsp_tx_signal(name, sent, random_bits(2000, 14))
    ok, lost, got = our_rx(name, expected, sig)
    sok, _ = spandsp_rx(name, expected, sig)
    print(f"\n{name} sent at {sent}, rx set to {expected}: our rx trained={ok} bits={len(got)} | spandsp trained={sok}")
    assert not ok and len(got) == 0 and not lost


def test_two_bursts_without_reset():
    """A receiver left running (no reset) trains again on the next burst and checks its ones again."""
    rx = make_rx("v29", 9600)
    b1, b2 = random_bits(1500, 15), random_bits(1500, 16)
    ok1, lost1, got1 = our_rx("v29", 9600, spandsp_tx_signal("v29", 9600, b1), rx)
    ok2, lost2, got2 = our_rx("v29", 9600, spandsp_tx_signal("v29", 9600, b2), rx)
    n1 = len(got1)
    assert ok1 and errors(b1, got1) == 0
    assert ok2 and lost2 and errors(b2, got2) == 0, f"second burst: {errors(b2, got2)} errors after {n1} bits"
