"""Recording and CDR retention: delete by age and keep recordings under a disk quota, oldest first;
a recording with an open complaint flag (and the CDR of its call) is never deleted."""
import asyncio
import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.data.models import Cdr, Recording
from trunkline.data.timeutil import as_utc, utcnow

log = logging.getLogger("trunkline.retention")


@dataclass
class RetentionPolicy:
    """Ages in days (0 = keep forever), recordings quota in bytes (0 = no quota)."""
    recording_days: float = 0.0
    cdr_days: float = 0.0
    quota_bytes: int = 0

    @property
    def active(self) -> bool:
        """True when any rule is set."""
        return bool(self.recording_days or self.cdr_days or self.quota_bytes)


@dataclass
class RetentionResult:
    """What one pass deleted: recordings, CDRs, bytes of recording files freed."""
    recordings: int = 0
    cdrs: int = 0
    bytes_freed: int = 0


def _size(rec: Recording) -> int:
    try:
        return os.path.getsize(rec.path)
    except OSError:
        return rec.bytes or 0


def _drop(s: Session, recs: list[Recording], result: RetentionResult) -> None:
    for rec in recs:
        result.bytes_freed += _size(rec)
        try:
            os.remove(rec.path)
        except FileNotFoundError:
            pass
        s.delete(rec)
        result.recordings += 1


def apply_retention(factory: Callable[[], Session], policy: RetentionPolicy,
                    now: dt.datetime | None = None) -> RetentionResult:
    """One retention pass: old recordings, then the quota (oldest first), then old CDRs."""
    now = as_utc(now or utcnow())
    result = RetentionResult()
    deletable = select(Recording).where(Recording.complaint_open.is_(False)).order_by(Recording.started_at,
                                                                                      Recording.id)
    with session_scope(factory) as s:
        if policy.recording_days:
            cutoff = now - dt.timedelta(days=policy.recording_days)
            _drop(s, list(s.scalars(deletable.where(Recording.started_at < cutoff))), result)
            s.flush()
        if policy.quota_bytes:
            recs = list(s.scalars(select(Recording).order_by(Recording.started_at, Recording.id)))
            total = sum(_size(r) for r in recs)
            victims = []
            for rec in recs:
                if total <= policy.quota_bytes:
                    break
                if not rec.complaint_open:
                    victims.append(rec)
                    total -= _size(rec)
            _drop(s, victims, result)
            s.flush()
        if policy.cdr_days:
            cutoff = now - dt.timedelta(days=policy.cdr_days)
            flagged = select(Recording.call_id).where(Recording.complaint_open.is_(True),
                                                      Recording.call_id.is_not(None))
            res = s.execute(delete(Cdr).where(Cdr.start < cutoff, Cdr.call_id.not_in(flagged)))
            result.cdrs = int(getattr(res, "rowcount", 0) or 0)
    return result


async def retention_loop(factory: Callable[[], Session], policy: RetentionPolicy, interval: float) -> None:
    """Apply `policy` every `interval` seconds (wall clock) until cancelled; a failed pass is logged."""
    while True:
        try:
            r = await asyncio.to_thread(apply_retention, factory, policy)
            if r.recordings or r.cdrs:
                log.info("retention: deleted %d recordings (%d bytes) and %d CDRs", r.recordings, r.bytes_freed,
                         r.cdrs)
        except Exception:
            log.exception("retention pass failed")
        await asyncio.sleep(interval)
