"""WAV headers left open by a crash get their RIFF/data sizes from the file length; good files are left alone."""
import os
import struct

import numpy as np
import soundfile as sf

from trunkline.media.wavrepair import repair_tree, repair_wav


def crashed_copy(src, dst, extra=b""):
    """`src` as a killed writer leaves it: header sizes 0 (as written at open), samples on disk, maybe a torn
    frame at the end."""
    data = bytearray(open(src, "rb").read())
    struct.pack_into("<I", data, 4, 0)
    struct.pack_into("<I", data, 40, 0)
    open(dst, "wb").write(bytes(data) + extra)


def test_open_header_repaired_from_the_length(tmp_path):
    pcm = (np.sin(np.arange(8000) * 0.3) * 8000).astype(np.int16)
    good = str(tmp_path / "good.wav")
    sf.write(good, pcm, 8000, subtype="PCM_16")
    before = open(good, "rb").read()
    crashed = str(tmp_path / "crashed.wav")
    crashed_copy(good, crashed, extra=b"\x01")            # half of a 2-byte frame was written
    assert sf.info(crashed).frames != 8000                 # unreadable as it is (0 frames, or an error)
    assert repair_wav(crashed)
    assert open(crashed, "rb").read() == before            # exactly the file a clean close writes
    assert not repair_wav(crashed)                         # idempotent
    assert not repair_wav(good)
    stereo = str(tmp_path / "two.wav")
    sf.write(stereo, np.stack([pcm, pcm], axis=1), 8000, subtype="PCM_16")
    crashed_copy(stereo, stereo + ".c.wav", extra=b"\x00\x00")   # half of a 4-byte stereo frame
    assert repair_wav(stereo + ".c.wav")
    back, rate = sf.read(stereo + ".c.wav", dtype="int16")
    assert rate == 8000 and back.shape == (8000, 2) and np.array_equal(back[:, 0], pcm)


def test_files_left_alone(tmp_path):
    pcm = np.zeros(800, dtype=np.int16)
    listed = str(tmp_path / "listed.wav")
    sf.write(listed, pcm, 8000, subtype="PCM_16")
    with open(listed, "ab") as f:                          # a LIST chunk after data, sizes consistent
        f.write(b"LIST" + struct.pack("<I", 4) + b"INFO")
    raw = bytearray(open(listed, "rb").read())
    struct.pack_into("<I", raw, 4, len(raw) - 8)
    open(listed, "wb").write(bytes(raw))
    assert not repair_wav(listed) and open(listed, "rb").read() == bytes(raw)
    (tmp_path / "not.wav").write_bytes(b"hello world, not a RIFF file")
    assert not repair_wav(str(tmp_path / "not.wav"))
    old = str(tmp_path / "sub" / "old.wav")
    os.makedirs(os.path.dirname(old))
    sf.write(old, pcm, 8000, subtype="PCM_16")
    crashed_copy(old, old)
    os.utime(old, (1000, 1000))                            # before the crashed run started: not its file
    assert repair_tree(str(tmp_path), since=2000) == []
    assert repair_tree(str(tmp_path), since=0) == [old]
