"""Fax modems under line impairments (-30 dBm0, 30 dB SNR white noise, +-10 Hz carrier offset),
our receiver side by side with spandsp's own receiver on the same signal, both transmitters."""
import numpy as np
import pytest
from fax_signals import (
    CASES,
    errors,
    impair,
    our_rx,
    our_tx_signal,
    random_bits,
    spandsp_rx,
    spandsp_tx_signal,
)

IMPAIRMENTS = {
    "-30 dBm0": dict(level=-30.0),
    "30 dB SNR": dict(snr=30.0),
    "+10 Hz": dict(offset=10.0),
    "-10 Hz": dict(offset=-10.0),
}


@pytest.mark.parametrize("name,rate", CASES)
def test_impairments_side_by_side(name, rate):
    """Our rx must train with 0 bit errors under every impairment, from both transmitters.

    spandsp's rx results are printed next to ours, not asserted (its limits are facts about the peer:
    its V.29 rx does not train at -30 dBm0 and its V.27ter/V.17 rx lock onto a -42 dBm0 noise floor
    before the burst and then fail training)."""
    bits = random_bits(1500, 11)
    lines = []
    failures = []
    for label, imp in IMPAIRMENTS.items():
        level = imp.get("level", -12.0)
        for src, make in (("spandsp tx", spandsp_tx_signal), ("our tx", our_tx_signal)):
            sig = impair(make(name, rate, bits, level=level), imp.get("snr"), imp.get("offset", 0.0))
            ok, lost, got = our_rx(name, rate, sig)
            sok, sgot = spandsp_rx(name, rate, sig)
            e, se = errors(bits, got), errors(bits, sgot)
            lines.append(f"{name:6} {rate:5} {label:9} {src:10} | our rx: {'OK ' if ok and e == 0 else 'FAIL'} "
                         f"errors={e:5} carrier lost={lost!s:5} | spandsp rx: {'OK ' if sok and se == 0 else 'FAIL'} "
                         f"errors={se:5}")
            if not (ok and lost and e == 0):
                failures.append(f"{label} from {src}")
    print("\n" + "\n".join(lines))
    assert not failures, f"{name} {rate} failed under: {failures}"


@pytest.mark.parametrize("name,rate", [("v27ter", 4800), ("v29", 9600), ("v17", 14400)])
def test_clock_offset_100ppm(name, rate):
    """The transmitter's clock 100 ppm fast or slow (V.29/V.17 allow 0.01 %): our symbol timing tracks it."""
    from scipy.signal import resample_poly
    bits = random_bits(rate * 3, 13)
    sig = spandsp_tx_signal(name, rate, bits)
    for up, down in ((10001, 10000), (9999, 10000)):
        s2 = np.clip(np.round(resample_poly(sig.astype(float), up, down)), -32768, 32767).astype(np.int16)
        ok, lost, got = our_rx(name, rate, s2)
        sok, sgot = spandsp_rx(name, rate, s2)
        print(f"\n{name} {rate} clock x{up / down:.4f}: our rx trained={ok} errors={errors(bits, got)} | "
              f"spandsp rx trained={sok} errors={errors(bits, sgot)}")
        assert ok and errors(bits, got) == 0
