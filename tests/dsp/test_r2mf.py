"""MFC/R2 tones checked both ways against spandsp's r2_mf_tx / r2_mf_rx."""
import os
import subprocess
import tempfile

import numpy as np
import pytest
import soundfile as sf
from peers.spandsp_r2mf import R2Rx, R2Tx
from scipy.signal import resample_poly

from trunkline.dsp.r2mf import R2MFDetector, R2MFGenerator, signal_frequencies

LEAD = 400


def ours_run(x, forward, step=160):
    """Feed one channel through our detector; returns [(sample, signal)] changes."""
    d = R2MFDetector(1, forward)
    ev = []
    for i in range(0, len(x), step):
        d.process(x[None, i:i + step])
        ev += [(t, s) for _, s, t in d.last_events]
    return ev


def our_burst(sig, forward, level=-11.0, twist=0.0, on=800, off=800):
    g = R2MFGenerator(1, forward, level=level, twist_db=twist)
    g.set(0, sig)
    y = g.generate(on)[0]
    g.set(0, 0)
    return np.concatenate([np.zeros(LEAD, np.int16), y, g.generate(off)[0]])


def peer_burst(sig, forward, on=800, off=800):
    t = R2Tx(forward)
    t.put(sig)
    y = t.tx(on)
    t.put(0)
    return np.concatenate([np.zeros(LEAD, np.int16), y, t.tx(off)])


@pytest.mark.parametrize("forward", [True, False])
def test_every_signal_both_ways(forward):
    lat_ours, lat_peer, rel_ours, rel_peer = [], [], [], []
    for sig in range(1, 16):
        ours = ours_run(peer_burst(sig, forward), forward, step=8)
        peer = R2Rx(forward).run(our_burst(sig, forward), step=8)
        print(f"fwd={forward} signal {sig:2d} {signal_frequencies(sig, forward)}: ours on spandsp tx {ours}  "
              f"spandsp rx on our tx {peer}")
        assert [s for _, s in ours] == [sig, 0]
        assert [s for _, s in peer] == [sig, 0]
        lat_ours.append(ours[0][0] - LEAD)
        pr = R2Rx(forward).run(peer_burst(sig, forward), step=8)
        lat_peer.append(pr[0][0] - LEAD)
        rel_ours.append(ours[1][0] - LEAD - 800)
        rel_peer.append(pr[1][0] - LEAD - 800)
    print(f"recognition latency ms: ours max {max(lat_ours) / 8:.1f}  spandsp max {max(lat_peer) / 8:.1f}; "
          f"release latency ms: ours max {max(rel_ours) / 8:.1f}  spandsp max {max(rel_peer) / 8:.1f}")
    assert max(lat_ours) / 8 <= 20.0 and max(rel_ours) / 8 <= 20.0


@pytest.mark.parametrize("forward", [True, False])
def test_levels(forward):
    rows = []
    for level in (-5, -10, -20, -30, -35, -40, -45):
        x = our_burst(5, forward, level=level)
        o = [s for _, s in ours_run(x, forward)]
        p = [s for _, s in R2Rx(forward).run(x)]
        rows.append((level, o, p))
        print(f"level {level} dBm0/tone: ours {o} spandsp {p}")
        if -35 <= level <= -5:
            assert o == [5, 0], (level, o)
        if level <= -45:
            assert o == [], (level, o)


@pytest.mark.parametrize("forward", [True, False])
def test_twist(forward):
    for twist in (-6, -3, 3, 6, 10, -10):
        x = our_burst(9, forward, level=-15, twist=twist)
        o = [s for _, s in ours_run(x, forward)]
        p = [s for _, s in R2Rx(forward).run(x)]
        print(f"twist {twist:+d} dB: ours {o} spandsp {p}")
        if abs(twist) <= 6:
            assert o == [9, 0]
        else:
            assert o == []


@pytest.mark.parametrize("forward", [True, False])
def test_single_tone_rejected(forward):
    from trunkline.dsp.r2mf import frequencies
    t = np.arange(8000) / 8000
    for f in frequencies(forward):
        x = np.round(7000 * np.sin(2 * np.pi * f * t)).astype(np.int16)
        o = ours_run(x, forward)
        p = R2Rx(forward).run(x)
        print(f"single {f} Hz: ours {o} spandsp {p}")
        assert o == []


def test_wrong_group_rejected():
    x = our_burst(7, forward=False)
    assert ours_run(x, True) == []


def _speech():
    with tempfile.TemporaryDirectory() as d:
        out = []
        for voice, text in (("en", "Hello, thank you for calling. Please hold while we connect you to an agent. "
                                   "Seven eight nine, one two three, the quick brown fox jumps over the lazy dog."),
                            ("cmn", "您好，欢迎致电客户服务中心，请按一，查询余额，请按二，人工服务。"),
                            ("de", "Guten Tag, bitte warten Sie, der nächste freie Mitarbeiter ist gleich "
                                   "für Sie da.")):
            p = os.path.join(d, f"{voice}.wav")
            subprocess.run(["espeak-ng", "-v", voice, "-w", p, text], check=True, capture_output=True)
            a, rate = sf.read(p, dtype="float64")
            out.append(resample_poly(a, 8000, rate))
        x = np.concatenate(out)
        x = x / np.max(np.abs(x)) * 20000
        return x.astype(np.int16)


def test_speech_rejected():
    x = _speech()
    # also at a lower level
    x = np.concatenate([x, (x // 4).astype(np.int16)])
    secs = len(x) / 8000
    res = {}
    for fwd in (True, False):
        o = [s for _, s in ours_run(x, fwd) if s]
        p = [s for _, s in R2Rx(fwd).run(x) if s]
        res[fwd] = (o, p)
        print(f"speech {secs:.1f} s fwd={fwd}: ours false signals {len(o)} {o}  spandsp {len(p)} {p}")
    assert all(len(o) <= len(p) for o, p in res.values())


def test_multichannel_vectorised_and_pulse():
    ch = 32
    g = R2MFGenerator(ch, forward=False)
    for c in range(ch):
        if c % 2:
            g.pulse(c, (c % 15) + 1, 150)
    x = np.concatenate([g.generate(160) for _ in range(20)], axis=1)
    d = R2MFDetector(ch, forward=False)
    ev = []
    for i in range(0, x.shape[1], 160):
        ev += d.process(x[:, i:i + 160])
    for c in range(ch):
        got = [s for cc, s in ev if cc == c]
        assert got == ([(c % 15) + 1, 0] if c % 2 else []), (c, got)
    with pytest.raises(ValueError):
        g.set(0, 16)
    with pytest.raises(ValueError):
        d.process(np.zeros((3, 160), np.int16))


@pytest.mark.parametrize("forward", [True, False])
def test_direct_transitions_no_spurious_signals(forward):
    """Signals switched with no gap (as a compelled sequence can): only the sent signals are seen."""
    seq = [1, 2, 3, 15, 11, 4, 5, 6, 10, 7]
    t = R2Tx(forward)
    g = R2MFGenerator(1, forward)
    peer_x, ours_x = [np.zeros(LEAD, np.int16)], [np.zeros(LEAD, np.int16)]
    for s in seq:
        t.put(s)
        peer_x.append(t.tx(480))
        g.set(0, s)
        ours_x.append(g.generate(480)[0])
    t.put(0)
    g.set(0, 0)
    peer_x.append(t.tx(800))
    ours_x.append(g.generate(800)[0])
    o = [s for _, s in ours_run(np.concatenate(peer_x), forward)]
    p = [s for _, s in R2Rx(forward).run(np.concatenate(ours_x), step=8)]
    print(f"fwd={forward} sent {seq}: ours on spandsp tx {o}; spandsp rx on our tx {p}")
    assert o == seq + [0]


def test_block_size_does_not_change_results():
    x = np.concatenate([peer_burst(s, True, on=560, off=400) for s in (3, 8, 14)])
    ref = ours_run(x, True, step=160)
    assert [s for _, s in ref] == [3, 0, 8, 0, 14, 0]
    for step in (80, 320, 13):
        assert ours_run(x, True, step=step) == ref, step
