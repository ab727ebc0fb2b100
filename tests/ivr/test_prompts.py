"""Prompt library: upload conversion checked against sox, espeak-ng TTS cache, bad input, DB index."""
import os
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

import trunkline.ivr.models  # noqa: F401
from trunkline.data.db import Base, make_engine, make_session_factory
from trunkline.ivr import demo, say
from trunkline.ivr.models import IvrPrompt
from trunkline.ivr.prompts import PromptError, PromptLibrary

needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.fixture
def sf_db(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path}/p.db")
    Base.metadata.create_all(eng)
    return make_session_factory(eng)


@needs_sox
def test_upload_conversion_matches_sox(tmp_path, sf_db):
    rate = 44100
    t = np.arange(rate) / rate
    left = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1300 * t)
    right = 0.4 * np.sin(2 * np.pi * 440 * t) - 0.2 * np.sin(2 * np.pi * 1300 * t)
    src = tmp_path / "upload.flac"
    sf.write(src, np.stack([left, right], axis=1), rate, subtype="PCM_24")
    lib = PromptLibrary(tmp_path / "prompts", language="en", tts=False, session_factory=sf_db)
    path = lib.add_file("welcome", str(src), number=7)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    ours = lib.load("welcome")
    ref = tmp_path / "sox.wav"
    subprocess.run(["sox", str(src), "-r", "8000", "-c", "1", "-b", "16", str(ref)], check=True)
    peer, _ = sf.read(ref, dtype="int16")
    n = min(len(ours), len(peer))
    a, b = ours[400:n - 400].astype(float), peer[400:n - 400].astype(float)
    snr = 10 * np.log10(np.sum(b ** 2) / np.sum((a - b) ** 2))
    print(f"ours {len(ours)} samples, sox {len(peer)} samples, SNR ours vs sox {snr:.1f} dB")
    assert abs(len(ours) - len(peer)) <= 2 and snr > 30
    assert lib.by_number(7) == ("welcome", "en")
    with sf_db() as s:
        row = s.query(IvrPrompt).filter_by(name="welcome").one()
        assert row.duration_ms == 1000 and row.source == "upload"


def test_bad_upload_is_refused_and_keeps_the_old_prompt(tmp_path):
    lib = PromptLibrary(tmp_path, language="zh", tts=False)
    good = tmp_path / "g.wav"
    sf.write(good, np.full(800, 0.1), 8000)
    lib.add_file("menu", str(good))
    junk = tmp_path / "junk.mp9"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(PromptError, match="cannot read audio file"):
        lib.add_file("menu", str(junk))
    assert len(lib.load("menu")) == 800
    with pytest.raises(PromptError, match="bad prompt name"):
        lib.add_file("../etc/passwd", str(good))
    with pytest.raises(PromptError, match="not found"):
        lib.path("nothing-here")


def test_language_folders_and_fallback(tmp_path):
    lib = PromptLibrary(tmp_path, language="zh", tts=False)
    lib.add_samples("hello", np.ones(160, np.int16), lang="zh")
    lib.add_samples("hello", np.ones(320, np.int16), lang="en")
    assert len(lib.load("hello")) == 160 and len(lib.load("hello", "en")) == 320
    assert len(lib.load("en/hello")) == 320
    assert lib.names("en") == ["hello"]


@needs_espeak
def test_tts_fragments_are_made_once_and_cached(tmp_path):
    lib = PromptLibrary(tmp_path, language="zh")
    frags = say.money("2.50", "zh")
    paths = [lib.path(f) for f in frags]
    assert all(p.startswith(str(tmp_path / "_tts")) for p in paths)
    mtimes = [os.path.getmtime(p) for p in paths]
    audio = say.render(frags, lib)
    assert audio.dtype == np.int16 and len(audio) > 8000 * 0.5
    assert sf.info(paths[0]).samplerate == 8000
    # cached: the same text+voice gives the same file, not re-synthesised
    assert [lib.path(f) for f in frags] == paths and [os.path.getmtime(p) for p in paths] == mtimes
    # different voice => different cache entry
    assert lib.tts("两", "zh") != lib.tts("两", "en")
    # speech, not silence: energy in the speech band
    assert np.sqrt(np.mean(audio.astype(float) ** 2)) > 300


@needs_espeak
def test_system_prompts_and_text_prompts(tmp_path, sf_db):
    lib = PromptLibrary(tmp_path, language="en", session_factory=sf_db)
    assert lib.exists("vm-enter-pin") and lib.exists("vm-enter-pin", "zh")
    lib.define_text("closed", "We are closed.", lang="en")
    assert len(lib.load("closed", "en")) > 4000
    with sf_db() as s:
        assert s.query(IvrPrompt).filter_by(name="closed").one().source == "tts"


@needs_espeak
def test_materialized_fragments_play_through_the_engine_library(tmp_path):
    """Say fragments written as files are found by the media engine's directory-search library by name."""
    from trunkline.media import PromptLibrary as EnginePrompts
    lib = PromptLibrary(tmp_path, language="zh")
    frags = say.money("2.50", "zh") + ["en/dollars"]
    written = lib.materialize(frags + ["zh/vm-enter-pin"])
    assert len(written) == 6 and lib.materialize(frags) == []          # second call: nothing to do
    eng = EnginePrompts([str(tmp_path)], language="zh")
    def same(a, b):   # one prompt library underneath: the engine gets exactly the IVR library's samples
        return a.dtype == b.dtype == np.int16 and np.array_equal(a, b)
    for f in frags:
        assert same(eng.load(f), lib.load(f)), f
    assert same(eng.load("vm-enter-pin"), lib.load("vm-enter-pin"))


@pytest.mark.parametrize("lang", ["../out", "../../out", "/abs/out", "en/../../out", "en\x00", "..", ".", "en\\..",
                                  "EN", "e", "en-", "en/x"])
def test_language_is_checked_before_any_file_is_written(tmp_path, lang):
    root = tmp_path / "prompts"
    lib = PromptLibrary(root, language="zh", tts=False)
    src = tmp_path / "g.wav"
    sf.write(src, np.full(800, 0.1), 8000)
    for add in (lambda: lib.add_file("x", str(src), lang=lang), lambda: lib.add_samples("x", np.ones(80), lang=lang),
                lambda: lib.define_text("x", "hi", lang=lang), lambda: lib.names(lang)):
        with pytest.raises(PromptError, match="bad language"):
            add()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["g.wav", "prompts"]


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/abs/x", "x\x00", "a\\..\\x", "./x", "a//b", "-x", "", "a/"])
def test_bad_names_are_refused(tmp_path, name):
    lib = PromptLibrary(tmp_path / "p", language="zh", tts=False)
    with pytest.raises(PromptError, match="bad prompt name"):
        lib.add_samples(name, np.ones(80), lang="en")
    assert lib.names("en") == [] and lib.names("pt_BR") == []


def _options(argv):
    """argv without the output file after -w: only fixed options may remain (the text is on stdin)."""
    return [a for i, a in enumerate(argv) if i == 0 or argv[i - 1] != "-w"]


@pytest.mark.parametrize("text", ["-f/etc/passwd", "--version", "-w/tmp/evil.wav", "--", "-v"])
def test_tts_text_is_never_parsed_as_an_espeak_option(tmp_path, monkeypatch, text):
    calls = []

    def fake_run(argv, **kw):
        calls.append((argv, kw))
        sf.write(argv[argv.index("-w") + 1], np.full(800, 0.2), 8000)
        return subprocess.CompletedProcess(argv, 0, b"", b"")
    monkeypatch.setattr(subprocess, "run", fake_run)
    lib = PromptLibrary(tmp_path, language="en", tts=False)
    lib.tts_enabled = True
    lib.tts(text)
    (argv, kw), = calls
    assert _options(argv) == ["espeak-ng", "-v", "en-us", "-w", "--stdin"] and kw["input"] == text.encode()
    with pytest.raises(PromptError, match="bad voice"):
        lib.tts(text, voice="-f/etc/passwd")
    calls.clear()
    assert demo._speak(text) is not None or shutil.which("espeak-ng") is None
    for argv, kw in calls:
        assert _options(argv)[1:] == ["-v", "en", "-s", "170", "-w", "--stdin"] and kw["input"] == text.encode()


@needs_espeak
@pytest.mark.parametrize("text", ["-f/etc/passwd", "--version"])
def test_tts_of_option_like_text_speaks_the_text(tmp_path, text):
    lib = PromptLibrary(tmp_path, language="en")
    got = sf.info(lib.define_text("odd", text, lang="en")).duration
    # the few characters spoken, not the file read aloud (tens of seconds) nor a version banner (no audio)
    assert 0.3 < got < 4.0, got
