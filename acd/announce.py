"""Queue announcements: prompt names for position / estimated wait, and their texts for TTS prompt libraries."""
from __future__ import annotations

from collections.abc import Iterable

from trunkline.ivr import say
from trunkline.ivr.prompts import PromptLibrary

QUEUE_TEXTS = {
    "en": {"queue-position": "You are caller number", "queue-ewt": "Your estimated waiting time is",
           "queue-minutes": "minutes", "queue-under-minute": "less than one minute",
           "queue-callback-ok": "Thank you. We will call you back as soon as an agent is free.",
           "queue-callback-dialing": "Connecting you to the customer who asked for a call back."},
    "zh": {"queue-position": "您前面排队的位置是第", "queue-ewt": "预计等待时间",
           "queue-minutes": "分钟", "queue-under-minute": "不到一分钟",
           "queue-callback-ok": "谢谢，坐席空闲时我们会给您回电。",
           "queue-callback-dialing": "正在为您回拨客户。"},
}


def install_prompts(library: PromptLibrary, langs: Iterable[str] = ("en", "zh")) -> None:
    """Define the queue prompts as TTS texts in an ivr PromptLibrary (synthesised once, then cached)."""
    for lang in langs:
        for name, text in QUEUE_TEXTS[lang].items():
            library.define_text(name, text, lang=lang)


def announcement(position: int, ewt: float, lang: str = "en", say_position: bool = True,
                 say_ewt: bool = True) -> list[str]:
    """Prompt names to play for 1-based `position` and `ewt` seconds (under a minute, else rounded up to
    whole minutes)."""
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
    return items
