"""Carrier announcements on Chinese lines (空号 / 关机 / 停机 / 正在通话中): the templates the campaign
dialer's classifier compares against. A recording of the real carrier announcement placed in the prompt
library as zh/carrier/<label>.wav is used as it is; a missing one is rendered from its text by TTS at
first start (and kept there, so an operator can replace it with the carrier's own recording)."""
from __future__ import annotations

import os
import shutil

import numpy as np

from trunkline.dsp.announcements import AnnouncementClassifier
from trunkline.media.prompts import load_audio

from .prompts import PromptError, PromptLibrary

#: label -> the announcement's usual text (China Mobile / Unicom / Telecom wording)
CARRIER_TEXTS = {
    "unallocated": "您拨打的号码是空号，请查证后再拨。",
    "poweroff": "您好，您拨打的电话已关机。",
    "out_of_service": "您拨打的电话已停机。",
    "busy": "您拨打的电话正在通话中，请稍后再拨。",
}


def carrier_templates(library: PromptLibrary) -> dict[str, np.ndarray]:
    """label -> 8 kHz int16 template audio, from zh/carrier/<label>.wav (made by TTS when missing);
    labels with neither a recording nor TTS are left out."""
    out: dict[str, np.ndarray] = {}
    for label, text in CARRIER_TEXTS.items():
        dest = os.path.join(library.root, "zh", "carrier", label + ".wav")
        if not os.path.exists(dest):
            try:
                src = library.tts(text, "zh")
            except PromptError:
                continue
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(src, dest)
        out[label] = load_audio(dest)
    return out


def carrier_classifier(library: PromptLibrary) -> AnnouncementClassifier | None:
    """The classifier over the library's carrier templates, or None when there are none."""
    templates = carrier_templates(library)
    return AnnouncementClassifier(templates) if templates else None
