"""T.30 Group 3 fax procedure over 8 kHz audio: phases A-E, calling/answering, sending/receiving, ECM.

The session is a generator-driven state machine: `rx(samples)` feeds the V.21 receiver (always) and
the image-modem receiver (when one is expected), then advances the procedure by one step; `tx(n)`
pulls audio from whatever is being sent (CNG/CED tone, V.21 HDLC frames, image modem, silence).
This module holds the phases: call set-up (A: CNG/CED), identification and role choice (B: DIS, DTC),
the hand-over to the sender (t30_sender) or receiver (t30_receiver), and release (E: DCN).
Frames and DIS/DCS coding are in t30_frames, the shared line core in t30_link.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from .result import FaxResult
from .t30_frames import build_dis, find_frame, ident_fif, ident_in, parse_dis
from .t30_link import FOREVER, GAP, RATE, T1, CadencedTone, Step, T30Failure, T30Link
from .t30_receiver import T30Receiver
from .t30_sender import T30Sender
from .tiff import FaxPage

__all__ = ["T30Session"]


class T30Session:
    """One T.30 fax session on one audio channel (use through FaxEndpoint).

    `pages` to send (or None), `receive_cb(pages)` called with the received pages at the end (or None);
    `out` is the outcome, final once `done`."""

    def __init__(self, calling: bool, pages: list[FaxPage] | None,
                 receive_cb: Callable[[list[FaxPage]], object] | None = None,
                 modems: Sequence[str] = ("v27ter", "v29", "v17"), ecm: bool = False, ident: str = "",
                 log: Callable[[str], object] | None = None) -> None:
        self.calling = calling
        self.link = T30Link(calling, modems, ecm, ident, log)
        self.sender = T30Sender(self.link, pages or [])
        self.receiver = T30Receiver(self.link, self.sender)
        self.receive_cb = receive_cb
        self.want_receive = receive_cb is not None
        self.done = False
        self._gen = self._main()

    @property
    def out(self) -> FaxResult:
        """The outcome so far (final once done)."""
        return self.link.out

    # ------------------------------------------------------------------ audio
    def tx(self, n: int) -> NDArray[np.int16]:
        """Next n int16 samples to send."""
        return self.link.tx(n)

    def rx(self, samples: NDArray[np.int16]) -> None:
        """Feed received int16 samples and advance the procedure."""
        self.link.rx(np.asarray(samples, dtype=np.int16))
        self.link.sleep_until = None
        if not self.done:
            try:
                next(self._gen)
            except StopIteration:
                self._finish()

    def _finish(self) -> None:
        self.done = True
        self.link.src = None
        out = self.link.out
        received = self.receiver.received
        if self.receive_cb is not None and received:
            try:
                self.receive_cb(received)
            except (OSError, ValueError) as exc:  # disk full, bad path: reported, never lose the outcome
                out.ok = False
                out.reason = f"could not store received pages: {exc}"
        out.reason = out.reason or ("OK" if out.ok else "failed")

    # ------------------------------------------------------------------ phases A, B and E
    def _main(self) -> Step[None]:
        link = self.link
        try:
            if self.calling:
                yield from self._caller()
            else:
                yield from self._answerer()
        except T30Failure as exc:
            link.out.ok = False
            link.out.reason = str(exc)
            link.note(f"fail: {exc}")
            link.src = None
            yield from link.wait(GAP)
            yield from link.send_frames([link.frame("DCN")])
            return

    def _caller(self) -> Step[None]:
        link = self.link
        # CNG: 1100 Hz, 0.5 s on 3 s off, while waiting for DIS
        link.src = CadencedTone(1100, -13, 4000, 24000)
        end = link.now + T1
        while True:
            frames = yield from link.recv_frames(end - link.now)
            if frames is None:
                raise T30Failure("T1 expired: no DIS from the answering terminal")
            link.src = None
            dis = find_frame(frames, 0x80)
            if dis is not None:
                break
        caps = parse_dis(dis[3:])
        link.dis_received = 1
        link.out.remote_ident = ident_in(frames, 0x40) or link.out.remote_ident
        yield from link.wait(GAP)
        if self.sender.pages and caps["can_receive"]:
            yield from self.sender.run(caps)
        elif self.want_receive and caps["can_send"]:
            dtc = build_dis(link.modems, True, False, link.ecm)
            yield from self.receiver.run([link.frame("CIG", ident_fif(link.ident), final=False),
                                          link.frame("DTC", dtc)])
        elif self.sender.pages:
            raise T30Failure("remote terminal cannot receive")
        else:
            raise T30Failure("remote terminal has nothing to send (no polling)")

    def _answerer(self) -> Step[None]:
        link = self.link
        yield from link.wait(1600)  # 200 ms silence
        t = CadencedTone(2100, -13, 1, 0, total=int(2.6 * RATE))
        link.src = t
        while not t.done:
            link.sleep_until = FOREVER   # a bank steps the session again when the tone's kernel says it is done
            yield
        link.src = None
        yield from link.wait(GAP)
        dis = build_dis(link.modems, self.want_receive, bool(self.sender.pages), link.ecm)
        yield from self.receiver.run([link.frame("CSI", ident_fif(link.ident), final=False),
                                      link.frame("DIS", dis)])
