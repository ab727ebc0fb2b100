"""Music-on-hold classes through the real engine + ACD on the card simulator (virtual time): a caller waiting
in a queue hears its class's file, a caller the agent puts on hold hears it too, and a queue without the
setting plays the shipped default class. What the caller hears is measured at the simulated far end: the
normalised cross-correlation with the known file (after G.711 both ways) must be near 1."""
import asyncio
import os

import numpy as np
import soundfile as sf
from acd_rig import Rig, connect_caller, run
from scipy.signal import chirp, fftconvolve

from trunkline.ivr.moh import MohStore
from trunkline.media.moh import DEFAULT_CLASS, ensure_default, hold_music, moh_items
from trunkline.media.prompts import PromptLibrary


def known_music(seconds=2.0):
    """A 300 -> 3000 Hz sweep: its cross-correlation has one sharp peak."""
    t = np.arange(int(seconds * 8000)) / 8000.0
    return (7000 * chirp(t, 300, seconds, 3000)).astype(np.int16)


def ncc(heard, ref):
    """Best normalised cross-correlation of `heard` against the looped reference."""
    x = np.asarray(heard, dtype=float)
    r = np.tile(np.asarray(ref, dtype=float), int(np.ceil(len(x) / len(ref))) + 2)
    num = fftconvolve(r, x[::-1], mode="valid")
    c = np.concatenate([[0.0], np.cumsum(r * r)])
    energy = c[len(x):] - c[:-len(x)]                # sliding window energy of the reference
    return float(np.max(num / np.sqrt(energy * np.dot(x, x) + 1e-9)))


def test_classes_on_disk_and_lookup(tmp_path):
    root = str(tmp_path)
    assert moh_items(PromptLibrary([root]), "jazz") == ["jazz"]          # no class: a prompt name, as before
    written = ensure_default(root)
    assert written and ensure_default(root) is None                   # generated once
    lib = PromptLibrary([root])
    assert moh_items(lib, "moh") == [written] and moh_items(lib, DEFAULT_CLASS) == [written]   # legacy name
    assert moh_items(lib, "") == []
    st = MohStore(root)
    src = tmp_path / "in.flac"
    sf.write(src, np.repeat(known_music(1.0), 2).astype(np.int16) / 32768.0, 16000)   # 16 kHz FLAC: converted
    p1 = st.add_file("jazz", "b-second", str(src))
    p0 = st.generate("jazz", "a-first", "bright", 3.0)
    assert moh_items(lib, "jazz") == [p0, p1]                         # files in name order
    assert sf.info(p1).samplerate == 8000 and abs(sf.info(p1).duration - 1.0) < 0.01
    assert [f.name for f in st.files("jazz")] == ["a-first", "b-second"] and st.classes() == ["default", "jazz"]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    for call, args in ((st.add_file, ("jazz", "x", str(bad))), (st.create, ("../up",)),
                       (st.generate, ("jazz", "y", "disco")), (st.remove_class, (DEFAULT_CLASS,))):
        try:
            call(*args)
        except Exception as exc:          # PromptError with the reason
            assert type(exc).__name__ == "PromptError", exc
        else:
            raise AssertionError(f"{call.__name__}{args} accepted")
    st.remove_class("jazz")
    assert st.classes() == ["default"] and not os.path.exists(tmp_path / "moh" / "jazz")


def test_queued_and_held_callers_hear_their_class(tmp_path):
    music = known_music()
    MohStore(str(tmp_path)).add_file("jazz", "sweep", _wav(tmp_path, music))
    ensure_default(str(tmp_path))
    rig = Rig("moh-classes", {"q": {"strategy": "top-down", "moh": "jazz", "on_empty": {"action": "stay"}},
                              "plain": {"strategy": "top-down", "on_empty": {"action": "stay"}}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}])
    rig.engine.prompts.add_directory(str(tmp_path))
    queue_of = {"13800000001": "plain"}            # analog trunks carry no called number: by caller ID

    async def flow(call):
        await call.answer()
        rig.results.append(await rig.acd.enqueue(call, queue_of.get(call.caller_id, "q")))
    rig.engine.route(flow)

    async def main():
        await rig.start()
        waiting = await rig.caller("13800000001", number="5001")       # no agent signed in: both wait
        queued = await rig.caller("13800000002", number="5000")
        await rig.sim.sleep(1.0)
        default_heard, queued_heard = await asyncio.gather(waiting.listen(2.0), queued.listen(2.0))
        await waiting.hangup()
        await queued.hangup()
        await rig.sim.sleep(1.0)
        rig.acd.login("100")
        ph, _st = await connect_caller(rig, port=0)                    # queue q: answered by agent 100
        await rig.acd.execute("100", "hold")
        await rig.sim.sleep(0.5)
        held = await ph.listen(2.0)
        await rig.acd.execute("100", "unhold")
        await ph.hangup()
        await rig.sim.sleep(1.0)
        await rig.stop()
        return default_heard, held, queued_heard

    default_heard, held, queued_heard = run(main())
    scores = {"queued": ncc(queued_heard, music), "held": ncc(held, music), "default": ncc(default_heard, hold_music()),
              "default-vs-sweep": ncc(default_heard, music)}
    print("\nmusic-on-hold correlation with the class's file:", {k: round(v, 3) for k, v in scores.items()})
    assert scores["held"] > 0.9 and scores["default"] > 0.9 and scores["default-vs-sweep"] < 0.3
    assert ncc(queued_heard, music) > 0.9


def _wav(tmp_path, samples):
    p = tmp_path / "sweep.wav"
    sf.write(p, samples, 8000, subtype="PCM_16")
    return str(p)
