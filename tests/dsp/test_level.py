"""dBm0 meters against spandsp's power_meter on the same signals; voice activity detector on known segments."""
import subprocess
import tempfile
from math import gcd

import numpy as np
import pytest
import soundfile as sf
from peers.spandsp_dtmf import spandsp_power_dbm0
from scipy.signal import resample_poly

from trunkline.dsp.constants import RATE
from trunkline.dsp.level import (
    DBM0_AMPLITUDE,
    LevelMeter,
    VoiceActivityDetector,
    block_dbm0,
    dbm0_to_amplitude,
    dbm0_to_power,
    power_to_dbm0,
)


def pcm(x):
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def sine(dbm0, hz=1004, n=4000):
    return pcm(dbm0_to_amplitude(dbm0) * np.sin(2 * np.pi * hz * np.arange(n) / RATE))


def speech(seconds=3.0):
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", "en", "-w", f.name,
                        "Please hold while we connect your call to the next available agent."],
                       check=True, capture_output=True)
        x, r = sf.read(f.name, dtype="float64")
    g = gcd(RATE, r)
    y = resample_poly(x, RATE // g, r // g)[: int(seconds * RATE)]
    return y / np.sqrt(np.mean(y[np.abs(y) > 1e-3] ** 2))


def test_reference_is_spandsp_convention():
    """Full-scale sine = +3.14 dBm0 (telephony.h DBM0_MAX_SINE_POWER): 0 dBm0 sine peak about 22,826."""
    print(f"\n0 dBm0 sine peak {DBM0_AMPLITUDE:.1f}, RMS {DBM0_AMPLITUDE / np.sqrt(2):.1f}")
    assert abs(DBM0_AMPLITUDE - 22826) < 1
    assert abs(power_to_dbm0(dbm0_to_power(-17.5)) + 17.5) < 1e-9


@pytest.mark.parametrize("kind", ["sine", "noise", "speech"])
def test_meter_matches_spandsp_power_meter(kind):
    """Per-sample readings, IIR time constant 32 samples (spandsp shift 5), after 100 ms settling."""
    rng = np.random.default_rng(7)
    print(f"\n{kind}: level  spandsp  ours(meter)  ours(block)  max|diff| per sample")
    for lv in (3, 0, -10, -20, -30, -40, -50):
        if lv > 0 and kind != "sine":
            continue
        if kind == "sine":
            x = sine(lv)
        elif kind == "noise":
            x = pcm(rng.normal(0, np.sqrt(dbm0_to_power(lv)), 4000))
        else:
            x = pcm(speech(1.0) * np.sqrt(dbm0_to_power(lv)))
        sp = spandsp_power_dbm0(x, 5)
        meter = LevelMeter(1, tau_ms=4.0)
        tr = meter.trace(x[None])[0]
        assert abs(meter.dbm0[0] - tr[-1]) < 1e-9
        settle = 800
        loud = sp[settle:] > -60          # spandsp's integer meter is coarse near its floor
        diff = np.abs(sp[settle:] - tr[settle:])[loud]
        mean_sp, mean_ours = sp[settle:].mean(), tr[settle:].mean()
        print(f"  {lv:+4d}  {mean_sp:8.3f}  {mean_ours:8.3f}  {block_dbm0(x[None, settle:])[0]:8.3f}  "
              f"{diff.max() if diff.size else 0:.3f}")
        if kind != "speech":
            assert abs(mean_sp - mean_ours) < 0.1
        if diff.size:
            assert np.percentile(diff, 99) < 0.25


def test_meter_vectorised_and_block_wise():
    rng = np.random.default_rng(1)
    x = pcm(rng.normal(0, 3000, (5, 1600)))
    whole = LevelMeter(5).update(x)
    parts = LevelMeter(5)
    for k in range(0, 1600, 160):
        got = parts.update(x[:, k:k + 160])
    assert np.allclose(whole, got)
    with pytest.raises(ValueError):
        parts.update(x[:3])
    with pytest.raises(TypeError):
        parts.update(x.astype(np.float32))


def test_vad_segments_hangover_and_noise_floor():
    """Speech bursts over line noise: start within attack+10 ms, end within hangover+20 ms; steady noise never
    active."""
    rng = np.random.default_rng(2)
    sp = speech(1.5) * np.sqrt(dbm0_to_power(-20))
    n = 6 * RATE
    quiet = rng.normal(0, np.sqrt(dbm0_to_power(-60)), n)
    ch0 = quiet.copy()
    starts = (RATE, int(3.5 * RATE))
    for s in starts:
        ch0[s:s + len(sp)] += sp
    ch1 = rng.normal(0, np.sqrt(dbm0_to_power(-38)), n)          # loud hiss, no speech
    ch2 = quiet.copy()
    ch2[2 * RATE:2 * RATE + 160] += 12000 * np.sin(np.arange(160))    # a 20 ms click
    x = pcm(np.vstack([ch0, ch1, ch2]))
    vad = VoiceActivityDetector(3, attack_ms=30, hangover_ms=300)
    events = []
    for k in range(0, n, 160):
        events += [(c, a, k + off) for c, a, off in vad.process(x[:, k:k + 160])]
    print("\nVAD events (channel, active, sample):", events)
    on = [e for e in events if e[0] == 0 and e[1]]
    off = [e for e in events if e[0] == 0 and not e[1]]
    assert len(on) == 2 and len(off) == 2
    # where the speech really is: first and last samples above -50 dBm0 in 10 ms frames
    fr = block_dbm0(pcm(ch0).reshape(-1, 80))
    for s, e_on, e_off in zip(starts, on, off):
        frames = np.flatnonzero(fr[s // 80:(s + len(sp)) // 80] > -45) + s // 80
        first, last = frames[0] * 80, (frames[-1] + 1) * 80
        assert 0 <= e_on[2] - first <= 40 * 8, (e_on, first)
        assert 300 * 8 - 80 <= e_off[2] - last <= 300 * 8 + 160, (e_off, last)
    assert not [e for e in events if e[0] in (1, 2)]
    assert vad.silence_ms[0] > 0 and not vad.active.any()
