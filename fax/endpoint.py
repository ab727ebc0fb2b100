"""FaxEndpoint: the fixed API of a T.30 fax terminal on one audio channel (8 kHz int16)."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .result import FaxResult
from .t30 import T30Session
from .tiff import FaxPage, read_tiff, write_tiff

__all__ = ["FaxEndpoint", "FaxResult"]


class FaxEndpoint:
    """A Group 3 fax terminal: calling or answering; sends the TIFF-F `send` and/or receives into `receive`.

    `result` is FaxResult() ("in progress") until `done`, then the outcome of the call."""

    def __init__(self, calling: bool, send: str | None = None, receive: str | None = None,
                 modems: Sequence[str] = ("v27ter", "v29", "v17"), ecm: bool = False, ident: str = "",
                 log: Callable[[str], object] | None = None) -> None:
        if send is None and receive is None:
            raise ValueError("a fax endpoint needs send= (TIFF to send) or receive= (TIFF to write)")
        pages = read_tiff(send) if send else None
        self.receive_path = receive
        cb = self._store if receive else None
        self.session = T30Session(calling, pages, cb, modems=tuple(modems), ecm=bool(ecm), ident=ident, log=log)
        self.result = FaxResult()

    def _store(self, pages: list[FaxPage]) -> None:
        assert self.receive_path is not None, "pages are stored only by a receiving endpoint"
        write_tiff(self.receive_path, pages, "g4", as_coded=True)

    def rx(self, samples: ArrayLike) -> None:
        """Audio heard from the line: int16 samples (any count)."""
        self.session.rx(np.asarray(samples, dtype=np.int16))
        if self.session.done:
            self.result = self.session.out

    def tx(self, n: int) -> NDArray[np.int16]:
        """The next n int16 samples to send to the line."""
        return self.session.tx(int(n))

    @property
    def done(self) -> bool:
        """True once the call reached phase E (finished, successfully or not)."""
        return self.session.done
