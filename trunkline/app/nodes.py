"""`trunkline run` on nodes linked over SIP (config `node_name`, `nodes`): the ACD instance and CDR server
name, the peer nodes as SIP trunks trusted by address, and the ACD's NodeLink (acd.nodes)."""
from __future__ import annotations

import socket
from typing import Protocol

from trunkline.acd.nodes import NodeLink, NodePeer
from trunkline.acd.service import ACD
from trunkline.data.config import Config
from trunkline.drivers.sip.config import SipTrunk


class Summary(Protocol):
    """The start-up summary (server.StartupSummary)."""

    def on(self, feature: str, detail: str) -> None:
        """Record a feature that is running."""

    def off(self, feature: str, why: str, how: str) -> None:
        """Record an optional feature that is off."""


def node_name(cfg: Config) -> str:
    """This server's ACD instance and CDR server name: node_name, else acd-<host name>."""
    return cfg.node_name.strip() or f"acd-{socket.gethostname()}"


def node_trunks(cfg: Config) -> list[SipTrunk]:
    """The peer nodes as inbound-only SIP trunks trusted by address (ValueError for a bad address)."""
    out = []
    for name, address in sorted(cfg.nodes.items()):
        if name == cfg.node_name:
            continue
        peer = NodePeer.parse(name, address)
        out.append(SipTrunk(name=name, host=peer.host, port=peer.port, transport=peer.transport, outbound=False))
    return out


def link_nodes(cfg: Config, acd: ACD, sip_on: bool, summary: Summary) -> NodeLink | None:
    """Link the ACD to the peer nodes (after the flows are installed); None when no nodes are configured."""
    if not cfg.nodes:
        return None
    if not cfg.node_name.strip():
        raise ValueError("nodes are configured but node_name is empty: name this node (its ACD instance)")
    if not sip_on:
        summary.off("nodes", "SIP is off: the other nodes cannot reach this one's agents nor it theirs",
                    "set sip_listen to a free host:port the other nodes can reach")
        return None
    link = NodeLink(node_name(cfg), dict(cfg.nodes))
    acd.link_nodes(link)
    summary.on("nodes", f"{link.name} linked over SIP to " +
               ", ".join(f"{p.name} ({p.host}:{p.port} {p.transport})" for p in link.peers.values()))
    return link
