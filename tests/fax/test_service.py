"""Fax services through the simulator in virtual time: fax to inbox (TIFF-F file + `faxes` row),
fax-on-demand to a far-end fax machine, and bad documents. The far-end machine is our own FaxEndpoint
(pstn/fax_far.py) on the far side of the simulated card; spandsp interop of the endpoint itself is
proven in tests/fax/test_t30_spandsp.py."""
import os

import numpy as np
import pytest
from simharness import Rig
from sqlalchemy import select

from trunkline.data.db import session_scope
from trunkline.data.models import Fax
from trunkline.fax.convert import synth_document
from trunkline.fax.service import (
    FaxDocumentError,
    fax_on_demand,
    prepare_document,
    receive_to_inbox,
    send_fax_to,
)
from trunkline.fax.tiff import read_tiff, write_tiff
from trunkline.media import ChannelError, Timeout
from trunkline.pstn.fax_far import FarFaxError, FaxMachine

FAST = ("v27ter", "v29")          # the far machine offers no V.17: the call runs at V.29 9600


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    d = tmp_path_factory.mktemp("doc")
    pages = synth_document(1, rows=400, seed=7)
    path = str(d / "doc.tif")
    write_tiff(path, pages, "g4")
    return path, pages


def rows(store):
    with session_scope(store.session_factory) as s:
        return s.scalars(select(Fax).order_by(Fax.id)).all()


def same_pages(a, b):
    return len(a) == len(b) and all(np.array_equal(x.image, y.image) for x, y in zip(a, b))


def test_received_fax_lands_in_inbox(store, doc):
    path, pages = doc
    rig = Rig("fxo=1")
    seen = {}

    async def flow(call):
        seen["fid"] = await receive_to_inbox(call, store, ident="TRUNKLINE")
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("88", from_="861088886666")
        await phone.wait_answer()
        r = await FaxMachine(phone, modems=FAST, ident="+86 10 8888 6666").send_fax(path)
        await phone.wait_hangup(timeout=10)
        return r
    far = rig.run(scenario)
    (row,) = rows(store)
    print(f"\nfar sender: ok={far.ok} pages={far.pages} rate={far.bit_rate} reason={far.reason!r} "
          f"remote={far.remote_ident!r}")
    print(f"inbox row:  ok={row.ok} pages={row.pages} rate={row.bit_rate} ecm={row.ecm} number={row.number!r} "
          f"ident={row.remote_ident!r} status={row.status} reason={row.reason!r}")
    assert far.ok and far.pages == 1 and far.remote_ident == "TRUNKLINE"
    assert row.id == seen["fid"] and row.direction == "in" and row.ok and row.status == "done"
    assert row.pages == 1 and row.bit_rate == 9600 and not row.ecm
    assert row.number == "861088886666" and row.remote_ident == "+86 10 8888 6666"
    assert row.path.startswith(os.path.join(store.fax_dir, "inbox")) and os.path.isfile(row.path)
    got = read_tiff(row.path)
    assert same_pages(got, pages)                          # pixel-for-pixel
    assert got[0].y_dpi == pages[0].y_dpi
    from PIL import Image  # what the web admin renders pages with
    with Image.open(row.path) as im:
        assert getattr(im, "n_frames", 1) == 1 and im.size == (1728, 400)
    assert rig.engine.calls == {}


def test_sender_hangs_up_midway_is_recorded_as_failed(store, doc):
    path, _ = doc
    rig = Rig("fxo=1")

    async def flow(call):
        await receive_to_inbox(call, store)
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("88", from_="5550001")
        await phone.wait_answer()
        m = FaxMachine(phone, modems=FAST)
        import asyncio
        task = asyncio.ensure_future(m.send_fax(path))
        await phone.sleep(6.0)                             # in the middle of phase B
        await phone.hangup()
        with pytest.raises(FarFaxError):
            await task
        await rig.sim.sleep(10.0)
    rig.run(scenario)
    (row,) = rows(store)
    print(f"\ncut-off row: ok={row.ok} status={row.status} reason={row.reason!r}")
    assert row.direction == "in" and not row.ok and row.status == "failed" and "hung up" in row.reason
    assert row.number == "5550001"
    assert rig.engine.calls == {}


def test_fax_on_demand_sends_the_picked_document(store, doc, tmp_path):
    path, pages = doc
    other = str(tmp_path / "other.tif")
    write_tiff(other, synth_document(1, rows=200, seed=99))
    rig = Rig("fxo=1")
    out = {}

    async def flow(call):
        out["fid"], out["result"] = await fax_on_demand(call, {"1": other, "2": path}, store, ident="FAXBACK")
    rig.engine.route(flow)
    received = str(tmp_path / "got.tif")

    async def scenario():
        phone = rig.sim.call("99", from_="13900000000")
        await phone.wait_answer()
        await phone.sleep(0.5)
        await phone.send_dtmf("7")                          # not a document: asked again
        await phone.sleep(0.5)
        await phone.send_dtmf("2")
        r = await FaxMachine(phone, calling=False, modems=FAST, ident="CALLER").receive_fax(received)
        await phone.wait_hangup(timeout=10)
        return r
    far = rig.run(scenario)
    row = rows(store)[-1]
    print(f"\nfar receiver: ok={far.ok} pages={far.pages} rate={far.bit_rate} remote={far.remote_ident!r}")
    print(f"outbox row:   ok={row.ok} pages={row.pages} rate={row.bit_rate} number={row.number!r} "
          f"ident={row.remote_ident!r}")
    assert far.ok and far.pages == 1 and far.bit_rate == 9600 and far.remote_ident == "FAXBACK"
    assert same_pages(read_tiff(received), pages)          # the document keyed, pixel-for-pixel
    assert out["result"].ok and out["fid"] == row.id
    assert row.direction == "out" and row.ok and row.pages == 1 and row.remote_ident == "CALLER"
    assert rig.engine.calls == {}


def test_fax_on_demand_converts_an_image(store, tmp_path):
    from PIL import Image, ImageDraw
    png = str(tmp_path / "notice.png")
    im = Image.new("L", (864, 300), 255)
    ImageDraw.Draw(im).rectangle((100, 50, 700, 250), outline=0, width=8)
    im.save(png)
    tif = prepare_document(png, str(tmp_path))
    expected = read_tiff(tif)
    assert expected[0].width == 1728 and expected[0].image.sum() > 1000
    assert prepare_document(png, str(tmp_path)) == tif     # converted once, then cached
    rig = Rig("fxo=1")

    async def flow(call):
        await fax_on_demand(call, {"5": png}, store)
    rig.engine.route(flow)
    received = str(tmp_path / "got.tif")

    async def scenario():
        phone = rig.sim.call("99", from_="1")
        await phone.wait_answer()
        await phone.send_dtmf("5")
        r = await FaxMachine(phone, calling=False, modems=("v27ter",)).receive_fax(received)
        await phone.wait_hangup(timeout=10)
        return r
    far = rig.run(scenario)
    print(f"\nimage via V.27ter: ok={far.ok} rate={far.bit_rate} pages={far.pages}")
    assert far.ok and far.bit_rate == 4800
    assert same_pages(read_tiff(received), expected)


def test_corrupt_document_gives_clear_error_and_clean_hangup(store, tmp_path):
    bad = str(tmp_path / "broken.tif")
    with open(bad, "wb") as f:
        f.write(b"II*\x00" + os.urandom(600))
    rig = Rig("fxo=1")
    errors = []

    async def flow(call):
        try:
            await fax_on_demand(call, {"1": bad}, store)
        except FaxDocumentError as exc:
            errors.append(str(exc))
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("99", from_="13900000001")
        await phone.wait_answer()
        await phone.send_dtmf("1")
        await phone.wait_hangup(timeout=10)
        return phone
    phone = rig.run(scenario)
    print(f"\nerror: {errors}")
    assert len(errors) == 1 and "broken.tif" in errors[0] and "cannot be sent: corrupt" in errors[0]
    assert phone.hungup
    assert rig.engine.calls == {} and all(r["state"] == "idle" for r in rig.engine.status())
    (row,) = rows(store)
    assert row.direction == "out" and row.status == "failed" and not row.ok and "cannot be sent" in row.reason
    assert os.path.getsize(bad) == 604                     # the bad input is left as it was


def test_no_choice_times_out_and_clears(store, doc):
    path, _ = doc
    rig = Rig("fxo=1")
    got = []

    async def flow(call):
        try:
            await fax_on_demand(call, {"1": path}, store, timeout=2.0, retries=2)
        except Timeout as exc:
            got.append(str(exc))
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("99", from_="1")
        await phone.wait_answer()
        await phone.wait_hangup(timeout=20)
    rig.run(scenario)
    assert got and "no valid document" in got[0]
    assert rows(store) == [] and rig.engine.calls == {}


def test_missing_document_and_bad_arguments(tmp_path):
    with pytest.raises(FaxDocumentError, match="no such file"):
        prepare_document(str(tmp_path / "nope.pdf"))
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(FaxDocumentError, match="not convertible"):
        prepare_document(str(tmp_path / "x.txt"))
    assert not list(tmp_path.glob("*.part"))


def test_fax_call_back_over_analog_and_failures(store, doc, tmp_path):
    """Trunkline dials out (DTMF over an FXO line) and sends the document; busy and bad documents are recorded."""
    path, pages = doc
    rig = Rig("fxo=1")
    received = str(tmp_path / "cb.tif")
    far = {}

    async def machine(party):                               # the called fax machine answers and receives
        far["r"] = await FaxMachine(party, modems=FAST, ident="CALLED").receive_fax(received)
    rig.sim.add_destination("6001", kind="answer", answer_after=2.0, script=machine)
    rig.sim.add_destination("6002", kind="busy")
    out = {}

    async def scenario():
        out["sent"] = await send_fax_to(rig.engine, "6001", path, store, trunk="analog", ident="TRUNKLINE")
        await rig.sim.sleep(3.0)
        with pytest.raises(ChannelError):
            await send_fax_to(rig.engine, "6002", path, store, trunk="analog")
        with pytest.raises(FaxDocumentError):
            await send_fax_to(rig.engine, "6001", str(tmp_path / "missing.tif"), store, trunk="analog")
        await rig.sim.sleep(3.0)
    rig.run(scenario)
    fid, result = out["sent"]
    ok, busy, missing = rows(store)
    print(f"\ncall-back: ours ok={result.ok} rate={result.bit_rate} | far ok={far['r'].ok} pages={far['r'].pages} "
          f"remote={far['r'].remote_ident!r}; busy row reason={busy.reason!r}")
    assert result.ok and far["r"].ok and far["r"].remote_ident == "TRUNKLINE" and result.remote_ident == "CALLED"
    assert same_pages(read_tiff(received), pages)
    assert ok.id == fid and ok.ok and ok.number == "6001" and ok.direction == "out"
    assert not busy.ok and busy.status == "failed" and "dial failed" in busy.reason and busy.number == "6002"
    assert not missing.ok and "no such file" in missing.reason
    assert rig.engine.calls == {}


@pytest.mark.parametrize("board", ["sim", "dahdi"])   # dahdi: the dahdi:// backend on the emulated /dev/dahdi
def test_received_fax_over_pri_with_ecm(store, doc, board):
    """The same inbox path on an E1 PRI B-channel (A-law), with T.30 ECM."""
    path, pages = doc
    rig = Rig("e1=1", trunk="pri", board=board)

    async def flow(call):
        await receive_to_inbox(call, store, ecm=True)
    rig.engine.route(flow)

    async def scenario():
        await rig.sim.sleep(2.0)                             # layer 2 up
        phone = rig.sim.call("88", from_="02188880000", trunk="pri")
        await phone.wait_answer()
        r = await FaxMachine(phone, calling=True, modems=FAST, ecm=True).send_fax(path)
        await phone.wait_hangup(timeout=10)
        return r
    far = rig.run(scenario)
    (row,) = rows(store)
    print(f"\nPRI+ECM: far ok={far.ok} ecm={far.ecm} rate={far.bit_rate}; row ok={row.ok} ecm={row.ecm} "
          f"number={row.number!r}")
    assert far.ok and row.ok and row.ecm and row.bit_rate == 9600 and row.number == "02188880000"
    assert same_pages(read_tiff(row.path), pages)
    with pytest.raises(ValueError, match="calling="):
        FaxMachine(phone_like_pri(), modems=FAST)


def phone_like_pri():
    """A far party of a class FaxMachine cannot classify."""
    class P:
        pass
    return P()


def test_fax_on_demand_call_back(store, doc, tmp_path):
    """The caller keys a document and a fax number; we hang up, dial the number and fax the document."""
    path, pages = doc
    rig = Rig("fxo=2")
    received = str(tmp_path / "cb.tif")
    far, out = {}, {}

    async def machine(party):
        far["r"] = await FaxMachine(party, modems=FAST, ident="HOME FAX").receive_fax(received)
    rig.sim.add_destination("63001234", kind="answer", answer_after=2.0, script=machine)

    async def flow(call):
        out["sent"] = await fax_on_demand(call, {"3": path}, store, call_back=True, trunk="analog",
                                          ident="FAXBACK")
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("99", from_="13600000000")
        await phone.wait_answer()
        await phone.send_dtmf("3")
        await phone.send_dtmf("63001234#")
        await phone.wait_hangup(timeout=10)
        while "r" not in far or "sent" not in out:
            await rig.sim.sleep(1.0)
        await rig.sim.sleep(2.0)
    rig.run(scenario)
    fid, result = out["sent"]
    (row,) = rows(store)
    print(f"\ncall-back fax: ours ok={result.ok} rate={result.bit_rate}; far ok={far['r'].ok} "
          f"remote={far['r'].remote_ident!r}; row number={row.number!r}")
    assert result.ok and far["r"].ok and far["r"].remote_ident == "FAXBACK"
    assert same_pages(read_tiff(received), pages)
    assert row.id == fid and row.direction == "out" and row.number == "63001234" and row.ok
    assert rig.engine.calls == {}


@pytest.mark.skipif(not __import__("shutil").which("pdftoppm"), reason="pdftoppm (poppler-utils) not installed")
def test_pdf_document_is_converted_to_fax_pages(tmp_path):
    """A 2-page PDF becomes a 2-page 1728-pixel TIFF-F with the drawn box where it was drawn."""
    from PIL import Image, ImageDraw
    frames = []
    for k in range(2):
        im = Image.new("L", (1700, 2200), 255)                  # 8.5 x 11 in at 200 dpi
        ImageDraw.Draw(im).rectangle((200 + 400 * k, 300, 900 + 400 * k, 900), fill=0)
        frames.append(im.convert("RGB"))
    pdf = str(tmp_path / "doc.pdf")
    frames[0].save(pdf, save_all=True, append_images=frames[1:], resolution=200.0)
    tif = prepare_document(pdf, str(tmp_path))
    pages = read_tiff(tif)
    assert len(pages) == 2 and all(p.width == 1728 for p in pages)
    for k, p in enumerate(pages):
        cols = np.flatnonzero(p.image.mean(axis=0) > 0.15)
        x0, x1 = cols[0] / 1728 * 1700, cols[-1] / 1728 * 1700   # back in the PDF's pixel units
        print(f"page {k + 1}: box columns {x0:.0f}-{x1:.0f} (drawn {200 + 400 * k}-{900 + 400 * k})")
        assert abs(x0 - (200 + 400 * k)) < 20 and abs(x1 - (900 + 400 * k)) < 20


def test_caller_that_is_not_a_fax_is_recorded_as_failed(store):
    """A voice caller who stays silent: our answering terminal gives up at T1 (35 s); the row says why."""
    rig = Rig("fxo=1")

    async def flow(call):
        await receive_to_inbox(call, store)
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("88", from_="13511112222")
        await phone.wait_answer()
        heard = await phone.listen(4.0)                     # CED then DIS on V.21 reach the caller
        await phone.wait_hangup(timeout=60)
        return heard, rig.card.now - phone.answered_at
    heard, up_for = rig.run(scenario)
    (row,) = rows(store)
    spec = np.abs(np.fft.rfft(heard[:8000].astype(float)))
    ced = np.argmax(spec) * 8000 / 8000
    print(f"\nnot a fax: row ok={row.ok} status={row.status} reason={row.reason!r}; call up {up_for:.1f} s; "
          f"first second peaks at {ced:.0f} Hz")
    assert abs(ced - 2100) < 10                              # CED answer tone
    assert not row.ok and row.status == "done" and "T1" in row.reason and row.pages == 0
    assert 34.0 < up_for < 45.0 and rig.engine.calls == {}
