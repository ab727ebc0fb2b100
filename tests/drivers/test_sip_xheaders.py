"""X- headers on SIP calls: set from a dialled URI's header part, read from an inbound INVITE; nothing else
can be set through a URI and values stay bounded."""
import pytest

from trunkline.drivers.sip.message import SipMessage
from trunkline.drivers.sip.xheaders import MAX_HEADERS, split_uri_headers, x_headers


def test_uri_headers_become_x_headers_and_only_those():
    uri, hs = split_uri_headers("sip:agent-7@10.0.0.2:5070;transport=tcp?X-Trunkline-Pop=eyJh%3D&x-node=a%20b")
    assert uri == "sip:agent-7@10.0.0.2:5070;transport=tcp"
    assert hs == [("X-Trunkline-Pop", "eyJh="), ("X-Node", "a b")]
    assert split_uri_headers("sip:95588@127.0.0.1") == ("sip:95588@127.0.0.1", [])
    for bad in ("sip:a@b?Via=x", "sip:a@b?Route=%3Csip:evil%3E", "sip:a@b?X-A=1%0d%0aVia:%20x",
                "sip:a@b?X-A=" + "x" * 9000):
        with pytest.raises(ValueError):
            split_uri_headers(bad)


def test_inbound_x_headers_are_bounded():
    msg = SipMessage("INVITE", "sip:a@b", headers=[("Via", "v"), ("X-One", "1"), ("X-One", "again")] +
                     [(f"X-H{i}", "y" * 10000) for i in range(40)])
    hs = x_headers(msg)
    assert hs["X-One"] == "1" and "Via" not in hs
    assert len(hs) == MAX_HEADERS and all(len(v) <= 8192 for v in hs.values())
