"""The interfaces the engine is wired with: media taps (per-call audio processors run in the tick),
fax sessions (trunkline.fax.FaxEndpoint fits), and the SMS outbox behind call.sms().

The engine never imports the layers above it: `Engine(board, fax_endpoint_factory=FaxEndpoint)` and
`engine.sms = SmsService(...)` are wired by the application (trunkline/app/server.py) and the simulation
rig (pstn/rig.py).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

#: one block (or any run) of 8 kHz linear audio
Samples = NDArray[np.int16]


class MediaTap(Protocol):
    """A per-call audio processor run in the tick: rx() gets what the line sent, tx(n) adds n samples."""

    def rx(self, samples: Samples) -> None:
        """Take the call's received audio (int16, one block)."""
        ...

    def tx(self, n: int) -> Samples:
        """The next n int16 samples to add to what the call hears."""
        ...


class AudioBank(Protocol):
    """A per-engine processor over many calls (Engine.bank): sees all channels' received audio each tick."""

    def rx(self, audio: NDArray[np.int16]) -> None:
        """Take this tick's received audio of every channel, int16 (channels, block)."""
        ...


class FaxOutcome(Protocol):
    """How a fax session ended (trunkline.fax.FaxResult)."""

    @property
    def ok(self) -> bool:
        """True when every page went through."""
        ...

    @property
    def pages(self) -> int:
        """Pages transferred."""
        ...

    @property
    def bit_rate(self) -> int:
        """Image bit rate of the last training (bit/s)."""
        ...

    @property
    def ecm(self) -> bool:
        """True when error correction mode was used."""
        ...

    @property
    def reason(self) -> str:
        """Why the session ended ("OK" or the failure)."""
        ...

    @property
    def remote_ident(self) -> str:
        """The far terminal's identity (TSI/CSI), "" if it sent none."""
        ...


class FaxSession(Protocol):
    """A fax terminal on one call: audio in and out, `done` once the call reached phase E, `result`."""

    def rx(self, samples: Samples) -> None:
        """Take audio heard from the line."""
        ...

    def tx(self, n: int) -> Samples:
        """The next n int16 samples to send to the line."""
        ...

    @property
    def done(self) -> bool:
        """True once the session has ended (successfully or not)."""
        ...

    @property
    def result(self) -> FaxOutcome:
        """The session's outcome (final once done)."""
        ...


class FaxSessionFactory(Protocol):
    """Makes a fax session: `calling` picks the T.30 role; `send` a TIFF-F to send, `receive` one to write."""

    def __call__(self, calling: bool, send: str | None = None, receive: str | None = None, *,
                 ecm: bool = False, ident: str = "") -> FaxSession:
        """A new session for one call."""
        ...


class UdptlSocket(Protocol):
    """A call's UDPTL socket (trunkline.drivers.sip.udptl.UdptlPort)."""

    def send(self, ifp: bytes) -> None:
        """Send one IFP packet."""
        ...

    def recv(self, limit: int = 256) -> list[tuple[int, bytes]]:
        """(seq, IFP) received, in order."""
        ...


@runtime_checkable
class T38Signaling(Protocol):
    """A signaling stack that switches calls to T.38 (SipSignaling)."""

    def t38_switch(self, channel: int, done: Callable[[str], None]) -> None:
        """Re-INVITE to T.38; done('t38') or done(why not)."""
        ...

    def t38_port(self, channel: int) -> UdptlSocket | None:
        """The call's UDPTL socket while in T.38."""
        ...

    def t38_on_tones(self, channel: int) -> bool:
        """True: start as audio fax and re-INVITE on CED/V.21 heard; False: re-INVITE at the job's start."""
        ...

    def t38_audio(self, channel: int, done: Callable[[str], None]) -> None:
        """Re-INVITE back to audio; done('audio') or done(why not)."""
        ...


class T38FaxSession(FaxSession, Protocol):
    """A fax terminal on T.38 (trunkline.fax.T38Endpoint): a FaxSession plus IFP packets in and out."""

    def put_ifp(self, data: bytes) -> None:
        """One received IFP packet."""
        ...

    def take_ifps(self) -> list[bytes]:
        """IFP packets to send."""
        ...


class T38SessionFactory(Protocol):
    """Makes a T.38 fax session (same arguments as FaxSessionFactory)."""

    def __call__(self, calling: bool, send: str | None = None, receive: str | None = None, *,
                 ecm: bool = False, ident: str = "") -> T38FaxSession:
        """A new session for one call."""
        ...


class FaxBankPort(Protocol):
    """All fax sessions of an engine run together once per tick (trunkline.fax.bank.FaxBank fits)."""

    def __len__(self) -> int:
        """How many sessions are attached."""
        ...

    def attach(self, channel: int, session: Any, on_done: Callable[[int], object] | None = None) -> None:
        """Run a session made by the fax session factory on `channel`; on_done(channel) once it ends."""
        ...

    def detach(self, channel: int) -> None:
        """Stop running the channel's session."""
        ...

    def step(self, audio_in: NDArray[np.int16], acc: NDArray[np.int32]) -> list[int]:
        """One tick: every session hears its channel's row of audio_in and adds its block into acc."""
        ...


class SmsOutbox(Protocol):
    """Where call.sms() queues a text (trunkline.drivers.serial.sms_service.SmsService)."""

    def queue(self, number: str, text: str) -> int:
        """Queue an SMS to `number`; returns its id."""
        ...
