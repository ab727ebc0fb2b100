"""Our T.30 as a T.38 terminal against itself, packets only (no sockets): both directions with and without
ECM; then with garbage IFP packets (random octets, truncated and bit-flipped real packets) mixed into what
each side receives: they are dropped and counted, nothing raises, the fax still gets through."""
import random

import numpy as np
import pytest

from trunkline.fax.convert import synth_document
from trunkline.fax.t38_endpoint import T38Endpoint
from trunkline.fax.tiff import read_tiff, write_tiff


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    d = tmp_path_factory.mktemp("t38link")
    pages = synth_document(2, width=1728, fine=True, rows=160, seed=2)
    path = str(d / "send.tif")
    write_tiff(path, pages, "g4")
    return path, pages


def run(a, b, garbage=0.0, seed=0):
    rng = random.Random(seed)
    z = np.zeros(160, np.int16)

    def mangle(p):
        if rng.random() >= garbage:
            return [p]
        kind = rng.randint(0, 2)
        if kind == 0:
            return [rng.randbytes(rng.randint(0, 30)), p]
        if kind == 1:
            return [p[:rng.randrange(len(p))], p] if len(p) > 1 else [p]
        q = bytearray(p)
        q[0] ^= 0x20                                  # the extension bit: refused
        return [bytes(q), p]
    for _ in range(100 * 50):
        for p in a.take_ifps():
            for q in mangle(p):
                b.put_ifp(q)
        for p in b.take_ifps():
            for q in mangle(p):
                a.put_ifp(q)
        a.rx(z)
        b.rx(z)
        if a.done and b.done:
            return True
    return False


@pytest.mark.parametrize("ecm,garbage,calling_sends", [(False, 0.0, True), (True, 0.0, False), (False, 0.2, False),
                                                       (True, 0.2, True)])
def test_t38_terminal_back_to_back(document, tmp_path, ecm, garbage, calling_sends):
    path, pages = document
    rx_path = str(tmp_path / "rx.tif")
    sender = T38Endpoint(calling_sends, send=path, ecm=ecm, ident="A")
    receiver = T38Endpoint(not calling_sends, receive=rx_path, ecm=ecm, ident="B")
    assert run(sender, receiver, garbage, seed=3)
    assert sender.result.ok and receiver.result.ok and receiver.result.pages == 2
    assert receiver.result.ecm == ecm and receiver.result.remote_ident == "A"
    if garbage:
        assert sender.session.t38.ifp_errors > 0 and receiver.session.t38.ifp_errors > 0
    for g, s in zip(read_tiff(rx_path), pages):
        assert np.array_equal(g.image, s.image)
