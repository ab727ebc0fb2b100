"""Graceful stop of `trunkline run`: the first SIGTERM or SIGINT drains, a second one stops at once.

Drain: the engine takes no new calls (inbound offers are refused with cause 42, outbound dials raise
ChannelError 42), campaigns and simulated callers stop, and the calls in progress get up to `grace_s` seconds
to finish by themselves. Whatever is still up then is cleared (cause 16), which writes its CDR and closes its
recording; the engine then stops and the server's shutdown closes every WAV file (header finalised) and stops
the record writer, which flushes its queue to the database (what the database cannot take stays in the spool
file, replayed at the next start).

A second signal during the drain ends the wait at once: the remaining calls are cleared the same way (CDRs
written, files closed) without any further waiting.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from trunkline.media import Engine

log = logging.getLogger("trunkline.server")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Drain:
    """Signal handling for `trunkline run` (see the module docstring); `on_start` callables run when it begins."""

    def __init__(self, engine: Engine, grace_s: float = 30.0,
                 on_start: list[Callable[[], object]] | None = None) -> None:
        self.engine = engine
        self.grace_s = grace_s
        self.on_start = list(on_start or [])
        self.signals = 0
        self.cleared = 0              # calls still up at the end of the wait, cleared by the drain
        self._urgent = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        """Handle SIGTERM and SIGINT on the running loop."""
        self._loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            self._loop.add_signal_handler(sig, self.signal, sig.name)

    def uninstall(self) -> None:
        """Give SIGTERM and SIGINT back to their defaults."""
        if self._loop is not None:
            for sig in SIGNALS:
                self._loop.remove_signal_handler(sig)
            self._loop = None

    @property
    def draining(self) -> bool:
        """True once the first signal has come."""
        return self.signals > 0

    def signal(self, name: str = "SIGTERM") -> None:
        """A stop signal: the first starts the drain, the next ones stop at once."""
        self.signals += 1
        if self.signals > 1:
            log.warning("%s again: stopping now, clearing %d calls in progress", name, len(self.engine.calls))
            self._urgent.set()
            return
        log.warning("%s: draining: no new calls; %d calls in progress get up to %g s to finish "
                    "(send the signal again to stop at once)", name, len(self.engine.calls), self.grace_s)
        self.engine.stop_accepting()
        for fn in self.on_start:
            try:
                fn()
            except Exception:   # one part failing to stop must not stop the drain: logged with its traceback
                log.exception("drain: %r failed", fn)
        self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_s
        engine = self.engine
        while engine.calls and not self._urgent.is_set():
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(self._urgent.wait(), min(0.1, left))
            except TimeoutError:
                pass
        self.cleared = len(engine.calls)
        for call in list(engine.calls.values()):
            engine.hangup(call, 16)             # writes the CDR; its recording is stopped and closed
        if self.cleared:
            log.warning("drain: %d calls still up were cleared", self.cleared)
        if not self._urgent.is_set() and engine.running:
            await engine.sleep(0.2)             # the clearing messages go out on the signaling links
        log.info("drain: done; stopping the engine")
        engine.stop()
