"""FaxEndpoint: the fixed API of a T.30 fax terminal on one audio channel (8 kHz int16)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .t30 import T30Session
from .tiff import read_tiff, write_tiff

__all__ = ["FaxEndpoint", "FaxResult"]


@dataclass
class FaxResult:
    """Outcome of a fax call: ok, pages transferred, image bit rate (bit/s), ECM used, reason text."""
    ok: bool = False
    pages: int = 0
    bit_rate: int = 0
    ecm: bool = False
    reason: str = "in progress"
    remote_ident: str = ""


class FaxEndpoint:
    """A Group 3 fax terminal: calling or answering; sends the TIFF-F `send` and/or receives into `receive`."""

    def __init__(self, calling: bool, send: str | None = None, receive: str | None = None,
                 modems=("v27ter", "v29", "v17"), ecm=False, ident="", log=None):
        if send is None and receive is None:
            raise ValueError("a fax endpoint needs send= (TIFF to send) or receive= (TIFF to write)")
        pages = read_tiff(send) if send else None
        self.receive_path = receive
        cb = self._store if receive else None
        self.session = T30Session(calling, pages, cb, modems=tuple(modems), ecm=bool(ecm), ident=ident, log=log)
        self.result = FaxResult()

    def _store(self, pages):
        write_tiff(self.receive_path, pages, "g4")

    def rx(self, samples) -> None:
        """Audio heard from the line: int16 samples (any count)."""
        self.session.rx(np.asarray(samples, dtype=np.int16))
        if self.session.done:
            self._update()

    def tx(self, n: int) -> np.ndarray:
        """The next n int16 samples to send to the line."""
        return self.session.tx(int(n))

    @property
    def done(self) -> bool:
        """True once the call reached phase E (finished, successfully or not)."""
        return self.session.done

    def _update(self):
        o = self.session.out
        self.result = FaxResult(ok=o.ok, pages=o.pages, bit_rate=o.bit_rate, ecm=o.ecm,
                                reason=o.reason or ("OK" if o.ok else "failed"), remote_ident=o.remote_ident)
