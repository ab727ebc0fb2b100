"""Voicemail administration: PIN hashing, boxes, message folders, waiting list, notification, bad input."""
import numpy as np
import pytest
import soundfile as sf

import trunkline.ivr.models  # noqa: F401
from trunkline.data.db import Base, make_engine, make_session_factory
from trunkline.ivr.voicemail import Voicemail, VoicemailError, check_pin, hash_pin


@pytest.fixture
def vm(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path}/v.db")
    Base.metadata.create_all(eng)
    notes = []
    v = Voicemail(make_session_factory(eng), tmp_path / "spool", prompts=None, notify=lambda b, m: notes.append(b))
    v.notes = notes
    return v


def _wav(path, seconds):
    sf.write(path, np.zeros(int(seconds * 8000), np.int16), 8000, subtype="PCM_16")
    return str(path)


def test_pin_hash():
    h = hash_pin("2468")
    assert h.startswith("pbkdf2$") and "2468" not in h
    assert check_pin("2468", h) and not check_pin("2469", h) and not check_pin("2468", "garbage")
    assert hash_pin("2468") != h          # salted


def test_boxes_and_messages(vm, tmp_path):
    vm.create_box("8001", "2468")
    with pytest.raises(VoicemailError, match="already exists"):
        vm.create_box("8001", "1111")
    with pytest.raises(VoicemailError, match="at least 4"):
        vm.create_box("8002", "12")
    assert vm.verify("8001", "2468") and not vm.verify("8001", "0000") and not vm.verify("9999", "2468")
    assert vm.store("8001", _wav(tmp_path / "short.wav", 0.2)) is None       # too short: dropped
    assert not (tmp_path / "short.wav").exists()
    m1 = vm.store("8001", _wav(tmp_path / "a.wav", 2.0), caller="139")
    m2 = vm.store("8001", _wav(tmp_path / "b.wav", 1.0))
    assert m1["duration_ms"] == 2000 and vm.notes == ["8001", "8001"]
    assert vm.waiting() == {"8001": 2}
    vm.save_message(m1["id"])
    vm.delete_message(m2["id"])
    assert [m["folder"] for m in vm.messages("8001")] == ["saved"]
    assert vm.waiting() == {} and not (tmp_path / "b.wav").exists()
    vm.set_pin("8001", "97531")
    assert vm.verify("8001", "97531")
    with pytest.raises(VoicemailError, match="no mailbox"):
        vm.store("7777", _wav(tmp_path / "c.wav", 1.0))
