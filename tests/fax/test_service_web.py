"""A fax received through the simulator is listed in the web admin's fax inbox and its page renders
as a PNG whose black pixels match the page that was sent (the admin pages are read-only consumers of
the `faxes` rows and TIFF files fax/service.py writes)."""
import io

import numpy as np
from simharness import Rig
from web_fixtures import login, make_app

from trunkline.fax.convert import synth_document
from trunkline.fax.service import FaxStore, receive_to_inbox
from trunkline.fax.tiff import write_tiff
from trunkline.pstn.fax_far import FaxMachine


def test_received_fax_shows_in_web_inbox(tmp_path):
    app, hub = make_app(tmp_path)
    store = FaxStore(hub.session_factory, hub.fax_dir)
    pages = synth_document(1, rows=300, seed=5)
    src = str(tmp_path / "doc.tif")
    write_tiff(src, pages)
    rig = Rig("fxo=1")
    got = {}

    async def flow(call):
        got["fid"] = await receive_to_inbox(call, store, ident="TRUNKLINE")
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("88", from_="861012345678")
        await phone.wait_answer()
        await FaxMachine(phone, modems=("v27ter", "v29"), ident="ACME SALES").send_fax(src)
        await phone.wait_hangup(timeout=10)
    rig.run(scenario)
    fid = got["fid"]
    client = app.test_client()
    assert login(client, "viewer").status_code in (302, 303)
    listing = client.get("/faxes")
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200 and "861012345678" in html and "ACME SALES" in html
    assert f"/faxes/{fid}" in html
    page = client.get(f"/faxes/{fid}")
    assert page.status_code == 200 and f"/faxes/{fid}/page/1.png" in page.get_data(as_text=True)
    png = client.get(f"/faxes/{fid}/page/1.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    from PIL import Image
    im = np.array(Image.open(io.BytesIO(png.data)).convert("L"))
    black_png = float((im < 128).mean())
    black_sent = float(pages[0].image.mean())
    print(f"\nweb PNG {im.shape[1]}x{im.shape[0]}: black {black_png:.4f} vs sent page {black_sent:.4f}")
    assert abs(black_png - black_sent) < 0.25 * black_sent
    assert client.get(f"/faxes/{fid}/page/2.png").status_code == 404
