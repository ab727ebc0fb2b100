"""T.38 IFP coding: golden octets as spandsp's t38_core writes them (version 0 field coding with the half-octet
of a field without data), round trips, and malformed packets that raise IfpError only (never anything else)."""
import random

from trunkline.drivers.sip.t38_ifp import DATA, FIELD, IND, Ifp, IfpError, bitrev, decode, encode, training_indicator


def test_golden_packets():
    assert encode(Ifp(indicator=IND["cng"])) == b"\x02"
    assert encode(Ifp(indicator=IND["v17-14400-long"])) == b"\x1e"
    # V.21 HDLC data "ff c8" + FCS-OK (no data: high half-octet, the rest padding)
    pkt = encode(Ifp(data_type=DATA["v21"], fields=[(FIELD["hdlc-data"], b"\xff\xc8"), (FIELD["hdlc-fcs-ok"], b"")]))
    assert pkt == bytes([0xC0, 0x02, 0x80, 0x00, 0x01, 0xFF, 0xC8, 0x20])
    # two fields without data share one octet in version 0
    pkt = encode(Ifp(data_type=DATA["v17-14400"], fields=[(FIELD["hdlc-fcs-ok"], b""), (FIELD["hdlc-sig-end"], b"")]))
    assert pkt == bytes([0xC0 | (8 << 1), 0x02, 0x21])
    assert decode(pkt).fields == [(FIELD["hdlc-fcs-ok"], b""), (FIELD["hdlc-sig-end"], b"")]
    assert training_indicator("v29", 9600) == 7 and training_indicator("v17", 7200, short=True) == 8
    assert bitrev(b"\x01\x80\x13") == b"\x80\x01\xc8"


def test_round_trip():
    rng = random.Random(1)
    for _ in range(2000):
        dt = rng.randint(0, 8)
        fl = [(rng.randint(0, 7), rng.randbytes(rng.choice([0, 0, 1, 5, 40]))) for _ in range(rng.randint(0, 6))]
        for version in (0, 2):
            got = decode(encode(Ifp(data_type=dt, fields=fl), version), version)
            assert got.data_type == dt and got.fields == fl


def test_malformed_packets_raise_ifperror_only():
    rng = random.Random(2)
    bad = 0
    for _ in range(8000):
        fl = [(rng.randint(0, 7), rng.randbytes(rng.choice([0, 3, 30]))) for _ in range(rng.randint(0, 4))]
        data = bytearray(encode(Ifp(data_type=rng.randint(0, 8), fields=fl)))
        if rng.random() < 0.5:
            data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            data = bytearray(rng.randbytes(rng.randint(0, 60)))
        try:
            p = decode(bytes(data), rng.choice([0, 2]))
        except IfpError:
            bad += 1
            continue
        assert p.indicator is not None or p.data_type is not None
    assert bad > 2000
