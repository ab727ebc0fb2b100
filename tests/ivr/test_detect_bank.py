"""The CPA+AMD bank decides exactly as one CallProgressDetector + AnsweringMachineDetector per call would,
for many calls joining at different ticks with different parameters (espeak-ng greetings, fax CNG/CED,
silence), and the campaign on the simulator uses it (one bank per engine, slots freed after analysis)."""
import numpy as np
from amd_samples import HUMAN, MACHINE, synth

from trunkline.dsp.cpa import CallProgressDetector
from trunkline.dsp.g711 import alaw_decode, alaw_encode
from trunkline.dsp.tones import Tone
from trunkline.ivr.amd import AnsweringMachineDetector
from trunkline.ivr.amd_bank import AMDBank
from trunkline.ivr.detect_bank import DetectBank

BLOCK = 160


class _Call:
    def __init__(self, channel):
        self.channel = channel


def _reference(pcm, amd_kw):
    """The per-call answer analysis (what the campaign ran before the bank): result and samples."""
    cpa, amd = CallProgressDetector(1, silence_ms=60000.0), AnsweringMachineDetector(**amd_kw)
    samples = 0
    for i in range(0, len(pcm), BLOCK):
        x = pcm[i:i + BLOCK].reshape(1, -1)
        samples += BLOCK
        if any(ev in ("fax_cng", "fax_ced") for _, ev in cpa.process(x)):
            return "fax", samples, amd.verdict
        if amd.verdict is None:
            amd.feed(x[0])
        if amd.verdict not in (None, "silence"):
            return amd.verdict, samples, amd.verdict
    return None, samples, amd.verdict


def _lines(rng):
    """Answer-side audio of many calls: greetings of people and machines, fax tones, silence, in noise."""
    out = []
    voices = [(v, t) for table in (HUMAN, MACHINE) for v, ts in table.items() for t in ts[:1]]
    for i, (voice, text) in enumerate(voices * 2):
        out.append((synth(voice, text, 140 + 40 * (i % 2)) * (0.3 + 0.7 * (i % 3) / 2)).astype(np.int16))
    for name in ("cng", "ced"):
        steps = [((1100.0,), 500.0), ((), 3000.0)] if name == "cng" else [((2100.0,), 3000.0), ((), 1000.0)]
        out.append(Tone(name, steps, level=-12.0).cycle())
    out.append(np.zeros(8000, np.int16))
    lines = []
    for x in out:
        lead = np.zeros(int(rng.uniform(0.1, 1.0) * 8000))
        pcm = np.concatenate([lead, x, np.zeros(5 * 8000)]) + rng.normal(0, 3, len(lead) + len(x) + 40000)
        pcm = alaw_decode(alaw_encode(np.clip(pcm, -32768, 32767).astype(np.int16)))
        lines.append(pcm[:len(pcm) // BLOCK * BLOCK])
    return lines


def test_bank_matches_one_detector_per_call():
    rng = np.random.default_rng(5)
    lines = _lines(rng)
    kws = [{} if i % 3 else {"greeting_ms": 1200, "after_greeting_ms": 600, "speech_dbm0": -45.0}
           for i in range(len(lines))]
    want = [_reference(pcm, kw) for pcm, kw in zip(lines, kws, strict=True)]
    assert {w[0] for w in want} >= {"human", "machine", "fax"}
    channels = len(lines) + 3
    bank = DetectBank()
    joins = [int(rng.integers(0, 40)) for _ in lines]
    dets, got = {}, {}
    for t in range(max(joins) + max(len(p) for p in lines) // BLOCK + 2):
        audio = np.zeros((channels, BLOCK), np.int16)
        for i, pcm in enumerate(lines):
            if t == joins[i]:
                dets[i] = bank.add(_Call(i + 2), kws[i])
            k = t - joins[i]
            if 0 <= k < len(pcm) // BLOCK and i in dets:
                audio[i + 2] = pcm[k * BLOCK:(k + 1) * BLOCK]
            if i in dets and i not in got and (dets[i].result is not None or k >= len(pcm) // BLOCK):
                got[i] = (dets[i].result, dets[i].samples, dets[i].amd_verdict)
                bank.remove(dets[i])
        bank.rx(audio)
    assert [got[i] for i in range(len(lines))] == want
    assert bank.active == 0 and bank.capacity <= 64


def test_amd_bank_decision_times_match_the_detector():
    rng = np.random.default_rng(2)
    lines = [lin for lin in _lines(rng) if len(lin)][:12]
    bank = AMDBank(len(lines))
    ref = [AnsweringMachineDetector(total_ms=3000 + 500 * i) for i in range(len(lines))]
    for i in range(len(lines)):
        bank.start(i, total_ms=3000 + 500 * i)
    n = min(len(p) for p in lines) // BLOCK
    for k in range(n):
        block = np.stack([p[k * BLOCK:(k + 1) * BLOCK] for p in lines])
        live = np.flatnonzero(bank.verdict == 0)
        bank.feed(live, block[live])
        for i, amd in enumerate(ref):
            amd.feed(block[i])
    assert [(a.verdict, a.decided_at_ms) for a in ref] == \
        [({1: "human", 2: "machine", 3: "silence"}.get(int(v)), float(t) if v else None)
         for v, t in zip(bank.verdict, bank.s["decided_at_ms"], strict=True)]
