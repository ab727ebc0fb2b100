"""IVR menus with the parameters telephony users expect.

Long greeting the first time, short greeting on repeats, invalid and timeout
prompts, digit length with inter-digit timeout and terminator, separate limits
for invalid entries and timeouts with an exit result, barge-in on or off, and
an optional "0 for an agent" digit.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from trunkline.media.call import Call
from trunkline.media.errors import Timeout

CHOICE, AGENT, FAILED, TIMED_OUT = "choice", "agent", "failed", "timeout"


@dataclass
class Menu:
    """A menu definition; times in seconds of media time, prompts as play lists."""
    greeting: list[Any]
    choices: Collection[str]
    short_greeting: list[Any] = field(default_factory=list)
    invalid: list[Any] = field(default_factory=list)
    timeout_prompt: list[Any] = field(default_factory=list)
    timeout: float = 5.0
    digits: int = 1
    inter_digit: float = 3.0
    terminator: str = "#"
    max_failures: int = 3
    max_timeouts: int = 3
    barge_in: bool = True
    agent_digit: str = ""          # e.g. "0": pressing it returns AGENT


@dataclass
class MenuResult:
    """How a menu ended: kind (choice/agent/failed/timeout), the digits of the last entry, counts."""
    kind: str
    digits: str = ""
    failures: int = 0
    timeouts: int = 0


#: play(items, barge_in) -> barge-in digit or None
Play = Callable[[list[Any], bool], Awaitable[Any]]


async def run_menu(call: Call, menu: Menu, play: Play) -> MenuResult:
    """Run `menu` on `call`; `play(items, barge_in)` plays a prompt list. Returns a MenuResult.

    Raises Hangup when the caller leaves in any phase.
    """
    failures = timeouts = 0
    first = True
    while True:
        prompt = menu.greeting if first or not menu.short_greeting else menu.short_greeting
        first = False
        if prompt:
            await play(prompt, menu.barge_in)
            if not menu.barge_in:
                call.flush_digits()
        try:
            got = await call.get_digits(menu.digits, timeout=menu.timeout, inter_digit=menu.inter_digit,
                                        terminators=menu.terminator)
        except Timeout:
            got = ""
        if menu.agent_digit and got == menu.agent_digit:
            return MenuResult(AGENT, got, failures, timeouts)
        if got == "":
            timeouts += 1
            if timeouts >= menu.max_timeouts:
                return MenuResult(TIMED_OUT, got, failures, timeouts)
            if menu.timeout_prompt:
                await play(menu.timeout_prompt, menu.barge_in)
            continue
        if got in menu.choices:
            return MenuResult(CHOICE, got, failures, timeouts)
        failures += 1
        call.flush_digits()
        if failures >= menu.max_failures:
            return MenuResult(FAILED, got, failures, timeouts)
        if menu.invalid:
            await play(menu.invalid, menu.barge_in)
            if not menu.barge_in:
                call.flush_digits()
