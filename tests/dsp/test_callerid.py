"""Caller ID (FSK Bell 202 / V.23, SDMF / MDMF, DTMF) checked both ways against spandsp's adsi module."""
import datetime

import numpy as np
import pytest
from peers.spandsp_adsi import CLASS, CLIP, CLIP_DTMF, AdsiRx, AdsiTx

from trunkline.dsp.callerid import CallerIDBank, CallerIDGenerator, CallerIDReceiver, build_message

WHEN = datetime.datetime(2026, 11, 23, 10, 15)
PEER = {"bell202": CLASS, "v23": CLIP}


def ours_rx(x, standard, step=160):
    r = CallerIDReceiver(standard, year=2026)
    for i in range(0, len(x), step):
        r.rx(x[i:i + step])
    return r.result


def peer_fields(x, standard):
    p = AdsiRx(PEER[standard])
    msgs = p.rx(x)
    return [p.fields(m) for m in msgs]


@pytest.mark.parametrize("standard", ["bell202", "v23"])
@pytest.mark.parametrize("fmt,name,reason", [("mdmf", "ZHANG SAN", None), ("sdmf", None, None),
                                             ("mdmf", None, "private"), ("sdmf", None, "unavailable")])
def test_our_fsk_decoded_by_spandsp(standard, fmt, name, reason):
    number = None if reason else "13800138000"
    x = CallerIDGenerator.encode(number, name=name, when=WHEN, standard=standard, fmt=fmt, reason=reason)
    x = np.concatenate([np.zeros(800, np.int16), x, np.zeros(800, np.int16)])
    fields = peer_fields(x, standard)
    ours = ours_rx(x, standard)
    print(f"{standard} {fmt}: spandsp {fields}  ours {ours}")
    assert len(fields) == 1
    f = dict(fields[0][1:])
    if fmt == "sdmf":
        assert fields[0][0][0] == 0x04
        body = f[0]
        assert body[:8] == b"11231015"
        assert body[8:] == (b"13800138000" if number else b"O")
    else:
        assert fields[0][0][0] == 0x80
        assert f[1] == b"11231015"
        if number:
            assert f[2] == b"13800138000"
        else:
            assert f[4] == b"P"
        if name:
            assert f[7] == name.encode()
    assert ours["number"] == number and ours["name"] == name and ours["datetime"] == WHEN
    assert ours["reason"] == reason


@pytest.mark.parametrize("standard", ["bell202", "v23"])
def test_spandsp_fsk_decoded_by_ours(standard):
    t = AdsiTx(PEER[standard])
    cases = [
        (0x80, [(1, b"01020304"), (2, b"075512345678"), (7, b"LI SI")],
         {"number": "075512345678", "name": "LI SI", "datetime": datetime.datetime(2026, 1, 2, 3, 4), "reason": None}),
        (0x80, [(1, b"12312359"), (4, b"O")],
         {"number": None, "name": None, "datetime": datetime.datetime(2026, 12, 31, 23, 59), "reason": "unavailable"}),
    ]
    if standard == "bell202":
        cases.append((0x04, [(0, b"0615083055501234")],
                      {"number": "55501234", "name": None,
                       "datetime": datetime.datetime(2026, 6, 15, 8, 30), "reason": None}))
    for mtype, fields, want in cases:
        x = AdsiTx(PEER[standard]).send(t.message(mtype, fields))
        got = ours_rx(x, standard)
        print(f"{standard} spandsp tx {fields}: ours {got}")
        assert got is not None
        for k, v in want.items():
            assert got[k] == v, (k, got)


def _awgn(x, snr_db, rng):
    p = np.mean(x.astype(float) ** 2)
    n = rng.normal(0, np.sqrt(p / 10 ** (snr_db / 10)), len(x))
    return np.clip(np.round(x + n), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("standard", ["bell202", "v23"])
def test_noise_and_level_vs_spandsp(standard):
    rng = np.random.default_rng(7)
    rows = []
    ours_ok = peer_ok = 0
    trials = 0
    for level in (-8, -20, -32, -40):
        for snr in (30, 15, 10, 8):
            x = CallerIDGenerator.encode("13800138000", name="WANG WU", when=WHEN, standard=standard, level=level)
            x = np.concatenate([np.zeros(400, np.int16), x, np.zeros(400, np.int16)])
            x = _awgn(x, snr, rng)
            o = ours_rx(x, standard)
            o = o is not None and o["number"] == "13800138000" and o["name"] == "WANG WU"
            f = peer_fields(x, standard)
            p = bool(f) and dict(f[0][1:]).get(2) == b"13800138000"
            rows.append(f"level {level:4d} dBm0 SNR {snr:2d} dB: ours {'ok ' if o else 'FAIL'} "
                        f"spandsp {'ok' if p else 'FAIL'}")
            ours_ok += o
            peer_ok += p
            trials += 1
    print("\n".join(rows))
    print(f"{standard}: ours decoded {ours_ok}/{trials}, spandsp {peer_ok}/{trials}")
    assert ours_ok >= peer_ok
    assert ours_ok >= trials - 4


def test_dtmf_callerid_decoded_by_spandsp():
    for number, reason, want in (("13800138000", None, b"A13800138000C"), (None, "private", b"B10C"),
                                 (None, "unavailable", b"B00C")):
        x = CallerIDGenerator.encode(number, standard="dtmf", reason=reason)
        p = AdsiRx(CLIP_DTMF)
        msgs = p.rx(np.concatenate([x, np.zeros(800, np.int16)]))
        print(f"DTMF caller ID {number or reason}: spandsp received {msgs}")
        assert msgs == [want]
    x = CallerIDGenerator.encode("5551234", standard="dtmf", start="D")
    assert AdsiRx(CLIP_DTMF).rx(np.concatenate([x, np.zeros(800, np.int16)])) == [b"D5551234C"]


def test_dtmf_callerid_from_spandsp_decoded_by_ours():
    t = AdsiTx(CLIP_DTMF)
    for fields, want in (([(ord("A"), b"13800138000")], ("13800138000", None)),
                         ([(ord("B"), b"10")], (None, "private"))):
        x = AdsiTx(CLIP_DTMF).send(t.message(ord("C"), fields))
        got = ours_rx(x, "dtmf")
        print(f"spandsp DTMF CLIP {fields}: ours {got}")
        assert (got["number"], got["reason"]) == want
    x = CallerIDGenerator.encode("075587654321", standard="dtmf")
    assert ours_rx(x, "dtmf")["number"] == "075587654321"


def test_bank_many_ports_vectorised():
    ch = 24
    bank = CallerIDBank(ch, "v23", year=2026)
    sigs = np.zeros((ch, 12000), np.int16)
    for c in range(0, ch, 3):
        x = CallerIDGenerator.encode(f"1380013{c:04d}", name=f"PORT {c}", when=WHEN, standard="v23")
        sigs[c, 100 + c * 10:100 + c * 10 + len(x)] = x
    got = {}
    for i in range(0, sigs.shape[1], 160):
        for c, r in bank.process(sigs[:, i:i + 160]):
            got[c] = r
    assert sorted(got) == list(range(0, ch, 3))
    for c, r in got.items():
        assert r["number"] == f"1380013{c:04d}" and r["name"] == f"PORT {c}"


def test_bad_input_errors():
    with pytest.raises(ValueError):
        CallerIDGenerator.encode("123", standard="v99")
    with pytest.raises(ValueError):
        CallerIDGenerator.encode("123", name="X", fmt="sdmf")
    with pytest.raises(ValueError):
        CallerIDGenerator.encode("12A", standard="dtmf")
    with pytest.raises(ValueError):
        build_message("1", reason="abroad")
    # a corrupted checksum is not reported
    x = CallerIDGenerator.encode("123", when=WHEN, standard="bell202")
    assert ours_rx(x, "bell202")["number"] == "123"
    x2 = x.copy()
    # silence the audio of the checksum byte (the 10 bits before the 10-bit postamble)
    spb = 8000 / 1200
    a, b = int(len(x2) - 20 * spb), int(len(x2) - 10 * spb)
    x2[a:b] = 0
    assert ours_rx(x2, "bell202") is None


def test_no_message_from_speech_or_noise():
    import os
    import subprocess
    import tempfile

    import soundfile as sf
    from scipy.signal import resample_poly
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "s.wav")
        subprocess.run(["espeak-ng", "-v", "en", "-w", p, "Hello, this is a test of the caller I D receiver. "
                        "One two three four five six seven eight nine zero. " * 3], check=True, capture_output=True)
        a, rate = sf.read(p, dtype="float64")
    s = (resample_poly(a, 8000, rate) * 20000).astype(np.int16)
    noise = np.random.default_rng(1).normal(0, 3000, 8000 * 10).astype(np.int16)
    for std in ("bell202", "v23"):
        for x in (s, noise):
            assert ours_rx(x, std) is None
            assert AdsiRx(PEER[std]).rx(x) == []
