"""The music-on-hold page: the shipped default class listed with a player; a class created, a 44.1 kHz stereo
upload converted to 8 kHz mono, generated music added; a broken upload refused naming the file (in Chinese
for a zh-CN browser); the queue form offers the classes; a viewer cannot see the page."""
import io

import numpy as np
import soundfile as sf
from web_fixtures import csrf_of, login, make_app

from trunkline.media.moh import ensure_default


def _post(c, tok, **data):
    return c.post("/config/moh", data={"csrf_token": tok, **data}, content_type="multipart/form-data")


def test_classes_upload_generate_play_and_queue_choice(tmp_path):
    app, hub = make_app(tmp_path)
    ensure_default(hub.prompts_dir)                       # as `trunkline run` does at first start
    c = app.test_client()
    login(c, "admin")
    page = c.get("/config/moh").get_data(as_text=True)
    assert 'src="/config/moh/audio/default/hold-music"' in page
    r = c.get("/config/moh/audio/default/hold-music")
    assert r.status_code == 200 and r.mimetype == "audio/wav" and r.data[:4] == b"RIFF"
    tok = csrf_of(page)
    assert _post(c, tok, op="create", cls="jazz").status_code == 200
    buf = io.BytesIO()
    t = np.arange(44100) / 44100
    sf.write(buf, np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1), 44100, format="WAV")
    r = _post(c, tok, op="upload", cls="jazz", file=(io.BytesIO(buf.getvalue()), "Sax solo.wav"))
    assert r.status_code == 200 and "Sax solo.wav" in r.get_data(as_text=True)
    r = _post(c, tok, op="generate", cls="jazz", style="calm", seconds="4", name="calm-one")
    assert r.status_code == 200
    page = c.get("/config/moh").get_data(as_text=True)
    for name in ("Sax_solo", "calm-one"):
        audio = c.get(f"/config/moh/audio/jazz/{name}")
        assert audio.status_code == 200, name
        info = sf.info(io.BytesIO(audio.data))
        assert info.samplerate == 8000 and info.channels == 1, (name, info)
    assert "0:01" in page and "0:04" in page
    r = c.post("/config/moh", data={"csrf_token": tok, "op": "upload", "cls": "jazz",
                                    "file": (io.BytesIO(b"no audio here"), "broken.mp3")},
               content_type="multipart/form-data", headers={"Accept-Language": "zh-CN"})
    body = r.get_data(as_text=True)
    assert r.status_code == 400 and "broken.mp3" in body and "等待音乐" in body
    assert _post(c, tok, op="create", cls="../etc").status_code == 400
    assert _post(c, tok, op="remove_class", cls="default").status_code == 400
    form = c.get("/config/table/queues").get_data(as_text=True)
    assert '<option value="jazz"' in form and '<option value="default"' in form
    assert c.get("/config/moh/audio/jazz/nosuch").status_code == 404
    v = app.test_client()
    login(v, "viewer")
    assert v.get("/config/moh").status_code == 403
