"""Call firewall: caller numbers or prefixes rejected or sent to a given flow, checked before answer.

The server calls ``ivr.blacklist.check(caller) -> Action`` before routing a call.
Rules live in memory (fast, no DB access on the call path) and in the
``ivr_blacklist`` table; `configure()` loads them, `add()`/`remove()` change both.
An exact rule beats a prefix rule; among prefixes the longest wins.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from trunkline.data import numbers
from trunkline.data.db import session_scope

from .models import IvrBlacklistEntry

ALLOW, REJECT, FLOW = "allow", "reject", "flow"
MATCHES = ("exact", "prefix", "anonymous")


@dataclass(frozen=True)
class Action:
    """What to do with a call: kind "allow" | "reject" (with Q.850 cause) | "flow" (run `flow`)."""
    kind: str
    flow: str = ""
    cause: int = 0
    pattern: str = ""
    note: str = ""

    @property
    def allowed(self) -> bool:
        """True when the call proceeds normally."""
        return self.kind == ALLOW


ALLOWED = Action(ALLOW)


def normalize(number: str | None) -> str:
    """A caller number in canonical form (trunkline.data.numbers: +86 / 0086 / leading 0 folded);
    '' for anonymous/withheld."""
    return numbers.canonical(number)


def _key(pattern: str, match: str) -> str:
    """The canonical pattern of a rule: a number (exact), a number prefix (prefix) or "" (anonymous)."""
    if match == "anonymous":
        return ""
    return numbers.canonical_prefix(pattern) if match == "prefix" else normalize(pattern)


class Firewall:
    """An in-memory rule set, optionally persisted to the ivr_blacklist table."""

    def __init__(self, session_factory: Callable[[], Session] | None = None) -> None:
        self.session_factory = session_factory
        self._lock = threading.Lock()
        self._exact: dict[str, Action] = {}
        self._prefix: dict[str, Action] = {}
        self._anonymous: Action | None = None
        if session_factory is not None:
            self.reload()

    def _validate(self, pattern: str, match: str, action: str, flow: str, cause: int) -> None:
        if match not in MATCHES:
            raise ValueError(f"blacklist: match must be one of {MATCHES}, not {match!r}")
        if action not in (REJECT, FLOW):
            raise ValueError(f"blacklist: action must be 'reject' or 'flow', not {action!r}")
        if action == FLOW and not flow:
            raise ValueError("blacklist: action 'flow' needs a flow name")
        if match != "anonymous":
            written = pattern.strip().replace(" ", "").replace("-", "")
            if not _key(pattern, match) or not written.lstrip("+").isdigit() or written.count("+") > 1:
                raise ValueError(f"blacklist: pattern {pattern!r} must be digits (optionally a leading +)")
        if not 1 <= int(cause) <= 127:
            raise ValueError(f"blacklist: Q.850 cause {cause} out of range 1..127")

    def _set(self, pattern: str, match: str, act: Action) -> None:
        if match == "exact":
            self._exact[normalize(pattern)] = act
        elif match == "prefix":
            self._prefix[numbers.canonical_prefix(pattern)] = act
        else:
            self._anonymous = act

    def add(self, pattern: str, match: str = "exact", action: str = REJECT, flow: str = "", cause: int = 21,
            note: str = "") -> Action:
        """Add or replace a rule; stored in the DB when the firewall has one."""
        self._validate(pattern, match, action, flow, cause)
        pattern = _key(pattern, match)
        act = Action(action, flow if action == FLOW else "", int(cause) if action == REJECT else 0, pattern, note)
        if self.session_factory is not None:
            with session_scope(self.session_factory) as s:
                row = s.query(IvrBlacklistEntry).filter_by(pattern=pattern, match=match).one_or_none()
                if row is None:
                    row = IvrBlacklistEntry(pattern=pattern, match=match)
                    s.add(row)
                row.action, row.flow, row.cause, row.note, row.enabled = action, act.flow, int(cause), note, True
        with self._lock:
            self._set(pattern, match, act)
        return act

    def remove(self, pattern: str, match: str = "exact") -> bool:
        """Delete a rule; returns True if one was there."""
        pattern = _key(pattern, match)
        if self.session_factory is not None:
            with session_scope(self.session_factory) as s:
                s.query(IvrBlacklistEntry).filter_by(pattern=pattern, match=match).delete()
        with self._lock:
            if match == "anonymous":
                had, self._anonymous = self._anonymous is not None, None
                return had
            table = self._exact if match == "exact" else self._prefix
            return table.pop(pattern, None) is not None

    def reload(self) -> None:
        """Replace the in-memory rules with the enabled rows of the ivr_blacklist table."""
        if self.session_factory is None:
            raise ValueError("blacklist: this firewall has no database to reload from")
        exact: dict[str, Action] = {}
        prefix: dict[str, Action] = {}
        anon: Action | None = None
        with self.session_factory() as s:
            for r in s.query(IvrBlacklistEntry).filter_by(enabled=True):
                act = Action(r.action, r.flow if r.action == FLOW else "",
                             r.cause if r.action == REJECT else 0, r.pattern, r.note)
                if r.match == "exact":          # rows the web admin wrote may hold any written form
                    exact[_key(r.pattern, "exact")] = act
                elif r.match == "prefix":
                    prefix[_key(r.pattern, "prefix")] = act
                else:
                    anon = act
        with self._lock:
            self._exact, self._prefix, self._anonymous = exact, prefix, anon

    def check(self, caller: str | None) -> Action:
        """The action for a caller number: exact rule, else longest prefix rule, else allow."""
        num = normalize(caller)
        with self._lock:
            if not num:
                return self._anonymous or ALLOWED
            hit = self._exact.get(num)
            if hit is not None:
                return hit
            for n in range(len(num), 0, -1):
                hit = self._prefix.get(num[:n])
                if hit is not None:
                    return hit
        return ALLOWED

    def rules(self) -> list[tuple[str, Action]]:
        """All rules as (match, Action) pairs."""
        with self._lock:
            out = [("exact", a) for a in self._exact.values()] + [("prefix", a) for a in self._prefix.values()]
            if self._anonymous:
                out.append(("anonymous", self._anonymous))
        return out


_default = Firewall()


def configure(session_factory: Callable[[], Session]) -> Firewall:
    """Point the process-wide firewall at a database and load its rules."""
    global _default
    _default = Firewall(session_factory)
    return _default


def default() -> Firewall:
    """The process-wide firewall `check()` consults."""
    return _default


def add(pattern: str, match: str = "exact", action: str = REJECT, flow: str = "", cause: int = 21,
        note: str = "") -> Action:
    """Add a rule to the process-wide firewall."""
    return _default.add(pattern, match, action, flow, cause, note)


def remove(pattern: str, match: str = "exact") -> bool:
    """Remove a rule from the process-wide firewall."""
    return _default.remove(pattern, match)


def check(caller: str | None) -> Action:
    """Check a caller number before answer: returns an Action (allow / reject / flow)."""
    return _default.check(caller)
