"""acd.nodes pieces: node addresses, the screen pop header (bounded, round trip), and dispatch reaching
station agents on linked nodes only."""
import pytest

from trunkline.acd.dispatch import Dispatcher
from trunkline.acd.models import AcdAgent, AcdEntry
from trunkline.acd.nodes import MAX_POP, NodeLink, NodePeer, decode_pop, encode_pop
from trunkline.data.config import load_config


def test_node_addresses_and_config():
    assert NodePeer.parse("b", "10.0.0.2:5070") == NodePeer("b", "10.0.0.2", 5070, "UDP")
    p = NodePeer.parse("c", "host.example:5080;transport=tcp")
    assert p.transport == "TCP" and p.uri("agent-1") == "sip:agent-1@host.example:5080;transport=tcp"
    for bad in ("10.0.0.2", "x:99999", "h:5070;foo=bar"):
        with pytest.raises(ValueError):
            NodePeer.parse("b", bad)
    with pytest.raises(ValueError, match="node_name"):
        NodeLink("", {"b": "10.0.0.2:5070"})
    link = NodeLink("a", {"a": "10.0.0.1:5070", "b": "10.0.0.2:5070"})
    assert set(link.peers) == {"b"} and link.linked == {"a", "b"}
    cfg = load_config(env={"TRUNKLINE_NODE_NAME": "a", "TRUNKLINE_NODES": "b=10.0.0.2:5070, c=10.0.0.3:5071"})
    assert cfg.node_name == "a" and cfg.nodes == {"b": "10.0.0.2:5070", "c": "10.0.0.3:5071"}


def test_screen_pop_round_trip_and_bound():
    pop = {"agent": "7", "queue": "sales", "ivr_path": "a>b", "data": {"account": "A-1", "note": "中文"}}
    assert decode_pop(encode_pop(pop)) == pop
    big = dict(pop, data={f"k{i}": "v" * 200 for i in range(100)})
    text = encode_pop(big)
    back = decode_pop(text)
    assert len(text) <= MAX_POP and back["agent"] == "7" and 0 < len(back["data"]) < 100
    for bad in ("not base64!", encode_pop({"x": 1})[:-3] + "###", "W10"):
        with pytest.raises(ValueError):
            decode_pop(bad)


def test_dispatch_reaches_station_agents_on_linked_nodes_only():

    d = Dispatcher.__new__(Dispatcher)
    d.linked = frozenset()
    agent = AcdAgent(id="7", station_port=0, host="b")
    entry = AcdEntry(instance="a")
    assert not d._reachable(agent, entry)
    d.linked = frozenset({"a", "b"})
    assert d._reachable(agent, entry)
    assert not d._reachable(AcdAgent(id="8", station_port=0, host="c"), entry)
    assert d._reachable(AcdAgent(id="9", number="5"), entry)
