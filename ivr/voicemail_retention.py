"""Voicemail retention: delete messages by age and keep their files under a disk quota, oldest first.

Judgement (documented for operators): a message nobody has heard yet (folder "new") is a caller's request
that may still be waiting for an answer, so it is never deleted before it is `unheard_days` old — not by the
age rule and not by the quota (a quota that cannot be met without it is left exceeded and logged). Heard
(saved) messages follow the age rule; the quota deletes heard messages first, then unheard ones past the
grace period, each oldest first. The file goes with its row; a file already gone is not an error.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.data.timeutil import as_utc, utcnow

from .models import IvrVoicemailMessage

log = logging.getLogger("trunkline.retention")


@dataclass
class VoicemailRetention:
    """Age in days (0 = keep forever), quota in bytes (0 = none), unheard grace in days (never deleted
    younger than this while unheard)."""
    days: float = 0.0
    quota_bytes: int = 0
    unheard_days: float = 30.0

    @property
    def active(self) -> bool:
        """True when any rule is set."""
        return bool(self.days or self.quota_bytes)


@dataclass
class VoicemailRetentionResult:
    """What one pass did: messages deleted, bytes freed, bytes still over the quota (unheard kept)."""
    messages: int = 0
    bytes_freed: int = 0
    over_quota: int = 0


def _size(m: IvrVoicemailMessage) -> int:
    try:
        return os.path.getsize(m.path)
    except OSError:
        return 0


def apply_voicemail_retention(factory: Callable[[], Session], policy: VoicemailRetention,
                              now: dt.datetime | None = None) -> VoicemailRetentionResult:
    """One pass: messages past the age (unheard ones only past the grace too), then the quota."""
    now = as_utc(now or utcnow())
    grace_cut = now - dt.timedelta(days=policy.unheard_days)
    result = VoicemailRetentionResult()

    def protected(m: IvrVoicemailMessage) -> bool:
        return m.folder == "new" and as_utc(m.created_at) > grace_cut

    def drop(s: Session, m: IvrVoicemailMessage, size: int) -> None:
        try:
            os.remove(m.path)
        except FileNotFoundError:
            pass
        s.delete(m)
        result.messages += 1
        result.bytes_freed += size

    with session_scope(factory) as s:
        msgs = list(s.scalars(select(IvrVoicemailMessage).order_by(IvrVoicemailMessage.created_at,
                                                                   IvrVoicemailMessage.id)))
        sizes = {m.id: _size(m) for m in msgs}
        kept = []
        age_cut = now - dt.timedelta(days=policy.days) if policy.days else None
        for m in msgs:
            if age_cut is not None and as_utc(m.created_at) < age_cut and not protected(m):
                drop(s, m, sizes[m.id])
            else:
                kept.append(m)
        if policy.quota_bytes:
            total = sum(sizes[m.id] for m in kept)
            order = [m for m in kept if m.folder != "new"] + [m for m in kept if m.folder == "new"]
            for m in order:
                if total <= policy.quota_bytes:
                    break
                if not protected(m):
                    drop(s, m, sizes[m.id])
                    total -= sizes[m.id]
            result.over_quota = max(0, total - policy.quota_bytes)
    return result


async def voicemail_retention_loop(factory: Callable[[], Session], policy: VoicemailRetention,
                                   interval: float) -> None:
    """Apply `policy` every `interval` seconds (wall clock) until cancelled; a failed pass is logged."""
    while True:
        try:
            r = await asyncio.to_thread(apply_voicemail_retention, factory, policy)
            if r.messages:
                log.info("retention: deleted %d voicemail messages (%d bytes)", r.messages, r.bytes_freed)
            if r.over_quota:
                log.warning("retention: voicemail %d bytes over its quota: only unheard messages younger than "
                            "%g days are left to delete, and they are kept", r.over_quota, policy.unheard_days)
        except Exception:
            log.exception("voicemail retention pass failed")
        await asyncio.sleep(interval)
