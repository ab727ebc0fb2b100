"""T.30 over T.38 IFP packets (a T.38 terminal, no modems): the same T.30 procedure (t30, t30_sender,
t30_receiver) with the line core swapped for one that sends and receives IFPs instead of audio.

Sending: CNG/CED become indicators; V.21 frames a V.21-preamble indicator, then one IFP per frame (HDLC data
+ FCS-OK) and HDLC-sig-end; image data (TCF, pages) a training indicator, then T.4 non-ECM data (or, in
ECM, the HDLC frames of the block with FCS-OK each) paced at the modem's bit rate, then sig-end. Receiving
turns the IFPs back into what the procedure reads: control frames, image bits (ECM frames re-framed as
HDLC bits), carrier on/off. Time still advances with the received blocks (8000 per second)."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.sip import t38_ifp
from trunkline.drivers.sip.t38_ifp import DATA, FIELD, IND, Ifp, IfpError

from . import hdlc
from .result import FaxResult
from .t30 import T30Session
from .t30_frames import frame_text
from .t30_link import GAP, RATE, CadencedTone, Step, T30Link
from .t30_receiver import T30Receiver
from .t30_sender import T30Sender
from .tiff import FaxPage

__all__ = ["T38Link", "T38Session", "IfpModemRx"]

MAX_QUEUED = 2000                 # received IFPs waiting for the next block
MAX_BITS = 8 * 1024 * 1024        # image bits buffered in one received signal
MAX_HDLC = 512                    # octets of one HDLC frame being received
_TRAIN_MS = {"v27ter": 1000, "v29": 260, "v17": 1400}
_FLAG = hdlc.flag_bits(1)


class _V21State:
    """What the procedure reads of V.21: whether a control signal is on."""
    carrier = False

    def reset(self) -> None:
        """Nothing to reset (no demodulator)."""


class IfpModemRx:
    """The image 'modem' of a T.38 terminal: trained/carrier/signal_lost and the bits, from received IFPs.

    A signal that starts and ends between two reads still shows `carrier` once, so the procedure sees it."""

    def __init__(self) -> None:
        self.trained = False
        self.signal_lost = False
        self._on = False
        self._started = False
        self._seen_on = False
        self._bits: list[NDArray[np.uint8]] = []
        self._nbits = 0
        self.hbuf = bytearray()

    @property
    def carrier(self) -> bool:
        """True while the signal is on (and once after a signal shorter than one read)."""
        if self._on or (self._started and not self._seen_on):
            self._seen_on = True
            return True
        return False

    def start(self) -> None:
        """Training or the first data arrived."""
        self.trained = True
        self._on = True
        self._started = True

    def end(self) -> None:
        """Signal end."""
        self._on = False

    def put_bits(self, bits: NDArray[np.uint8]) -> None:
        """Append received line bits (bounded)."""
        if self._nbits + len(bits) <= MAX_BITS:
            self._bits.append(bits)
            self._nbits += len(bits)

    def take_bits(self) -> NDArray[np.uint8]:
        """The bits received since the last call."""
        if not self._bits:
            return np.zeros(0, np.uint8)
        out = np.concatenate(self._bits)
        self._bits = []
        self._nbits = 0
        return out


class T38Link(T30Link):
    """The line core of a T.38 terminal: IFPs out (`take_ifps`) and in (`put_ifp`) instead of audio."""

    def __init__(self, calling: bool, modems: Sequence[str], ecm: bool, ident: str,
                 log: Callable[[str], object] | None = None, version: int = 0) -> None:
        super().__init__(calling, modems, ecm, ident, log)
        self.version = version
        self.v21 = _V21State()
        self.v21rx = self.v21              # type: ignore[assignment]  # recv_frames reads .carrier only
        self._in: list[bytes] = []
        self._out: list[bytes] = []
        self._hdlc = bytearray()
        self._stash: IfpModemRx | None = None
        self._last_src: object = None
        self.ifp_errors = 0
        self.ifps_in = 0
        self.ifps_out = 0

    # ------------------------------------------------------------------ packets
    def put_ifp(self, data: bytes) -> None:
        """A received IFP packet (handled with the next block; bounded queue)."""
        if len(self._in) < MAX_QUEUED:
            self._in.append(bytes(data))

    def take_ifps(self) -> list[bytes]:
        """The IFP packets to send since the last call."""
        out, self._out = self._out, []
        return out

    def _send(self, p: Ifp) -> None:
        self._out.append(t38_ifp.encode(p, self.version))
        self.ifps_out += 1

    # ------------------------------------------------------------------ the line core's audio side
    def tx(self, n: int) -> NDArray[np.int16]:
        """No audio in T.38: silence."""
        return np.zeros(n, dtype=np.int16)

    def rx(self, samples: NDArray[np.int16]) -> None:
        """Handle the IFPs received so far and let the block's time pass."""
        n = len(samples)
        src = self.src
        if src is not self._last_src:
            if isinstance(src, CadencedTone):
                self._send(Ifp(indicator=IND["cng"] if src.freq < 1500 else IND["ced"]))
            elif src is None and isinstance(self._last_src, CadencedTone):
                self._send(Ifp(indicator=IND["no-signal"]))
            self._last_src = src
        if isinstance(src, CadencedTone):
            src.tx(n)                                  # the tone's clock (its audio is not sent)
        queued, self._in = self._in, []
        for data in queued:
            try:
                p = t38_ifp.decode(data, self.version)
            except IfpError as exc:
                self.ifp_errors += 1
                self.note(f"bad IFP dropped: {exc}")
                continue
            self.ifps_in += 1
            self._on_ifp(p)
        self.now += n

    def _image_rx(self) -> IfpModemRx:
        rx = self.hsrx
        if isinstance(rx, IfpModemRx):
            return rx
        if self._stash is None:
            self._stash = IfpModemRx()
        return self._stash

    def _on_ifp(self, p: Ifp) -> None:
        if p.indicator is not None:
            ind = p.indicator
            if ind == IND["v21-preamble"]:
                self.v21.carrier = True
                self._hdlc.clear()
            elif ind >= IND["v27-2400"]:
                if not isinstance(self.hsrx, IfpModemRx):
                    self._stash = IfpModemRx()         # a new image signal before the procedure listens
                self._image_rx().start()
            else:
                self.v21.carrier = False
            return
        if p.data_type == DATA["v21"]:
            self.v21.carrier = True
            for ft, data in p.fields:
                self._v21_field(ft, data)
            return
        rx = self._image_rx()
        for ft, data in p.fields:
            if ft == FIELD["t4-non-ecm-data"] or (ft == FIELD["t4-non-ecm-sig-end"] and data):
                rx.start()
                rx.put_bits(np.unpackbits(np.frombuffer(data, np.uint8)))
            elif ft == FIELD["hdlc-data"]:
                rx.start()
                if len(rx.hbuf) + len(data) <= MAX_HDLC:
                    rx.hbuf += t38_ifp.bitrev(data)
            elif ft in (FIELD["hdlc-fcs-ok"], FIELD["hdlc-fcs-ok-sig-end"]):
                if rx.hbuf:
                    rx.put_bits(np.concatenate([_FLAG, hdlc.frame_bits(bytes(rx.hbuf)), _FLAG]))
                rx.hbuf.clear()
            elif ft in (FIELD["hdlc-fcs-bad"], FIELD["hdlc-fcs-bad-sig-end"]):
                rx.hbuf.clear()
            if ft in (FIELD["hdlc-sig-end"], FIELD["hdlc-fcs-ok-sig-end"], FIELD["hdlc-fcs-bad-sig-end"],
                      FIELD["t4-non-ecm-sig-end"]):
                rx.put_bits(hdlc.flag_bits(2))
                rx.end()

    def _v21_field(self, ft: int, data: bytes) -> None:
        if ft == FIELD["hdlc-data"]:
            if len(self._hdlc) + len(data) <= MAX_HDLC:
                self._hdlc += t38_ifp.bitrev(data)
        elif ft in (FIELD["hdlc-fcs-ok"], FIELD["hdlc-fcs-ok-sig-end"]):
            fr = bytes(self._hdlc)
            self._hdlc.clear()
            if len(fr) >= 3 and fr[0] == 0xFF:
                self.frames.append(fr)
                self.note(f"rx {frame_text(fr)}")
        elif ft in (FIELD["hdlc-fcs-bad"], FIELD["hdlc-fcs-bad-sig-end"]):
            self._hdlc.clear()
        if ft in (FIELD["hdlc-sig-end"], FIELD["hdlc-fcs-ok-sig-end"], FIELD["hdlc-fcs-bad-sig-end"]):
            self.v21.carrier = False
            self._hdlc.clear()

    # ------------------------------------------------------------------ primitives (IFP versions)
    def send_frames(self, frames: Sequence[bytes], preamble_s: float = 1.0) -> Step[None]:
        """V.21 preamble indicator, one IFP per frame (HDLC data + FCS OK) paced at 300 bit/s, sig-end.
        Frames received meanwhile are kept (no echo in T.38)."""
        self._transmitting = True
        self._send(Ifp(indicator=IND["v21-preamble"]))
        yield from self.wait(int(preamble_s * RATE))
        for fr in frames:
            self.note(f"tx {frame_text(fr)}")
            self._send(Ifp(data_type=DATA["v21"], fields=[(FIELD["hdlc-data"], t38_ifp.bitrev(fr)),
                                                         (FIELD["hdlc-fcs-ok"], b"")]))
            yield from self.wait((len(fr) + 4) * 8 * RATE // 300)
        self._send(Ifp(data_type=DATA["v21"], fields=[(FIELD["hdlc-sig-end"], b"")]))
        yield from self.wait(160)
        self._transmitting = False

    def send_hs(self, bits: NDArray[np.uint8] | hdlc.PackedBits, short_train: bool = False) -> Step[None]:
        """Training indicator, then the bits as image data (T.4 non-ECM, or the HDLC frames of an ECM block)
        paced at hs_rate, then sig-end; 75 ms after the last signal."""
        yield from self.wait(GAP)
        name, rate = self.hs_name, self.hs_rate
        self._transmitting = True
        self._send(Ifp(indicator=t38_ifp.training_indicator(name, rate, short_train and name == "v17")))
        train = 200 if short_train and name == "v17" else _TRAIN_MS.get(name, 1000)
        yield from self.wait(train * RATE // 1000)
        dt = t38_ifp.data_type_of(name, rate)
        bits = bits.unpacked() if isinstance(bits, hdlc.PackedBits) else np.asarray(bits, dtype=np.uint8)
        if self.out.ecm and bits.any():
            frames = [fr for fr, ok in hdlc.HDLCDecoder(max_len=MAX_HDLC).put_bits(bits) if ok]
            for fr in frames:
                yield from self._paced(dt, FIELD["hdlc-data"], t38_ifp.bitrev(fr), rate)
                self._send(Ifp(data_type=dt, fields=[(FIELD["hdlc-fcs-ok"], b"")]))
            self._send(Ifp(data_type=dt, fields=[(FIELD["hdlc-sig-end"], b"")]))
        else:
            pad = (-len(bits)) % 8
            data = np.packbits(np.concatenate([bits, np.zeros(pad, np.uint8)])).tobytes()
            yield from self._paced(dt, FIELD["t4-non-ecm-data"], data, rate)
            self._send(Ifp(data_type=dt, fields=[(FIELD["t4-non-ecm-sig-end"], b"")]))
        self._transmitting = False

    def _paced(self, dt: int, ft: int, data: bytes, rate: int) -> Step[None]:
        """Send `data` as fields of type `ft`, at most what `rate` bit/s allows by now (one IFP per block)."""
        start, sent = self.now, 0
        while sent < len(data):
            due = min(len(data), max(sent + 1, (self.now - start + 160) * rate // (8 * RATE)))
            due = min(due, sent + 300)
            self._send(Ifp(data_type=dt, fields=[(ft, data[sent:due])]))
            sent = due
            if sent < len(data):
                yield

    def start_hs_rx(self) -> IfpModemRx:   # type: ignore[override]
        """Listen for image data from now on (a signal already started is kept)."""
        rx = self._stash if self._stash is not None else IfpModemRx()
        self._stash = None
        self.hsrx = rx                      # type: ignore[assignment]
        return rx

    def stop_hs_rx(self) -> None:
        """Stop listening for image data."""
        self.hsrx = None


class T38Session(T30Session):
    """A T.30 fax session as a T.38 terminal: `put_ifp`/`take_ifps` for the packets, `rx(samples)` (or
    `advance(n)`) for the passing of time; the outcome is `out`, final once `done`."""

    def __init__(self, calling: bool, pages: list[FaxPage] | None,
                 receive_cb: Callable[[list[FaxPage]], object] | None = None,
                 modems: Sequence[str] = ("v27ter", "v29", "v17"), ecm: bool = False, ident: str = "",
                 log: Callable[[str], object] | None = None, version: int = 0) -> None:
        super().__init__(calling, pages, receive_cb, modems, ecm, ident, log)
        self.link = T38Link(calling, modems, ecm, ident, log, version)
        self.sender = T30Sender(self.link, pages or [])
        self.receiver = T30Receiver(self.link, self.sender)
        self._gen = self._main()

    @property
    def t38(self) -> T38Link:
        """The T.38 line core."""
        assert isinstance(self.link, T38Link)
        return self.link

    def put_ifp(self, data: bytes) -> None:
        """A received IFP packet."""
        self.t38.put_ifp(data)

    def take_ifps(self) -> list[bytes]:
        """IFP packets to send."""
        return self.t38.take_ifps()

    def advance(self, n: int) -> None:
        """Let n samples of time pass (handles received IFPs, runs the procedure)."""
        self.rx(np.zeros(n, np.int16))

    @property
    def outcome(self) -> FaxResult:
        """The outcome so far."""
        return self.link.out
