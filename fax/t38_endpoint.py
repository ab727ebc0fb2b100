"""T38Endpoint: a T.30 fax terminal over T.38 IFP packets, with FaxEndpoint's API (send/receive TIFF-F,
`result`, `done`) plus the packets: `put_ifp(octets)` for each received IFP and `take_ifps()` for those to
send. `rx(samples)`/`tx(n)` keep the audio tap contract: rx only counts time, tx is silence."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .result import FaxResult
from .t38_link import T38Session
from .tiff import FaxPage, read_tiff, write_tiff

__all__ = ["T38Endpoint"]


class T38Endpoint:
    """A Group 3 fax terminal on T.38: calling or answering; sends the TIFF-F `send` and/or receives into
    `receive`. `result` is FaxResult() ("in progress") until `done`."""

    def __init__(self, calling: bool, send: str | None = None, receive: str | None = None,
                 modems: Sequence[str] = ("v27ter", "v29", "v17"), ecm: bool = False, ident: str = "",
                 log: Callable[[str], object] | None = None, version: int = 0) -> None:
        if send is None and receive is None:
            raise ValueError("a fax endpoint needs send= (TIFF to send) or receive= (TIFF to write)")
        pages = read_tiff(send) if send else None
        self.receive_path = receive
        cb = self._store if receive else None
        self.session = T38Session(calling, pages, cb, modems=tuple(modems), ecm=bool(ecm), ident=ident, log=log,
                                  version=version)
        self.result = FaxResult()

    def _store(self, pages: list[FaxPage]) -> None:
        assert self.receive_path is not None, "pages are stored only by a receiving endpoint"
        write_tiff(self.receive_path, pages, "g4", as_coded=True)

    def put_ifp(self, data: bytes) -> None:
        """One received IFP packet (octets, UDPTL framing removed)."""
        self.session.put_ifp(data)

    def take_ifps(self) -> list[bytes]:
        """The IFP packets to send now, in order."""
        return self.session.take_ifps()

    def rx(self, samples: ArrayLike) -> None:
        """A block of time passed (the samples themselves are not used): handle packets, run T.30."""
        self.session.rx(np.asarray(samples, dtype=np.int16))
        if self.session.done:
            self.result = self.session.out

    def tx(self, n: int) -> NDArray[np.int16]:
        """Silence: a T.38 terminal sends no audio."""
        return np.zeros(int(n), dtype=np.int16)

    @property
    def done(self) -> bool:
        """True once the call reached phase E (finished, successfully or not)."""
        return self.session.done
