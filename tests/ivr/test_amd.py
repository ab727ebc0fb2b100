"""Answering-machine detection measured on a labelled set of espeak-ng greetings (several voices)."""
import numpy as np
import pytest
from amd_samples import HUMAN, MACHINE, synth

from trunkline.dsp import g711
from trunkline.ivr.amd import AnsweringMachineDetector


def greeting(pcm, lead_s, rng, tail_s=4.0, noise_dbm0=-62.0):
    """Answer-side audio: leading silence, the greeting, then silence; low noise throughout."""
    out = np.concatenate([np.zeros(int(lead_s * 8000)), pcm.astype(np.float64), np.zeros(int(tail_s * 8000))])
    sigma = 32767 / np.sqrt(2) * 10 ** ((noise_dbm0 - 3.14) / 20)
    return np.clip(out + rng.normal(0, sigma, len(out)), -32768, 32767).astype(np.int16)


def alaw_channel(pcm):
    """Through an E1 channel: G.711 A-law encode and decode."""
    return g711.alaw_decode(g711.alaw_encode(pcm))


def labelled_set():
    """(label, voice, text, speed) for every greeting in the evaluation set."""
    items = []
    for label, table in (("human", HUMAN), ("machine", MACHINE)):
        for voice, texts in table.items():
            for text in texts:
                for speed in (140, 180):
                    items.append((label, voice, text, speed))
    return items


def classify(pcm, block=160):
    amd = AnsweringMachineDetector()
    for i in range(0, len(pcm), block):
        v = amd.feed(pcm[i:i + block])
        if v:
            return v, amd.decided_at_ms
    return amd.verdict or "none", amd.decided_at_ms


@pytest.mark.parametrize("noise_dbm0,gain_db", [(-62.0, 0.0), (-45.0, 0.0), (-55.0, -20.0)])
def test_amd_accuracy_on_synthesised_greetings(noise_dbm0, gain_db):
    rng = np.random.default_rng(9)
    gain = 10 ** (gain_db / 20)
    items = labelled_set()
    confusion = {("human", "human"): 0, ("human", "machine"): 0, ("machine", "human"): 0,
                 ("machine", "machine"): 0}
    other, wrong = 0, []
    times = {"human": [], "machine": []}
    for label, voice, text, speed in items:
        speech = (synth(voice, text, speed) * gain).astype(np.int16)
        pcm = alaw_channel(greeting(speech, rng.uniform(0.2, 1.0), rng, noise_dbm0=noise_dbm0))
        got, at = classify(pcm)
        if (label, got) in confusion:
            confusion[(label, got)] += 1
            times[got].append(at)
        else:
            other += 1
        if got != label:
            wrong.append((label, got, voice, speed, text[:30], len(synth(voice, text, speed)) / 8000))
    acc = sum(v for (a, b), v in confusion.items() if a == b) / len(items)
    print(f"\nAMD on {len(items)} espeak-ng greetings ({len(HUMAN)} voices), noise {noise_dbm0} dBm0, "
          f"speech gain {gain_db} dB, A-law: accuracy {acc:.1%}")
    print(f"  human->human {confusion[('human', 'human')]}  human->machine {confusion[('human', 'machine')]}"
          f"  machine->machine {confusion[('machine', 'machine')]}  machine->human {confusion[('machine', 'human')]}"
          f"  undecided {other}")
    print(f"  mean decision time: human {np.mean(times['human']):.0f} ms, machine {np.mean(times['machine']):.0f} ms")
    for w in wrong:
        print("  wrong:", w)
    assert acc >= 0.9
    assert confusion[("machine", "human")] <= 1      # a machine taken for a person wastes an agent


def test_amd_silence_and_tone_cases():
    rng = np.random.default_rng(1)
    got, at = classify(greeting(np.zeros(0, dtype=np.int16), 0.0, rng, tail_s=4.0))
    assert got == "silence" and at == 2500
    t = np.arange(8000 * 6) / 8000
    talker = (8000 * np.sin(2 * np.pi * 300 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.int16)
    assert classify(talker)[0] == "machine"
