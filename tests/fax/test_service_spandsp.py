"""Fax services through the simulator with libspandsp as the far-end fax machine (the peer):
spandsp sends into our inbox, and our fax-on-demand sends to a spandsp receiver. Pages are compared
pixel-for-pixel and spandsp's phase E code and statistics are asserted."""
import numpy as np
import pytest
from peers.spandsp_fax import SpandspFax
from simharness import Rig
from sqlalchemy import select

from trunkline.data.db import session_scope
from trunkline.data.models import Fax
from trunkline.fax.convert import synth_document
from trunkline.fax.service import fax_on_demand, receive_to_inbox
from trunkline.fax.tiff import read_tiff, write_tiff
from trunkline.pstn.fax_far import FaxMachine


class Peer(SpandspFax):
    """spandsp's terminal with the `done` flag the far-end driver polls (phase E reached)."""

    @property
    def done(self):
        return self.phase_e is not None


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    pages = synth_document(1, rows=400, seed=11)
    path = str(tmp_path_factory.mktemp("doc") / "doc.tif")
    write_tiff(path, pages, "g4")
    return path, pages


def same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.image.shape == y.image.shape and np.array_equal(x.image, y.image), \
            f"{int((x.image != y.image).sum())} pixels differ"


@pytest.mark.parametrize("modem,rate", [("v27ter", 4800), ("v29", 9600)])
def test_spandsp_caller_faxes_into_our_inbox(store, doc, modem, rate):
    path, pages = doc
    rig = Rig("fxo=1")
    rig.engine.route(lambda call: receive_to_inbox(call, store, ident="TRUNKLINE"))
    peer = Peer(True, send=path, modems=(modem,), ident="SPANDSP 0100")

    async def scenario():
        phone = rig.sim.call("88", from_="861055501000")
        await phone.wait_answer()
        await FaxMachine(phone).run(peer)
        await phone.wait_hangup(timeout=10)
    rig.run(scenario)
    with session_scope(store.session_factory) as s:
        (row,) = s.scalars(select(Fax)).all()
    st = peer.stats()
    print(f"\nspandsp sender {modem}: phase E {peer.phase_e} ({peer.code_text()}), rate {st['bit_rate']}, "
          f"pages_tx {st['pages_tx']} | our inbox row: ok={row.ok} pages={row.pages} rate={row.bit_rate} "
          f"ident={row.remote_ident!r} number={row.number!r}")
    assert peer.phase_e == 0 and st["bit_rate"] == rate and st["pages_tx"] == 1
    assert peer.remote_ident().strip() == "TRUNKLINE"
    assert row.ok and row.pages == 1 and row.bit_rate == rate and row.remote_ident == "SPANDSP 0100"
    assert row.number == "861055501000" and row.direction == "in"
    same(read_tiff(row.path), pages)
    peer.close()


def test_fax_on_demand_to_spandsp_receiver(store, doc, tmp_path):
    path, pages = doc
    rig = Rig("fxo=1")
    rig.engine.route(lambda call: fax_on_demand(call, {"12": path}, store, digits=2, ident="FAXBACK"))
    rx = str(tmp_path / "spandsp_rx.tif")
    peer = Peer(False, receive=rx, modems=("v27ter", "v29"), ident="CALLER")

    async def scenario():
        phone = rig.sim.call("99", from_="13700000000")
        await phone.wait_answer()
        await phone.send_dtmf("12")
        await FaxMachine(phone, calling=False).run(peer)     # the caller presses Start: its machine answers
        await phone.wait_hangup(timeout=10)
    rig.run(scenario)
    st = peer.stats()
    with session_scope(store.session_factory) as s:
        (row,) = s.scalars(select(Fax)).all()
    print(f"\nspandsp receiver: phase E {peer.phase_e} ({peer.code_text()}), rate {st['bit_rate']}, "
          f"pages_rx {st['pages_rx']}, bad_rows {st['bad_rows']} | our outbox row: ok={row.ok} "
          f"rate={row.bit_rate} ident={row.remote_ident!r}")
    assert peer.phase_e == 0 and st["pages_rx"] == 1 and st["bad_rows"] == 0 and st["bit_rate"] == 9600
    assert peer.remote_ident().strip() == "FAXBACK"
    assert row.ok and row.direction == "out" and row.remote_ident == "CALLER" and row.number == "13700000000"
    same(read_tiff(rx), pages)
    peer.close()
