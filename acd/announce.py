"""Queue announcements: prompt names for position / estimated wait, and their texts for TTS prompt libraries."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile as sf

from trunkline.dsp.constants import RATE
from trunkline.ivr import say
from trunkline.ivr.demo import synth_tones
from trunkline.ivr.prompts import PromptError, PromptLibrary
from trunkline.media.moh import ensure_default

QUEUE_TEXTS = {
    "en": {"queue-position": "You are caller number", "queue-ewt": "Your estimated waiting time is",
           "queue-minutes": "minutes", "queue-under-minute": "less than one minute",
           "queue-callback-offer": "To be called back instead of waiting, press",
           "queue-callback-ok": "Thank you. We will call you back as soon as an agent is free.",
           "queue-callback-dialing": "Connecting you to the customer who asked for a call back."},
    "zh": {"queue-position": "您前面排队的位置是第", "queue-ewt": "预计等待时间",
           "queue-minutes": "分钟", "queue-under-minute": "不到一分钟",
           "queue-callback-offer": "如需坐席空闲时给您回电，请按",
           "queue-callback-ok": "谢谢，坐席空闲时我们会给您回电。",
           "queue-callback-dialing": "正在为您回拨客户。"},
}


def install_prompts(library: PromptLibrary, langs: Iterable[str] = ("en", "zh")) -> None:
    """Define the queue prompts as TTS texts in an ivr PromptLibrary (synthesised once, then cached)."""
    for lang in langs:
        for name, text in QUEUE_TEXTS[lang].items():
            library.define_text(name, text, lang=lang)


def ensure_queue_prompts(prompts_dir: str, langs: Iterable[str] = ("zh", "en"), numbers_up_to: int = 99) -> list[str]:
    """Write the default queue prompts (position, expected wait, callback offer ...) and the say-number
    fragments they use (0..numbers_up_to) as <lang>/<name>.wav, and the default music-on-hold class, under
    prompts_dir when missing: spoken by espeak-ng, else tone patterns (as the demo prompts). Recorded files
    already there are kept; returns the paths written."""
    lib = PromptLibrary(prompts_dir)
    written: list[str] = []
    moh = ensure_default(lib.root)        # the default music-on-hold class (media/moh.py: its one home)
    if moh is not None:
        written.append(moh)
    for lang in langs:
        names = dict(QUEUE_TEXTS[lang])
        for n in range(numbers_up_to + 1):
            for frag in say.number(n, lang) + say.digits(str(n % 10), lang):
                names.setdefault(frag, say.FRAGMENTS[frag])
        todo = {}
        for name, text in names.items():
            bare = name.split("/", 1)[1] if name.startswith(lang + "/") else name
            dest = os.path.join(lib.root, lang, bare + ".wav")
            if not os.path.exists(dest):
                todo[dest] = text
        with ThreadPoolExecutor(max_workers=4) as pool:      # TTS runs are separate processes: in parallel
            written += list(pool.map(_render, [lib] * len(todo), [lang] * len(todo), todo, todo.values()))
    return written


def _render(lib: PromptLibrary, lang: str, dest: str, text: str) -> str:
    """Write `text` spoken by the TTS engine (else a tone pattern, as for the demo prompts) to dest."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        shutil.copyfile(lib.tts(text, lang), dest)
    except PromptError:
        sf.write(dest, np.asarray(synth_tones(text), dtype=np.int16), RATE, subtype="PCM_16")
    return dest


def announcement(position: int, ewt: float, lang: str = "en", say_position: bool = True,
                 say_ewt: bool = True, callback_key: str | None = None) -> list[str]:
    """Prompt names to play for 1-based `position` and `ewt` seconds (under a minute, else rounded up to
    whole minutes), then the callback offer naming `callback_key` when the queue has one."""
    if lang not in QUEUE_TEXTS:
        raise ValueError(f"no queue prompts for language {lang!r}")
    items: list[str] = []
    if say_position:
        items += ["queue-position", *say.number(int(position), lang)]
    if say_ewt:
        minutes = int(-(-float(ewt) // 60))
        if float(ewt) < 60.0:
            items += ["queue-ewt", "queue-under-minute"]
        else:
            items += ["queue-ewt", *say.number(minutes, lang), "queue-minutes"]
    if callback_key and callback_key.isdigit():
        items += ["queue-callback-offer", *say.digits(callback_key, lang)]
    return items
