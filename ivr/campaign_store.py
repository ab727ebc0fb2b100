"""Campaigns kept in the database: create them (web admin), follow every dial and outcome, reload on start.

    mgr = CampaignManager(engine, session_factory, registry, campaigns)   # campaigns: the server's name -> Campaign
    rows, errors = parse_numbers(textarea_text)                           # good rows kept, bad lines reported
    camp = mgr.create("reminders", flow="hotline", rows=rows, caller_id="95588", max_channels=4)
    await mgr.restore()        # at server start, inside the engine's loop: reload running/paused campaigns

Every campaign lives in `ivr_campaigns` with one `ivr_campaign_numbers` row per number. The manager is the
Campaign's observer: a number is marked `dialing` (attempts + 1) in the database *before* its call goes out,
and its outcome, attempt history and retry time are written when the attempt ends. On restore, numbers
already final are kept as they are; a number still `dialing` was cut off by the stop and is final with
outcome "interrupted" (it was dialled; it is not dialled again); pending numbers keep their attempt count
(so `max_attempts` still holds) and a retry keeps its wall-clock time. Running campaigns resume dialling
at once, paused ones stay paused.
"""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import Session

from trunkline.data import numbers
from trunkline.data.db import session_scope
from trunkline.data.timeutil import as_utc, utcnow
from trunkline.dsp.announcements import AnnouncementClassifier
from trunkline.media.call import Call
from trunkline.media.engine import Engine

from .calendar import Calendar
from .campaign import Attempt, Campaign, CampaignError, Contact
from .flows import FlowRegistry
from .models import IvrCampaign, IvrCampaignNumber
from .routes import RECORD_POLICIES

log = logging.getLogger("trunkline.ivr.campaign_store")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
NUMBER_RE = re.compile(r"^\+?[0-9]{3,20}$")
MAX_NUMBERS = 100000


def clean_number(text: str) -> str | None:
    """A dialable number from what a person typed (spaces, dashes, dots, brackets dropped), or None."""
    n = re.sub(r"[\s().-]", "", text or "")
    return n if NUMBER_RE.match(n) else None


def parse_numbers(text: str, source: str = "line") -> tuple[list[dict], list[str]]:
    """Rows {"number": ..., variables...} from one number per line; returns (rows, errors).

    Extra comma-separated columns become call variables: named by a header row when the first line
    has a 'number' column (CSV with header), else col2, col3, ... . Blank lines and lines starting with
    '#' are ignored. A bad or repeated number is reported ("line 7: ...") and skipped; the good rows stay.
    """
    rows: list[dict] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header = None
    try:
        records = list(csv.reader(io.StringIO("\n".join(lines))))
    except csv.Error as exc:          # a field over csv.field_size_limit() (128 KiB), a NUL...
        return [], [f"the number list is not readable CSV (a field too large or broken): {exc}"]
    start = 0
    for i, rec in enumerate(records):
        if any(f.strip() for f in rec) and not rec[0].strip().startswith("#"):
            cols = [f.strip().lower() for f in rec]
            if "number" in cols:
                header = [f.strip() for f in rec]
                start = i + 1
            break
    for i in range(start, len(records)):
        rec = records[i]
        lineno = i + 1
        if not any(f.strip() for f in rec) or rec[0].strip().startswith("#"):
            continue
        if header:
            if len(rec) > len(header):
                errors.append(f"{source} {lineno}: {len(rec)} columns, the header has {len(header)}")
                continue
            row = {h: (rec[k].strip() if k < len(rec) else "") for k, h in enumerate(header) if h}
            raw = row.pop(next(h for h in header if h.lower() == "number"), "")
        else:
            raw = rec[0]
            row = {f"col{k + 1}": v.strip() for k, v in enumerate(rec[1:], start=1)}
        num = clean_number(raw)
        if num is None:
            errors.append(f"{source} {lineno}: {raw.strip()!r} is not a phone number" if raw.strip()
                          else f"{source} {lineno}: no number")
            continue
        key = numbers.canonical(num)       # +86 / 0086 / 0 forms of one number are one number
        if key in seen:
            errors.append(f"{source} {lineno}: {num} repeats {seen[key]}")
            continue
        seen[key] = f"{source} {lineno}"
        rows.append({"number": num, **row})
    return rows, errors


class CampaignManager:
    """Creates, persists and restores campaigns; the server's `campaigns` dict is the one it fills.
    `trunk`: the trunk type campaigns dial on ("pri", "r2", "analog"; None = any outbound trunk)."""

    def __init__(self, engine: Engine, session_factory: Callable[[], Session], registry: FlowRegistry | None = None,
                 campaigns: dict[str, Campaign] | None = None, trunk: str | None = None,
                 ring_timeout: float = 30.0, calendars: Mapping[str, Calendar] | None = None,
                 clock: Callable[[], dt.datetime] | None = None,
                 announcements: AnnouncementClassifier | None = None) -> None:
        self.engine = engine
        self.session_factory = session_factory
        self.registry = registry
        self.campaigns = campaigns if campaigns is not None else {}
        self.trunk = trunk
        self.ring_timeout = ring_timeout
        self.calendars: Mapping[str, Calendar] = calendars if calendars is not None else {}
        self.announcements = announcements   # carrier announcement classifier for cn lines, or None
        self.clock = clock           # wall clock (aware) a campaign's calling window starts from; default now
        self.tasks: dict[str, asyncio.Future] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------ flows
    def flow_names(self) -> list[str]:
        """Names of the flows a campaign can run on answer (the server's flow registry)."""
        return list(self.registry.names()) if self.registry is not None else []

    def _flow_for(self, name: str, flow_name: str, recording: str = "") -> Callable[[Call, Contact], Any] | None:
        if not flow_name:
            return None
        registry = self.registry
        recordings = registry.services.recordings if registry is not None else None

        async def flow(call: Call, contact: Contact) -> None:
            if registry is None:
                raise CampaignError(f"campaign {name}: no flow registry to run flow {flow_name!r}")
            call.vars.update(contact.variables)
            call.vars["campaign"] = name
            call.vars["campaign_number"] = contact.number
            if recordings is not None:          # the campaign's recording policy ("": the queue's, if any)
                recordings.begin(call, recording or "", f"campaign:{name}")
            await registry.handler(flow_name)(call)
        flow.__name__ = f"campaign_{name}_{flow_name}"
        return flow

    # ------------------------------------------------------------ create
    def create(self, name: str, flow: str, rows: Sequence[dict[str, Any]], *,
               caller_id: str = "", max_channels: int | str = 4, calls_per_second: float | str = 1.0,
               max_attempts: int | str = 3, retry_after: float | str | dict[str, float] = 300.0, amd: bool = True,
               paused: bool = False, ring_timeout: float | None = None, trunk: str | None = None,
               author: str = "", calendar: str = "", recording: str = "") -> Campaign:
        """Validate, store and start a campaign; returns the Campaign. CampaignError says what is wrong."""
        name = (name or "").strip()
        if not NAME_RE.match(name):
            raise CampaignError("The name must be 1-80 letters, digits, '.', '_' or '-' (starting with a letter "
                                "or digit).")
        flows = self.flow_names()
        if flow not in flows:
            raise CampaignError(f"Unknown flow {flow!r}; choose one of: {', '.join(flows) or '(none loaded)'}.")
        if not rows:
            raise CampaignError("No valid numbers to dial.")
        if len(rows) > MAX_NUMBERS:
            raise CampaignError(f"Too many numbers ({len(rows)}; at most {MAX_NUMBERS}).")
        try:
            max_channels, max_attempts = int(max_channels), int(max_attempts)
            calls_per_second = float(calls_per_second)
            retry = retry_after if isinstance(retry_after, dict) else \
                {k: float(retry_after) for k in ("busy", "noanswer", "congestion")}
        except (TypeError, ValueError):
            raise CampaignError("Concurrency, pacing, attempts and retry delay must be numbers.") from None
        if not 1 <= max_channels <= 1000:
            raise CampaignError("Concurrent calls must be between 1 and 1000.")
        if not 0 < calls_per_second <= 100:
            raise CampaignError("Calls per second must be more than 0 and at most 100.")
        if not 1 <= max_attempts <= 20:
            raise CampaignError("Attempts per number must be between 1 and 20.")
        if any(v < 0 for v in retry.values()):
            raise CampaignError("The retry delay cannot be negative.")
        caller_id = (caller_id or "").strip()
        if caller_id and not re.match(r"^\+?[0-9]{1,20}$", caller_id):
            raise CampaignError(f"Caller ID {caller_id!r} must be digits only.")
        calendar = (calendar or "").strip()
        if calendar and calendar not in self.calendars:
            raise CampaignError(f"Unknown calendar {calendar!r}; the calling window must name a calendar "
                                f"({', '.join(self.calendars) or 'none defined'}).")
        if recording not in ("", *RECORD_POLICIES):
            raise CampaignError(f"Recording must be one of {', '.join(RECORD_POLICIES)} (or empty: the queue's), "
                                f"not {recording!r}.")
        if name in self.campaigns or self._exists(name):
            raise CampaignError(f"A campaign named {name!r} already exists.")
        loop = self._loop()
        ring = float(ring_timeout if ring_timeout is not None else self.ring_timeout)
        with session_scope(self.session_factory) as s:
            row = IvrCampaign(name=name, flow=flow, caller_id=caller_id, trunk=trunk or self.trunk or "",
                              max_channels=max_channels, calls_per_second=calls_per_second,
                              max_attempts=max_attempts, retry_after=retry, ring_timeout=ring, amd=bool(amd),
                              calendar=calendar, state="paused" if paused else "running", created_by=author,
                              recording=recording)
            s.add(row)
            for i, r in enumerate(rows):
                r = dict(r)
                number = r.pop("number")
                s.add(IvrCampaignNumber(campaign=row, position=i, number=number, variables=r, state="pending",
                                        attempts=0, last_outcome="", history=[]))
            s.flush()
            camp = self._build(row, self._contacts(row))
        self._start(camp, loop)
        log.info("campaign %s created by %s: %d numbers, flow %s", name, author or "?", len(rows), flow)
        return camp

    def _exists(self, name: str) -> bool:
        with session_scope(self.session_factory) as s:
            return s.query(IvrCampaign.id).filter_by(name=name).first() is not None

    def _loop(self) -> asyncio.AbstractEventLoop:
        loop = self.loop or getattr(self.engine, "_loop", None)
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise CampaignError("The media engine is not running; the campaign cannot start.") from None
        return loop

    # ------------------------------------------------------------ build & run
    @staticmethod
    def _contacts(row: IvrCampaign) -> list[Contact]:
        out = []
        now = utcnow()
        for n in row.numbers:
            c = Contact(n.number, dict(n.variables or {}))
            c.db_id = n.id
            for h in n.history or []:
                c.attempts.append(Attempt(0.0, h.get("outcome", ""), h.get("cause"), h.get("detail", "")))
            if n.state == "done":
                c.state, c.outcome = "done", n.outcome
            elif n.retry_at is not None:
                c.wait = max(0.0, (as_utc(n.retry_at) - now).total_seconds())
            out.append(c)
        return out

    def _build(self, row: IvrCampaign, contacts: list[Contact]) -> Campaign:
        return Campaign(self.engine, row.name, contacts, flow=self._flow_for(row.name, row.flow, row.recording),
                        caller_id=row.caller_id, trunk=row.trunk or None, ring_timeout=row.ring_timeout,
                        max_channels=row.max_channels, calls_per_second=row.calls_per_second,
                        max_attempts=row.max_attempts, retry_after=dict(row.retry_after or {}), detect=row.amd,
                        paused=row.state == "paused", observer=self,
                        calendar=self.calendars.get(row.calendar) if row.calendar else None,
                        start=self.clock() if self.clock is not None else None,
                        announcements=self.announcements)

    def _start(self, camp: Campaign, loop: asyncio.AbstractEventLoop) -> None:
        self.campaigns[camp.name] = camp
        loop.call_soon_threadsafe(self._spawn, camp)

    def _spawn(self, camp: Campaign) -> None:
        self.tasks[camp.name] = asyncio.ensure_future(self._run(camp))

    async def _run(self, camp: Campaign) -> None:
        try:
            await camp.run()
        except Exception:   # logged here: nobody awaits this task; raised on so the task records the failure
            log.exception("campaign %s failed", camp.name)
            raise

    async def restore(self) -> list[str]:
        """Reload campaigns stored as running or paused (call inside the engine's loop); returns their names."""
        self.loop = asyncio.get_running_loop()
        names = []
        with session_scope(self.session_factory) as s:
            for row in s.query(IvrCampaign).filter(IvrCampaign.state.in_(("running", "paused"))) \
                    .order_by(IvrCampaign.id):
                if row.name in self.campaigns:
                    continue
                cut = s.query(IvrCampaignNumber).filter_by(campaign_id=row.id, state="dialing").all()
                for n in cut:          # dialled when the server stopped: final, never dialled twice
                    n.state, n.outcome, n.last_outcome = "done", "interrupted", "interrupted"
                    n.history = list(n.history or []) + [{"outcome": "interrupted", "cause": None,
                                                          "detail": "server stopped during the call",
                                                          "at": utcnow().isoformat()}]
                s.flush()
                camp = self._build(row, self._contacts(row))
                left = sum(1 for c in camp.contacts if c.state != "done")
                log.info("campaign %s restored (%s): %d numbers left of %d, %d interrupted", row.name, row.state,
                         left, len(camp.contacts), len(cut))
                names.append(row.name)
                self._start(camp, self.loop)
        return names

    def stop_all(self) -> None:
        """Stop dialling every campaign, keeping its stored state (used on shutdown: they resume next start)."""
        for camp in self.campaigns.values():
            if camp.state in ("running", "paused", "idle"):
                camp.observer = None         # what the database says stays: running/paused
                camp.state = "stopped"

    # ------------------------------------------------------------ observer (Campaign calls these)
    @staticmethod
    def _row(s: Session, c: Contact) -> IvrCampaignNumber:
        n = s.get(IvrCampaignNumber, c.db_id) if c.db_id is not None else None
        if n is None:
            raise LookupError(f"campaign number {c.number} has no ivr_campaign_numbers row (id {c.db_id})")
        return n

    def on_dial(self, camp: Campaign, c: Contact) -> None:
        """A number is about to be dialled: `dialing`, one attempt more (before the call goes out)."""
        with session_scope(self.session_factory) as s:
            n = self._row(s, c)
            n.state, n.attempts, n.retry_at = "dialing", c.tries + 1, None

    def on_attempt(self, camp: Campaign, c: Contact, att: Attempt | None) -> None:
        """An attempt ended (None: screened out, never dialled): its outcome, history and retry time."""
        with session_scope(self.session_factory) as s:
            n = self._row(s, c)
            n.state, n.outcome, n.attempts = c.state, c.outcome, c.tries
            if att is None:          # screened out (do-not-call / blacklist): never dialled
                n.last_outcome = c.outcome or ""
                return
            n.last_outcome, n.last_cause = att.outcome, att.cause
            n.history = list(n.history or []) + [{"outcome": att.outcome, "cause": att.cause, "detail": att.detail,
                                                  "seconds": round(att.ended - att.at, 2),
                                                  "at": utcnow().isoformat()}]
            n.retry_at = (utcnow() + dt.timedelta(seconds=att.retry_at - camp.engine.now)
                          if att.retry_at is not None else None)

    def on_state(self, camp: Campaign) -> None:
        """The campaign's state changed (running, paused, stopped, done)."""
        with session_scope(self.session_factory) as s:
            row = s.query(IvrCampaign).filter_by(name=camp.name).one_or_none()
            if row is None:
                return
            row.state = camp.state
            if camp.state in ("stopped", "done"):
                row.finished_at = utcnow()

    # ------------------------------------------------------------ reading back
    def stored(self) -> dict:
        """name -> counters from the database for every stored campaign (state, total, done, per outcome)."""
        out: dict[str, dict[str, Any]] = {}
        with session_scope(self.session_factory) as s:
            for row in s.query(IvrCampaign).order_by(IvrCampaign.name):
                out[row.name] = {"state": row.state, "flow": row.flow, "total": 0, "done": 0, "pending": 0,
                                 "dialing": 0, "dials": 0}
            q = s.query(IvrCampaign.name, IvrCampaignNumber.state, IvrCampaignNumber.outcome,
                        func.count(IvrCampaignNumber.id), func.sum(IvrCampaignNumber.attempts)) \
                .join(IvrCampaignNumber).group_by(IvrCampaign.name, IvrCampaignNumber.state,
                                                  IvrCampaignNumber.outcome)
            for name, state, outcome, count, attempts in q:
                p = out[name]
                p["total"] += count
                p[state] = p.get(state, 0) + count
                p["dials"] += int(attempts or 0)
                if outcome:
                    p[outcome] = p.get(outcome, 0) + count
        return out

    def numbers(self, name: str) -> list[dict] | None:
        """The stored numbers of one campaign (None if there is no such campaign); times are aware UTC."""
        with session_scope(self.session_factory) as s:
            row = s.query(IvrCampaign).filter_by(name=name).one_or_none()
            if row is None:
                return None
            return [{"number": n.number, "variables": dict(n.variables or {}), "state": n.state,
                     "outcome": n.outcome, "attempts": n.attempts, "last_outcome": n.last_outcome,
                     "last_cause": n.last_cause,
                     "retry_at": None if n.retry_at is None else as_utc(n.retry_at), "history": list(n.history or [])}
                    for n in row.numbers]
