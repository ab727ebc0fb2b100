"""Outbound campaigns: dial a list of numbers, analyse the answer (fax / machine / person), run a flow.

    camp = Campaign(engine, "reminders", Campaign.rows_from_csv(text), flow=remind,
                    caller_id="95588", calendar=cal, max_channels=8, calls_per_second=2)
    await camp.run()              # returns when every number is final (or stop() was called)
    camp.progress()               # live counters; camp.report() per number

Per number: skipped when on the do-not-call list or rejected by the blacklist (ivr.blacklist); dialled
within the calendar's opening hours only; paced by `max_channels` and `calls_per_second`; the outcome of
each attempt comes from the signaling (busy 17, unallocated 1/22/28, congestion 34/38/42, no answer =
ringback timeout or 18/19) or, after answer, from call progress analysis on the answered audio:
fax (CNG 1100 Hz / CED 2100 Hz via dsp.cpa), machine / human / silence (ivr.amd). `flow(call, contact)`
runs for a person. Busy, no answer and congestion are retried after `retry_after[outcome]` seconds up to
`max_attempts` attempts. All times are media time (engine.now, seconds).

`detect=False` turns answer analysis (AMD/fax tones) off: an answered call is outcome "answered" and runs
the flow at once. `paused=True` makes run() start paused (resume() starts dialling). An `observer` (any
object with optional methods `on_dial(campaign, contact)`, `on_attempt(campaign, contact, attempt)`,
`on_state(campaign)`) hears each dial before it goes out, each finished attempt and each state change:
ivr.campaign_store uses it to keep campaigns in the database across restarts.
"""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import heapq
import io
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import text as _sql_text
from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.dsp.announcements import AnnouncementClassifier, sit_and_speech
from trunkline.media import ChannelError, Hangup, Timeout
from trunkline.media.call import Call
from trunkline.media.dialguard import dialing_as
from trunkline.media.engine import Engine

from .blacklist import Firewall, normalize
from .calendar import Calendar
from .detect_bank import DetectBank

log = logging.getLogger("trunkline.ivr.campaign")

RETRYABLE = ("busy", "noanswer", "congestion", "poweroff")
# answered: AMD off; interrupted: the server stopped during the call (restored campaign); unallocated /
# out_of_service / poweroff / busy also come from carrier announcements (空号 / 停机 / 关机 / 正在通话中) on cn lines
FINAL = ("human", "machine", "fax", "silence", "answered", "unallocated", "rejected", "failed", "dnc", "blacklisted",
         "interrupted", "out_of_service")
CAUSE_OUTCOME = {17: "busy", 1: "unallocated", 22: "unallocated", 28: "unallocated", 3: "unallocated",
                 34: "congestion", 38: "congestion", 42: "congestion", 41: "congestion",
                 18: "noanswer", 19: "noanswer", 21: "rejected"}
DEFAULT_RETRY = {"busy": 300.0, "noanswer": 1800.0, "congestion": 300.0, "poweroff": 1800.0}
#: seconds of answered audio kept for the carrier announcement classifier (bounded work per call)
ANNOUNCEMENT_SECONDS = 6.0


class CampaignError(ValueError):
    """A campaign definition or contact list is malformed."""


@dataclass
class Attempt:
    """One dial attempt: start and end (media s), outcome, Q.850 cause if the signaling gave one, and the
    media time a retry was scheduled for (None when final)."""
    at: float
    outcome: str
    cause: int | None = None
    detail: str = ""
    ended: float = 0.0
    retry_at: float | None = None


@dataclass
class Contact:
    """A number to call with its per-number variables and its history."""
    number: str
    variables: dict = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    outcome: str | None = None      # final outcome once done
    next_at: float = 0.0
    state: str = "pending"          # pending | dialing | done
    wait: float = 0.0               # seconds after run() starts before the first dial (a restored retry)
    db_id: int | None = None        # its ivr_campaign_numbers row, for a campaign kept in the database

    @property
    def tries(self) -> int:
        """How many times this number was dialled."""
        return len(self.attempts)


#: what runs on an answered call: flow(call, contact)
CampaignFlow = Callable[[Call, Contact], Awaitable[Any]]


class Campaign:
    """One outbound campaign over a media engine (see module docstring)."""

    def __init__(self, engine: Engine, name: str, contacts: Iterable[Contact | dict[str, Any] | str],
                 flow: CampaignFlow | None = None, *, caller_id: str = "", trunk: str | None = "pri",
                 ring_timeout: float = 30.0, calendar: Calendar | None = None, start: dt.datetime | None = None,
                 max_channels: int = 4, calls_per_second: float = 1.0, max_attempts: int = 3,
                 retry_after: Mapping[str, float] | None = None, dnc: Iterable[str] = (),
                 firewall: Firewall | None = None, detect_seconds: float = 6.0, amd: Mapping[str, Any] | None = None,
                 machine_flow: CampaignFlow | None = None, detect: bool = True, paused: bool = False,
                 observer: object | None = None, announcements: AnnouncementClassifier | None = None) -> None:
        if max_channels < 1 or calls_per_second <= 0 or max_attempts < 1:
            raise CampaignError("max_channels, calls_per_second and max_attempts must be positive")
        self.engine = engine
        self.name = name
        self.flow = flow
        self.machine_flow = machine_flow
        self.caller_id = caller_id
        self.trunk = trunk
        self.ring_timeout = ring_timeout
        self.calendar = calendar
        self.start_wall = start or dt.datetime.now(dt.timezone.utc)
        self.max_channels = int(max_channels)
        self.calls_per_second = float(calls_per_second)
        self.max_attempts = int(max_attempts)
        self.retry_after = dict(DEFAULT_RETRY, **(retry_after or {}))
        self.dnc = {normalize(n) for n in dnc}
        self.firewall = firewall
        self.detect_seconds = detect_seconds
        self.amd_kw = dict(amd or {})
        self.detect = bool(detect)
        self.start_paused = bool(paused)
        self.observer = observer
        self.announcements = announcements     # carrier announcement classifier (cn lines) or None
        self.contacts: list[Contact] = []
        for c in contacts:
            if isinstance(c, Contact):
                self.contacts.append(c)
            elif isinstance(c, dict):
                c = dict(c)
                num = str(c.pop("number", "")).strip()
                if not num:
                    raise CampaignError(f"contact without a number: {c!r}")
                self.contacts.append(Contact(num, c))
            else:
                self.contacts.append(Contact(str(c).strip()))
        self.state = "idle"             # idle | running | paused | stopped | done
        self.active: dict[str, asyncio.Task] = {}
        self.dials = 0
        self.flow_errors: list[tuple[str, str]] = []
        self._heap: list[tuple[float, int, Contact]] = []
        self._seq = itertools.count()
        self._t0: float | None = None
        self._last_dial = -1e9

    # ------------------------------------------------------------ input
    @staticmethod
    def rows_from_csv(text: str) -> list[dict]:
        """Contacts from CSV text with a header row; column 'number' required, the rest are variables."""
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "number" not in [f.strip() for f in reader.fieldnames]:
            raise CampaignError("CSV needs a header row with a 'number' column")
        rows = []
        for i, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            if not row.get("number"):
                raise CampaignError(f"CSV line {i}: empty number")
            rows.append(row)
        return rows

    @staticmethod
    def rows_from_query(session_factory: Callable[[], Session], sql: str,
                        params: dict | None = None) -> list[dict]:
        """Contacts from a database query (SQL text with :named parameters); it must return a 'number' column."""
        with session_scope(session_factory) as s:
            res = s.execute(_sql_text(sql), params or {})
            cols = list(res.keys())
            if "number" not in cols:
                raise CampaignError(f"query returns no 'number' column (columns: {', '.join(cols)})")
            rows = [{k: ("" if v is None else str(v)) for k, v in zip(cols, r)} for r in res]
        bad = [r for r in rows if not r["number"].strip()]
        if bad:
            raise CampaignError(f"query returned {len(bad)} rows with an empty number")
        return rows

    # ------------------------------------------------------------ control
    def pause(self) -> None:
        """Stop starting new calls (calls in progress finish)."""
        if self.state == "running":
            self.state = "paused"
            self._notify("on_state", self)

    def resume(self) -> None:
        """Start dialling again after pause()."""
        if self.state == "paused":
            self.state = "running"
            self._notify("on_state", self)

    def stop(self) -> None:
        """End the campaign: no new calls; numbers not final stay as they are (outcome None)."""
        self.state = "stopped"
        self._notify("on_state", self)

    def _notify(self, method: str, *args: Any) -> None:
        fn = getattr(self.observer, method, None) if self.observer is not None else None
        if fn is not None:
            try:
                fn(*args)
            except Exception:          # persistence trouble is logged; the calls go on
                log.exception("campaign %s: observer %s failed", self.name, method)

    def wall_time(self) -> dt.datetime:
        """The campaign's wall-clock time: start + media time elapsed."""
        t0 = self._t0 if self._t0 is not None else self.engine.now     # a start at media time 0.0 is a start
        return self.start_wall + dt.timedelta(seconds=self.engine.now - t0)

    # ------------------------------------------------------------ run
    async def run(self) -> dict:
        """Dial until every number has a final outcome or stop(); returns report()."""
        eng = self.engine
        self._t0 = eng.now
        self.state = "paused" if self.start_paused else "running"
        self._notify("on_state", self)
        for c in self.contacts:
            if c.state == "done":          # restored campaigns carry numbers already final
                continue
            reason = self._screen(c.number)
            if reason:
                c.outcome, c.state = reason, "done"
                self._notify("on_attempt", self, c, None)
                continue
            c.state = "pending"
            c.next_at = eng.now + max(0.0, c.wait)
            heapq.heappush(self._heap, (c.next_at, next(self._seq), c))
        interval = 1.0 / self.calls_per_second
        while self.state != "stopped":
            if not self._heap and not self.active:
                break
            if self.state == "paused":
                await eng.sleep(0.2)
                continue
            if self.calendar is not None and not self.calendar.is_open(self.wall_time()):
                await eng.sleep(self._until_open())
                continue
            now = eng.now
            if (self._heap and self._heap[0][0] <= now and len(self.active) < self.max_channels
                    and now - self._last_dial >= interval - 1e-9):
                _, _, c = heapq.heappop(self._heap)
                self._last_dial = now
                c.state = "dialing"
                self.dials += 1
                self._notify("on_dial", self, c)
                self.active[c.number] = asyncio.ensure_future(self._attempt(c))
                continue
            await eng.sleep(min(interval, 0.1))
        if self.state == "stopped":
            for t in list(self.active.values()):
                await t
        else:
            self.state = "done"
            self._notify("on_state", self)
        return self.report()

    def _until_open(self) -> float:
        cal = self.calendar
        nxt = cal.next_open(self.wall_time()) if cal is not None else None
        if cal is None or nxt is None:
            self.stop()
            return 0.0
        local_now = cal.local(self.wall_time())
        return max(1.0, (nxt - local_now).total_seconds())

    def _screen(self, number: str) -> str | None:
        if normalize(number) in self.dnc:
            return "dnc"
        if self.firewall is not None and not self.firewall.check(number).allowed:
            return "blacklisted"
        return None

    async def _attempt(self, c: Contact) -> None:
        eng = self.engine
        at = eng.now
        cause, detail, outcome = None, "", None
        try:
            with dialing_as("campaign", self.name):       # the dial plan: caps and rules per campaign
                call = await eng.make_call(c.number, caller_id=self.caller_id, trunk=self.trunk,
                                           timeout=self.ring_timeout)
        except Timeout:
            outcome = "noanswer"
        except ChannelError as exc:
            cause = exc.cause
            outcome = CAUSE_OUTCOME.get(exc.cause, "failed")
            detail = exc.reason
        else:
            outcome, detail = await self._after_answer(call, c)
        att = Attempt(at, outcome, cause, detail, ended=eng.now)
        c.attempts.append(att)
        self.active.pop(c.number, None)
        if outcome in RETRYABLE and c.tries < self.max_attempts and self.state != "stopped":
            c.next_at = att.retry_at = eng.now + self.retry_after[outcome]
            c.state = "pending"
            heapq.heappush(self._heap, (c.next_at, next(self._seq), c))
        else:
            c.outcome, c.state = outcome, "done"
        self._notify("on_attempt", self, c, att)

    async def _after_answer(self, call: Call, c: Contact) -> tuple[str, str]:
        eng = self.engine
        if not self.detect:
            await self._run_flow(call, c, self.flow)
            return "answered", "answer analysis off"
        clf = self.announcements
        keep = int(ANNOUNCEMENT_SECONDS * 8000) if clf is not None else 0
        bank = DetectBank.of(eng)                # one CPA+AMD step per tick for all calls under analysis
        tap = bank.add(call, dict(self.amd_kw), keep=keep)
        t_end = eng.now + max(self.detect_seconds, ANNOUNCEMENT_SECONDS if clf is not None else 0.0)
        sit: bool | None = None
        try:
            while not call.hungup and eng.now < t_end:
                if tap.result is not None and (clf is None or tap.kept_n >= tap.keep):
                    break
                if tap.result == "human" and clf is not None and sit is None:
                    sit = sit_and_speech(np.concatenate(tap.kept))[0]   # a SIT first: an announcement follows
                if tap.result is not None and (tap.result == "fax" or (tap.result == "human" and not sit)):
                    break                    # a machine, or a SIT then speech, may be a carrier announcement
                await eng.sleep(0.05)
        finally:
            bank.remove(tap)
        result = tap.result or (tap.amd_verdict or "silence")
        detail = f"decided after {tap.samples / 8000:.2f} s"
        if clf is not None and (result in ("machine", "silence") or sit) and tap.kept_n:
            label = await self._classify(clf, np.concatenate(tap.kept), call)
            if label:
                if not call.hungup:
                    await call.hangup()
                return label, f"carrier announcement ({label}) after {tap.samples / 8000:.2f} s"
        if call.hungup and tap.result is None:
            return "failed", "far end hung up during analysis"
        flow = self.flow if result in ("human", "silence") else self.machine_flow if result == "machine" else None
        await self._run_flow(call, c, flow)
        return result, detail

    async def _classify(self, clf: AnnouncementClassifier, audio: np.ndarray, call: Call) -> str:
        """The carrier announcement label of answered audio ("" if none); off the tick loop in real time."""
        board = getattr(self.engine, "board", None)
        if board is not None and getattr(board, "realtime", False):
            verdict = await asyncio.to_thread(clf.classify, audio)
        else:
            verdict = clf.classify(audio)
        log.info("campaign %s: call %s carrier announcement %r (sit %s)", self.name, getattr(call, "id", "?"),
                 verdict.label, verdict.sit)
        return verdict.label

    async def _run_flow(self, call: Call, c: Contact, flow: CampaignFlow | None) -> None:
        if flow is not None and not call.hungup:
            try:
                await flow(call, c)
            except Hangup:
                log.debug("campaign %s: %s hung up during the flow", self.name, c.number)
            except Exception as exc:          # a flow error ends this call, not the campaign
                self.flow_errors.append((c.number, repr(exc)))
                log.warning("campaign %s flow failed for %s: %r", self.name, c.number, exc)
        if not call.hungup:
            await call.hangup()

    # ------------------------------------------------------------ reporting
    def progress(self) -> dict:
        """Live counters: total, done, pending, dialing, dials, and the count of each final outcome."""
        out = {"state": self.state, "total": len(self.contacts), "dials": self.dials,
               "active": len(self.active)}
        for s in ("pending", "dialing", "done"):
            out[s] = sum(1 for c in self.contacts if c.state == s)
        for o in FINAL + RETRYABLE:
            out[o] = sum(1 for c in self.contacts if c.outcome == o)
        return out

    def report(self) -> dict:
        """Per-number results (outcome, attempts with media times) and the progress counters."""
        return {"campaign": self.name, "progress": self.progress(),
                "numbers": [{"number": c.number, "outcome": c.outcome, "variables": c.variables,
                             "attempts": [(round(a.at, 2), a.outcome, a.cause, round(a.ended, 2),
                                           None if a.retry_at is None else round(a.retry_at, 2))
                                          for a in c.attempts]}
                            for c in self.contacts]}
