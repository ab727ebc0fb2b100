"""queue_log like Asterisk app_queue: one row per queue event, also renderable as its text format.

Text format (as app_queue writes it): ``epoch|callid|queue|agent|EVENT|data1|data2|...``.
Data fields by event (same meaning as app_queue):
  ENTERQUEUE       url, callerid
  CONNECT          holdtime, bridged channel, ringtime
  COMPLETECALLER   holdtime, calltime, origposition
  COMPLETEAGENT    holdtime, calltime, origposition
  ABANDON          position, origposition, waittime
  EXITWITHTIMEOUT  position, origposition, waittime
  EXITEMPTY        position, origposition, waittime
  EXITWITHKEY      key, position, origposition, waittime
  TRANSFER         extension, context, holdtime, calltime, origposition
  RINGNOANSWER     ringtime (ms)
  AGENTLOGIN / AGENTLOGOFF   channel / logintime
  PAUSE / UNPAUSE  reason
  CALLBACK         number (ours: caller asked to be called back)
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AcdQueueLog

EVENTS = ("ENTERQUEUE", "CONNECT", "COMPLETECALLER", "COMPLETEAGENT", "ABANDON", "EXITWITHTIMEOUT",
          "EXITEMPTY", "EXITWITHKEY", "TRANSFER", "RINGNOANSWER", "AGENTLOGIN", "AGENTLOGOFF",
          "PAUSE", "UNPAUSE", "JOINEMPTY", "CALLBACK", "ATTENDEDTRANSFER", "BLINDTRANSFER", "OVERFLOW")


def _fmt(v):
    if isinstance(v, float):
        return str(int(round(v)))
    return "" if v is None else str(v)


def log_event(session: Session, time: float, event: str, callid: str = "NONE", queue: str = "NONE",
              agent: str | None = "NONE", *data: Any) -> AcdQueueLog:
    """Add one queue_log row in `session` (committed with the caller's transaction)."""
    if event not in EVENTS:
        raise ValueError(f"unknown queue_log event {event!r}")
    if len(data) > 5:
        raise ValueError("queue_log carries at most 5 data fields")
    vals = [_fmt(d) for d in data] + [""] * (5 - len(data))
    row = AcdQueueLog(time=float(time), callid=callid or "NONE", queue=queue or "NONE",
                      agent=agent or "NONE", event=event, data1=vals[0], data2=vals[1],
                      data3=vals[2], data4=vals[3], data5=vals[4])
    session.add(row)
    if "qlog" in session.info:
        session.info["qlog"].append(row)
    return row


def format_line(row: AcdQueueLog) -> str:
    """The app_queue text line for a queue_log row."""
    data = [row.data1, row.data2, row.data3, row.data4, row.data5]
    while data and data[-1] == "":
        data.pop()
    return "|".join([str(int(row.time)), row.callid, row.queue, row.agent, row.event] + data)


def read_log(session: Session, since_id: int = 0, event: str | None = None) -> list[AcdQueueLog]:
    """queue_log rows after `since_id`, optionally one event type, oldest first."""
    q = select(AcdQueueLog).where(AcdQueueLog.id > since_id).order_by(AcdQueueLog.id)
    if event:
        q = q.where(AcdQueueLog.event == event)
    return list(session.scalars(q))


def export_text(session: Session, path: str) -> int:
    """Write the whole queue_log as app_queue text lines to `path`; returns the line count."""
    rows = read_log(session)
    with open(path, "w") as f:
        for r in rows:
            f.write(format_line(r) + "\n")
    return len(rows)
