"""Call progress detection on tones from our generator, spandsp's tone_gen and modem_connect_tones, and espeak
speech."""
import os
import subprocess
import tempfile

import numpy as np
import pytest
import soundfile as sf
from peers.spandsp_tones import ANS, ANS_PR, FAX_CNG, ConnectToneRx, connect_tone, tone_gen
from scipy.signal import resample_poly

from trunkline.dsp.cpa import CallProgressDetector
from trunkline.dsp.tones import ToneGenerator, ToneZone

EXPECT = {"dial": "dial_tone", "busy": "busy", "ringback": "ringback", "congestion": "congestion", "sit": "sit",
          "fax_cng": "fax_cng", "fax_ced": "fax_ced"}
LEAD = 1600  # 200 ms of silence before every signal


def run(x, zone, step=160, **kw):
    """Feed (channels, n) through the detector; returns per channel [(event, ms)]."""
    x = np.atleast_2d(x)
    d = CallProgressDetector(x.shape[0], zone, **kw)
    out = [[] for _ in range(x.shape[0])]
    for i in range(0, x.shape[1], step):
        d.process(x[:, i:i + step])
        for ch, e, t in d.last_events:
            out[ch].append((e, round(t / 8)))
    return out


def first_tone_event(evs):
    return next((e for e, _ in evs if e not in ("silence",)), None)


@pytest.mark.parametrize("zone", ToneZone.names())
def test_our_tones_every_zone(zone):
    z = ToneZone.get(zone)
    names = list(EXPECT)
    g = ToneGenerator(len(names))
    for i, n in enumerate(names):
        g.start(i, z.tone(n))
    x = np.concatenate([np.zeros((len(names), LEAD), np.int16), g.generate(8000 * 12)], axis=1)
    evs = run(x, zone)
    for i, n in enumerate(names):
        print(f"{zone} {n:10s}: {evs[i]}")
        assert first_tone_event(evs[i]) == EXPECT[n], (zone, n, evs[i])
        assert all(e in (EXPECT[n], "silence") for e, _ in evs[i]), (zone, n, evs[i])


SPANDSP_CASES = [
    ("cn", 450, 0, -10, (), "dial_tone"), ("cn", 450, 0, -10, (350, 350), "busy"),
    ("cn", 450, 0, -10, (1000, 4000), "ringback"), ("cn", 450, 0, -10, (700, 700), "congestion"),
    ("us", 350, 440, -13, (), "dial_tone"), ("us", 480, 620, -24, (500, 500), "busy"),
    ("us", 440, 480, -19, (2000, 4000), "ringback"), ("us", 480, 620, -24, (250, 250), "congestion"),
    ("de", 425, 0, -10, (480, 480), "busy"), ("de", 425, 0, -10, (240, 240), "congestion"),
    ("etsi", 425, 0, -10, (1000, 4000), "ringback"), ("gb", 400, 0, -19, (375, 375), "busy"),
    # the same tones well off nominal level
    ("cn", 450, 0, -30, (350, 350), "busy"), ("cn", 450, 0, -3, (700, 700), "congestion"),
]


@pytest.mark.parametrize("zone,f1,f2,lv,cad,want", SPANDSP_CASES)
def test_spandsp_tone_gen(zone, f1, f2, lv, cad, want):
    cadence = cad if cad else (10000, 0)
    y = tone_gen(f1, lv, f2, lv if f2 else 0, cadence, 8000 * 10)
    x = np.concatenate([np.zeros(LEAD, np.int16), y])
    evs = run(x, zone)[0]
    print(f"spandsp tone_gen {zone} {f1}+{f2} Hz {lv} dBm0 {cad}: ours {evs}")
    assert first_tone_event(evs) == want
    assert all(e in (want, "silence") for e, _ in evs)


@pytest.mark.parametrize("kind,want", [(FAX_CNG, "fax_cng"), (ANS, "fax_ced"), (ANS_PR, "fax_ced")])
def test_spandsp_connect_tones(kind, want):
    y = connect_tone(kind, 8000 * 8)
    x = np.concatenate([np.zeros(LEAD, np.int16), y])
    evs = run(x, "cn")[0]
    peer_kind = FAX_CNG if kind == FAX_CNG else ANS
    p = ConnectToneRx(peer_kind).run(x)
    ours_at = next((t for e, t in evs if e == want), None)
    print(f"spandsp modem_connect_tones {kind}: ours {evs}; spandsp rx detects at "
          f"{None if p is None else round(p / 8)} ms, ours at {ours_at} ms")
    assert first_tone_event(evs) == want
    assert p is not None and ours_at is not None


def _espeak(voice, text):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "s.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-w", p, text], check=True, capture_output=True)
        a, rate = sf.read(p, dtype="float64")
    a = resample_poly(a, 8000, rate)
    return (a / np.max(np.abs(a)) * 12000).astype(np.int16)


def test_voice_and_silence():
    speech = [_espeak("cmn", "喂，你好，请问找谁？"), _espeak("en", "Hello? Hello, who is calling please?"),
              _espeak("de", "Hallo, hier ist Müller, wer spricht da?")]
    for s in speech:
        x = np.concatenate([np.zeros(LEAD, np.int16), s, np.zeros(8000 * 6, np.int16)])
        for zone in ("cn", "us", "de"):
            evs = run(x, zone, silence_ms=5000)[0]
            print(f"speech {len(s) / 8000:.1f} s zone {zone}: {evs}")
            assert first_tone_event(evs) == "voice", evs
            assert [e for e, _ in evs] == ["voice", "silence"], evs
    # pure silence: one "silence" event after silence_ms
    evs = run(np.zeros(8000 * 4, np.int16), "cn", silence_ms=3000)[0]
    assert evs == [("silence", 3000)], evs


def test_long_speech_no_tone_events():
    text = ("您好，欢迎致电客户服务中心。我们的工作时间是每天早上八点到晚上十点。"
            "Thank you for calling, your call is important to us, please stay on the line. "
            "Guten Tag, Sie sind verbunden mit dem Kundendienst.")
    s = np.concatenate([_espeak(v, text) for v in ("cmn", "en", "de")])
    false = {}
    for zone in ToneZone.names():
        evs = run(s, zone)[0]
        bad = [e for e, _ in evs if e not in ("voice", "silence")]
        false[zone] = bad
    print(f"{len(s) / 8000:.0f} s of speech, false tone events per zone: {false}")
    assert not any(false.values())


def test_noise_and_mixed_channels():
    rng = np.random.default_rng(3)
    z = ToneZone.get("cn")
    names = ["busy", "ringback", "congestion", "dial", "sit", "fax_cng", "fax_ced"]
    ch = 70
    g = ToneGenerator(ch)
    plan = [names[i % len(names)] for i in range(ch)]
    for i, n in enumerate(plan):
        g.start(i, z.tone(n))
    x = g.generate(8000 * 8).astype(float)
    x += rng.normal(0, 150, x.shape)  # about 20 dB below the -10 dBm0 tones
    x = np.concatenate([np.zeros((ch, LEAD)), x], axis=1).astype(np.int16)
    evs = run(x, "cn", step=160)
    wrong = [(i, plan[i], evs[i]) for i in range(ch) if first_tone_event(evs[i]) != EXPECT[plan[i]]]
    print(f"{ch} channels with white noise at 20 dB SNR: {ch - len(wrong)}/{ch} classified right")
    assert not wrong, wrong[:5]


def test_amd_hook_and_reset():
    calls = []

    class Amd:
        def segment(self, ch, kind, ms):
            calls.append((ch, kind, ms))
            return "human" if kind == "silence" and ms >= 500 else None

        def reset(self, ch):
            calls.append((ch, "reset", 0))

    s = _espeak("en", "Hello?")
    x = np.concatenate([np.zeros(LEAD, np.int16), s, np.zeros(8000 * 2, np.int16), s])
    d = CallProgressDetector(1, "cn", amd=Amd())
    out = []
    for i in range(0, len(x), 160):
        out += d.process(x[None, i:i + 160])
    print(f"AMD hook calls {calls[:6]}..., events {out}")
    assert ("voice" in [e for _, e in out]) and ("human" in [e for _, e in out])
    d.reset(0)
    assert calls[-1] == (0, "reset", 0)
    with pytest.raises(KeyError):
        CallProgressDetector(1, "zz")
    with pytest.raises(ValueError):
        d.process(np.zeros((2, 160), np.int16))


@pytest.mark.parametrize("name,kind", [("fax_cng", FAX_CNG), ("fax_ced", ANS)])
def test_our_fax_tones_detected_by_spandsp(name, kind):
    g = ToneGenerator(1)
    g.start(0, ToneZone.get("cn").tone(name))
    x = np.concatenate([np.zeros(LEAD, np.int16), g.generate(8000 * 5)[0]])
    p = ConnectToneRx(kind).run(x)
    o = next((t for e, t in run(x, "cn")[0] if e == name), None)
    print(f"our {name}: spandsp modem_connect_tones_rx detects at {None if p is None else round(p / 8)} ms, "
          f"ours at {o} ms")
    assert p is not None and o is not None


def test_block_size_does_not_change_results():
    z = ToneZone.get("de")
    names = ["busy", "ringback", "congestion", "sit"]
    g = ToneGenerator(len(names))
    for i, n in enumerate(names):
        g.start(i, z.tone(n))
    x = np.concatenate([np.zeros((len(names), LEAD), np.int16), g.generate(8000 * 7)], axis=1)
    ref = run(x, "de", step=160)
    for step in (80, 320, 37):
        assert run(x, "de", step=step) == ref, step


def test_through_alaw():
    """The board delivers A-law on E1: tones that went through G.711 are still classified."""
    from trunkline.dsp.g711 import ALAW_DECODE, ALAW_ENCODE
    z = ToneZone.get("cn")
    names = ["busy", "ringback", "congestion", "fax_cng"]
    g = ToneGenerator(len(names))
    for i, n in enumerate(names):
        g.start(i, z.tone(n))
    x = np.concatenate([np.zeros((len(names), LEAD), np.int16), g.generate(8000 * 4)], axis=1)
    x = ALAW_DECODE[ALAW_ENCODE[x.astype(np.int32) + 32768]]
    evs = run(x, "cn")
    assert [first_tone_event(e) for e in evs] == [EXPECT[n] for n in names], evs
