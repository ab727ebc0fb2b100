"""Pluggable TTS (#17): `tts_command` names any command-line engine (text on stdin, {out} WAV, {voice},
{lang}); the server's first start renders its prompts with it; "" keeps espeak-ng."""
import numpy as np
import pytest

from trunkline.app import server
from trunkline.data.config import load_config
from trunkline.ivr.prompts import DEFAULT_TTS_COMMAND, PromptError, set_tts_command
from trunkline.media.prompts import load_audio

#: a command-line "engine": logs the language and text it was given (one append per call: renders run in
#: parallel), writes a 700 Hz tone (sox) at 16 kHz
ENGINE = "sh -c 't=$(cat); printf \"%s %s\\n\" \"$1\" \"$t\" >> \"$2\"; " \
         "sox -n -r 16000 -b 16 \"$0\" synth 0.3 sine 700' {out} {lang} "


def test_server_renders_prompts_with_a_configured_engine(tmp_path):
    log = tmp_path / "engine.log"
    cfg = load_config(env={"TRUNKLINE_VAR_DIR": str(tmp_path / "var"), "TRUNKLINE_TTS_COMMAND": ENGINE + str(log)})
    try:
        summary = server.StartupSummary()
        server.install_prompts(cfg, summary)
        assert any("tts_command" in line for line in summary.lines)
        audio = load_audio(f"{cfg.prompts_dir}/zh/queue-position.wav")
        spec = np.abs(np.fft.rfft(audio[:2000].astype(float)))
        assert abs(np.argmax(spec) * 8000 / 2000 - 700) < 5           # the engine's 700 Hz "voice"
        said = log.read_text(encoding="utf-8")
        assert "zh 您前面排队的位置是第" in said and "en You are caller number" in said
    finally:
        assert set_tts_command("") == DEFAULT_TTS_COMMAND
    with pytest.raises(PromptError, match="out"):
        set_tts_command("say-it --loud")
    assert set_tts_command(None) == DEFAULT_TTS_COMMAND
