"""Queue announcement prompts: every name the default announcer plays exists in a TTS prompt library."""
import numpy as np
import pytest

from trunkline.acd.announce import QUEUE_TEXTS, announcement, install_prompts
from trunkline.ivr.prompts import PromptLibrary, espeak_available


def test_announcement_items():
    assert announcement(3, 95, "en") == ["queue-position", "en/digits/3", "queue-ewt", "en/digits/2",
                                         "queue-minutes"]
    assert announcement(1, 20, "zh", say_position=False) == ["queue-ewt", "queue-under-minute"]
    with pytest.raises(ValueError, match="language"):
        announcement(1, 1, "fr")


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng missing (make test installs it)")
def test_default_announcer_prompts_load(tmp_path):
    lib = PromptLibrary(str(tmp_path), language="en")
    install_prompts(lib, langs=("en",))
    names = set(QUEUE_TEXTS["en"]) | set(announcement(7, 400, "en"))
    lengths = {n: len(lib.load(n, lang="en")) for n in names}
    print(lengths)
    assert all(v > 1600 for v in lengths.values())        # each at least 0.2 s of audio
    assert all(np.abs(lib.load(n, lang="en")).max() > 1000 for n in names)
