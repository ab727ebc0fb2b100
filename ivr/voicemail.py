"""Voicemail: mailboxes with PIN and greeting, deposit, message-waiting list, listen/save/delete by phone.

Messages are WAV files written by the engine's recorder (soundfile) under
``<spool>/<box>/`` and rows in ivr_voicemail_messages. A notification hook
``notify(box, message_dict)`` runs after every stored message.
"""
from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import soundfile as sf
from sqlalchemy import func
from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.data.pins import check_pin, hash_pin
from trunkline.media.call import Call
from trunkline.media.errors import Hangup, Timeout

from . import say as _say
from .cdr import CallTrace
from .models import IvrMailbox, IvrVoicemailMessage
from .prompts import PromptLibrary

__all__ = ["Voicemail", "VoicemailError", "check_pin", "hash_pin"]

log = logging.getLogger(__name__)
MIN_MESSAGE_SECONDS = 0.5


class VoicemailError(ValueError):
    """A mailbox operation with bad input (unknown box, bad PIN format)."""


class Voicemail:
    """The voicemail service over the ivr_ tables and a spool directory."""

    def __init__(self, session_factory: Callable[[], Session], spool: str | os.PathLike[str], prompts: PromptLibrary,
                 notify: Callable[[str, dict[str, Any]], None] | None = None, silence_seconds: float = 5.0,
                 pin_tries: int = 3) -> None:
        self.session_factory = session_factory
        self.prompts = prompts
        self.spool = os.path.abspath(spool)
        self.notify = notify
        self.silence_seconds = silence_seconds
        self.pin_tries = pin_tries
        os.makedirs(self.spool, exist_ok=True)

    # ------------------------------------------------------------ administration
    def create_box(self, box: str | int, pin: str | int, name: str = "", email: str = "",
                   max_seconds: float = 120.0) -> None:
        """Create a mailbox (box and PIN are digit strings)."""
        box, pin = str(box), str(pin)
        if not box.isdigit() or not pin.isdigit() or len(pin) < 4:
            raise VoicemailError("mailbox and PIN must be digits, the PIN at least 4 of them")
        with session_scope(self.session_factory) as s:
            if s.query(IvrMailbox).filter_by(box=box).one_or_none() is not None:
                raise VoicemailError(f"mailbox {box} already exists")
            s.add(IvrMailbox(box=box, pin=hash_pin(pin), name=name, email=email, max_seconds=max_seconds))

    def set_pin(self, box: str | int, pin: str | int) -> None:
        """Change a mailbox PIN."""
        pin = str(pin)
        if not pin.isdigit() or len(pin) < 4:
            raise VoicemailError("a PIN is at least 4 digits")
        with session_scope(self.session_factory) as s:
            self._box(s, box).pin = hash_pin(pin)

    def verify(self, box: str | int, pin: str | int) -> bool:
        """True when the box exists and the PIN is right."""
        with self.session_factory() as s:
            row = s.query(IvrMailbox).filter_by(box=str(box)).one_or_none()
            ok = check_pin(str(pin), row.pin if row is not None else None)   # one hash, known box or not
            return row is not None and ok

    def exists(self, box: str | int) -> bool:
        """True when a mailbox exists."""
        with self.session_factory() as s:
            return s.query(IvrMailbox).filter_by(box=str(box)).one_or_none() is not None

    @staticmethod
    def _box(s: Session, box: str | int) -> IvrMailbox:
        row = s.query(IvrMailbox).filter_by(box=str(box)).one_or_none()
        if row is None:
            raise VoicemailError(f"no mailbox {box}")
        return row

    def messages(self, box: str | int, folder: str | None = None) -> list[dict[str, Any]]:
        """Messages of a box (dicts: id, caller, path, duration_ms, folder, created_at), oldest first."""
        with self.session_factory() as s:
            q = s.query(IvrVoicemailMessage).join(IvrMailbox).filter(IvrMailbox.box == str(box))
            if folder:
                q = q.filter(IvrVoicemailMessage.folder == folder)
            return [self._msg(m, box) for m in q.order_by(IvrVoicemailMessage.id)]

    @staticmethod
    def _msg(m: IvrVoicemailMessage, box: str | int) -> dict[str, Any]:
        return {"id": m.id, "box": str(box), "caller": m.caller, "call_id": m.call_id, "path": m.path,
                "duration_ms": m.duration_ms, "folder": m.folder, "created_at": m.created_at}

    def waiting(self) -> dict[str, int]:
        """The message-waiting list: {box: number of new messages} for boxes that have any."""
        with self.session_factory() as s:
            rows = (s.query(IvrMailbox.box, func.count(IvrVoicemailMessage.id)).join(IvrVoicemailMessage)
                    .filter(IvrVoicemailMessage.folder == "new").group_by(IvrMailbox.box).all())
        return {box: n for box, n in rows if n}

    def save_message(self, msg_id: int) -> None:
        """Move a message to the saved folder."""
        with session_scope(self.session_factory) as s:
            m = s.get(IvrVoicemailMessage, msg_id)
            if m is None:
                raise VoicemailError(f"no message {msg_id}")
            m.folder = "saved"

    def delete_message(self, msg_id: int) -> None:
        """Delete a message row and its file."""
        with session_scope(self.session_factory) as s:
            m = s.get(IvrVoicemailMessage, msg_id)
            if m is None:
                raise VoicemailError(f"no message {msg_id}")
            path = m.path
            s.delete(m)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def store(self, box: str | int, path: str, caller: str | None = "", call_id: str = "") -> dict[str, Any] | None:
        """Index a recorded file as a new message; returns the message dict (or None if too short/unreadable)."""
        try:
            info = sf.info(path)
            seconds = info.frames / float(info.samplerate)
        except (RuntimeError, OSError) as e:   # the recorder failed (disk error): nothing to keep
            log.warning("voicemail for %s: recording %s unreadable: %s", box, path, e)
            return None
        if seconds < MIN_MESSAGE_SECONDS:
            os.unlink(path)
            return None
        with session_scope(self.session_factory) as s:
            row = self._box(s, box)
            m = IvrVoicemailMessage(mailbox=row, caller=caller or "", call_id=call_id, path=path,
                                    duration_ms=int(seconds * 1000), folder="new")
            s.add(m)
            s.flush()
            msg = self._msg(m, box)
        if self.notify is not None:
            try:
                self.notify(str(box), msg)
            except Exception:   # a broken hook must not lose the message or end the call
                log.exception("voicemail notification hook failed for box %s", box)
        return msg

    # ------------------------------------------------------------ by phone
    async def _play(self, call: Call, items: Sequence[Any], lang: str, barge_in: bool = True) -> str | None:
        lib = self.prompts
        resolved = []
        for it in items:
            if isinstance(it, list):
                resolved += [lib.path(x, lang) for x in it]
            elif isinstance(it, str) and not os.path.isabs(it):
                resolved.append(lib.path(it, lang))
            else:
                resolved.append(it)
        return await call.play(*resolved, barge_in=barge_in)

    async def deposit(self, call: Call, box: str | int, lang: str = "zh",
                      trace: CallTrace | None = None) -> dict[str, Any] | None:
        """Play the box greeting, record a message (max length, silence end, # ends) and store it."""
        with self.session_factory() as s:
            row = s.query(IvrMailbox).filter_by(box=str(box)).one_or_none()
            if row is None:
                await self._play(call, ["vm-no-box"], lang, False)
                return None
            greeting, max_seconds = row.greeting_path, row.max_seconds
        await self._play(call, [greeting if greeting and os.path.exists(greeting) else "vm-default-greeting"], lang)
        d = os.path.join(self.spool, str(box))
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"msg-{uuid.uuid4().hex[:12]}.wav")
        try:
            await call.record(path, max_seconds=max_seconds, silence_seconds=self.silence_seconds,
                              terminators="#", beep=True)
        except Hangup:
            # the caller hung up after speaking: the usual way a message ends; keep it
            self.store(box, path, call.caller_id, call.id)
            raise
        msg = self.store(box, path, call.caller_id, call.id)
        await self._play(call, ["ivr-goodbye"], lang, False)
        return msg

    async def _login(self, call: Call, box: str | int | None, lang: str, trace: CallTrace | None) -> str | None:
        for _ in range(self.pin_tries):
            if box is None:
                await self._play(call, ["vm-enter-box"], lang)
                try:
                    entered_box = await call.get_digits(10, timeout=6.0, inter_digit=3.0, terminators="#")
                except Timeout:
                    continue
                if trace is not None:
                    trace.entered("vm-box", value=entered_box)
            else:
                entered_box = str(box)
            await self._play(call, ["vm-enter-pin"], lang)
            try:
                pin = await call.get_digits(12, timeout=6.0, inter_digit=3.0, terminators="#")
            except Timeout:
                pin = ""
            if trace is not None:
                trace.entered("vm-pin", masked=True, value=pin)
            if self.verify(entered_box, pin):
                return entered_box
            call.flush_digits()
            await self._play(call, ["vm-bad-pin"], lang, False)
        return None

    async def retrieve(self, call: Call, box: str | int | None = None, lang: str = "zh",
                       trace: CallTrace | None = None) -> bool:
        """Log in with box and PIN, hear counts, then listen/save/delete messages and record the greeting."""
        box = await self._login(call, box, lang, trace)
        if box is None:
            await self._play(call, ["ivr-goodbye"], lang, False)
            return False
        while True:
            new, saved = len(self.messages(box, "new")), len(self.messages(box, "saved"))
            await self._play(call, ["vm-you-have", _say.number(new, lang, measure=True), "vm-new",
                                    _say.number(saved, lang, measure=True), "vm-saved-count", "vm-main-menu"], lang)
            try:
                choice = await call.get_digits(1, timeout=8.0, terminators="")
            except Timeout:
                choice = "*"
            if trace is not None:
                trace.entered("vm-menu", value=choice)
            if choice in ("1", "2"):
                await self._listen(call, box, "new" if choice == "1" else "saved", lang, trace)
            elif choice == "3":
                await self._record_greeting(call, box, lang)
            elif choice == "*":
                await self._play(call, ["ivr-goodbye"], lang, False)
                return True

    async def _listen(self, call: Call, box: str, folder: str, lang: str, trace: CallTrace | None) -> None:
        msgs = self.messages(box, folder)
        if not msgs:
            await self._play(call, ["vm-no-messages"], lang, False)
            return
        for m in msgs:
            while True:
                header = ["vm-message-from", _say.digits(m["caller"], lang, phone=True)] if m["caller"] else []
                call.flush_digits()
                await self._play(call, header + [m["path"], "vm-message-menu"], lang)
                try:
                    k = await call.get_digits(1, timeout=6.0, terminators="")
                except Timeout:
                    k = "#"
                if trace is not None:
                    trace.entered("vm-message", value=k)
                if k == "1":
                    continue
                if k == "9":
                    self.save_message(m["id"])
                    await self._play(call, ["vm-saved"], lang, False)
                elif k == "7":
                    self.delete_message(m["id"])
                    await self._play(call, ["vm-deleted"], lang, False)
                break

    async def _record_greeting(self, call: Call, box: str, lang: str) -> None:
        await self._play(call, ["vm-record-greeting"], lang, False)
        path = os.path.join(self.spool, str(box), f"greeting-{uuid.uuid4().hex[:6]}.wav")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        await call.record(path, max_seconds=30.0, silence_seconds=self.silence_seconds, terminators="#")
        try:
            ok = sf.info(path).frames >= MIN_MESSAGE_SECONDS * 8000
        except (RuntimeError, OSError) as e:   # nothing recorded (or the disk failed): the old greeting stays
            log.warning("voicemail greeting for %s: recording %s unreadable: %s", box, path, e)
            ok = False
        if ok:
            with session_scope(self.session_factory) as s:
                self._box(s, box).greeting_path = path
            await self._play(call, ["vm-saved"], lang, False)
