"""The IVR part of a call record: the path of nodes taken and the digits entered (masked on request).

A `CallTrace` follows a call while its flow runs; it keeps the call's typed record
(``call.cdr.ivr_path`` / ``.digits``, the CDR columns) up to date as nodes are entered.
`save()` stores it in the ``ivr_call_paths`` table keyed by call id (the CDR table joins on call id).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.media.call import Call

from .models import IvrCallPath

log = logging.getLogger(__name__)


def mask(digits: str | None, keep: int = 0) -> str:
    """Digits with all but the last `keep` replaced by '*' (PINs, card numbers)."""
    digits = digits or ""
    if keep <= 0:
        return "*" * len(digits)
    return "*" * max(0, len(digits) - keep) + digits[-keep:]


class CallTrace:
    """Records the IVR path (node, type, media time) and the digits entered per node."""

    def __init__(self, call: Call, flow: str = "", version: int = 0,
                 clock: Callable[[], float] | None = None) -> None:
        self.call = call
        self.flow = flow
        self.version = version
        self.clock: Callable[[], float] = clock or (lambda: 0.0)
        self.path: list[dict[str, Any]] = []
        self.digits: list[dict[str, Any]] = []
        self.outcome = ""
        self.started_at = self.clock()
        self.ended_at: float | None = None
        call.vars.setdefault("ivr_flow", flow)

    def enter(self, node: str, kind: str, flow: str | None = None) -> dict[str, Any]:
        """Record entering a node (media time in seconds)."""
        entry = {"node": node, "type": kind, "t": round(self.clock(), 3)}
        if flow and flow != self.flow:
            entry["flow"] = flow
        self.path.append(entry)
        self.call.cdr.ivr_path = ">".join(p["node"] if "flow" not in p else f"{p['flow']}:{p['node']}"
                                             for p in self.path)
        return entry

    def entered(self, node: str, masked: bool = False, keep: int = 0, value: str = "") -> str:
        """Record digits entered at a node, masked ('*') when the node says so."""
        shown = mask(value, keep) if masked else value
        self.digits.append({"node": node, "digits": shown, "masked": bool(masked)})
        self.call.cdr.digits = ";".join(f"{d['node']}={d['digits']}" for d in self.digits)
        return shown

    def finish(self, outcome: str) -> None:
        """Mark the end of the IVR part of the call with an outcome text."""
        if not self.outcome:
            self.outcome = outcome
        if self.ended_at is None:
            self.ended_at = self.clock()
        self.call.vars["ivr_outcome"] = self.outcome

    def node_names(self) -> list[str]:
        """The node names of the path, in order."""
        return [p["node"] for p in self.path]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record of the trace."""
        return {
            "call_id": str(getattr(self.call, "id", "")), "flow": self.flow, "flow_version": self.version,
            "caller": getattr(self.call, "caller_id", "") or "", "called": getattr(self.call, "called", "") or "",
            "path": list(self.path), "digits": list(self.digits), "outcome": self.outcome,
            "started_at": self.started_at, "ended_at": self.ended_at if self.ended_at is not None else self.clock(),
        }

    def save(self, session_factory: Callable[[], Session] | None) -> bool:
        """Insert or update the ivr_call_paths row for this call; errors are logged, never raised."""
        if session_factory is None:
            return False
        d = self.to_dict()
        try:
            with session_scope(session_factory) as s:
                row = s.query(IvrCallPath).filter_by(call_id=d["call_id"]).one_or_none()
                if row is None:
                    row = IvrCallPath(call_id=d["call_id"])
                    s.add(row)
                for k, v in d.items():
                    if k != "call_id":
                        setattr(row, k, v)
            return True
        except Exception:   # the CDR path must never end a call; the data layer spools CDRs itself
            log.exception("could not store the IVR path of call %s", d["call_id"])
            return False


def cdr_fields(call: Call) -> dict[str, Any]:
    """The CDR columns the IVR fills (trunkline.data.models.Cdr): ivr_path, digits (masked) and survey_score."""
    rec = call.cdr
    return {"ivr_path": rec.ivr_path, "digits": rec.digits, "survey_score": rec.survey_score}


def load(session_factory: Callable[[], Session], call_id: str) -> dict[str, Any] | None:
    """The stored IVR path record of a call as a dict, or None."""
    with session_factory() as s:
        row = s.query(IvrCallPath).filter_by(call_id=str(call_id)).one_or_none()
        if row is None:
            return None
        return {"call_id": row.call_id, "flow": row.flow, "flow_version": row.flow_version, "caller": row.caller,
                "called": row.called, "path": row.path, "digits": row.digits, "outcome": row.outcome,
                "started_at": row.started_at, "ended_at": row.ended_at}
