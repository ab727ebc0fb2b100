"""What flows run against: prompts, database, calendars, lookups, voicemail, the ACD, clock, directories.

The ACD sits above the IVR: the server passes it in as ``Services(acd=...)``, and the IVR only
knows it through `CallQueue` (what it calls) and `QueueOutcome` (what it reads of the result).
"""
from __future__ import annotations

import datetime as _dt
import os
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from trunkline.fax.service import FaxStore
from trunkline.media.call import Call

from .calendar import Calendar
from .lookup import Lookup
from .prompts import PromptLibrary
from .recpolicy import CallRecordings
from .voicemail import Voicemail

if TYPE_CHECKING:                      # the registry puts itself here; it builds on this module
    from .flows import FlowRegistry


class QueueOutcome(Protocol):
    """How a queue transfer ended, as far as the IVR reads it (the ACD's QueueResult)."""

    @property
    def outcome(self) -> str:
        """completed | abandoned | timeout | empty | voicemail | callback | overflow | transferred | ..."""

    @property
    def agent(self) -> str | None:
        """The agent who took the call, if one did."""

    @property
    def ended_by(self) -> str | None:
        """Who ended the conversation ("agent", "caller", ...), if it happened."""


class CallQueue(Protocol):
    """What the IVR needs of the ACD (trunkline.acd.service.ACD, passed in at wiring time)."""

    async def enqueue(self, call: Call, queue: str, /, data: dict[str, Any] | None = None,
                      priority: int = 0) -> QueueOutcome:
        """Queue `call` until an agent takes it (then until the call ends) or it leaves."""


def recording_dir(base: str, call: Call) -> str:
    """A per-call directory for recordings under base."""
    d = os.path.join(base, str(getattr(call, "id", "call")))
    os.makedirs(d, exist_ok=True)
    return d


@dataclass
class Services:
    """What flows run against: prompts, database, calendars, lookups, voicemail, clock, directories."""
    prompts: PromptLibrary | None = None
    session_factory: Callable[[], Session] | None = None
    calendars: Mapping[str, Calendar] = field(default_factory=dict)   # ivr.context.DbCalendars in the server
    lookups: Mapping[str, Lookup] = field(default_factory=dict)       # ivr.context.DbLookups in the server
    voicemail: Voicemail | None = None
    acd: CallQueue | None = None           # the ACD: enqueue(call, queue, data=, priority=)
    clock: Callable[[], _dt.datetime] | None = None   # wall clock for calendars (aware datetime); default now
    data_dir: str = "var"
    registry: FlowRegistry | None = None
    fax_store: FaxStore | None = None      # received/sent faxes get a `faxes` row
    queues: Collection[str] | None = None  # queue names flows may transfer to (None: not checked)
    sms: Any = None                        # the SMS service (drivers.serial.sms_service.SmsService) or None
    mail: Any = None                       # the e-mail outbox or None
    recordings: CallRecordings | None = None   # the recording policy (ivr.recpolicy), shared with the ACD

    def now(self) -> _dt.datetime:
        """The wall-clock datetime calendars and say-time use."""
        return self.clock() if self.clock else _dt.datetime.now(_dt.timezone.utc).astimezone()

    def new_recording_path(self, call: Call, node: str) -> str:
        """A fresh WAV path for a recording made at a node."""
        d = recording_dir(os.path.join(self.data_dir, "recordings"), call)
        return os.path.join(d, f"{node}-{uuid.uuid4().hex[:8]}.wav")

    def new_fax_path(self, call: Call) -> str:
        """A fresh TIFF path for a received fax (in the fax store's inbox when there is one)."""
        if self.fax_store is not None:
            return self.fax_store.new_path("inbox")
        d = os.path.join(self.data_dir, "faxes")
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, f"{getattr(call, 'id', 'call')}-{uuid.uuid4().hex[:6]}.tif")

    @staticmethod
    def virtual(call: Call) -> bool:
        """True when the call's board runs in virtual time (backend queries then run inline)."""
        board = getattr(getattr(call, "engine", None), "board", None)
        return board is not None and not getattr(board, "realtime", True)
