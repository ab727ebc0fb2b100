"""Voicemail and received faxes e-mailed through the server's wiring (`server.start_mail` and
`server.install_flows(..., mail=)`), delivered to a real local SMTP server (aiosmtpd) and parsed back:
recipients, subject, the WAV recorded through the simulator byte for byte, and the received two-page fax
as a PDF that poppler reads back (page count, every pixel of the received TIFF);
per-DID fax mailboxes with a '*' default for the other DIDs."""
import io
import re
import subprocess

import numpy as np
import soundfile as sf
from PIL import Image
from smtp_sink import SmtpSink, attachments
from sqlalchemy import select
from wiring_rig import WiredServer, tone

from trunkline.app.mail import fax_address
from trunkline.data.db import session_scope
from trunkline.data.mail_models import FaxMailbox
from trunkline.data.models import Fax
from trunkline.fax.convert import synth_document
from trunkline.fax.tiff import read_tiff, write_tiff
from trunkline.pstn.fax_far import FaxMachine

VM_DID, FAX_DID, OTHER_DID = "4008001", "4008009", "4008077"


def test_voicemail_and_fax_are_emailed_per_box_and_did(make_rig, tmp_path):
    sink = SmtpSink().start()
    srv = WiredServer(make_rig, tmp_path, query="e1=1", smtp_port=sink.port)
    try:
        check(srv, sink, tmp_path)
    finally:
        if srv.mail is not None:
            srv.mail.stop()
        sink.stop()


async def after_greeting(phone, quiet=1.0, limit=30.0):
    """Listen until `quiet` s of silence follow what was played (the greeting and its beep)."""
    heard, still = False, 0.0
    for _ in range(int(limit / 0.25)):
        loud = np.sqrt(np.mean(np.asarray(await phone.listen(0.25), dtype=np.float64) ** 2)) > 300
        heard = heard or loud
        still = 0.0 if loud else still + 0.25
        if heard and still >= quiet:
            return
    raise AssertionError("no greeting heard")


def check(srv, sink, tmp_path):
    assert any("e-mail" in line and " on " in line for line in srv.summary.lines), srv.summary.lines
    srv.registry.services.voicemail.create_box("8001", "2468", name="Sales", email="sales@example.com")
    with session_scope(srv.factory) as s:
        s.add(FaxMailbox(did=FAX_DID, email="fax-desk@example.com, archive@example.com", name="Fax desk"))
        s.add(FaxMailbox(did="*", email="other-faxes@example.com"))
    assert fax_address(srv.factory, OTHER_DID) == "other-faxes@example.com"
    srv.registry.load_yaml("name: vm\nnodes:\n  vm: {type: voicemail, box: '8001'}\n")
    srv.registry.load_yaml("name: faxin\nnodes:\n  rx: {type: fax, mode: receive}\n")
    vm, faxin = srv.registry.handler("vm"), srv.registry.handler("faxin")

    async def by_did(call):
        await (vm if call.called == VM_DID else faxin)(call)
    srv.engine.route(by_did)
    doc = str(tmp_path / "doc.tif")
    write_tiff(doc, synth_document(2, rows=300, seed=3), "g4")

    async def script():
        await srv.sim.sleep(2.0)                                # layer 2 up
        phone = srv.sim.call(VM_DID, from_="13911112222", trunk="pri")
        await phone.wait_answer(timeout=20)
        await after_greeting(phone)                             # greeting, beep, then quiet: recording
        await phone.play(tone(250, 2.0))                        # the caller's message
        await phone.send_dtmf("#")
        await phone.wait_hangup(timeout=15)
        fax = srv.sim.call(FAX_DID, from_="02188880000", trunk="pri")
        await fax.wait_answer(timeout=20)
        result = await FaxMachine(fax, calling=True, modems=("v27ter", "v29")).send_fax(doc)
        await fax.wait_hangup(timeout=15)
        return result

    far = srv.run(script, until=600.0)
    assert far.ok and far.pages == 2, far
    got = sink.wait(2, timeout=15.0)
    assert len(got) == 2, [m["Subject"] for _, _, m in got]
    by_rcpt = {tuple(rcpts): (mail_from, msg) for mail_from, rcpts, msg in got}

    (msg_row,) = srv.registry.services.voicemail.messages("8001")
    mail_from, msg = by_rcpt[("sales@example.com",)]
    assert mail_from == "pbx@example.com" and msg["To"] == "sales@example.com"
    assert msg["Subject"].startswith("Voicemail for box 8001 from 13911112222"), msg["Subject"]
    with open(msg_row["path"], "rb") as f:
        wav = f.read()
    assert attachments(msg) == {msg_row["path"].rsplit("/", 1)[1]: wav} and wav[:4] == b"RIFF"
    assert 2.5 <= msg_row["duration_ms"] / 1000 <= 4.0           # 1 s quiet after the beep, 2 s spoken
    pcm, rate = sf.read(io.BytesIO(attachments(msg)[msg_row["path"].rsplit("/", 1)[1]]), dtype="float64")
    spectrum = np.abs(np.fft.rfft(pcm))
    assert abs(np.argmax(spectrum) * rate / len(pcm) - 250) < 5        # the caller's 250 Hz message is in it

    with srv.factory() as s:
        (fid, path), = s.execute(select(Fax.id, Fax.path).where(Fax.direction == "in")).all()
    _, msg = by_rcpt[("fax-desk@example.com", "archive@example.com")]       # the DID's own fax mailbox
    assert msg["Subject"] == f"Fax to {FAX_DID} from 02188880000 (2 pages)", msg["Subject"]
    assert f"Fax {fid} received on {FAX_DID}" in msg.get_body().get_content()
    name = path.rsplit("/", 1)[1].rsplit(".", 1)[0] + ".pdf"
    pdf = attachments(msg)[name]
    assert list(attachments(msg)) == [name] and pdf[:5] == b"%PDF-" and "attached (PDF)" in \
        msg.get_body().get_content()
    part = next(p for p in msg.iter_attachments())
    assert part.get_content_type() == "application/pdf"
    (tmp_path / name).write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(tmp_path / name)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+2$", info, re.M), info                  # poppler reads both pages
    subprocess.run(["pdfimages", str(tmp_path / name), str(tmp_path / "pg")], check=True)
    received = read_tiff(path)
    assert len(received) == 2
    for i, page in enumerate(received):                                 # the received fax, pixel for pixel
        with Image.open(tmp_path / f"pg-{i:03d}.pbm") as im:
            black = ~np.array(im.convert("1"), dtype=bool)
        want = page.image.astype(bool) if page.fine else np.repeat(page.image.astype(bool), 2, axis=0)
        assert np.array_equal(black, want)
    assert srv.mail.counts() == {"queued": 0, "sent": 2, "failed": 0}
