"""The recording writer's C batch path (media/recbatch.py): staged rows written when full, every WAV format exact
(G.711 and 16-bit linear, mono and two-track) and FLAC beside them, and sync() leaving every header at the samples
written, so a crash then loses nothing."""
import numpy as np
import soundfile as sf
from memory_probe import resident_pages

from trunkline.dsp.g711 import ALAW_DECODE, ULAW_DECODE
from trunkline.media.recorder import RecorderBank

BLOCK = 160


def test_staged_writes_exact_in_every_format_and_headers_current_after_sync(tmp_path):
    laws = ["alaw", "ulaw"] * 4
    # a stage row of 1000 bytes: several writes per batch, rows never a whole number of ticks
    bank = RecorderBank(8, BLOCK, laws=laws, batch_ticks=9, stage_bytes=1000)
    bank.lossless = True
    kinds = [("G711", False), ("G711", True), ("WAV", False), ("WAV", True), ("FLAC", True), ("G711", True)]
    rng = np.random.default_rng(11)
    sent_in, sent_out, recs = [], [], {}
    for t in range(40):
        if t == 0:
            for ch, (fmt, two) in enumerate(kinds):
                ext = "flac" if fmt == "FLAC" else "wav"
                recs[ch] = bank.start(ch, str(tmp_path / f"{ch}.{ext}"), two_track=two, max_seconds=None, fmt=fmt)
        if t == 13:
            bank.stop(5)                                   # mid-batch: its staged row goes out with the final header
        ci = rng.integers(0, 256, (8, BLOCK), dtype=np.uint8)
        co = rng.integers(0, 256, (8, BLOCK), dtype=np.uint8)
        sent_in.append(ci)
        sent_out.append(co)
        assert bank.capture(np.zeros((8, BLOCK), np.int16), np.zeros((8, BLOCK), np.int16), ci, co) == []
        if t == 22:
            bank.sync()                                    # every staged row written, every header current
            for ch in range(5):
                assert recs[ch].flushed_samples == recs[ch].written_samples == 23 * BLOCK, ch
                if kinds[ch][0] != "FLAC":
                    assert sf.info(str(tmp_path / f"{ch}.wav")).frames == 23 * BLOCK
    bank.close()
    rx, tx = np.stack(sent_in, axis=1), np.stack(sent_out, axis=1)
    for ch, (fmt, two) in enumerate(kinds):
        n = 13 if ch == 5 else 40
        table = ALAW_DECODE if laws[ch] == "alaw" else ULAW_DECODE
        ext = "flac" if fmt == "FLAC" else "wav"
        data, _ = sf.read(str(tmp_path / f"{ch}.{ext}"), dtype="int16", always_2d=True)
        assert data.shape == (n * BLOCK, 2 if two else 1), ch
        assert np.array_equal(data[:, 0], table[rx[ch, :n].ravel()]), ch
        if two:
            assert np.array_equal(data[:, 1], table[tx[ch, :n].ravel()]), ch
        assert recs[ch].written_samples == recs[ch].flushed_samples == n * BLOCK, ch


def test_a_finished_recordings_staging_row_goes_back_to_the_system(tmp_path):
    """The stage holds memory only for recordings in progress: 16 two-track recordings of 60 ticks touch
    their rows (19,200 bytes staged each); once they end, every row's pages are given back, and the files
    hold every sample."""
    bank = RecorderBank(16, BLOCK, laws=["alaw"] * 16)
    recs = [bank.start(ch, str(tmp_path / f"{ch}.wav"), two_track=True, max_seconds=None, fmt="G711")
            for ch in range(16)]
    codes = np.full((16, BLOCK), 0x55, np.uint8)
    for _ in range(60):
        bank.capture(np.zeros((16, BLOCK), np.int16), np.zeros((16, BLOCK), np.int16), codes, codes)
    bank.sync()
    stage = bank._files.stage
    assert resident_pages(stage) >= 16 * 4              # 19,200 staged bytes: 4 or 5 pages per row
    for ch in range(16):
        bank.stop(ch)
    bank.sync()
    assert resident_pages(bank._files.stage) == 0
    bank.close()
    for ch, rec in enumerate(recs):
        assert rec.written_samples == 60 * BLOCK and sf.info(str(tmp_path / f"{ch}.wav")).frames == 60 * BLOCK
