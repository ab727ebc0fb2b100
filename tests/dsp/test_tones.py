"""Tone zones and generation, measured with spandsp's Goertzel and compared with spandsp's tone_gen."""
import numpy as np
import pytest
from peers.spandsp_tones import goertzel_dbm0, tone_gen

from trunkline.dsp.tones import Tone, ToneGenerator, ToneZone

ZONES = ToneZone.names()


def segments(x, thresh=200):
    """[(on, samples)] run lengths of |x| > thresh, with runs shorter than 2 ms bridged (zero crossings)."""
    on = np.abs(x.astype(int)) > thresh
    # bridge the zero crossings inside a tone: a sample is 'on' if any sample within +-8 is on
    k = np.convolve(on.astype(int), np.ones(17, int), mode="same") > 0
    edges = np.flatnonzero(np.diff(k.astype(int))) + 1
    bounds = np.concatenate([[0], edges, [len(k)]])
    return [(bool(k[a]), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:])]


def test_required_zones_and_tones():
    assert {"cn", "us", "gb", "de", "etsi"} <= set(ZONES)
    for z in ZONES:
        names = set(ToneZone.get(z).tone_names())
        assert {"dial", "busy", "ringback", "congestion", "callwaiting", "sit"} <= names, z
    cn = ToneZone.get("cn")
    assert cn.tone("dial").frequencies == [450.0]
    assert cn.tone("busy").cadence_ms() == [(True, 350), (False, 350)]
    assert cn.tone("ringback").cadence_ms() == [(True, 1000), (False, 4000)]
    assert cn.tone("congestion").cadence_ms() == [(True, 700), (False, 700)]
    with pytest.raises(KeyError):
        ToneZone.get("xx")
    with pytest.raises(KeyError):
        cn.tone("howler")


@pytest.mark.parametrize("zone", ZONES)
def test_frequencies_levels_cadence(zone):
    z = ToneZone.get(zone)
    for name in z.tone_names():
        t = z.tone(name)
        cyc = t.cycle()
        assert cyc.dtype == np.int16
        pos = 0
        rows = []
        if t.continuous:
            steps = [(t.steps[0][0], len(cyc) / 8)]
        else:
            steps = t.steps
        for fr, ms in steps:
            n = int(round(ms * 8))
            seg = cyc[pos:pos + n]
            pos += n
            inner = seg[40:-40] if len(seg) > 160 else seg
            for f in fr:
                lv = goertzel_dbm0(inner, f)
                want = t.level
                rows.append(f"{f:.1f} Hz {lv:.2f} dBm0 (want {want})")
                # with two components the single-bin estimate sees a little leakage from the other
                assert abs(lv - want) < 0.6, (zone, name, f, lv)
            if fr and len(inner) >= 320:
                off = goertzel_dbm0(inner, 3000.0)
                assert off < t.level - 30, (zone, name, off)
        assert pos == len(cyc)
        if not t.continuous:
            got = segments(cyc)
            want = [(bool(fr), int(round(ms * 8))) for fr, ms in t.steps]
            # merge consecutive 'on' steps (SIT has no gap between its frequencies)
            merged = []
            for on, n in want:
                if merged and merged[-1][0] == on:
                    merged[-1] = (on, merged[-1][1] + n)
                else:
                    merged.append((on, n))
            assert [o for o, _ in got] == [o for o, _ in merged], (zone, name, got)
            for (_, n), (_, m) in zip(got, merged):
                assert abs(n - m) <= 40, (zone, name, got, merged)  # within 5 ms (ramps + threshold)
        print(f"{zone} {name}: {len(cyc)} samples/cycle; " + "; ".join(rows))


@pytest.mark.parametrize("zone", ZONES)
def test_cycles_loop_seamlessly(zone):
    z = ToneZone.get(zone)
    for name in z.tone_names():
        c = z.tone(name).cycle().astype(int)
        inner = np.max(np.abs(np.diff(c)))
        join = abs(c[0] - c[-1])
        assert join <= inner, (zone, name, join, inner)
        if z.tone(name).continuous:
            # the continuous cycle is a whole number of periods of every component: the loop joins in phase
            two = np.tile(c, 2)
            for f in z.tone(name).frequencies:
                assert abs(goertzel_dbm0(two.astype(np.int16), f) - goertzel_dbm0(c.astype(np.int16), f)) < 0.05


@pytest.mark.parametrize("zone,name,f1,f2,cad", [
    ("cn", "busy", 450, 0, (350, 350)), ("cn", "ringback", 450, 0, (1000, 4000)),
    ("cn", "congestion", 450, 0, (700, 700)), ("us", "busy", 480, 620, (500, 500)),
    ("de", "busy", 425, 0, (480, 480)), ("us", "ringback", 440, 480, (2000, 4000)),
])
def test_against_spandsp_tone_gen(zone, name, f1, f2, cad):
    t = ToneZone.get(zone).tone(name)
    n = int(sum(cad) * 8)
    ours = np.tile(t.cycle(), 2)[:2 * n]
    peer = tone_gen(f1, int(t.level), f2, int(t.level) if f2 else 0, cad, 2 * n)
    so, sp = segments(ours), segments(peer)
    lo = [goertzel_dbm0(ours[80:int(cad[0] * 8) - 80], f) for f in (f1, f2) if f]
    lp = [goertzel_dbm0(peer[80:int(cad[0] * 8) - 80], f) for f in (f1, f2) if f]
    print(f"{zone} {name}: ours segments {so} levels {np.round(lo, 2)} | "
          f"spandsp segments {sp} levels {np.round(lp, 2)}")
    assert [o for o, _ in so] == [o for o, _ in sp]
    assert all(abs(a[1] - b[1]) <= 40 for a, b in zip(so, sp))
    assert all(abs(a - b) < 0.5 for a, b in zip(lo, lp))


def test_generator_multichannel():
    cn = ToneZone.get("cn")
    g = ToneGenerator(8)
    g.start(1, cn.tone("busy"))
    g.start(5, cn.tone("ringback"))
    g.start(6, cn.tone("fax_ced"))
    blocks = [g.generate(n) for n in (160, 7, 333, 160) * 60]
    out = np.concatenate(blocks, axis=1)
    assert out.shape == (8, sum(b.shape[1] for b in blocks)) and out.dtype == np.int16
    total = out.shape[1]
    np.testing.assert_array_equal(out[1], np.resize(cn.tone("busy").cycle(), total))
    np.testing.assert_array_equal(out[5], np.resize(cn.tone("ringback").cycle(), total))
    assert not out[[0, 2, 3, 4, 7]].any()
    ced = cn.tone("fax_ced").cycle()
    np.testing.assert_array_equal(out[6, :len(ced)], ced)
    assert not out[6, len(ced):].any() and not g.playing(6)
    g.stop(1)
    assert not g.generate(160)[1].any()
    with pytest.raises(IndexError):
        g.start(8, cn.tone("busy"))
    with pytest.raises(TypeError):
        g.start(0, "busy")
    with pytest.raises(ValueError):
        Tone("bad", [((5000,), 100)])
