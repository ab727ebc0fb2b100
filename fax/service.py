"""Fax services on top of the call API: the fax inbox/outbox (TIFF-F files + `faxes` rows) and fax-on-demand.

    store = FaxStore(session_factory, "/var/lib/trunkline/fax")
    async def fax_line(call):                      # a fax-to-mailbox number
        await receive_to_inbox(call, store)
    async def fax_back(call):                      # caller picks a document by number
        await fax_on_demand(call, {"1": "price-list.pdf", "2": "map.png"}, store=store)
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.data.models import Fax
from trunkline.media.call import Call
from trunkline.media.engine import Engine
from trunkline.media.errors import ChannelError, Hangup, Timeout
from trunkline.media.ports import FaxOutcome

from .convert import ConvertError, check_document, to_tiff
from .tiff import TiffError

__all__ = ["FaxStore", "FaxDocumentError", "prepare_document", "receive_to_inbox", "send_document",
           "send_fax_to", "fax_on_demand"]

log = logging.getLogger("trunkline.fax.service")


class FaxDocumentError(ValueError):
    """A document that cannot be sent as a fax (missing, corrupt, not convertible)."""


class FaxStore:
    """Where faxes live: TIFF-F files under `fax_dir` (inbox/, outbox/, cache/) and one `faxes` row per fax."""

    def __init__(self, session_factory: Callable[[], Session], fax_dir: str,
                 on_received: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.session_factory = session_factory
        self.fax_dir = os.path.abspath(fax_dir)
        self.on_received = on_received     # called with each fax received whole (id, path, number, did, ...)
        for sub in ("inbox", "outbox", "cache"):
            os.makedirs(os.path.join(self.fax_dir, sub), exist_ok=True)

    def new_path(self, box: str) -> str:
        """A fresh, unique TIFF path in `box` (inbox/outbox)."""
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        return os.path.join(self.fax_dir, box, f"{stamp}-{uuid.uuid4().hex[:10]}.tif")

    def record(self, direction: str, path: str, result: FaxOutcome | None = None, number: str = "",
               call_id: str | None = None, status: str = "done", reason: str = "", did: str = "") -> int:
        """Write one `faxes` row from a FaxResult (or none, for a fax that never started); returns its id.

        A fax received whole (direction 'in', ok) is then handed to `on_received` with the DID it came in on."""
        row = Fax(direction=direction, number=number or "", path=path, status=status, call_id=call_id,
                  remote_ident=(getattr(result, "remote_ident", "") or "")[:32],
                  pages=int(getattr(result, "pages", 0) or 0),
                  bit_rate=int(getattr(result, "bit_rate", 0) or 0),
                  ecm=bool(getattr(result, "ecm", False)),
                  ok=bool(getattr(result, "ok", False)),
                  reason=(reason or getattr(result, "reason", "") or "")[:255])
        with session_scope(self.session_factory) as s:
            s.add(row)
            s.flush()
            fid, whole = row.id, direction == "in" and status == "done" and row.ok
            fax: dict[str, Any] = {"id": fid, "path": path, "number": row.number, "did": did or "",
                                   "pages": row.pages, "remote_ident": row.remote_ident}
        if whole and self.on_received is not None:
            try:
                self.on_received(fax)
            except Exception:   # a broken hook must not lose the fax or end the call
                log.exception("received-fax hook failed for fax %s", fax["id"])
        return fid

    def get(self, fax_id: int) -> Fax | None:
        """The `faxes` row with this id (detached), or None."""
        with session_scope(self.session_factory) as s:
            return s.get(Fax, fax_id)


def prepare_document(path: str, cache_dir: str | None = None) -> str:
    """A sendable TIFF-F for `path`: the file itself if it is one, else a converted copy (PDF/image) in cache_dir.

    Raises FaxDocumentError with the reason when the document is missing, corrupt or not convertible.
    """
    if not os.path.isfile(path):
        raise FaxDocumentError(f"fax document {path}: no such file")
    try:
        if check_document(path) < 1:
            raise TiffError(f"{path}: no pages")
        return path
    except (TiffError, ConvertError, OSError) as exc:
        tiff_err = exc
    with open(path, "rb") as f:
        magic = f.read(4)
    # not a fax TIFF: an image or PDF that Pillow/pdftoppm can turn into fax pages
    st = os.stat(path)
    key = hashlib.sha1(f"{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    cache_dir = cache_dir or os.path.dirname(os.path.abspath(path))
    out = os.path.join(cache_dir, f"{os.path.splitext(os.path.basename(path))[0]}-{key}.tif")
    if os.path.exists(out):
        return out
    tmp = out + ".part"
    try:
        to_tiff(path, tmp)
        os.replace(tmp, out)
    except (ConvertError, TiffError, OSError, ValueError) as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if magic in (b"II*\x00", b"MM\x00*"):      # a TIFF neither our reader nor Pillow can use
            why = _strip(tiff_err, path)
            why = why if "TIFF" in why else f"corrupt TIFF ({why})"
        else:
            why = f"not a fax TIFF and not convertible ({_strip(exc, path)})"
        raise FaxDocumentError(f"fax document {path} cannot be sent: {why}") from None
    return out


def _strip(exc: BaseException, path: str) -> str:
    """An error text without the file path repeated in it."""
    return str(exc).replace(f"{path}: ", "").replace(f" '{path}'", "")


def _number(call: Call, direction: str) -> str:
    return (call.caller_id if direction == "in" else call.called) or ""


async def receive_to_inbox(call: Call, store: FaxStore, ident: str = "", ecm: bool = False,
                           calling: bool | None = None) -> int:
    """Answer (if needed), receive a fax into the inbox and record it; returns the `faxes` row id.

    A fax that failed or was cut off is recorded too (ok=False, reason); a partial file is kept only if
    the endpoint wrote one. `calling` overrides the T.30 role (default: we answer inbound calls).
    """
    path = store.new_path("inbox")
    result: FaxOutcome | None = None
    reason = ""
    try:
        await call.answer()
        result = await call.receive_fax(path, ident=ident, ecm=ecm, calling=calling)
    except Hangup as exc:
        reason = f"caller hung up during the fax ({exc})"
    except Timeout as exc:
        reason = f"fax timed out ({exc})"
    fid = store.record("in", path, result, number=_number(call, "in"), call_id=call.id,
                       status="done" if result is not None else "failed", reason=reason, did=call.called or "")
    log.info("fax in %s from %s: %s", fid, _number(call, "in"), reason or getattr(result, "reason", ""))
    if not call.hungup:
        await call.hangup()
    return fid


async def send_document(call: Call, store: FaxStore, document: str, ident: str = "", ecm: bool = False,
                        calling: bool | None = None) -> tuple[int, FaxOutcome]:
    """Send a document (TIFF-F, PDF or image) on an answered call and record it in the outbox; returns (row id, result).

    Raises FaxDocumentError (after recording a failed row) if the document cannot be sent.
    `calling` is the T.30 role; default: the side that placed the call.
    """
    number = _number(call, call.direction)
    try:
        tif = prepare_document(document, os.path.join(store.fax_dir, "cache"))
    except FaxDocumentError as exc:
        store.record("out", document, None, number=number, call_id=call.id, status="failed", reason=str(exc))
        raise
    if calling is None:
        calling = call.direction == "out"
    result: FaxOutcome | None = None
    reason = ""
    try:
        result = await call.send_fax(tif, ident=ident, ecm=ecm, calling=calling)
    except (TiffError, ConvertError) as exc:      # the file changed under us between the check and the send
        store.record("out", tif, None, number=number, call_id=call.id, status="failed", reason=str(exc))
        raise FaxDocumentError(f"fax document {document} cannot be sent: {exc}") from None
    except Hangup as exc:
        reason = f"remote hung up during the fax ({exc})"
    except Timeout as exc:
        reason = f"fax timed out ({exc})"
    fid = store.record("out", tif, result, number=number, call_id=call.id,
                       status="done" if result is not None else "failed", reason=reason)
    if result is None:
        raise Hangup(reason)
    return fid, result


async def send_fax_to(engine: Engine, number: str, document: str, store: FaxStore, caller_id: str = "",
                      trunk: str | None = None, ident: str = "", ecm: bool = False,
                      dial_timeout: float = 45.0) -> tuple[int, FaxOutcome]:
    """Dial `number` and send a document as a fax (also the call-back leg of fax-on-demand); returns (row id, result).

    The document is checked before dialling (FaxDocumentError, nothing dialled); a failed dial
    (busy, no answer) is recorded as a failed outbox row and re-raised. The call is cleared at the end.
    """
    try:
        prepare_document(document, os.path.join(store.fax_dir, "cache"))
    except FaxDocumentError as exc:
        store.record("out", document, None, number=number, status="failed", reason=str(exc))
        raise
    try:
        call = await engine.make_call(number, caller_id=caller_id, trunk=trunk, timeout=dial_timeout)
    except (ChannelError, Timeout) as exc:
        store.record("out", document, None, number=number, status="failed", reason=f"dial failed: {exc}")
        raise
    try:
        return await send_document(call, store, document, ident=ident, ecm=ecm, calling=True)
    finally:
        if not call.hungup:
            await call.hangup()


async def fax_on_demand(call: Call, documents: Mapping[str, str], store: FaxStore, prompt: str | None = None,
                        invalid: str | None = None, start_prompt: str | None = None, digits: int = 1,
                        timeout: float = 8.0, retries: int = 3, ident: str = "", ecm: bool = False,
                        call_back: bool = False, number_prompt: str | None = None, max_number_digits: int = 20,
                        trunk: str | None = None, caller_id: str = "") -> tuple[int, FaxOutcome]:
    """Fax-on-demand: the caller keys a document number (`digits` keys, or fewer ended by #) and the fax goes
    out on the same call, or with `call_back=True` to a fax number the caller keys next (ended by #; empty =
    the caller's own number), dialled on `trunk` after we hang up. Returns (row id, FaxResult).

    `documents` maps the number keyed to a document path (TIFF-F, PDF or image). `prompt`/`invalid`/
    `start_prompt`/`number_prompt` are optional prompt names (menu, unknown number, "press start on your
    fax machine", "key your fax number"). On the same call we take the calling role in T.30 (the caller's
    machine answers when its Start key is pressed). Raises Timeout when no valid number is keyed after
    `retries` tries, FaxDocumentError when the picked document cannot be sent (checked before any call-back
    is dialled), ChannelError when the call-back fails; the inbound call is cleared in every case.
    """
    if not documents:
        raise ValueError("fax_on_demand needs at least one document")
    try:
        await call.answer()
        choice = None
        for _ in range(max(1, retries)):
            if prompt:
                await call.play(prompt, barge_in=True)
            try:
                keyed = await call.get_digits(digits, timeout=timeout)
            except Timeout:
                continue
            if keyed in documents:
                choice = keyed
                break
            call.flush_digits()
            if invalid:
                await call.play(invalid, barge_in=True)
        if choice is None:
            raise Timeout(f"fax on demand: no valid document number after {retries} tries")
        call.vars["fax_document"] = choice
        if not call_back:
            if start_prompt:
                await call.play(start_prompt, barge_in=False)
            return await send_document(call, store, documents[choice], ident=ident, ecm=ecm, calling=True)
        if number_prompt:
            await call.play(number_prompt, barge_in=True)
        try:
            number = await call.get_digits(max_number_digits, timeout=timeout, inter_digit=timeout)
        except Timeout:
            number = ""
        number = number or call.caller_id
        if not number:
            raise Timeout("fax on demand: no fax number to call back")
        call.vars["fax_call_back"] = number
        await call.hangup()
    finally:
        if not call.hungup:
            await call.hangup()
    return await send_fax_to(call.engine, number, documents[choice], store, caller_id=caller_id, trunk=trunk,
                             ident=ident, ecm=ecm)
