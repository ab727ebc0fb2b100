"""Test calls from the web admin: the admin's browser phone (a station port) goes off hook and, instead of the
station features, the call runs through the engine's inbound route (call firewall, Router, flows, CDR with its
IVR path) with the called number and caller ID the admin chose, as a call from a trunk would."""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from trunkline.media import Call

log = logging.getLogger("trunkline.testcall")

Flow = Callable[[Call], Awaitable[None]]
NUMBER_RE = re.compile(r"\+?[0-9*#]{1,32}")
DEFAULT_NUMBER = "95588"                 #: the demo hotline's number
DEFAULT_CALLER = "10000000000"           #: caller ID a test call presents unless the admin gives one


@dataclass
class Armed:
    """A station channel that places a test call at its next off hook."""
    called: str
    caller: str
    user: str


class TestCalls:
    """The engine's station handler: armed browser-phone channels run the inbound route; other stations run
    what handled them before (the ACD's feature codes), or are cleared when nothing did."""

    __test__ = False                         # not a pytest test class, despite its name

    def __init__(self, route: Flow, screen: Callable[[Call], Any] | None = None,
                 station: Flow | None = None) -> None:
        self.route = route
        self.screen = screen
        self.station = station
        self._armed: dict[int, Armed] = {}
        self._lock = threading.Lock()
        self.placed = 0                      #: test calls started

    @classmethod
    def install(cls, engine: Any) -> TestCalls:
        """Wrap the engine's current inbound route, screen and station handler (call after the flows and the
        ACD are installed); returns the installed TestCalls."""
        route = engine._route             # the route handler the Router installed (the engine has no getter)
        if route is None:
            raise ValueError("install the inbound route before test calls")
        tc = cls(route, screen=engine.screen, station=engine._station)
        engine.on_station(tc)
        return tc

    @staticmethod
    def check_number(number: str) -> str:
        """A called number or caller ID as typed: digits, * and # (a leading +); ValueError otherwise."""
        number = (number or "").strip()
        if not NUMBER_RE.fullmatch(number):
            raise ValueError(f"not a phone number: {number[:40]!r} (digits, * and #, at most 32)")
        return number

    def arm(self, channel: int, called: str, caller: str = DEFAULT_CALLER, user: str = "") -> None:
        """The next off hook on board channel `channel` dials `called` as caller `caller` (thread-safe)."""
        spec = Armed(self.check_number(called), self.check_number(caller or DEFAULT_CALLER), user)
        with self._lock:
            self._armed[channel] = spec

    def disarm(self, channel: int) -> None:
        """Forget an armed channel (the page went away before dialling)."""
        with self._lock:
            self._armed.pop(channel, None)

    async def __call__(self, call: Call) -> None:
        """The station handler: a test call through the inbound route, or the previous station handler."""
        with self._lock:
            spec = self._armed.pop(call.channel, None)
        if spec is None:
            if self.station is None:
                await call.hangup(21)
                return
            await self.station(call)
            return
        call.called, call.caller_id = spec.called, spec.caller
        call.vars.update(test_call=True, test_call_user=spec.user)
        self.placed += 1
        log.info("test call from %s's browser phone (channel %d): %s -> %s", spec.user or "?", call.channel,
                 spec.caller, spec.called)
        verdict = self.screen(call) if self.screen is not None else None
        if verdict is not None and verdict[0] == "reject":
            await call.hangup(int(verdict[1]) if len(verdict) > 1 else 21)
            return
        await self.route(call)
