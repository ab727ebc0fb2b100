"""Talk-off: false digits from speech and other sounds, ours vs spandsp's dtmf_rx on the same audio.

Speech: espeak-ng (en, cmn, de, fr, es, several voices and speeds) reading the translated
message catalogues Debian ships in /usr/share/locale (real sentences in each language), flite's
voices (diphone synthesis from recorded speech), and the recorded human speech of alsa-utils
(/usr/share/sounds/alsa). Other sounds: the freedesktop sound theme (chimes, melodies, bells).
Music, the classic source of talk-off: the produced game soundtracks of asc-music (MP3),
powermanga-data (Ogg) and xblast-tnt-musics (8-bit PCM); the tracker modules (sampled instruments)
of tecnoballz-data and ceferino-data rendered with libopenmpt; the MIDI songs of openttd-openmsx
rendered with libfluidsynth and the TimGM6mb General MIDI SoundFont (its dependency), in the slow
run also with csound's GM bank and FluidR3 Mono. Game sound effects of powermanga-data,
tecnoballz-data, ceferino-data and chromium-bsu-data.
Each clip runs at -10 and -20 dBm0. Synthesised and decoded audio is cached in the system temp directory.
"""
import numpy as np
import pytest
from dtmf_corpus import MUSIC, at_level, corpus
from peers.spandsp_dtmf import SpandspDTMFRx

from trunkline.dsp.dtmf import DTMFDetector
from trunkline.media.tick_kernel import DTMF_KERNELS


def ours_on_long(x, seconds=30):
    """Our detector over a long signal, cut into `seconds` pieces run as channels of one detector:
    [(seconds into the signal, digit), ...]."""
    per = seconds * 8000
    rows = -(-len(x) // per)
    a = np.zeros((rows, per), np.int16)
    a.reshape(-1)[:len(x)] = x
    det = DTMFDetector(rows, **DTMF_KERNELS)   # the media engine's detector: every stage in C
    hits = [((ch * per + k + 160) / 8000, d) for k in range(0, per, 160) for ch, d in det.process(a[:, k:k + 160])]
    return sorted(hits)


def spandsp_on_long(x):
    """spandsp's dtmf_rx (default settings) over a signal, one second at a time: [(seconds, digit), ...]."""
    rx = SpandspDTMFRx()
    try:
        return [((i + 8000) / 8000, d) for i in range(0, len(x), 8000) for d in rx.feed(x[i:i + 8000], 8000)]
    finally:
        rx.close()


def _show(hits):
    return " ".join(f"{d}@{t:.2f}s" for t, d in hits) or "-"


def run_talkoff(scale):
    total = 0.0
    false = {"ours": 0, "spandsp": 0}
    music_s = 0.0
    print(f"\n{'source':36s} {'seconds':>7s} {'level':>5s}  false digits (digit@time) ours | spandsp")
    for name, x in corpus(scale):
        for lv in (-10, -20):
            s = at_level(x, lv)
            o, t = ours_on_long(s), spandsp_on_long(s)
            total += len(s) / 8000
            music_s += len(s) / 8000 if name.startswith(MUSIC) and "effects" not in name else 0
            false["ours"] += len(o)
            false["spandsp"] += len(t)
            print(f"{name:36s} {len(s) / 8000:7.1f} {lv:5d}  {_show(o)} | {_show(t)}")
    hours = total / 3600
    print(f"audio {hours:.2f} h ({music_s / 3600:.2f} h music): false digits ours {false['ours']} "
          f"({false['ours'] / hours:.1f}/h) | spandsp {false['spandsp']} ({false['spandsp'] / hours:.1f}/h)")
    return false


def test_talkoff_speech_and_sounds():
    """About 25 min of speech in five languages, recorded speech, theme sounds and game sound
    effects, and 2.3 h of music (openmsx rendered with TimGM6mb)."""
    false = run_talkoff(0.25)
    assert false["ours"] <= false["spandsp"]


@pytest.mark.slow
def test_talkoff_long_run():
    """About 1.5 hours of speech (more voices, more text) and 4.5 h of music (openmsx rendered with
    three SoundFonts): false digits per hour, ours <= spandsp."""
    false = run_talkoff(1.0)
    assert false["ours"] <= false["spandsp"]
