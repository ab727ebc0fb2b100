"""Prompts page: every prompt file in the library per language (generated ones included) with a player that
plays; an upload that is not audio is refused naming the uploaded file."""
import io
import os

import numpy as np
import soundfile as sf
from web_fixtures import csrf_of, login, make_app


def test_prompt_files_listed_per_language_with_player_and_upload_error_names_the_file(tmp_path):
    app, hub = make_app(tmp_path)
    tone = (4000 * np.sin(2 * np.pi * 400 * np.arange(4000) / 8000)).astype(np.int16)
    for lang in ("zh", "en"):
        os.makedirs(os.path.join(hub.prompts_dir, lang), exist_ok=True)
        sf.write(os.path.join(hub.prompts_dir, lang, "welcome.wav"), tone, 8000, subtype="PCM_16")
    c = app.test_client()
    login(c, "super")
    page = c.get("/config/prompts").get_data(as_text=True)
    for lang in ("zh", "en"):
        url = f"/config/prompts/audio/{lang}/welcome"
        assert f'src="{url}"' in page
        r = c.get(url)
        assert r.status_code == 200 and r.mimetype == "audio/wav" and r.data[:4] == b"RIFF"
    assert c.get("/config/prompts/audio/zh/nosuch").status_code == 404
    tok = csrf_of(page)
    r = c.post("/config/prompts", data={"name": "menu", "lang": "zh", "csrf_token": tok,
                                        "file": (io.BytesIO(b"not audio at all"), "broken.mp3")},
               content_type="multipart/form-data")
    assert r.status_code == 400 and "broken.mp3" in r.get_data(as_text=True)
