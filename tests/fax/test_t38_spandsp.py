"""T.38 interop: our T.30 as a T.38 terminal (T38Endpoint) against libspandsp's t38_terminal, over real UDP
sockets on loopback with our UDPTL framing (redundancy 3) on both sides, in both directions, with and
without ECM, and with 8 % of the datagrams dropped each way (redundancy recovers them). Time is virtual
(20 ms blocks stepped as fast as the loopback delivers). Every received page is compared pixel for pixel."""
import random
import socket

import numpy as np
import pytest
from peers.spandsp_t38 import SpandspT38

from trunkline.drivers.sip.udptl import UdptlPort, UdptlRx, UdptlTx
from trunkline.fax.convert import synth_document
from trunkline.fax.t38_endpoint import T38Endpoint
from trunkline.fax.tiff import read_tiff, write_tiff

BLOCK = 160
MAX_SECONDS = 120


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    d = tmp_path_factory.mktemp("t38doc")
    pages = synth_document(2, width=1728, fine=False, rows=200, seed=5)
    path = str(d / "send.tif")
    write_tiff(path, pages, "g4")
    return path, pages


class PeerSocket:
    """spandsp's side of the wire: our UDPTL framing on a UDP socket, dropping `loss` of what it sends."""

    def __init__(self, loss, seed):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.addr = self.sock.getsockname()
        self.tx, self.rx = UdptlTx(redundancy=3), UdptlRx()
        self.loss, self.rng = loss, random.Random(seed)
        self.dropped = 0

    def send(self, ifp, to):
        data = self.tx.packet(ifp)
        if self.rng.random() < self.loss:
            self.dropped += 1
            return
        self.sock.sendto(data, to)

    def recv(self):
        out = []
        while True:
            try:
                data, _ = self.sock.recvfrom(2000)
            except BlockingIOError:
                return out
            out += self.rx.feed(data)


def run(ours, peer, loss=0.0, seed=1):
    """Step both terminals in 20 ms blocks, packets over loopback UDP; returns (port, peer socket)."""
    port = UdptlPort("127.0.0.1", redundancy=3)
    ps = PeerSocket(loss, seed)
    port.remote = ps.addr
    rng = random.Random(seed + 100)
    dropped = 0
    z = np.zeros(BLOCK, np.int16)
    try:
        for _ in range(MAX_SECONDS * 8000 // BLOCK):
            for ifp in ours.take_ifps():
                if rng.random() < loss:          # lost on the way to spandsp: still numbered
                    port.tx.packet(ifp)
                    dropped += 1
                else:
                    port.send(ifp)
            for ifp in peer.take_ifps():
                ps.send(ifp, ("127.0.0.1", port.port))
            for seq, ifp in ps.recv():
                peer.put_ifp(ifp, seq)
            for _seq, ifp in port.recv():
                ours.put_ifp(ifp)
            ours.rx(z)
            peer.advance(BLOCK)
            if ours.done and peer.phase_e is not None:
                break
        return port, ps, dropped
    finally:
        port.close()
        ps.sock.close()


def _same(got, sent):
    assert len(got) == len(sent)
    for g, s in zip(got, sent):
        assert g.image.shape == s.image.shape
        assert np.array_equal(g.image, s.image), f"{int((g.image != s.image).sum())} pixels differ"


@pytest.mark.parametrize("ecm,loss", [(False, 0.0), (True, 0.08)])
def test_we_send_spandsp_receives(document, tmp_path, ecm, loss):
    path, pages = document
    rx_path = str(tmp_path / "spandsp_rx.tif")
    ours = T38Endpoint(True, send=path, ecm=ecm, ident="TRUNKLINE")
    peer = SpandspT38(False, receive=rx_path, ecm=ecm)
    port, ps, dropped = run(ours, peer, loss, seed=7)
    st = peer.stats()
    print(f"\nT.38 ours->spandsp ecm={ecm} loss={loss}: ours {ours.result} | spandsp {peer.code_text()} {st} | "
          f"datagrams dropped to spandsp {dropped}, from spandsp {ps.dropped}; recovered by us "
          f"{port.rx.recovered} by spandsp side {ps.rx.recovered}, lost {port.rx.lost}/{ps.rx.lost}")
    assert ours.result.ok and ours.result.pages == 2, ours.result
    assert peer.phase_e == 0 and st["pages_rx"] == 2, peer.code_text()
    assert peer.remote_ident().strip() == "TRUNKLINE"
    if loss:
        assert dropped > 0 and ps.dropped > 0 and port.rx.recovered > 0 and ps.rx.recovered > 0
    _same(read_tiff(rx_path), pages)
    peer.close()


@pytest.mark.parametrize("ecm,loss", [(False, 0.08), (True, 0.0)])
def test_spandsp_sends_we_receive(document, tmp_path, ecm, loss):
    path, pages = document
    rx_path = str(tmp_path / "ours_rx.tif")
    ours = T38Endpoint(False, receive=rx_path, ecm=ecm, ident="TRUNKLINE")
    peer = SpandspT38(True, send=path, ecm=ecm)
    port, ps, dropped = run(ours, peer, loss, seed=11)
    st = peer.stats()
    print(f"\nT.38 spandsp->ours ecm={ecm} loss={loss}: ours {ours.result} | spandsp {peer.code_text()} {st} | "
          f"dropped {dropped}/{ps.dropped}, recovered {port.rx.recovered}/{ps.rx.recovered}, "
          f"lost {port.rx.lost}/{ps.rx.lost}")
    assert ours.result.ok and ours.result.pages == 2, ours.result
    assert ours.result.remote_ident == "SPANDSP T38"
    assert peer.phase_e == 0 and st["pages_tx"] == 2, peer.code_text()
    if loss:
        assert ps.dropped > 0 and port.rx.recovered > 0
    _same(read_tiff(rx_path), pages)
    peer.close()
