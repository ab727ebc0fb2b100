"""The fax bank: every active fax session of an engine stepped together once per tick.

Each tick the bank first runs every session's V.17 receiver (front end, timing, training, data mode) in
one kernel call over the bank (fax/v17_kernel.run_rx) and every listening V.21 receiver with its HDLC
deframing in another (fax/v21.run_v21), then feeds every session its received block (T.30
and T.4/T.6 stay per session and advance on their events), then
produces the transmitted blocks: all sessions sending on V.17 are modulated by one kernel call over
the whole bank (fax/v17_kernel.run_tx), the others (tones, V.21, V.27ter/V.29) per session. Sessions
may be at different phases, speeds and ECM modes; a session switching modem changes only which group
it is in at the next tick. A session that raises (garbage its decoders cannot handle) ends with a
clear result and is never allowed to stop the others."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .endpoint import FaxEndpoint
from .result import FaxResult
from .t30_link import T30Link
from .v17 import V17Rx, V17Tx
from .v17_kernel import TxKernel, run_rx, run_tx
from .v21 import V21Rx, run_v21

__all__ = ["FaxBank"]

_log = logging.getLogger("trunkline.fax.bank")

#: called once with the channel when its session has ended (result final)
OnDone = Callable[[int], object]


class FaxBank:
    """The fax sessions of one engine, by channel; `step` runs them all for one block (int16 audio)."""

    def __init__(self) -> None:
        self._sessions: dict[int, tuple[Any, OnDone | None]] = {}
        self.ticks = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def attach(self, channel: int, session: Any, on_done: OnDone | None = None) -> None:
        """Run `session` on `channel` from the next tick; on_done(channel) once it has ended. A FaxEndpoint's
        V.17 transmitter runs in the bank's kernel; any other session (rx/tx/done/result) runs as it is."""
        if channel in self._sessions:
            raise ValueError(f"channel {channel} already has a fax session")
        self._sessions[channel] = (session, on_done)

    def detach(self, channel: int) -> None:
        """Stop running the channel's session (no-op if none)."""
        self._sessions.pop(channel, None)

    def session(self, channel: int) -> Any:
        """The session on `channel`, if any."""
        item = self._sessions.get(channel)
        return item[0] if item else None

    def step(self, audio_in: NDArray[np.int16], acc: NDArray[np.int32]) -> list[int]:
        """One tick: audio_in (channels, block) int16 heard on every channel; each session's transmitted
        block is added into acc (channels, block). Returns the channels whose session ended this tick."""
        block = audio_in.shape[1]
        ended: list[int] = []
        kernels: list[TxKernel] = []
        rows: list[int] = []
        fed = self._feed_v17(audio_in)
        fed21 = self._feed_v21(audio_in)
        for ch, (ep, _) in list(self._sessions.items()):
            if not ep.done:
                try:
                    ep.rx(audio_in[ch])
                except Exception as exc:  # noqa: BLE001 - one session's failure must not stop the bank
                    self._fail(ep, exc)
                finally:
                    hs = fed.get(ch)
                    if hs is not None:
                        hs.fed()
                    v21 = fed21.get(ch)
                    if v21 is not None:
                        v21.fed = False
                if ep.done:
                    ended.append(ch)
            src = ep.session.link.src if isinstance(ep, FaxEndpoint) else None
            if isinstance(src, V17Tx):
                kernels.append(src.kernel)
                rows.append(ch)
            else:
                try:
                    acc[ch] += ep.tx(block)
                except Exception as exc:  # noqa: BLE001 - as above
                    self._fail(ep, exc)
                    if ch not in ended:
                        ended.append(ch)
        if kernels:
            acc[rows] += run_tx(kernels, block)
        self.ticks += 1
        for ch in ended:
            item = self._sessions.get(ch)
            if item is not None and item[1] is not None:
                item[1](ch)
        return ended

    def _feed_v17(self, audio_in: NDArray[np.int16]) -> dict[int, V17Rx]:
        """Every session listening on V.17 gets this block through one receiver kernel call; returns them by
        channel (their rx() in the session's step is then a no-op)."""
        fed: dict[int, V17Rx] = {}
        for ch, (ep, _) in self._sessions.items():
            if isinstance(ep, FaxEndpoint) and not ep.done:
                hs = ep.session.link.hsrx
                if isinstance(hs, V17Rx):
                    fed[ch] = hs
        if fed:
            for hs in fed.values():
                hs.prefeed()
            run_rx([hs.kernel for hs in fed.values()], audio_in[list(fed)])
        return fed

    def _feed_v21(self, audio_in: NDArray[np.int16]) -> dict[int, V21Rx]:
        """Every session whose V.21 receiver listens this block gets it through one kernel call (demodulation
        and HDLC deframing); returns them by channel (marked fed: their rx() in the session's step is a no-op)."""
        fed: dict[int, V21Rx] = {}
        for ch, (ep, _) in self._sessions.items():
            if isinstance(ep, FaxEndpoint) and not ep.done:
                link = ep.session.link
                if isinstance(link.v21rx, V21Rx) and type(link) is T30Link:
                    v21 = link.v21_listening()
                    if v21 is not None:
                        fed[ch] = v21
        if fed:
            run_v21(list(fed.values()), audio_in[list(fed)])
            for v21 in fed.values():
                v21.fed = True
        return fed

    @staticmethod
    def _fail(ep: Any, exc: Exception) -> None:
        """End a session that raised: a clear result, nothing more sent (a FaxEndpoint; another kind of session
        is only logged: it ends by its own rules or its call's fax timeout)."""
        _log.warning("fax session failed: %r", exc, exc_info=True)
        if not isinstance(ep, FaxEndpoint):
            return
        ep.session.link.src = None
        ep.session.done = True
        ep.result = FaxResult(ok=False, pages=ep.session.out.pages, bit_rate=ep.session.out.bit_rate,
                              ecm=ep.session.out.ecm,
                              reason=f"fax session error: {type(exc).__name__}: {exc}")
