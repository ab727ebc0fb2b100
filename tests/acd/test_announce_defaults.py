"""Default queue prompts (#17): generated at first start like the demo prompts; a caller queued through
the server's wiring hears the position / expected-wait / callback-offer announcement (zh and en), measured
in the audio the simulated caller receives (correlated with the generated prompt files)."""
import logging

import numpy as np
from scipy.signal import fftconvolve
from wiring_rig import WiredServer

from trunkline.acd.models import AcdAgent, AcdMember, AcdQueue
from trunkline.data.db import session_scope
from trunkline.media.prompts import load_audio

FLOW = """\
name: main
language: {lang}
nodes:
  q: {{type: queue, queue: support, next: bye}}
  bye: {{type: hangup}}
"""


def found_at(audio, prompt, threshold=0.9, after=0.0):
    """Where (s) the prompt's first 0.25 s occurs in the audio after `after` s (normalised
    cross-correlation, sample by sample), else None."""
    ref = prompt[:2000].astype(np.float64)
    a = np.asarray(audio, dtype=np.float64)[int(after * 8000):]
    if len(a) < len(ref):
        return None
    num = fftconvolve(a, ref[::-1], mode="valid")
    energy = np.concatenate([[0.0], np.cumsum(a ** 2)])
    win = energy[len(ref):] - energy[:-len(ref)]
    corr = num / (np.sqrt(np.maximum(win, 0) * (ref ** 2).sum()) + 1e-9)
    k = int(np.argmax(corr))
    return after + k / 8000 if corr[k] >= threshold else None


def test_queued_caller_hears_default_announcements(make_rig, tmp_path, caplog):
    srv = WiredServer(make_rig, tmp_path, language="zh")
    root = srv.cfg.prompts_dir
    for lang in ("zh", "en"):
        for name in ("queue-position", "queue-ewt", "queue-callback-offer", "queue-under-minute"):
            assert len(load_audio(f"{root}/{lang}/{name}.wav")) > 4000, (lang, name)
    with session_scope(srv.factory) as s:
        s.add(AcdQueue(name="support", options={"announce_interval": 30, "announce_first": 1,
                                                "callback_key": "2"}))
        s.add(AcdAgent(id="100", name="away"))          # a member who is not signed in: the caller waits
        s.add(AcdMember(queue="support", agent="100"))
    srv.registry.load_yaml(FLOW.format(lang="zh"))
    srv.engine.route(srv.registry.handler("main"))

    async def script():
        phone = srv.sim.call("95588", from_="13800000000")
        await phone.wait_answer(timeout=20)
        phone.start_capture()
        audio = await phone.listen(20.0)
        await phone.hangup()
        return audio

    with caplog.at_level(logging.WARNING):
        audio = srv.run(script)
    assert not [r for r in caplog.records if "not found" in r.getMessage()], caplog.text
    pos = found_at(audio, load_audio(f"{root}/zh/queue-position.wav"))
    ewt = found_at(audio, load_audio(f"{root}/zh/queue-ewt.wav"))
    offer = found_at(audio, load_audio(f"{root}/zh/queue-callback-offer.wav"))
    moh = found_at(audio, load_audio(f"{root}/moh/default/hold-music.wav"), after=(offer or 0) + 1)
    rms = np.sqrt(np.mean(np.asarray(audio, dtype=np.float64) ** 2))
    print(f"queue-position at {pos} s, expected wait at {ewt} s, callback offer at {offer} s, "
          f"music on hold at {moh} s, rms {rms:.0f}")
    assert pos is not None and 0.5 <= pos <= 3.0
    assert ewt is not None and offer is not None and pos < ewt < offer
    assert moh is not None and moh > offer        # the music comes back after the announcement
