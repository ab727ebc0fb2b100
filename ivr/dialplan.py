"""The outbound dial plan (toll-fraud guard): every outbound dial the server makes (agents' three-way /
consult numbers, supervisors listening from a number, campaigns, flows' dial nodes, ACD callbacks, the
API) reaches `Engine.dial`, which asks the `DialPlan` installed as `engine.dial_guard`:

1. the number is classified (China numbering; `classify`): emergency 110/119/120/122/112; service
   95xxx(x), 96xxx, 10xxx/11xxx/12xxx carrier and public service numbers, 400/800; mobile 1[3-9]
   + 9 digits; national 0 + area code + number; local 7-8 digits not starting 0/1; internal 1-6 digit
   extensions; international 00... or +CC (+86 is domestic); premium: 1259x voice-information services,
   160/168 information lines, and IP long-distance prefixes (17951, 17911, 17909, 17908, 12593) that
   reach abroad at the caller's cost; other: anything else.
2. dial rules (table dial_rules: role or "*", pattern and/or class, allow|deny, lowest priority first)
   decide; with none matching, the shipped default applies: every class allowed except international,
   premium and other (`DEFAULT_DENIED`).
3. per-account caps (table dial_caps: per hour / per day per account of a role; `DEFAULT_CAPS` shipped).
4. outbound routes (table outbound_routes: pattern -> trunk type, strip N digits, add a prefix, caller
   ID); no routes configured: any trunk, number unchanged; routes configured but none matches: refused.

A refused dial raises DialRefused (cause 52 barred, or 3 no route) at once with the reason; it gets a CDR
(outcome "refused", the cause) and an audit row. International and premium destinations, allowed or
not, raise an alert: a warning log line, an audit row (dial_alert) and an entry in the admin error log.
Patterns use the dial-plan syntax of Asterisk: a literal number, or `_` then X (0-9), Z (1-9), N (2-9),
[1-5,7] sets, `.` (one or more digits more) and `!` (zero or more)."""
from __future__ import annotations

import collections
import datetime as dt
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.data.models import AuditLog, ErrorLog
from trunkline.ivr.dialplan_models import DialCap, DialRule, OutboundRoute
from trunkline.media.cdr import CdrWriter, sanitise
from trunkline.media.dialguard import CAUSE_BARRED, DialOrigin, DialRefused

log = logging.getLogger("trunkline.dialplan")

ROLES = ("agent", "supervisor", "campaign", "flow", "acd", "system")
CLASSES = ("emergency", "service", "internal", "local", "mobile", "national", "international", "premium",
           "other")
#: destination classes refused unless a rule allows them
DEFAULT_DENIED = frozenset({"international", "premium", "other"})
#: classes that raise an alert whenever dialled (allowed or refused)
ALERT_CLASSES = frozenset({"international", "premium"})
#: shipped caps per account (per hour, per day) when the dial_caps table has no row for the role
DEFAULT_CAPS: dict[str, tuple[int, int]] = {"agent": (60, 400), "supervisor": (60, 400)}
CAUSE_NO_ROUTE = 3
MAX_NUMBER = 32
#: dial times kept per account (a day's worth up to this many; caps above it are not enforced exactly)
MAX_TRACKED = 20000

_CLASS_RES: list[tuple[str, re.Pattern[str]]] = [(c, re.compile(r)) for c, r in (
    ("international", r"00[1-9]\d{2,20}"),
    ("emergency", r"11[029]|12[02]"),
    ("premium", r"1259\d{0,12}|16[08]\d{0,9}|(?:17951|17911|17909|17908|12593)\d{1,20}"),
    ("mobile", r"1[3-9]\d{9}"),
    ("service", r"9[56]\d{3,6}|1[0-2]\d{3}|[48]00\d{7}"),
    ("national", r"0[1-9]\d{8,10}"),
    ("local", r"[2-9]\d{6,7}"),
    ("internal", r"[0-9*#]{1,6}"),
)]


def normalise(number: str) -> str:
    """The dialled digits: spaces, dashes, dots and brackets dropped; +86 becomes domestic (0 + area code
    or the mobile number); another +CC becomes 00CC; a sip: URI gives its user part."""
    n = str(number).strip()
    if n.lower().startswith("sip:"):
        n = n[4:].split("@", 1)[0]
    n = re.sub(r"[\s\-().]", "", n)
    if n.startswith("+86"):
        rest = n[3:]
        return rest if re.fullmatch(r"1[3-9]\d{9}", rest) else "0" + rest.lstrip("0")
    if n.startswith("+"):
        return "00" + n[1:]
    return n


def classify(number: str) -> str:
    """The destination class of a normalised number (see the module text): one of CLASSES."""
    for cls, rx in _CLASS_RES:
        if rx.fullmatch(number):
            return cls
    return "other"


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """An Asterisk-style dial pattern as a regular expression; ValueError naming what is wrong."""
    p = pattern.strip()
    if not p or len(p) > 64:
        raise ValueError("a pattern is 1 to 64 characters")
    if not p.startswith("_"):
        if not re.fullmatch(r"\+?[0-9*#]+", p):
            raise ValueError("a literal number has digits, * and # only (start patterns with _)")
        return re.compile(re.escape(p))
    out, i, body = [], 0, p[1:]
    while i < len(body):
        c = body[i].upper()
        if c.isdigit() or c in "*#+":
            out.append(re.escape(c))
        elif c in "XZN":
            out.append({"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}[c])
        elif c == "[":
            j = body.find("]", i)
            inner = body[i + 1:j] if j > i else ""
            if j < 0 or not re.fullmatch(r"[0-9\-,]+", inner):
                raise ValueError("a set is [digits], e.g. [1-5,7]")
            out.append("[" + inner.replace(",", "") + "]")
            i = j
        elif c == "." and i == len(body) - 1:
            out.append("[0-9*#]+")
        elif c == "!" and i == len(body) - 1:
            out.append("[0-9*#]*")
        else:
            raise ValueError(f"{body[i]!r} is not allowed in a pattern (X Z N digits [..] and a final . or !)")
        i += 1
    return re.compile("".join(out))


@dataclass(frozen=True)
class Route:
    """A compiled outbound route."""
    name: str
    rx: re.Pattern[str]
    trunk: str
    strip: int
    prefix: str
    caller_id: str


@dataclass(frozen=True)
class Rule:
    """A compiled dial rule."""
    name: str
    role: str
    rx: re.Pattern[str] | None
    dest_class: str
    allow: bool

    def matches(self, number: str, cls: str, role: str) -> bool:
        """True when this rule speaks for (number, class, role)."""
        return (self.role in ("*", role) and (self.rx is None or self.rx.fullmatch(number) is not None)
                and (not self.dest_class or self.dest_class == cls))


class Alerts:
    """Alerts and refusals into the audit and error logs, written by one thread off the engine loop
    (bounded queue: when the database stalls, the oldest news is only logged)."""

    def __init__(self, factory: Callable[[], Session] | None, limit: int = 1000) -> None:
        self.factory = factory
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=100)
        self._q: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=limit)
        self._thread: threading.Thread | None = None

    def put(self, action: str, origin: DialOrigin, number: str, detail: str, error: bool) -> None:
        """Queue one audit row (and an admin error-log entry when `error`); never blocks."""
        item = {"action": action, "username": origin.account or origin.role, "target": number[:255],
                "detail": f"{origin.role}: {detail}", "error": error, "at": time.time()}
        self.recent.append(item)
        if self.factory is None:
            return
        try:
            self._q.put_nowait(item)
        except queue.Full:
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._drain, name="dialplan-alerts", daemon=True)
            self._thread.start()

    def _drain(self) -> None:
        assert self.factory is not None
        while True:
            try:
                item = self._q.get(timeout=5.0)
            except queue.Empty:
                return
            try:
                with session_scope(self.factory) as s:
                    s.add(AuditLog(username=item["username"], ip="", action=item["action"], target=item["target"],
                                   detail=item["detail"]))
                    if item["error"]:
                        s.add(ErrorLog(source="dialplan", level="warning",
                                       message=f"{item['action']} {item['target']}: {item['detail']}"))
            except Exception:   # the database is down: the log line below is what remains
                log.exception("dial plan alert not stored: %s", item)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until queued alerts are stored (tests, shutdown)."""
        end = time.monotonic() + timeout
        while not self._q.empty() and time.monotonic() < end:
            time.sleep(0.01)
        time.sleep(0.05)


class DialPlan:
    """The dial plan over the dial_rules / dial_caps / outbound_routes tables; install as engine.dial_guard.
    `clock()` is seconds (media time in the server) for the caps; `writer` gets a CDR per refused dial."""

    def __init__(self, factory: Callable[[], Session] | None = None, writer: CdrWriter | None = None,
                 clock: Callable[[], float] = time.monotonic, server: str = "") -> None:
        self.factory = factory
        self.writer = writer
        self.clock = clock
        self.server = server
        self.alerts = Alerts(factory)
        self.rules: tuple[Rule, ...] = ()
        self.routes: tuple[Route, ...] = ()
        self.caps: dict[tuple[str, str], tuple[int, int]] = {}
        self.problems: list[str] = []
        self._dials: dict[tuple[str, str], collections.deque[float]] = {}
        self._lock = threading.Lock()
        self.stats = {"allowed": 0, "refused": 0, "alerts": 0}

    def reload(self) -> DialPlan:
        """Read the tables again (at start and after every admin change); a bad stored row is skipped
        and named in `problems`."""
        if self.factory is None:
            return self
        rules, routes, caps, problems = [], [], {}, []
        with self.factory() as s:
            for r in s.scalars(select(DialRule).where(DialRule.enabled.is_(True))
                               .order_by(DialRule.priority, DialRule.name)):
                try:
                    rx = compile_pattern(r.pattern) if r.pattern.strip() else None
                except ValueError as exc:
                    problems.append(f"dial rule {r.name}: {exc}")
                    continue
                rules.append(Rule(r.name, r.role or "*", rx, r.dest_class or "", r.action == "allow"))
            for o in s.scalars(select(OutboundRoute).where(OutboundRoute.enabled.is_(True))
                               .order_by(OutboundRoute.priority, OutboundRoute.name)):
                try:
                    routes.append(Route(o.name, compile_pattern(o.pattern), o.trunk or "", max(0, o.strip or 0),
                                        o.prefix or "", o.caller_id or ""))
                except ValueError as exc:
                    problems.append(f"outbound route {o.name}: {exc}")
            for c in s.scalars(select(DialCap)):
                caps[(c.role, c.account or "")] = (max(0, c.per_hour or 0), max(0, c.per_day or 0))
        with self._lock:
            self.rules, self.routes, self.caps, self.problems = tuple(rules), tuple(routes), caps, problems
        for p in problems:
            log.warning("%s", p)
        return self

    # ------------------------------------------------------------ the decision
    def allowed(self, number: str, role: str) -> tuple[bool, str, str]:
        """(allowed, destination class, why) for a normalised number dialled by `role`."""
        cls = classify(number)
        for rule in self.rules:
            if rule.matches(number, cls, role):
                return rule.allow, cls, f"dial rule {rule.name}"
        denied = cls in DEFAULT_DENIED
        return not denied, cls, f"{cls} numbers are {'denied' if denied else 'allowed'} by default"

    def cap_of(self, origin: DialOrigin) -> tuple[int, int]:
        """(per hour, per day) dials allowed for the origin's account (0 = no limit)."""
        caps = self.caps
        return caps.get((origin.role, origin.account)) or caps.get((origin.role, "")) or \
            DEFAULT_CAPS.get(origin.role, (0, 0))

    def route(self, number: str) -> tuple[Route | None, str]:
        """(the route a normalised number takes, the number as sent); (None, number) without routes."""
        for r in self.routes:
            if r.rx.fullmatch(number):
                return r, r.prefix + number[r.strip:]
        return None, number

    def __call__(self, number: str, caller_id: str, trunk: str | None,
                 origin: DialOrigin) -> tuple[str, str, str | None]:
        """The engine's dial guard: (number to send, caller ID, trunk) or DialRefused with the reason."""
        n = normalise(number)
        if len(n) > MAX_NUMBER or not n:
            self._refuse(number, caller_id, origin, "other", "not a telephone number", CAUSE_BARRED)
        ok, cls, why = self.allowed(n, origin.role)
        if cls in ALERT_CLASSES:
            self.stats["alerts"] += 1
            log.warning("dial plan alert: %s %s dials %s number %s (%s)", origin.role, origin.account, cls, n,
                        "allowed" if ok else "refused")
            self.alerts.put("dial_alert", origin, n, f"{cls} number, {'allowed' if ok else 'refused'} ({why})",
                            error=True)
        if not ok:
            self._refuse(number, caller_id, origin, cls, f"{origin.role} may not dial {cls} number {n} ({why})",
                         CAUSE_BARRED)
        per_hour, per_day = self.cap_of(origin)
        key = (origin.role, origin.account)
        now = self.clock()
        with self._lock:
            times = self._dials.get(key)
            if times is not None:
                while times and times[0] <= now - 86400.0:
                    times.popleft()
            recent = sum(1 for t in times if t > now - 3600.0) if times else 0
            over = (f"{per_hour} calls per hour" if per_hour and recent >= per_hour else
                    f"{per_day} calls per day" if per_day and times is not None and len(times) >= per_day else "")
        if over:
            self._refuse(number, caller_id, origin, cls,
                         f"{origin.role} {origin.account} reached the cap of {over}", CAUSE_BARRED)
        r, out = self.route(n)
        if r is None and self.routes:
            self._refuse(number, caller_id, origin, cls, f"no outbound route for {n}", CAUSE_NO_ROUTE)
        with self._lock:
            times = self._dials.setdefault(key, collections.deque(maxlen=MAX_TRACKED))
            times.append(now)
        self.stats["allowed"] += 1
        if r is None:
            return number, caller_id, trunk
        return out, (r.caller_id or caller_id), (r.trunk or trunk)

    def _refuse(self, number: str, caller_id: str, origin: DialOrigin, cls: str, reason: str, cause: int) -> None:
        self.stats["refused"] += 1
        log.warning("dial refused: %s", reason)
        self.alerts.put("dial_refused", origin, number, reason, error=False)
        if self.writer is not None:
            now = dt.datetime.now(dt.timezone.utc)
            self.writer.write_cdr(**sanitise({
                "call_id": f"refused-{uuid.uuid4().hex[:16]}", "start": now, "answer": None, "end": now,
                "direction": "out", "trunk": "", "channel": None, "span": None, "caller": caller_id or "",
                "called": str(number), "queue": None,
                "agent": origin.account if origin.role in ("agent", "supervisor") else None,
                "outcome": "refused", "hangup_cause": cause, "duration": 0.0, "billsec": 0.0,
                "server": self.server, "wait": None, "talk": None, "ivr_path": f"dialplan: {reason}"[:500],
                "digits": "", "survey_score": None}))
        raise DialRefused(reason, cause)


def install(engine: Any, factory: Callable[[], Session] | None, writer: CdrWriter | None,
            server: str = "") -> DialPlan:
    """A DialPlan over the tables, caps counted in the engine's media time, made the engine's dial guard."""
    plan = DialPlan(factory, writer, clock=lambda: float(engine.now), server=server).reload()
    engine.dial_guard = plan
    return plan
