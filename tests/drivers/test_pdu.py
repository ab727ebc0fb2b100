"""SMS PDU codec checked against published PDUs (GSM 03.40 tutorials) and the spec's size limits."""
import datetime as dt

import pytest

from trunkline.drivers.serial import pdu as P

# http://www.turbocontrol.com/CoolStuff/SMS%20messages%20and%20the%20PDU%20format.htm (SMS-SUBMIT "hellohello")
PUBLISHED_SUBMIT = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
# http://subnets.ru/saved/sms_pdu_format.html (SMS-DELIVER "hellohello" from 27838890001 via SMSC +27381000015)
PUBLISHED_DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
# https://9cbs.com/read-46256.html (SMS-SUBMIT "hello" to 1234657, national number)
PUBLISHED_SUBMIT_HELLO = "0011000781214356F70000AA05E8329BFD06"


def test_submit_matches_published_hellohello():
    ours = P.to_hex(P.encode_submit("+46708251358", "hellohello"))
    print(f"\nours      {ours}\npublished {PUBLISHED_SUBMIT}")
    assert ours == PUBLISHED_SUBMIT
    assert P.tpdu_length(P.from_hex(ours)) == 23


def test_submit_matches_published_hello_national():
    ours = P.to_hex(P.encode_submit("1234657", "hello"))
    print(f"\nours      {ours}\npublished {PUBLISHED_SUBMIT_HELLO}")
    assert ours == PUBLISHED_SUBMIT_HELLO


def test_deliver_decodes_published_pdu():
    d = P.decode(P.from_hex(PUBLISHED_DELIVER))
    assert isinstance(d, P.Deliver)
    assert d.text == "hellohello"
    assert d.sender == "27838890001"
    assert d.smsc == "+27381000015"
    assert d.timestamp == dt.datetime(1999, 3, 29, 15, 16, 59, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def test_ucs2_chinese_is_utf16be_with_dcs_08():
    raw = P.encode_submit("+8613800138000", "你好")
    sub = P.decode_submit(raw)
    assert P.to_hex(raw).endswith("08AA044F60597D")   # DCS 08, VP AA, UDL 4, U+4F60 U+597D
    assert (sub.text, sub.dcs, sub.number) == ("你好", P.DCS_UCS2, "+8613800138000")


def test_gsm7_alphabet_and_extension_roundtrip():
    text = "Price: 5€ [ok] {x} ~^|\\ @£$¥ ÄÖÑÜ§¿ äöñüà"
    assert P.choose_dcs(text) == P.DCS_GSM7
    sub = P.decode_submit(P.encode_submit("+4912345", text))
    assert sub.text == text
    assert len(P.gsm7_septets("€")) == 2


def test_udh_fill_bit_aligns_first_septet():
    raw = P.encode_submit("+4912345", "h", concat=P.Concat(0xCC, 2, 1))
    ud = raw[-7:]
    # 6-octet UDH = 48 bits, padded to 7 septets: 1 fill bit, so 'h' (0x68) starts at bit 1
    assert ud[:6] == bytes.fromhex("050003CC0201")
    assert ud[6] == (0x68 << 1) & 0xFF
    assert raw[-8] == 8          # UDL = 7 header septets + 1


@pytest.mark.parametrize("text,dcs,parts", [
    ("a" * 160, P.DCS_GSM7, [160]),
    ("a" * 161, P.DCS_GSM7, [153, 8]),
    ("€" * 80, P.DCS_GSM7, [80]),
    ("€" * 81, P.DCS_GSM7, [76, 5]),        # 153 septets per part, never split ESC from its code
    ("中" * 70, P.DCS_UCS2, [70]),
    ("中" * 71, P.DCS_UCS2, [67, 4]),
    ("中" * 300, P.DCS_UCS2, [67, 67, 67, 67, 32]),
])
def test_split_limits(text, dcs, parts):
    assert P.choose_dcs(text) == dcs
    assert [len(p) for p in P.split_text(text, dcs)] == parts


def test_concatenated_submits_rejoin():
    text = "".join(chr(0x4E00 + i) for i in range(300))
    pdus = P.submit_pdus("+8613800138000", text, ref=42)
    assert len(pdus) == 5 and all(P.tpdu_length(p) <= 164 for p in pdus)
    r = P.Reassembler()
    got = [r.add("x", s.text, s.concat) for s in (P.decode_submit(p) for p in reversed(pdus))]
    assert got[:4] == [None] * 4 and got[4] == text


def test_status_report_roundtrip():
    t = dt.datetime(2026, 11, 23, 8, 30, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    rep = P.decode(P.encode_status_report(17, "+8613800138000", 0x00, t, t))
    assert isinstance(rep, P.StatusReport)
    assert (rep.mr, rep.recipient, rep.delivered, rep.sc_time) == (17, "+8613800138000", True, t)
    assert not P.decode(P.encode_status_report(17, "+86138", 0x41, t, t)).delivered


def test_bad_input_raises_clear_errors():
    with pytest.raises(P.PduError):
        P.encode_address("+86abc")
    with pytest.raises(P.PduError):
        P.decode(P.from_hex("0004"))
    with pytest.raises(P.PduError):
        P.from_hex("zz")
    with pytest.raises(P.PduError):
        P.encode_submit("+861", "x" * 200)


# https://www.easymanua.ls/neoway/n11-v2/manual?p=131 (UCS-2 "hello", no validity period, AT+CMGS=23)
PUBLISHED_UCS2_HELLO = "0001000B813124819396F300080A00680065006C006C006F"
# https://en.wikipedia.org/wiki/Concatenated_SMS#PDU_Mode_SMS ("Hello world" after a 6-octet UDH: 1 fill bit)
PUBLISHED_FILLED_HELLO_WORLD = "906536FB0DBABFE56C32"


def test_ucs2_submit_matches_published_neoway_example():
    raw = P.encode_submit("13421839693", "hello", P.DCS_UCS2, validity=None)
    print(f"\nours      {P.to_hex(raw)}\npublished {PUBLISHED_UCS2_HELLO}")
    assert P.to_hex(raw) == PUBLISHED_UCS2_HELLO
    assert P.tpdu_length(raw) == 23


def test_concat_fill_bits_match_published_hello_world():
    raw = P.encode_submit("+4912345", "Hello world", concat=P.Concat(3, 2, 1))
    udl, ud = raw[-(1 + 6 + 10)], raw[-10:]
    print(f"\nours      {ud.hex().upper()}\npublished {PUBLISHED_FILLED_HELLO_WORLD}")
    assert ud.hex().upper() == PUBLISHED_FILLED_HELLO_WORLD
    assert udl == 18
