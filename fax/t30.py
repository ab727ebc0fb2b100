"""T.30 Group 3 fax procedure over 8 kHz audio: phases A-E, calling/answering, sending/receiving, ECM.

The session is a generator-driven state machine: `rx(samples)` feeds the V.21 receiver (always) and
the image-modem receiver (when one is expected), then advances the procedure by one step; `tx(n)`
pulls audio from whatever is being sent (CNG/CED tone, V.21 HDLC frames, image modem, silence).
Times are counted in samples of received audio (8000 per second).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trunkline.dsp.constants import RATE

from . import hdlc
from .t4 import T4Decoder, T4Encoder, bits_to_bytes_lsb, bytes_to_bits_lsb
from .tiff import FaxPage
from .v21 import V21Rx, V21Tx, dbm0_to_amplitude

__all__ = ["T30Session", "FCF", "FALLBACK", "build_dis", "parse_dis"]


# Frame control fields (FCF as the first octet after address/control; the X bit is bit 0)
FCF = dict(DIS=0x80, CSI=0x40, NSF=0x20, DTC=0x81, CIG=0x41, NSC=0x21, DCS=0x82, TSI=0x42, NSS=0x22,
           CFR=0x84, FTT=0x44, EOM=0x8E, MPS=0x4E, EOP=0x2E, PPS=0xBE, EOR=0xCE, RR=0x6E, MCF=0x8C,
           RTP=0xCC, RTN=0x4C, PIP=0xAC, PIN=0x2C, PPR=0xBC, RNR=0xEC, ERR=0x1C, DCN=0xFA, CRP=0x1A,
           CTC=0x12, CTR=0xC4, FCD=0x06, RCP=0x86, NULL=0x00)
NAMES = {v: k for k, v in FCF.items()}

# (modem, bit/s, DCS bits 11..14 as (b11, b12, b13, b14)); fastest first
FALLBACK = [
    ("v17", 14400, (0, 0, 0, 1)), ("v17", 12000, (0, 1, 0, 1)), ("v17", 9600, (1, 0, 0, 1)),
    ("v29", 9600, (1, 0, 0, 0)), ("v17", 7200, (1, 1, 0, 1)), ("v29", 7200, (1, 1, 0, 0)),
    ("v27ter", 4800, (0, 1, 0, 0)), ("v27ter", 2400, (0, 0, 0, 0)),
]

T1 = 35 * RATE  # waiting for the other terminal to be identified
T2 = 6 * RATE  # waiting for a command
T4 = 3 * RATE  # waiting for a response
T5 = 60 * RATE  # receiver not ready
GAP = 600  # 75 ms between the end of a received signal and our transmission


def _bit(fif: bytes, n: int) -> int:
    i = (n - 1) // 8
    return (fif[i] >> ((n - 1) % 8)) & 1 if i < len(fif) else 0


def _set(fif: bytearray, n: int, v: int = 1):
    i = (n - 1) // 8
    while len(fif) <= i:
        fif.append(0)
    if v:
        fif[i] |= 1 << ((n - 1) % 8)
    else:
        fif[i] &= ~(1 << ((n - 1) % 8)) & 0xFF


# minimum scan line time codes (bits 21,22,23) -> ms, and the DCS code we use for each DIS code
_SCAN_MS = {(0, 0, 0): 20, (0, 0, 1): 40, (0, 1, 0): 10, (1, 0, 0): 5, (0, 1, 1): 10, (1, 1, 0): 20,
            (1, 0, 1): 40, (1, 1, 1): 0}
_SCAN_DCS = {20: (0, 0, 0), 40: (0, 0, 1), 10: (0, 1, 0), 5: (1, 0, 0), 0: (1, 1, 1)}


def build_dis(modems, can_receive: bool, can_send: bool, ecm: bool, dtc: bool = False) -> bytes:
    """FIF of a DIS (or DTC) for our capabilities."""
    f = bytearray(4)
    _set(f, 9, 1 if can_send else 0)
    _set(f, 10, 1 if can_receive else 0)
    if "v17" in modems:  # V.27ter + V.29 + V.17 (code 1,1,0,1 as spandsp uses it)
        for b in (11, 12, 14):
            _set(f, b)
    else:
        if "v29" in modems:
            _set(f, 11)
        if "v27ter" in modems:
            _set(f, 12)
    _set(f, 15)  # fine resolution
    _set(f, 16)  # 2-D coding
    _set(f, 17, 0)
    _set(f, 18, 1)  # widths 215, 255, 303 mm
    _set(f, 19, 0)
    _set(f, 20, 1)  # unlimited length
    for b in (21, 22, 23):
        _set(f, b)  # 0 ms minimum scan line time
    _set(f, 24)  # extend
    if ecm:
        _set(f, 27)
        _set(f, 31)  # T.6 (needs ECM)
    return bytes(f)


def parse_dis(fif: bytes) -> dict:
    """Capabilities from a DIS/DTC FIF: modems, fine, 2-D, T.6, ECM, widths, scan time (ms), can send/receive."""
    m = set()
    b11, b12, b13, b14 = (_bit(fif, n) for n in (11, 12, 13, 14))
    if b12:
        m.add("v27ter")
    if b11:
        m.add("v29")
    if b14 and b11 and b12:
        m.add("v17")
    if not (b11 or b12 or b13 or b14):
        m.add("v27ter")  # fall-back mode (2400 only)
    w = (_bit(fif, 17), _bit(fif, 18))
    widths = {1728}
    if w == (0, 1):
        widths |= {2048, 2432}
    elif w == (1, 0):
        widths |= {2048}
    scan = _SCAN_MS.get((_bit(fif, 21), _bit(fif, 22), _bit(fif, 23)), 20)
    ext = _bit(fif, 24)
    return dict(modems=m, fine=bool(_bit(fif, 15)), mr=bool(_bit(fif, 16)), widths=widths, scan_ms=scan,
                ecm=bool(ext and _bit(fif, 27)), t6=bool(ext and _bit(fif, 27) and _bit(fif, 31)),
                can_send=bool(_bit(fif, 9)), can_receive=bool(_bit(fif, 10)),
                v27_fallback_only=not (b11 or b12 or b13 or b14))


def build_dcs(rate_bits, fine, coding, width, scan_ms, ecm, frame64=False) -> bytes:
    """FIF of a DCS."""
    f = bytearray(4)
    _set(f, 10)
    for n, v in zip((11, 12, 13, 14), rate_bits):
        _set(f, n, v)
    _set(f, 15, 1 if fine else 0)
    _set(f, 16, 1 if coding == "mr" else 0)
    wb = {1728: (0, 0), 2432: (0, 1), 2048: (1, 0)}[width]
    _set(f, 17, wb[0])
    _set(f, 18, wb[1])
    _set(f, 19, 0)
    _set(f, 20, 1)
    for n, v in zip((21, 22, 23), _SCAN_DCS[scan_ms]):
        _set(f, n, v)
    _set(f, 24)
    if ecm:
        _set(f, 27)
        _set(f, 28, 1 if frame64 else 0)
        if coding == "mmr":
            _set(f, 31)
    return bytes(f)


def parse_dcs(fif: bytes) -> dict:
    """Settings from a DCS FIF: modem, bit rate, fine, coding, width, ECM, frame size, scan time."""
    rb = tuple(_bit(fif, n) for n in (11, 12, 13, 14))
    modem = None
    for name, rate, bits in FALLBACK:
        if bits == rb:
            modem = (name, rate)
    ecm = bool(_bit(fif, 24) and _bit(fif, 27))
    if ecm and _bit(fif, 31):
        coding = "mmr"
    else:
        coding = "mr" if _bit(fif, 16) else "mh"
    wb = (_bit(fif, 17), _bit(fif, 18))
    width = {(0, 0): 1728, (0, 1): 2432, (1, 0): 2048}.get(wb, 1728)
    scan = _SCAN_MS.get((_bit(fif, 21), _bit(fif, 22), _bit(fif, 23)), 20)
    return dict(modem=modem, fine=bool(_bit(fif, 15)), coding=coding, width=width, ecm=ecm,
                frame_size=64 if (ecm and _bit(fif, 28)) else 256, scan_ms=scan)


def _ident_fif(ident: str) -> bytes:
    return ident[:20].ljust(20).encode("ascii", "replace")[::-1]


def _ident_from(fif: bytes) -> str:
    return fif[::-1].decode("ascii", "replace").strip()


class _Tone:
    """Cadenced sine: on/off in samples, repeated."""

    def __init__(self, freq, level_dbm0, on, off, total=None):
        self.freq, self.amp, self.on, self.off = freq, dbm0_to_amplitude(level_dbm0), on, off
        self.pos = 0
        self.total = total
        self.done = False

    def tx(self, n):
        t = self.pos + np.arange(n)
        period = self.on + self.off
        gate = (t % period) < self.on if self.off else np.ones(n, bool)
        if self.total is not None:
            gate &= t < self.total
            if self.pos + n >= self.total:
                self.done = True
        self.pos += n
        return np.where(gate, self.amp * np.sin(2 * np.pi * self.freq * t / RATE), 0).astype(np.int16)


@dataclass
class T30Outcome:
    """How the session ended."""
    ok: bool = False
    pages: int = 0
    bit_rate: int = 0
    ecm: bool = False
    reason: str = ""
    remote_ident: str = ""


class _Fail(Exception):
    pass


class T30Session:
    """One T.30 fax session on one audio channel (use through FaxEndpoint)."""

    def __init__(self, calling: bool, pages: list[FaxPage] | None, receive_cb=None,
                 modems=("v27ter", "v29", "v17"), ecm=False, ident="", log=None):
        from . import modems as _modems  # the high-speed modem factory

        self._modems = _modems
        self.calling = calling
        self.pages = pages or []
        self.receive_cb = receive_cb  # called with the list of received FaxPage at the end
        self.want_receive = receive_cb is not None
        self.modems = tuple(m for m in modems if m in ("v27ter", "v29", "v17"))
        if not self.modems:
            raise ValueError("no usable modems given (v27ter, v29, v17)")
        self.ecm = ecm
        self.ident = ident
        self.log = log
        self.now = 0
        self.v21rx = V21Rx()
        self.hdlc_rx = hdlc.HDLCDecoder()
        self.src = None
        self._transmitting = False
        self._frames: list[bytes] = []
        self.hsrx = None
        self.hs_name = None
        self.hs_rate = 0
        self.dis_received = 0
        self.out = T30Outcome()
        self.received: list[FaxPage] = []
        self.done = False
        # receiver state for the page / ECM block in progress
        self._page_open = False
        self._page_rows: list = []
        self._page_bad = 0
        self._ecm_frames: dict[int, bytes] = {}
        self._ecm_page = bytearray()
        self._ecm_cont = False
        self._ecm_block_key = None
        self._ecm_block_nfr = 0
        self._ecm_done_key = None
        self._v21_skipped = False
        self.ecm_frames_resent = 0
        self.page_fine = False
        self._gen = self._main()

    # ------------------------------------------------------------------ audio plumbing
    def tx(self, n: int) -> np.ndarray:
        """Next n int16 samples to send."""
        s = self.src
        if s is None:
            self._transmitting = False
            return np.zeros(n, dtype=np.int16)
        out = s.tx(n)
        out = np.asarray(out, dtype=np.int16)
        if len(out) < n:
            out = np.concatenate([out, np.zeros(n - len(out), np.int16)])
        return out

    def rx(self, samples) -> None:
        """Feed received int16 samples and advance the procedure."""
        samples = np.asarray(samples, dtype=np.int16)
        hs = self.hsrx
        if hs is not None and hs.trained and hs.carrier:
            bits = ()  # image data on the line: V.21 is idle (saves its cost per block)
            self._v21_skipped = True
        else:
            if self._v21_skipped:
                self.v21rx.reset()
                self._v21_skipped = False
            self.v21rx.rx(samples)
            bits = self.v21rx.take_bits()
        if len(bits):
            for fr, ok in self.hdlc_rx.put_bits(bits):
                if ok and not self._transmitting and len(fr) >= 3 and fr[0] == 0xFF:
                    self._frames.append(fr)
                    self._log(f"rx {NAMES.get(self._fcf(fr), hex(fr[2]))} {fr[3:].hex()}")
        if self.hsrx is not None:
            self.hsrx.rx(samples)
        self.now += len(samples)
        if not self.done:
            try:
                next(self._gen)
            except StopIteration:
                self._finish()

    def _log(self, msg):
        if self.log:
            self.log(f"{self.now / RATE:8.3f} {'caller' if self.calling else 'answer'} {msg}")

    @staticmethod
    def _fcf(fr: bytes) -> int:
        f = fr[2]
        if f in (0x80, 0x81, 0x40, 0x41, 0x20, 0x21, FCF["FCD"], FCF["RCP"]):
            return f
        return f & 0xFE

    def _finish(self):
        self.done = True
        self.src = None
        if self.receive_cb is not None and self.received:
            try:
                self.receive_cb(self.received)
            except Exception as exc:  # report, never lose the outcome
                self.out.ok = False
                self.out.reason = f"could not store received pages: {exc}"

    # ------------------------------------------------------------------ primitives
    def _wait(self, samples):
        end = self.now + samples
        while self.now < end:
            yield

    def _frame(self, name, fif=b"", final=True, x=None):
        f = FCF[name]
        if name not in ("DIS", "CSI", "NSF", "DTC", "CIG", "NSC"):
            f |= self.dis_received if x is None else x
        return bytes([0xFF, 0x13 if final else 0x03, f]) + bytes(fif)

    def _send_frames(self, frames, preamble_s=1.0):
        for fr in frames:
            self._log(f"tx {NAMES.get(self._fcf(fr), hex(fr[2]))} {fr[3:].hex()}")
        bits = hdlc.HDLCEncoder().encode(frames, preamble_flags=max(1, int(preamble_s * 300 / 8)),
                                         between_flags=1, closing_flags=2)
        t = V21Tx()
        t.send_bits(bits)
        self.src = t
        self._transmitting = True
        while not t.done:
            yield
        self.src = None
        yield from self._wait(160)
        self._transmitting = False
        self._frames.clear()

    def _recv_frames(self, timeout):
        """Wait for a complete frame sequence (up to one with the final bit); None on timeout."""
        end = self.now + timeout
        got = []
        while True:
            while self._frames:
                fr = self._frames.pop(0)
                got.append(fr)
                if fr[1] == 0x13:
                    return got
            if self.now >= end and not self.v21rx.carrier:
                return got or None
            if self.now >= end + 3 * RATE:
                return got or None
            yield

    def _send_hs(self, bits, short_train=False):
        yield from self._wait(GAP)  # 75 ms after the last V.21 signal
        t = self._modems.make_tx(self.hs_name, self.hs_rate, short_train=short_train)
        t.send_bits(np.asarray(bits, dtype=np.uint8))
        t.finish()
        self.src = t
        self._transmitting = True
        while not t.done:
            yield
        self.src = None
        self._transmitting = False

    def _start_hs_rx(self):
        self.hsrx = self._modems.make_rx(self.hs_name, self.hs_rate)

    def _stop_hs_rx(self):
        self.hsrx = None

    # ------------------------------------------------------------------ phase A/B
    def _main(self):
        try:
            if self.calling:
                yield from self._caller()
            else:
                yield from self._answerer()
        except _Fail as exc:
            self.out.ok = False
            self.out.reason = str(exc)
            self._log(f"fail: {exc}")
            self.src = None
            yield from self._wait(GAP)
            yield from self._send_frames([self._frame("DCN")])
            return

    def _caller(self):
        # CNG: 1100 Hz, 0.5 s on 3 s off, while waiting for DIS
        self.src = _Tone(1100, -13, 4000, 24000)
        end = self.now + T1
        while True:
            frames = yield from self._recv_frames(end - self.now)
            if frames is None:
                raise _Fail("T1 expired: no DIS from the answering terminal")
            self.src = None
            dis = self._find(frames, 0x80)
            if dis is not None:
                break
        caps = parse_dis(dis[3:])
        self.dis_received = 1
        self.out.remote_ident = self._ident_in(frames, 0x40) or self.out.remote_ident
        yield from self._wait(GAP)
        if self.pages and caps["can_receive"]:
            yield from self._sender(caps)
        elif self.want_receive and caps["can_send"]:
            dtc = build_dis(self.modems, True, False, self.ecm)
            yield from self._receiver(first=[self._frame("CIG", _ident_fif(self.ident), final=False),
                                             self._frame("DTC", dtc)])
        elif self.pages:
            raise _Fail("remote terminal cannot receive")
        else:
            raise _Fail("remote terminal has nothing to send (no polling)")

    def _answerer(self):
        yield from self._wait(1600)  # 200 ms silence
        t = _Tone(2100, -13, 1, 0, total=int(2.6 * RATE))
        self.src = t
        while not t.done:
            yield
        self.src = None
        yield from self._wait(GAP)
        dis = build_dis(self.modems, self.want_receive, bool(self.pages), self.ecm)
        yield from self._receiver(first=[self._frame("CSI", _ident_fif(self.ident), final=False),
                                         self._frame("DIS", dis)], answering=True)

    @staticmethod
    def _find(frames, fcf):
        for fr in frames:
            if T30Session._fcf(fr) == fcf:
                return fr
        return None

    def _ident_in(self, frames, fcf):
        fr = self._find(frames, fcf) or self._find(frames, fcf | 1)
        return _ident_from(fr[3:]) if fr is not None and len(fr) > 3 else ""

    # ------------------------------------------------------------------ sender
    def _candidates(self, caps):
        out = []
        for name, rate, bits in FALLBACK:
            if name in self.modems and name in caps["modems"]:
                if caps.get("v27_fallback_only") and rate != 2400:
                    continue
                out.append((name, rate, bits))
        return out

    def _sender(self, caps):
        cands = self._candidates(caps)
        if not cands:
            raise _Fail("no common modem with the remote terminal")
        ecm = self.ecm and caps["ecm"]
        if ecm:
            coding = "mmr" if caps["t6"] else ("mr" if caps["mr"] else "mh")
        else:
            coding = "mr" if caps["mr"] else "mh"
        first = self.pages[0]
        fine = first.fine and caps["fine"]
        width = first.width
        if width not in caps["widths"]:
            raise _Fail(f"remote terminal cannot print {width}-pixel lines")
        scan_ms = 0 if ecm else caps["scan_ms"]
        self.out.ecm = ecm
        ci = 0
        page_i = 0
        need_train = True
        retries = 0
        while page_i < len(self.pages):
            if need_train:
                while True:
                    name, rate, bits = cands[ci]
                    self.hs_name, self.hs_rate = name, rate
                    dcs = build_dcs(bits, fine, coding, width, scan_ms, ecm)
                    res = yield from self._train(dcs)
                    if res == "CFR":
                        break
                    ci += 1
                    if ci >= len(cands):
                        raise _Fail("training failed at every speed")
                need_train = False
                self.out.bit_rate = rate
                self.page_fine = fine
            img = self._page_image(self.pages[page_i], fine, width)
            last = page_i == len(self.pages) - 1
            post = "EOP" if last else "MPS"
            if ecm:
                resp = yield from self._send_page_ecm(img, coding, post, page_i)
            else:
                min_bits = self.hs_rate * scan_ms // 1000
                resp = yield from self._send_page(img, coding, post, min_bits)
            if resp in ("MCF", "RTP"):
                page_i += 1
                self.out.pages = page_i
                retries = 0
                if resp == "RTP":
                    need_train = True
            elif resp == "RTN":
                retries += 1
                if retries > 3:
                    raise _Fail("page rejected (RTN) too many times")
                need_train = True
                if ci + 1 < len(cands):
                    ci += 1
            elif resp == "PIN" or resp == "PIP":
                raise _Fail("procedure interrupt from remote")
            else:
                # no usable answer to the page (e.g. the receiver could not train): retrain slower
                self._log(f"page not confirmed ({resp}); retraining")
                retries += 1
                if retries > 3:
                    raise _Fail(f"page not confirmed after retries (last response {resp})")
                need_train = True
                # TCF passed but the page did not get through: try the next modem type
                nxt = [j for j in range(ci + 1, len(cands)) if cands[j][0] != cands[ci][0]]
                if nxt:
                    ci = nxt[0]
                elif ci + 1 < len(cands):
                    ci += 1
        yield from self._wait(GAP)
        yield from self._send_frames([self._frame("DCN")])
        self.out.ok = True
        self.out.reason = "OK"

    def _page_image(self, page: FaxPage, fine: bool, width: int) -> np.ndarray:
        img = np.asarray(page.image, dtype=np.uint8)
        if img.shape[1] != width:
            raise _Fail(f"page width {img.shape[1]} differs from the negotiated {width}")
        if page.fine and not fine:
            img = img[::2] | img[1::2][: len(img[::2])] if len(img) > 1 else img
        elif fine and not page.fine:
            img = np.repeat(img, 2, axis=0)
        return img

    def _train(self, dcs):
        """DCS + TCF; returns 'CFR' or 'FTT' (after up to 3 tries without an answer)."""
        for _ in range(3):
            yield from self._send_frames([self._frame("TSI", _ident_fif(self.ident), final=False),
                                          self._frame("DCS", dcs)])
            yield from self._send_hs(np.zeros(int(1.5 * self.hs_rate), np.uint8))
            frames = yield from self._recv_frames(T4)
            if frames is None:
                continue
            if self._find(frames, FCF["CFR"]) is not None:
                yield from self._wait(GAP)
                return "CFR"
            if self._find(frames, FCF["FTT"]) is not None:
                self._log(f"FTT at {self.hs_name} {self.hs_rate}")
                yield from self._wait(GAP)
                return "FTT"
            if self._find(frames, FCF["DCN"]) is not None:
                raise _Fail("remote disconnected during training")
            if self._find(frames, 0x80) is not None:  # DIS again: our DCS was lost
                continue
        raise _Fail("no response to DCS/TCF")

    def _post_command(self, frames_fn):
        """Send a post-message command up to 3 times until a response arrives; returns the frames."""
        for _ in range(3):
            yield from self._wait(GAP)
            yield from self._send_frames(frames_fn(), preamble_s=1.0)
            frames = yield from self._recv_frames(T4)
            if frames:
                return frames
        raise _Fail("no response to post-message command")

    def _send_page(self, img, coding, post, min_bits):
        enc = T4Encoder(img.shape[1], coding, k=4 if self.page_fine else 2, min_bits=min_bits)
        bits = np.concatenate([np.zeros(0, np.uint8)] + [enc.encode_line(r) for r in img] + [enc.finish()])
        short = self.hs_name == "v17"
        yield from self._send_hs(bits, short_train=short)
        try:
            frames = yield from self._post_command(lambda: [self._frame(post)])
        except _Fail:
            return "none"
        for name in ("MCF", "RTP", "RTN", "PIP", "PIN"):
            if self._find(frames, FCF[name]) is not None:
                return name
        if self._find(frames, FCF["DCN"]) is not None:
            raise _Fail("remote disconnected after a page")
        return "?" + frames[-1][2:3].hex()

    def _send_page_ecm(self, img, coding, post, page_i):
        enc = T4Encoder(img.shape[1], coding, k=4 if self.page_fine else 2)
        bits = np.concatenate([enc.encode_line(r) for r in img] + [enc.finish()])
        data = bits_to_bytes_lsb(bits)
        fsize = 256
        frames = [data[i:i + fsize] for i in range(0, len(data), fsize)]
        blocks = [frames[i:i + 256] for i in range(0, len(frames), 256)]
        short = self.hs_name == "v17"
        for bi, block in enumerate(blocks):
            last_block = bi == len(blocks) - 1
            fcf2 = (FCF[post] | self.dis_received) if last_block else FCF["NULL"]
            todo = list(range(len(block)))
            pprs = 0
            while True:
                hd = [bytes([0xFF, 0x03, FCF["FCD"], i]) + block[i] for i in todo]
                hd += [bytes([0xFF, 0x03, FCF["RCP"]])] * 3
                hb = np.concatenate([hdlc.flag_bits(int(0.2 * self.hs_rate / 8)),
                                     hdlc.HDLCEncoder().encode(hd, 1, 1, 4)])
                yield from self._send_hs(hb, short_train=short)
                pps = bytes([fcf2, page_i & 0xFF, bi & 0xFF, len(block) - 1])
                resp = yield from self._post_command(lambda: [self._frame("PPS", pps)])
                rnr_since = self.now
                while self._find(resp, FCF["RNR"]) is not None:
                    if self.now - rnr_since > T5:
                        raise _Fail("T5 expired: receiver not ready")
                    resp = yield from self._post_command(lambda: [self._frame("RR")])
                if self._find(resp, FCF["MCF"]) is not None:
                    break
                ppr = self._find(resp, FCF["PPR"])
                if ppr is None:
                    if self._find(resp, FCF["DCN"]) is not None:
                        raise _Fail("remote disconnected during an ECM block")
                    raise _Fail(f"unexpected ECM response {resp[-1][2:3].hex()}")
                pprs += 1
                if pprs > 8:
                    raise _Fail("ECM block not accepted after 8 partial page requests")
                bm = ppr[3:35]
                todo = [i for i in range(len(block)) if i // 8 < len(bm) and (bm[i // 8] >> (i % 8)) & 1]
                self.ecm_frames_resent += len(todo)
                self._log(f"PPR: resend {len(todo)} frames")
                if not todo:
                    todo = list(range(len(block)))
        return "MCF"

    # ------------------------------------------------------------------ receiver
    def _receiver(self, first, answering=False):
        """Send DIS/DTC, then obey commands (DCS, pages, post-page commands, DCN)."""
        ident_cmd = first
        end_t1 = self.now + T1
        settings = None
        last_resp = None
        pending = None
        yield from self._send_frames(ident_cmd)
        dcs_seen = False
        while True:
            if pending is not None:
                frames, pending = pending, None
            else:
                frames = yield from self._recv_frames(T4 if not dcs_seen else T2)
            if frames is None:
                if not dcs_seen:
                    if self.now > end_t1:
                        raise _Fail("T1 expired: no DCS from the calling terminal")
                    yield from self._send_frames(ident_cmd)
                    continue
                raise _Fail("T2 expired waiting for a command")
            fcfs = [self._fcf(f) for f in frames]
            if FCF["DCN"] in fcfs:
                if self.out.pages and not self._page_open:
                    self.out.ok = True
                    self.out.reason = "OK"
                    return
                raise _Fail("remote disconnected before a page was received")
            if 0x81 in fcfs and self.pages:  # DTC: we send (polled)
                dtc = self._find(frames, 0x81)
                self.out.remote_ident = self._ident_in(frames, 0x40) or self.out.remote_ident
                yield from self._wait(GAP)
                yield from self._sender(parse_dis(dtc[3:]))
                return
            if 0x80 in fcfs and self.calling:
                # DIS repeated after our DTC: answer it again
                yield from self._wait(GAP)
                yield from self._send_frames(ident_cmd)
                continue
            if FCF["DCS"] in fcfs:
                dcs_seen = True
                settings = parse_dcs(self._find(frames, FCF["DCS"])[3:])
                self.out.remote_ident = self._ident_in(frames, FCF["TSI"]) or self.out.remote_ident
                if settings["modem"] is None or settings["modem"][0] not in self.modems:
                    yield from self._wait(GAP)
                    yield from self._send_frames([self._frame("FTT")])
                    continue
                self.hs_name, self.hs_rate = settings["modem"]
                self.out.ecm = settings["ecm"]
                self._start_hs_rx()
                good, pending = yield from self._receive_tcf()
                if pending is not None:
                    continue
                yield from self._wait(GAP)
                if not good:
                    self._stop_hs_rx()
                    yield from self._send_frames([self._frame("FTT")])
                    continue
                self.out.bit_rate = self.hs_rate
                yield from self._send_frames([self._frame("CFR")])
                self._start_hs_rx()
                pending = yield from self._receive_image(settings)
                continue
            post = None
            for name in ("MPS", "EOP", "EOM", "PRI_MPS"):
                if FCF.get(name) in fcfs:
                    post = name
            if post is not None and settings is not None and not settings["ecm"]:
                if self._page_open:
                    rows, bad = self._close_page(settings)
                    ok = rows > 0 and bad <= rows // 50  # copy quality: at most 2 % bad rows
                    if ok:
                        self.out.pages += 1
                    else:
                        self.received.pop()
                    last_resp = "MCF" if ok else "RTN"
                resp = last_resp or "RTN"
                yield from self._wait(GAP)
                yield from self._send_frames([self._frame(resp)])
                if resp == "MCF" and post == "MPS":
                    self._start_hs_rx()
                    pending = yield from self._receive_image(settings)
                elif resp == "MCF" and post == "EOM":
                    yield from self._send_frames(ident_cmd)
                    dcs_seen = False
                    end_t1 = self.now + T1
                continue
            if FCF["PPS"] in fcfs and settings is not None and settings["ecm"]:
                pps = self._find(frames, FCF["PPS"])
                fcf2 = pps[3] & 0xFE if len(pps) > 3 else 0
                nfr = (pps[6] + 1) if len(pps) > 6 else 0
                key = bytes(pps[4:6])
                if key == self._ecm_done_key and not self._ecm_frames:
                    # our MCF for this block was lost: confirm again, do not store it twice
                    yield from self._wait(GAP)
                    yield from self._send_frames([self._frame("MCF")])
                    if fcf2 in (FCF["MPS"], FCF["NULL"]):
                        self._start_hs_rx()
                        pending = yield from self._receive_image(settings, keep_ecm=fcf2 == FCF["NULL"])
                    continue
                if self._ecm_block_key == key:
                    # a retransmission's PPS may count only the resent frames: keep the block's count
                    nfr = max(nfr, self._ecm_block_nfr)
                self._ecm_block_key, self._ecm_block_nfr = key, nfr
                have = self._ecm_frames
                missing = [i for i in range(nfr) if i not in have]
                yield from self._wait(GAP)
                if missing and nfr:
                    bm = bytearray(32)
                    for i in missing:
                        bm[i // 8] |= 1 << (i % 8)
                    yield from self._send_frames([self._frame("PPR", bytes(bm))])
                    self._start_hs_rx()
                    pending = yield from self._receive_image(settings, keep_ecm=True)
                    continue
                # block complete
                self._ecm_page.extend(b"".join(have[i] for i in range(nfr)))
                self._ecm_frames = {}
                self._ecm_block_key = None
                self._ecm_done_key = key
                if fcf2 in (FCF["MPS"], FCF["EOP"], FCF["EOM"]):
                    ok = self._close_ecm_page(settings)
                    if ok:
                        self.out.pages += 1
                yield from self._send_frames([self._frame("MCF")])
                if fcf2 in (FCF["MPS"], FCF["NULL"]):
                    self._start_hs_rx()
                    pending = yield from self._receive_image(settings, keep_ecm=fcf2 == FCF["NULL"])
                elif fcf2 == FCF["EOM"]:
                    yield from self._send_frames(ident_cmd)
                    dcs_seen = False
                    end_t1 = self.now + T1
                continue
            if FCF["RR"] in fcfs:
                yield from self._wait(GAP)
                yield from self._send_frames([self._frame("MCF")])
                continue
            if FCF["CRP"] in fcfs and last_resp:
                yield from self._wait(GAP)
                yield from self._send_frames([self._frame(last_resp)])
                continue
            self._log(f"ignored command {[hex(f) for f in fcfs]}")

    def _receive_tcf(self):
        """Collect TCF bits; returns (good, pending_frames)."""
        rx = self.hsrx
        bits = []
        end = self.now + T2
        carrier_since = None
        while self.now < end:
            b = rx.take_bits()
            if len(b):
                bits.append(b)
            if rx.carrier:
                if carrier_since is None:
                    carrier_since = self.now
            elif carrier_since is not None:
                if rx.trained or self.now - carrier_since > RATE:
                    break  # carrier dropped after training, or after a long untrainable signal
                carrier_since = None
            if rx.signal_lost:
                break
            if self._frames:
                fr = yield from self._recv_frames(T4)
                self._stop_hs_rx()
                return False, fr
            yield
        b = np.concatenate(bits) if bits else np.zeros(0, np.uint8)
        self._stop_hs_rx()
        # longest run of zeros must cover at least 0.8 s
        if len(b) == 0:
            self._log("TCF: no bits")
            return False, None
        ones = np.nonzero(b)[0]
        edges = np.concatenate([[-1], ones, [len(b)]])
        longest = int(np.max(np.diff(edges) - 1))
        good = longest >= int(0.8 * self.hs_rate)
        self._log(f"TCF {self.hs_name} {self.hs_rate}: {len(b)} bits, {len(ones)} ones, zero run {longest} -> "
                  f"{'good' if good else 'bad'}")
        return good, None

    def _receive_image(self, settings, keep_ecm=False):
        """Receive one page (non-ECM) or one ECM block on the image modem; returns pending V.21 frames or None."""
        rx = self.hsrx
        end = self.now + T2
        ecm = settings["ecm"]
        if ecm:
            if not keep_ecm:
                self._ecm_frames = {}
            if not keep_ecm and not self._ecm_cont:
                self._ecm_page = bytearray()
            hd = hdlc.HDLCDecoder(max_len=300)
        else:
            dec = T4Decoder(settings["width"], settings["coding"])
            rows = []
        trained = False
        while True:
            if rx.trained:
                trained = True
            b = rx.take_bits()
            if len(b):
                if ecm:
                    for fr, ok in hd.put_bits(b):
                        if ok and len(fr) >= 4 and fr[2] == FCF["FCD"]:
                            self._ecm_frames[fr[3]] = bytes(fr[4:])
                else:
                    rows += dec.feed(b)
            if trained and (rx.signal_lost or not rx.carrier):
                break
            if not trained and self.now > end:
                self._stop_hs_rx()
                return None
            if not trained and self._frames:
                self._stop_hs_rx()
                fr = yield from self._recv_frames(T4)
                return fr
            yield
        self._stop_hs_rx()
        if ecm:
            self._ecm_cont = True
            self._log(f"ECM block: {len(self._ecm_frames)} frames")
            return None
        rows += dec.finish()
        self._log(f"page: {len(rows)} rows, {dec.bad_rows} bad, RTC={dec.page_ended}")
        self._page_open = True
        self._page_rows = rows
        self._page_bad = dec.bad_rows
        self.received.append(FaxPage(np.array(rows, np.uint8).reshape(-1, settings["width"]), 204.0,
                                     196.0 if settings["fine"] else 98.0))
        return None

    def _close_page(self, settings):
        self._page_open = False
        return len(self._page_rows), self._page_bad

    def _close_ecm_page(self, settings):
        self._ecm_cont = False
        data = bytes(self._ecm_page)
        self._ecm_page = bytearray()
        dec = T4Decoder(settings["width"], settings["coding"])
        try:
            rows = dec.feed(bytes_to_bits_lsb(data)) + dec.finish()
        except Exception as exc:
            self._log(f"ECM page decode failed: {exc}")
            return False
        self._log(f"ECM page: {len(rows)} rows, {dec.bad_rows} bad")
        if not rows:
            return False
        self.received.append(FaxPage(np.array(rows, np.uint8).reshape(-1, settings["width"]), 204.0,
                                     196.0 if settings["fine"] else 98.0))
        return True
