"""Prompt audio bounds: a decompression bomb (a small FLAC that decodes to hundreds of MiB) is refused from its
header before decoding; rates and channel counts out of bounds are refused; normal files still load."""
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from trunkline.media.prompts import PromptError, load_audio


def silent_flac(path, seconds, rate, channels):
    with sf.SoundFile(path, "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as f:
        block = np.zeros((rate, channels), dtype=np.int16)
        for _ in range(int(seconds)):
            f.write(block)


def test_flac_bomb_refused_before_decoding(tmp_path):
    bomb = str(tmp_path / "bomb.flac")
    silent_flac(bomb, 600, 48000, 2)                   # 10 min of 48 kHz stereo: 440 MiB as float64
    assert (tmp_path / "bomb.flac").stat().st_size < 2 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(PromptError, match="too long"):
            load_audio(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, peak


def test_rate_and_channels_bounds_and_normal_files(tmp_path):
    wide = str(tmp_path / "wide.wav")
    sf.write(wide, np.zeros((100, 12), dtype=np.int16), 8000, subtype="PCM_16")
    with pytest.raises(PromptError, match="out of bounds"):
        load_audio(wide)
    fast = str(tmp_path / "fast.wav")
    sf.write(fast, np.zeros(100, dtype=np.int16), 384000, subtype="PCM_16")
    with pytest.raises(PromptError, match="out of bounds"):
        load_audio(fast)
    tone = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000) * 10000).astype(np.int16)
    ok = str(tmp_path / "ok.flac")
    sf.write(ok, np.stack([tone, tone], axis=1), 16000, format="FLAC")
    out = load_audio(ok)
    assert out.dtype == np.int16 and abs(len(out) - 8000) <= 2 and np.abs(out).max() > 5000
    plain = str(tmp_path / "plain.wav")
    sf.write(plain, tone[:8000], 8000, subtype="PCM_16")
    assert np.array_equal(load_audio(plain), tone[:8000])
