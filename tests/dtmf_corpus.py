"""Audio the DTMF detector tests feed it: key presses (tone pairs) and the talk-off / talk-down corpus.

The corpus is speech, other sounds and music from Debian packages (see tests/dsp/test_dtmf_talkoff.py):
espeak-ng reading the installed message catalogues, flite, alsa-utils' recorded speech, the
freedesktop sound theme, game soundtracks (MP3, Ogg, 8-bit PCM, tracker modules through
libopenmpt, MIDI through libfluidsynth) and game sound effects. Synthesised and decoded audio is
cached in the system temp directory.
"""
import gettext
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from math import gcd

import numpy as np
import pytest
import soundfile as sf
from cffi import FFI
from scipy.signal import resample_poly

from trunkline.dsp.constants import RATE
from trunkline.dsp.dtmf import COL_FREQS, DIGITS, ROW_FREQS
from trunkline.dsp.level import dbm0_to_amplitude, dbm0_to_power


def tone_pair(digit, ms, low=-10.0, high=None, drow=0.0, dcol=0.0, rng=None):
    """Float samples of one key's two tones: levels dBm0 per tone, relative frequency offsets, random phases."""
    i = DIGITS.index(digit)
    high = low if high is None else high
    n = int(round(ms * RATE / 1000))
    t = np.arange(n) / RATE
    p1, p2 = (rng or np.random.default_rng(0)).uniform(0, 2 * np.pi, 2)
    return (dbm0_to_amplitude(low) * np.sin(2 * np.pi * ROW_FREQS[i // 4] * (1 + drow) * t + p1)
            + dbm0_to_amplitude(high) * np.sin(2 * np.pi * COL_FREQS[i % 4] * (1 + dcol) * t + p2))


CACHE = os.path.join(tempfile.gettempdir(), "trunkline-talkoff-cache")
LOCALES = {"en": "en", "cmn": "zh_CN", "de": "de", "fr": "fr", "es": "es"}


def catalogue_text(lang, chars, skip=0):
    """About `chars` characters of real sentences in `lang` from Debian's installed gettext catalogues."""
    loc = LOCALES[lang]
    out, n, seen = [], 0, 0
    paths = sorted(glob.glob(f"/usr/share/locale/{'de' if loc == 'en' else loc}/LC_MESSAGES/*.mo"))
    for path in paths:
        try:
            with open(path, "rb") as f:
                cat = gettext.GNUTranslations(f)._catalog
        except (OSError, ValueError):          # unreadable, or not in its declared charset: skip it
            continue
        for k, v in cat.items():
            s = k if loc == "en" else v
            if not isinstance(s, str):
                continue
            s = re.sub(r"%[-#0-9.]*[a-zA-Z]|\{[^}]*\}|<[^>]*>|[_&\\|/@$`~^\[\]{}<>=*#]", " ", s)
            s = re.sub(r"\s+", " ", s).strip()
            if len(s) < 12:
                continue
            seen += len(s)
            if seen <= skip:
                continue
            out.append(s)
            n += len(s)
            if n >= chars:
                return ". ".join(out)
    return ". ".join(out)


def _to8k(x, rate):
    if x.ndim > 1:
        x = x.mean(axis=1)
    g = gcd(8000, int(rate))
    return resample_poly(x, 8000 // g, int(rate) // g)


def _cached(key, make):
    """make() once, then from the cache: 16-bit PCM scaled to the clip's peak (hours of music)."""
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, hashlib.sha1(key.encode()).hexdigest() + ".npz")
    if os.path.exists(path):
        with np.load(path) as f:
            return f["pcm"] * (f["peak"] / 32767.0)
    x = np.asarray(make(), np.float64)
    peak = np.float32(max(np.abs(x).max(initial=0.0), 1e-9))
    pcm = np.rint(x * (32767.0 / peak)).astype(np.int16)
    np.savez(path + ".tmp.npz", pcm=pcm, peak=peak)
    os.replace(path + ".tmp.npz", path)
    return pcm * (peak / 32767.0)


def espeak(text, voice, speed):
    def make():
        with tempfile.NamedTemporaryFile(suffix=".wav") as f:
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", f.name, "--stdin"],
                           input=text.encode(), check=True, capture_output=True)
            x, r = sf.read(f.name, dtype="float64")
        return _to8k(x, r)
    return _cached(f"espeak|{voice}|{speed}|{text}", make)


def flite(text, voice):
    def make():
        with tempfile.NamedTemporaryFile(suffix=".wav") as f, tempfile.NamedTemporaryFile("w", suffix=".txt") as t:
            t.write(text)
            t.flush()
            subprocess.run(["flite", "-voice", voice, "-f", t.name, "-o", f.name], check=True, capture_output=True)
            x, r = sf.read(f.name, dtype="float64")
        return _to8k(x, r)
    return _cached(f"flite|{voice}|{text}", make)


def sound_files(pattern):
    clips = []
    for path in sorted(glob.glob(pattern)):
        try:
            x, r = sf.read(path, dtype="float64")
        except (OSError, sf.LibsndfileError):  # a file soundfile cannot read: skip it
            continue
        clips.append((os.path.basename(path), _to8k(x, r)))
    return clips


def decoded(path):
    """One audio file soundfile reads (WAV, Ogg, MP3, ...) at 8 kHz, cached: MP3 decoding is slow."""
    st = os.stat(path)
    return _cached(f"file|{path}|{st.st_size}|{st.st_mtime_ns}", lambda: _to8k(*sf.read(path, dtype="float64")))


def xblast_song(path):
    """An xblast-tnt background song: headerless unsigned 8-bit stereo PCM at 22.05 kHz."""
    st = os.stat(path)

    def make():
        x = np.fromfile(path, np.uint8).astype(np.float64) - 128.0
        return _to8k(x[: len(x) // 2 * 2].reshape(-1, 2) / 128.0, 22050)
    return _cached(f"xblast|{path}|{st.st_size}|{st.st_mtime_ns}", make)


# General MIDI SoundFonts: TimGM6mb (libfluidsynth3's dependency), csound's GM bank, FluidR3 Mono
SOUNDFONTS = {"TimGM6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2", "csound": "/usr/share/sounds/sf2/sf_GMbank.sf2",
              "FluidR3Mono": "/usr/share/sounds/sf3/FluidR3Mono_GM.sf3"}
_fs_ffi = FFI()
_fs_ffi.cdef("""
typedef struct _fluid_hashtable_t fluid_settings_t;
typedef struct _fluid_synth_t fluid_synth_t;
typedef struct _fluid_player_t fluid_player_t;
fluid_settings_t *new_fluid_settings(void);
void delete_fluid_settings(fluid_settings_t *settings);
int fluid_settings_setnum(fluid_settings_t *settings, const char *name, double val);
int fluid_settings_setint(fluid_settings_t *settings, const char *name, int val);
int fluid_settings_setstr(fluid_settings_t *settings, const char *name, const char *str);
fluid_synth_t *new_fluid_synth(fluid_settings_t *settings);
void delete_fluid_synth(fluid_synth_t *synth);
int fluid_synth_sfload(fluid_synth_t *synth, const char *filename, int reset_presets);
int fluid_synth_system_reset(fluid_synth_t *synth);
int fluid_synth_write_float(fluid_synth_t *synth, int len, void *lout, int loff, int lincr,
                            void *rout, int roff, int rincr);
fluid_player_t *new_fluid_player(fluid_synth_t *synth);
void delete_fluid_player(fluid_player_t *player);
int fluid_player_add(fluid_player_t *player, const char *midifile);
int fluid_player_play(fluid_player_t *player);
int fluid_player_get_status(fluid_player_t *player);
""")


class MidiRenderer:
    """MIDI files rendered by libfluidsynth with one of SOUNDFONTS, reverb and chorus on, at 8 kHz;
    the player is clocked by the samples rendered, so it runs as fast as the CPU allows. One synth
    (loaded on first need: decoding an .sf3 takes seconds) renders every song not yet cached."""

    def __init__(self, soundfont="TimGM6mb", rate=16000, max_seconds=600):
        self.sf2, self.rate, self.max_seconds = SOUNDFONTS[soundfont], rate, max_seconds
        self.fs = self.settings = self.synth = None

    def song(self, path):
        st = os.stat(path)
        return _cached(f"fluidsynth|{self.sf2}|{self.rate}|{path}|{st.st_size}|{st.st_mtime_ns}",
                       lambda: self._render(path))

    def _render(self, path):
        if self.synth is None:
            fs = self.fs = _fs_ffi.dlopen("libfluidsynth.so.3")
            self.settings = fs.new_fluid_settings()
            fs.fluid_settings_setnum(self.settings, b"synth.sample-rate", float(self.rate))
            fs.fluid_settings_setstr(self.settings, b"player.timing-source", b"sample")
            fs.fluid_settings_setint(self.settings, b"synth.lock-memory", 0)
            self.synth = fs.new_fluid_synth(self.settings)
            assert fs.fluid_synth_sfload(self.synth, self.sf2.encode(), 1) >= 0, self.sf2
        fs, synth, rate = self.fs, self.synth, self.rate
        fs.fluid_synth_system_reset(synth)
        player = fs.new_fluid_player(synth)
        try:
            assert fs.fluid_player_add(player, path.encode()) == 0, path
            fs.fluid_player_play(player)
            n, out = 4096, []
            left, right = np.zeros(n, np.float32), np.zeros(n, np.float32)
            lp, rp = _fs_ffi.from_buffer(left), _fs_ffi.from_buffer(right)
            ring_out = rate // n + 1          # blocks after the song ends: last notes and reverb
            while ring_out and len(out) * n < self.max_seconds * rate:
                if fs.fluid_player_get_status(player) != 1:      # 1: FLUID_PLAYER_PLAYING
                    ring_out -= 1
                fs.fluid_synth_write_float(synth, n, lp, 0, 1, rp, 0, 1)
                out.append((left + right) / 2)
        finally:
            fs.delete_fluid_player(player)
        return _to8k(np.concatenate(out).astype(np.float64), rate)

    def close(self):
        if self.synth is not None:
            self.fs.delete_fluid_synth(self.synth)
            self.fs.delete_fluid_settings(self.settings)
            self.synth = None


_mpt_ffi = FFI()
_mpt_ffi.cdef("""
typedef struct openmpt_module openmpt_module;
openmpt_module *openmpt_module_create_from_memory2(const void *filedata, size_t filesize, void *logfunc,
    void *loguser, void *errfunc, void *erruser, int *error, const char **error_message, const void *ctls);
size_t openmpt_module_read_float_mono(openmpt_module *mod, int32_t samplerate, size_t count, float *mono);
void openmpt_module_destroy(openmpt_module *mod);
""")


def tracker_song(path, rate=16000):
    """A tracker module (MOD, XM, S3M, IT) rendered once through by libopenmpt, at 8 kHz."""
    st = os.stat(path)

    def make():
        mpt = _mpt_ffi.dlopen("libopenmpt.so.0")
        with open(path, "rb") as f:
            data = f.read()
        n = _mpt_ffi.NULL
        mod = mpt.openmpt_module_create_from_memory2(data, len(data), n, n, n, n, n, n, n)
        assert mod != n, f"libopenmpt cannot read {path}"
        try:
            buf, out = np.zeros(rate, np.float32), []
            p = _mpt_ffi.cast("float *", _mpt_ffi.from_buffer(buf))
            while (got := mpt.openmpt_module_read_float_mono(mod, rate, len(buf), p)) > 0:
                out.append(buf[:got].copy())
        finally:
            mpt.openmpt_module_destroy(mod)
        return _to8k(np.concatenate(out).astype(np.float64), rate)
    return _cached(f"openmpt|{rate}|{path}|{st.st_size}|{st.st_mtime_ns}", make)


def music(scale):
    """(name, float samples at 8 kHz) of real music and game sounds from Debian packages; the
    openmsx MIDI songs are rendered with TimGM6mb, and for scale >= 1 also with the other SOUNDFONTS."""
    clips = []
    for path in sorted(glob.glob("/usr/share/games/asc/music/*.mp3")):
        clips.append((f"asc-music {os.path.basename(path)[:-4]}", decoded(path)))
    for path in sorted(glob.glob("/usr/share/games/powermanga/sound/handheld_console/music_*.ogg")):
        clips.append((f"powermanga {os.path.basename(path)[:-4]}", decoded(path)))
    for path in sorted(glob.glob("/usr/share/games/xblast-tnt/sounds/xbsng*.raw")):
        clips.append((f"xblast-tnt {os.path.basename(path)[:-4]}", xblast_song(path)))
    trackers = sorted(glob.glob("/usr/share/games/tecnoballz/musics/*.mod"))
    for path in trackers + ["/usr/share/games/ceferino/music/menu.xm"]:
        if os.path.exists(path):
            clips.append((f"{path.split('/')[4]} {os.path.basename(path)}", tracker_song(path)))
    songs = sorted(glob.glob("/usr/share/games/openttd/baseset/openmsx/*.mid"))
    fonts = ["TimGM6mb"] if scale < 1 else list(SOUNDFONTS)
    for font in fonts:
        midi = MidiRenderer(font)
        try:
            for path in songs:
                clips.append((f"openmsx {os.path.basename(path)[:-4]} {font}", midi.song(path)))
        finally:
            midi.close()
    effects = [(pkg, sound_files(pattern)) for pkg, pattern in (
        ("powermanga", "/usr/share/games/powermanga/sounds/*.wav"),
        ("tecnoballz", "/usr/share/games/tecnoballz/sounds/*.wav"),
        ("ceferino", "/usr/share/games/ceferino/sounds/*.wav"),
        ("chromium-bsu", "/usr/share/games/chromium-bsu/wav/*.wav"))]
    clips += [(f"{pkg} sound effects", np.concatenate([x for _, x in fx])) for pkg, fx in effects if fx]
    # 3 asc + 3 powermanga + 6 xblast + 15 tecnoballz + 1 ceferino songs, 4 effect sets
    if len(clips) < 28 + len(fonts) * len(songs) + 4 or not songs:   # a missing package is a broken set-up
        pytest.fail("a music package (asc-music, powermanga-data, xblast-tnt-musics, tecnoballz-data, ceferino-data, "
                    "chromium-bsu-data, openttd-openmsx, csound-soundfont, fluidr3mono-gm-soundfont, libopenmpt0, "
                    "libfluidsynth3) is missing; run `make test`")
    return clips


def at_level(x, dbm0):
    x = np.asarray(x, np.float64)
    active = x[np.abs(x) > 1e-4]
    p = np.mean(active ** 2) if active.size else 1.0
    return np.clip(np.rint(x * np.sqrt(dbm0_to_power(dbm0) / p)), -32768, 32767).astype(np.int16)


def corpus(scale):
    """(name, float samples at 8 kHz) for the talk-off run; scale sets how much speech."""
    clips = []
    voices = {"en": ["en", "en-us+m3", "en+f2"], "cmn": ["cmn", "cmn+f3"], "de": ["de", "de+f1"],
              "fr": ["fr", "fr+f3"], "es": ["es", "es+m4"]}
    for lang, vs in voices.items():
        for i, v in enumerate(vs[: max(1, int(len(vs) * min(scale, 1.0)))]):
            chars = int((700 if lang == "cmn" else 3500) * scale)
            text = catalogue_text(lang, chars, skip=i * chars)
            clips.append((f"espeak {v}", espeak(text, v, (140, 175, 200)[i % 3])))
    if shutil.which("flite"):
        for v in ("kal", "slt", "rms", "awb")[: max(1, int(4 * min(scale, 1.0)))]:
            clips.append((f"flite {v}", flite(catalogue_text("en", int(3000 * scale), skip=20000), v)))
    else:
        print("flite not installed: its voices left out")
    human = sound_files("/usr/share/sounds/alsa/*.wav")
    if human:
        clips.append(("alsa-utils recorded speech", np.concatenate([x for _, x in human])))
    sounds = sound_files("/usr/share/sounds/freedesktop/stereo/*.oga")
    if sounds:
        clips.append(("freedesktop sound theme", np.concatenate([x for _, x in sounds])))
    if not human or not sounds:
        print("alsa-utils / sound-theme-freedesktop not installed: their sounds left out")
    return clips + music(scale)


MUSIC = ("asc-music", "powermanga", "xblast", "tecnoballz", "ceferino", "openmsx")
