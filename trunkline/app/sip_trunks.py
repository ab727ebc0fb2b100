"""SIP trunks of `trunkline run` from two places: the config file (`sip_trunks`, plus the peer nodes) and the
web admin's sip_trunks table. `SipTrunkSet.reload()` (called by the admin pages on every save and delete)
reads the table and hands the whole list to each SIP span's signaling, which applies it at its next poll
without a restart (calls in progress stay)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.drivers.sip.config import SipTrunk
from trunkline.drivers.sip.trunk_models import SipTrunkRow

log = logging.getLogger("trunkline.sip")


class SipTrunkSet:
    """The running server's SIP trunks: `file_trunks` (read-only) and the enabled rows of sip_trunks; a row
    named like a file trunk, or one SipTrunk refuses, is left out (logged) — the admin form refuses both."""

    def __init__(self, factory: Callable[[], Session], file_trunks: list[SipTrunk], engine: Any = None) -> None:
        self.factory = factory
        self.file_trunks = list(file_trunks)
        self.engine = engine
        self.db_trunks: list[SipTrunk] = []
        self._lock = threading.Lock()

    @property
    def file_names(self) -> set[str]:
        """Names of the trunks from the config file (and nodes): a DB trunk may not take one."""
        return {t.name for t in self.file_trunks}

    def load(self) -> list[SipTrunk]:
        """Read the enabled DB trunks; returns file trunks + DB trunks."""
        out: list[SipTrunk] = []
        with session_scope(self.factory) as s:
            for row in s.scalars(select(SipTrunkRow).where(SipTrunkRow.enabled.is_(True))
                                 .order_by(SipTrunkRow.name)):
                if row.name in self.file_names:
                    log.warning("SIP trunk %s in the database is ignored: the config file defines it", row.name)
                    continue
                try:
                    out.append(row.to_trunk())
                except ValueError as exc:
                    log.warning("SIP trunk %s in the database is ignored: %s", row.name, exc)
        self.db_trunks = out
        return self.file_trunks + out

    def reload(self) -> list[SipTrunk]:
        """Re-read the DB and apply file + DB trunks to every SIP span now running (from any thread)."""
        with self._lock:
            trunks = self.load()
            for sig in getattr(self.engine, "signaling", []) or []:
                if hasattr(sig, "set_trunks"):
                    sig.set_trunks(trunks)
        return trunks

    def listing(self) -> list[dict[str, Any]]:
        """Every trunk for the admin (no secrets): name, host, port, transport, register, source file|admin."""
        out = []
        for source, trunks in (("file", self.file_trunks), ("admin", self.db_trunks)):
            for t in trunks:
                out.append({"name": t.name, "host": t.host, "port": t.port, "transport": t.transport,
                            "register": t.register, "inbound_auth": t.inbound_auth, "codecs": ",".join(t.codecs),
                            "source": source})
        return out


def wire_sip_trunks(factory: Callable[[], Session], sip: Any, engine: Any) -> SipTrunkSet:
    """What `trunkline run` does: the trunk set over the SIP settings' file trunks (`sip` None: SIP off, the
    table is kept for when it is on) and the DB trunks applied to the running spans at once."""
    trunks = SipTrunkSet(factory, list(sip.trunks) if sip is not None else [], engine)
    if sip is not None:
        trunks.reload()
    else:
        trunks.load()            # listed in the admin; applied once SIP is on
    return trunks
