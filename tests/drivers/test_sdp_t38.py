"""SDP for T.38: our offer carries the usual T38 attributes and parses back; a peer's offer (Asterisk-style,
audio and image together, odd case) is read; our answer caps what we implement; bodies without a usable
image stream give None."""
import random

from trunkline.drivers.sip.sdp_t38 import T38Sdp, answer_t38, build_t38, parse_t38

PEER = ("v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
        "m=audio 0 RTP/AVP 8\r\nm=image 4002 udptl t38\r\nc=IN IP4 10.0.0.6\r\na=T38FaxVersion:2\r\n"
        "a=T38MaxBitRate:33600\r\na=t38faxratemanagement:transferredTCF\r\na=T38FaxMaxDatagram:1400\r\n"
        "a=T38FaxUdpEC:t38UDPFEC\r\n")


def test_offer_round_trip_has_the_t38_attributes():
    body = build_t38("127.0.0.1", 4000).decode()
    for line in ("m=image 4000 udptl t38", "a=T38FaxVersion:0", "a=T38MaxBitRate:14400",
                 "a=T38FaxRateManagement:transferredTCF", "a=T38FaxMaxDatagram:400", "a=T38FaxUdpEC:t38UDPRedundancy"):
        assert line in body.split("\r\n")
    assert parse_t38(body) == T38Sdp("127.0.0.1", 4000)


def test_peer_offer_and_our_answer():
    offer = parse_t38(PEER)
    assert offer == T38Sdp("10.0.0.6", 4002, version=2, max_bit_rate=33600, max_datagram=1400, udp_ec="t38UDPFEC")
    ans = answer_t38(offer)
    assert (ans.version, ans.max_bit_rate, ans.max_datagram, ans.udp_ec) == (0, 14400, 400, "t38UDPRedundancy")


def test_no_image_stream_or_garbage_gives_none():
    assert parse_t38("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 8\r\n") is None
    assert parse_t38("m=image 0 udptl t38\r\nc=IN IP4 1.2.3.4\r\n") is None
    rng = random.Random(4)
    for _ in range(500):
        text = "".join(rng.choice("mca=image udptl t38 IN IP4 0123456789.:\r\n") for _ in range(rng.randint(0, 200)))
        r = parse_t38(text)
        assert r is None or (0 < r.port < 65536 and r.ip)
