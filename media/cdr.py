"""Call detail records from ended calls, written through the durable (spooling) writer."""
from __future__ import annotations

import datetime as dt
import time
import unicodedata
from typing import Any, Protocol

from sqlalchemy import String

from trunkline.data.models import Cdr
from trunkline.media.call import Call

#: the Cdr text columns and their length bounds (None: unbounded Text), read from the model
TEXT_LIMITS: dict[str, int | None] = {c.name: c.type.length for c in Cdr.__table__.columns
                                      if isinstance(c.type, String)}


def clean_text(value: object, limit: int | None) -> str:
    """`value` as text the database always accepts: control characters (NUL included) and lone
    surrogates removed, cut to `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs"))
    return text if limit is None else text[:limit]


def sanitise(row: dict[str, Any]) -> dict[str, Any]:
    """The row with every text column cleaned and bounded to its Cdr column size (None stays None)."""
    return {k: clean_text(v, TEXT_LIMITS[k]) if k in TEXT_LIMITS and v is not None else v
            for k, v in row.items()}


class CdrWriter(Protocol):
    """Where CDR rows go (trunkline.data.spool.DurableWriter)."""

    def write_cdr(self, **row: Any) -> object:
        """Store one CDR row (never blocks the tick)."""
        ...


def cdr_row(call: Call, server: str = "", epoch: float | None = None) -> dict[str, Any]:
    """The Cdr columns for an ended call, text cleaned and bounded to the column sizes; media times are
    placed on the wall clock via `epoch` (s)."""
    epoch = time.time() - call.engine.now if epoch is None else epoch

    def ts(t: float | None) -> dt.datetime | None:
        return None if t is None else dt.datetime.fromtimestamp(epoch + t, dt.timezone.utc)

    rec = call.cdr
    end = call.ended_at if call.ended_at is not None else call.engine.now
    row = {
        "call_id": call.id, "start": ts(call.created_at), "answer": ts(call.answered_at), "end": ts(end),
        "direction": call.direction, "trunk": call.trunk, "channel": call.channel,
        "span": int(call.engine.board.span_of[call.channel]),
        "caller": call.caller_id or "", "called": call.called or "",
        "queue": rec.queue, "agent": rec.agent,
        "outcome": rec.outcome or ("answered" if call.answered_at is not None else "unanswered"),
        "hangup_cause": call.cause, "duration": round(end - call.created_at, 3),
        "billsec": round(end - call.answered_at, 3) if call.answered_at is not None else 0.0,
        "server": server,
        "wait": rec.wait, "talk": rec.talk,
        "ivr_path": rec.ivr_path, "digits": rec.digits, "survey_score": rec.survey_score,
        "recording_policy": rec.recording_policy,
        "correlation_id": rec.correlation_id, "peer_node": rec.peer_node,
    }
    return sanitise(row)  # caller, called, trunk... come from the network: never let the database refuse them


class CdrRecorder:
    """Engine call-end hook: one CDR per call into the DurableWriter (never blocks the tick)."""

    def __init__(self, writer: CdrWriter, server: str = "") -> None:
        self.writer = writer
        self.server = server
        self.epoch: float | None = None

    def __call__(self, call: Call) -> None:
        """Write the CDR of an ended call."""
        if self.epoch is None:
            self.epoch = time.time() - call.engine.now
        self.writer.write_cdr(**cdr_row(call, self.server, self.epoch))
