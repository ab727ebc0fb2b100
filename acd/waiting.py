"""A caller waiting in a queue: music on hold, position/EWT announcements, keys for voicemail and
callback, maximum wait and empty-queue handling with their overflow actions. All timers are media time."""
from __future__ import annotations

import logging
from typing import Any

from trunkline.media import Call, Hangup
from trunkline.media.moh import moh_items

from .announce import announcement
from .core import ACDError, JoinResult
from .offering import Offering
from .queues import QueueConfig
from .results import Next, QueueResult, Rejoin
from .runtime import AUDIO_NOT_PLAYED, MISSING_AUDIO, Runtime, Waiter

log = logging.getLogger("trunkline.acd")

#: what waiting ends with: the caller's result and what comes next, or None when an agent answered
Waited = tuple[QueueResult | None, Next] | None


def play_moh(call: Call, cfg: QueueConfig) -> None:
    """Start the queue's music on hold (a missing prompt: the caller waits in silence, the log says why)."""
    if not cfg.moh or call.hungup:
        return
    try:
        items = moh_items(call.engine.prompts, cfg.moh)
        if items:
            call.start_audio(*items, loop=True)
    except MISSING_AUDIO as exc:
        log.warning("queue %s: music on hold %r unavailable (%s)", cfg.name, cfg.moh, exc)


class Waiting:
    """The waiting side of a queued call, until an agent answers or the caller leaves."""

    def __init__(self, rt: Runtime, offering: Offering) -> None:
        self.rt = rt
        self.offering = offering

    async def wait(self, w: Waiter, cfg: QueueConfig, jr: JoinResult | Rejoin) -> Waited:
        """Wait in the queue; None once an agent answered (w.connection is set), else the caller's
        QueueResult and what comes next (overflow to another queue)."""
        rt, core = self.rt, self.rt.core
        call, entry = w.call, jr.entry
        now = rt.engine.now
        joined = core.entry(entry)
        wait_base = joined["enqueued_at"] - (core.now() - now)    # entry time in media time
        rt.tracker.track(call, queue=w.queue, outcome="abandoned", wait_base=wait_base, agent=None, answered=None,
                         recording=None)
        if jr.empty and cfg.on_empty["action"] != "stay":
            core.leave(entry, "empty")
            return await self._overflow(w, cfg.on_empty, "empty", wait=0.0)
        call.on_hangup(lambda c: w.poke())
        play_moh(call, cfg)
        rt.kick()
        first = cfg.announce_first if cfg.announce_first is not None else cfg.announce_interval
        next_announce = wait_base + first if cfg.announce_interval > 0 else None
        deadline = wait_base + cfg.max_wait if cfg.max_wait else None
        while True:
            if w.connection is not None:
                return None
            if call.hungup:
                e = core.entry(entry)
                if e["callback_number"]:
                    return QueueResult("callback", w.queue, entry, wait=rt.engine.now - wait_base), None
                if core.leave(entry, "abandon"):
                    self.offering.cancel_rings(entry)
                return QueueResult("abandoned", w.queue, entry, wait=rt.engine.now - wait_base), None
            now = rt.engine.now
            if deadline is not None and now >= deadline - 1e-9 and w.connection is None:
                if core.entry(entry)["state"] in ("waiting", "offered"):
                    core.leave(entry, "timeout")
                    self.offering.cancel_rings(entry)
                    return await self._overflow(w, cfg.overflow, "timeout", wait=now - wait_base)
            if cfg.on_empty["action"] != "stay" and core.logged_in_count(w.queue) == 0:
                if core.leave(entry, "empty"):       # everyone logged out while the caller waited
                    self.offering.cancel_rings(entry)
                    return await self._overflow(w, cfg.on_empty, "empty", wait=now - wait_base)
            pending = call.digits_pending()
            if pending:
                r = await self._keys(w, cfg, pending, wait_base)
                if r is not None:
                    return r
            if next_announce is not None and now >= next_announce - 1e-9:
                await self._announce(w, cfg)
                next_announce += cfg.announce_interval
                continue
            step = rt.config["poll_interval"]
            for t in (next_announce, deadline):
                if t is not None:
                    step = min(step, max(0.0, t - now))
            w.rearm(rt.engine.loop)
            timer = rt.engine.call_later(step, w.poke)
            await w.wake
            timer.cancel()

    async def _announce(self, w: Waiter, cfg: QueueConfig) -> None:
        core = self.rt.core
        est, pos = core.ewt(w.entry)
        ewt = est.blended
        core.hub.deliver([core.publish("queue.announce", call_id=w.call.id, entry=w.entry, queue=w.queue,
                                       position=pos, ewt=round(ewt, 1))])
        items = self._announcement(cfg, pos, ewt, w.call.language)
        if items and not w.call.hungup and w.connection is None:
            w.call.stop_audio()
            try:
                await w.call.play(*items, barge_in=False)
            except Hangup:
                return
            except AUDIO_NOT_PLAYED as exc:
                log.warning("queue %s: announcement failed (%s)", cfg.name, exc)
            if w.connection is None:
                play_moh(w.call, cfg)

    def _announcement(self, cfg: QueueConfig, position: int, ewt: float, lang: str | None = None) -> list[Any]:
        """Play items for position/EWT (and the callback offer): the configured announcer, else prompts +
        say-number in the call's language (else the engine's)."""
        fn = self.rt.config.get("announcer")
        if fn is not None:
            return list(fn(cfg, position, ewt))
        lang = lang or getattr(self.rt.engine.prompts, "language", None) or "en"
        try:
            return announcement(position, ewt, lang if lang in ("en", "zh") else "en",
                                cfg.announce_position, cfg.announce_ewt, cfg.callback_key)
        except ValueError as exc:
            log.warning("queue %s: no position/EWT announcement (%s); set config['announcer']", cfg.name, exc)
            return []

    async def _keys(self, w: Waiter, cfg: QueueConfig, pending: str, wait_base: float) -> Waited:
        rt, call = self.rt, w.call
        key = pending[0]
        call.flush_digits()
        if cfg.voicemail_key and key == cfg.voicemail_key:
            rt.core.leave(w.entry, "voicemail", key=key)
            self.offering.cancel_rings(w.entry)
            rt.tracker.track(call, outcome="voicemail")
            call.stop_audio()
            await self.run_action(call, {"action": "voicemail", "target": cfg.voicemail_box}, w)
            return QueueResult("voicemail", w.queue, w.entry, wait=rt.engine.now - wait_base), None
        if cfg.callback_key and key == cfg.callback_key:
            number = call.caller_id
            rt.core.request_callback(w.entry, number)
            rt.tracker.track(call, outcome="callback")
            call.stop_audio()
            try:
                await call.play("queue-callback-ok", barge_in=False)
            except AUDIO_NOT_PLAYED as exc:
                log.info("queue %s: callback confirmation not played (%s)", cfg.name, exc)
            await call.hangup()
            return QueueResult("callback", w.queue, w.entry, wait=rt.engine.now - wait_base), None
        return None

    async def _overflow(self, w: Waiter, action: dict[str, Any], why: str, wait: float) -> Waited:
        act = action["action"]
        if act == "stay":
            return QueueResult(why, w.queue, w.entry, wait=wait, overflow=action), None
        if act == "queue":
            w.call.stop_audio()
            jr = self.rt.core.join(action["target"], w.call.id, w.call.caller_id, w.call.called, w.data)
            return None, (action["target"], jr)
        w.call.stop_audio()
        self.rt.tracker.track(w.call, outcome="overflow" if why == "timeout" else why)
        await self.run_action(w.call, action, w)
        return QueueResult("overflow" if why == "timeout" else why, w.queue, w.entry, wait=wait,
                           overflow=action), None

    async def run_action(self, call: Call, action: dict[str, Any], w: Waiter) -> None:
        """Carry out an overflow / key action: hangup, voicemail (config['voicemail']) or an IVR flow."""
        act = action["action"]
        if act == "hangup":
            await call.hangup()
        elif act == "voicemail":
            vm = self.rt.config.get("voicemail")
            if vm is not None:
                await vm(call, action.get("target") or w.queue)
            else:
                log.warning("queue %s: voicemail requested but no voicemail handler is configured "
                            "(config['voicemail'])", w.queue)
        elif act == "flow":
            flow = self.rt.config["flows"].get(action["target"])
            if flow is None:
                raise ACDError(f"overflow flow {action['target']!r} is not configured")
            await flow(call)
