"""RecorderBank at density: one capture per tick for all recordings, files exact (G.711 and linear WAV,
mono and two-track), recordings starting and stopping mid-batch, end conditions as array operations,
files readable after SIGKILL up to the last batch, and a full disk ending only its recording."""
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import soundfile as sf
from memory_probe import resident_pages

from trunkline.dsp.g711 import ALAW_DECODE, ULAW_DECODE, alaw_encode
from trunkline.media.recorder import RecorderBank

BLOCK = 160


def _codes(rng, channels):
    return rng.integers(0, 256, (channels, BLOCK), dtype=np.uint8)


def test_many_recordings_start_and_stop_mid_batch_and_every_file_is_exact(tmp_path):
    channels, ticks = 300, 130
    laws = ["alaw" if ch % 3 else "ulaw" for ch in range(channels)]
    bank = RecorderBank(channels, BLOCK, laws=laws, batch_ticks=20)
    bank.lossless = True
    rng = np.random.default_rng(7)
    plan = {}                               # channel -> (start tick, stop tick, two_track, fmt)
    for ch in range(channels):
        a = int(rng.integers(0, 60))
        plan[ch] = (a, a + int(rng.integers(1, 70)), bool(ch % 2), "G711" if ch % 4 < 2 else "WAV")
    sent_in, sent_out = [], []
    for t in range(ticks):
        for ch, (a, b, two, fmt) in plan.items():
            if t == a:
                bank.start(ch, str(tmp_path / f"{ch}.wav"), two_track=two, max_seconds=None, fmt=fmt)
            elif t == b:
                bank.stop(ch)
        ci, co = _codes(rng, channels), _codes(rng, channels)
        sent_in.append(ci)
        sent_out.append(co)
        assert bank.capture(np.zeros((channels, BLOCK), np.int16), np.zeros((channels, BLOCK), np.int16),
                            ci, co) == []
    bank.close()
    rx, tx = np.stack(sent_in, axis=1), np.stack(sent_out, axis=1)      # (channels, ticks, block)
    for ch, (a, b, two, fmt) in plan.items():
        table = ALAW_DECODE if laws[ch] == "alaw" else ULAW_DECODE
        data, rate = sf.read(str(tmp_path / f"{ch}.wav"), dtype="int16", always_2d=True)
        info = sf.info(str(tmp_path / f"{ch}.wav"))
        assert rate == 8000 and info.subtype == ({"G711": "ALAW" if laws[ch] == "alaw" else "ULAW"}.get(fmt, "PCM_16"))
        assert data.shape == ((b - a) * BLOCK, 2 if two else 1)
        assert np.array_equal(data[:, 0], table[rx[ch, a:b].ravel()])
        if two:
            assert np.array_equal(data[:, 1], table[tx[ch, a:b].ravel()])


def test_max_length_and_silence_after_voice_end_recordings(tmp_path):
    bank = RecorderBank(4, BLOCK)
    bank.start(0, str(tmp_path / "max.wav"), max_seconds=0.1)
    bank.start(1, str(tmp_path / "sil.wav"), max_seconds=None, silence_seconds=0.2)
    bank.start(2, str(tmp_path / "quiet.wav"), max_seconds=None, silence_seconds=0.2)
    loud = np.zeros((4, BLOCK), np.int16)
    ended = {}
    for t in range(40):
        audio = loud.copy()
        if t < 10:
            audio[1] = 3000                 # voice on channel 1 for 10 ticks, then silence
        for ch, why in bank.capture(audio, audio, alaw_encode(audio), alaw_encode(audio)):
            ended[ch] = (why, t)
            bank.stop(ch, why)
    bank.close()
    assert ended[0] == ("max", 4)                 # 5 blocks = 0.1 s
    assert ended[1] == ("silence", 19)            # 0.2 s of silence after the voice
    assert 2 not in ended                         # never heard a voice: silence does not end it
    assert sf.info(str(tmp_path / "max.wav")).frames == 800


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from trunkline.media.recorder import RecorderBank
    bank = RecorderBank(8, 160, batch_ticks=10)
    bank.lossless = True
    recs = [bank.start(ch, sys.argv[1] + f"/k{ch}.wav", two_track=True, max_seconds=None, fmt=fmt)
            for ch, fmt in enumerate(["G711", "WAV"])]
    z = np.zeros((8, 160), np.int16)
    for t in range(35):                          # 3 full batches, then 5 ticks never handed over
        codes = np.full((8, 160), t, np.uint8)
        bank.capture(z, z, codes, 255 - codes)
        if t == 29:
            bank.sync()
    print("ready", recs[0].flushed_samples, flush=True)
    time.sleep(60)
""")


def test_files_are_readable_up_to_the_last_batch_after_sigkill(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        assert line[0] == "ready"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert int(line[1]) == 30 * BLOCK
    for ch, table in ((0, ALAW_DECODE), (1, ALAW_DECODE)):
        data, _ = sf.read(str(tmp_path / f"k{ch}.wav"), dtype="int16")
        assert data.shape == (30 * BLOCK, 2)
        t = np.repeat(np.arange(30), BLOCK).astype(np.uint8)
        assert np.array_equal(data[:, 0], table[t]) and np.array_equal(data[:, 1], table[255 - t])


def test_a_full_disk_ends_that_recording_with_an_error_and_never_stalls_the_tick(tmp_path, caplog):
    bank = RecorderBank(4, BLOCK, batch_ticks=5)
    full = bank.start(0, "/dev/full", max_seconds=None, fmt="G711")     # every write: ENOSPC
    good = bank.start(1, str(tmp_path / "good.wav"), max_seconds=None, fmt="G711")
    z = np.zeros((4, BLOCK), np.int16)
    codes = np.full((4, BLOCK), 0x55, np.uint8)
    ended, worst = [], 0.0
    with caplog.at_level(logging.ERROR, logger="trunkline.recorder"):
        for _ in range(50):
            t0 = time.perf_counter()
            for ch, why in bank.capture(z, z, codes, codes):
                ended.append((ch, why))
                bank.stop(ch, why)
            worst = max(worst, time.perf_counter() - t0)
            time.sleep(0.002)
        bank.close()
    assert ended == [(0, "error")]
    assert full.stop_reason == "error" and "No space left" in (full.error or "")
    assert any("/dev/full" in r.getMessage() for r in caplog.records)
    assert good.error is None and sf.info(str(tmp_path / "good.wav")).frames == 50 * BLOCK
    assert worst < 0.05


def test_background_recordings_run_beside_the_foreground_one_on_the_same_channel(tmp_path):
    """Tagged (background) recordings: a whole-call recording, an agent part starting mid-way and a voicemail
    (foreground) on one channel, each exact over its own stretch; the agent part ends at its max length
    by the bank itself; stop_all ends the rest; restarting a tag restarts only that one."""
    bank = RecorderBank(4, BLOCK, laws=["alaw"] * 4, batch_ticks=7)
    bank.lossless = True
    rng = np.random.default_rng(3)
    sent_in, sent_out = [], []
    for t in range(60):
        if t == 0:
            bank.start(2, str(tmp_path / "whole.wav"), two_track=True, max_seconds=None, tag="policy", fmt="G711")
        if t == 10:
            bank.start(2, str(tmp_path / "agent.wav"), two_track=True, max_seconds=0.4, tag="agent", fmt="G711")
        if t == 15:
            bank.start(2, str(tmp_path / "vm.wav"), max_seconds=None, fmt="G711")
        if t == 20:
            assert bank.stop(2, "restarted?", tag="nosuch") is None
        if t == 50:
            bank.stop_all(2, "hangup")
        ci, co = _codes(rng, 4), _codes(rng, 4)
        sent_in.append(ci)
        sent_out.append(co)
        assert bank.capture(np.zeros((4, BLOCK), np.int16), np.zeros((4, BLOCK), np.int16), ci, co) == []
        if t == 30:
            assert set(bank.tagged) == {(2, "policy")} and set(bank.active) == {2}   # the agent part hit max
    assert not bank.tagged and not bank.active
    bank.close()
    rx, tx = np.stack(sent_in, axis=1)[2], np.stack(sent_out, axis=1)[2]
    for name, a, b, two in (("whole", 0, 50, True), ("agent", 10, 30, True), ("vm", 15, 50, False)):
        data, _ = sf.read(str(tmp_path / f"{name}.wav"), dtype="int16", always_2d=True)
        assert data.shape == ((b - a) * BLOCK, 2 if two else 1), (name, data.shape)
        assert np.array_equal(data[:, 0], ALAW_DECODE[rx[a:b].ravel()])
        if two:
            assert np.array_equal(data[:, 1], ALAW_DECODE[tx[a:b].ravel()])


def test_slots_follow_the_recordings_in_progress_and_idle_rows_are_given_back(tmp_path):
    """Three waves of recordings on 48 channels, each channel recording several times at random: every file
    is exact; the slots in use shrink back as recordings end (hi 0 once all have ended) and the capture
    buffers keep no resident pages for rows above the slots in use."""
    channels, ticks = 48, 260
    bank = RecorderBank(channels, BLOCK, laws=["alaw"] * channels, batch_ticks=10)
    bank.lossless = True
    rng = np.random.default_rng(3)
    plan = {ch: [] for ch in range(channels)}          # channel -> [(start, stop)] in ticks
    for ch in range(channels):
        t = int(rng.integers(0, 20))
        while t < 190:
            n = int(rng.integers(5, 40))
            plan[ch].append((t, t + n))
            t += n + int(rng.integers(1, 25))
    starts = {(a, ch): i for ch, spans in plan.items() for i, (a, _) in enumerate(spans)}
    stops = {(b, ch) for ch, spans in plan.items() for _, b in spans}
    sent = []
    for t in range(ticks):
        for ch in range(channels):
            if (t, ch) in stops:
                bank.stop(ch)
            if (t, ch) in starts:
                bank.start(ch, str(tmp_path / f"{ch}-{starts[t, ch]}.wav"), two_track=False, max_seconds=None,
                           fmt="G711")
        codes = _codes(rng, channels)
        sent.append(codes)
        bank.capture(np.zeros((channels, BLOCK), np.int16), np.zeros((channels, BLOCK), np.int16), codes, codes)
    assert not bank.active and bank._hi == 0
    for ch in (0, 1):                                  # then a quiet time: two recordings, slots 0 and 1
        bank.start(ch, str(tmp_path / f"quiet{ch}.wav"), two_track=False, max_seconds=None, fmt="G711")
    for _ in range(4 * bank.max_buffers * bank.batch_ticks):   # every buffer around a few times
        bank.capture(np.zeros((channels, BLOCK), np.int16), np.zeros((channels, BLOCK), np.int16), codes, codes)
    bank.sync()
    assert bank._hi == 2
    spare = [bank._spare.get_nowait() for _ in range(bank._spare.qsize())]
    # two rows of 3,200 bytes are written: 2 or 3 pages stay; the busy waves had touched 36 and more
    assert spare and max(resident_pages(b) for b in spare) <= 3, [resident_pages(b) for b in spare]
    for b in spare:
        bank._spare.put(b)
    bank.close()
    rx = np.stack(sent, axis=1)
    for ch, spans in plan.items():
        for i, (a, b) in enumerate(spans):
            data, _ = sf.read(str(tmp_path / f"{ch}-{i}.wav"), dtype="int16", always_2d=True)
            assert np.array_equal(data[:, 0], ALAW_DECODE[rx[ch, a:b].ravel()]), (ch, i)
