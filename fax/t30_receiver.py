"""The receiving side of T.30 (phases B-D as receiver): announce our capabilities (DIS, or DTC when we
poll), obey the sender's commands (DCS, TCF check, pages or ECM blocks, post-page commands) until DCN.
When a polled terminal asks us to send (DTC), the sender takes over."""
from __future__ import annotations

import logging

import numpy as np

from . import hdlc
from .t4 import T4Decoder, T4PageTooLong, bytes_to_bits_lsb, check_page, reverse_bits
from .t4_limits import MAX_PAGES, max_page_octets
from .t30_frames import FCF, DcsSettings, fcf_of, find_frame, ident_in, parse_dcs, parse_dis
from .t30_link import FOREVER, GAP, RATE, T1, T2, T4, Step, T30Failure, T30Link
from .t30_sender import T30Sender
from .tiff import CodedPage, FaxPage
from .v17 import V17Rx

__all__ = ["T30Receiver"]

_log = logging.getLogger("trunkline.fax.t30")
_FCD = FCF["FCD"]


class T30Receiver:
    """Receives pages into `received` (FaxPage list); `sender` sends ours when the remote polls (DTC)."""

    def __init__(self, link: T30Link, sender: T30Sender) -> None:
        self.link = link
        self.sender = sender
        self.received: list[FaxPage] = []
        # the page / ECM block in progress
        self._page_open = False
        self._page_rows: list[np.ndarray] = []
        self._page_bad = 0
        self._ecm_frames: dict[int, bytes] = {}
        self._ecm_page = bytearray()
        self._ecm_cont = False
        self._ecm_block_key: bytes | None = None
        self._ecm_block_nfr = 0
        self._ecm_done_key: bytes | None = None

    def run(self, first: list[bytes]) -> Step[None]:
        """Send DIS/DTC (`first`), then obey commands (DCS, pages, post-page commands, DCN)."""
        link = self.link
        ident_cmd = first
        end_t1 = link.now + T1
        settings: DcsSettings | None = None
        last_resp = None
        pending: list[bytes] | None = None
        frames: list[bytes] | None
        yield from link.send_frames(ident_cmd)
        dcs_seen = False
        while True:
            if pending is not None:
                frames, pending = pending, None
            else:
                frames = yield from link.recv_frames(T4 if not dcs_seen else T2)
            if frames is None:
                if not dcs_seen:
                    if link.now > end_t1:
                        raise T30Failure("T1 expired: no DCS from the calling terminal")
                    yield from link.send_frames(ident_cmd)
                    continue
                raise T30Failure("T2 expired waiting for a command")
            fcfs = [fcf_of(f) for f in frames]
            if FCF["DCN"] in fcfs:
                if link.out.pages and not self._page_open:
                    link.out.ok = True
                    link.out.reason = "OK"
                    return
                raise T30Failure("remote disconnected before a page was received")
            dtc = find_frame(frames, 0x81)
            if dtc is not None and self.sender.pages:  # DTC: we send (polled)
                link.out.remote_ident = ident_in(frames, 0x40) or link.out.remote_ident
                yield from link.wait(GAP)
                yield from self.sender.run(parse_dis(dtc[3:]))
                return
            if 0x80 in fcfs and link.calling:
                # DIS repeated after our DTC: answer it again
                yield from link.wait(GAP)
                yield from link.send_frames(ident_cmd)
                continue
            dcs = find_frame(frames, FCF["DCS"])
            if dcs is not None:
                dcs_seen = True
                settings = parse_dcs(dcs[3:])
                link.out.remote_ident = ident_in(frames, FCF["TSI"]) or link.out.remote_ident
                if settings["modem"] is None or settings["modem"][0] not in link.modems:
                    yield from link.wait(GAP)
                    yield from link.send_frames([link.frame("FTT")])
                    continue
                link.hs_name, link.hs_rate = settings["modem"]
                link.out.ecm = settings["ecm"]
                link.start_hs_rx()
                good, pending = yield from self._receive_tcf()
                if pending is not None:
                    continue
                yield from link.wait(GAP)
                if not good:
                    link.stop_hs_rx()
                    yield from link.send_frames([link.frame("FTT")])
                    continue
                link.out.bit_rate = link.hs_rate
                yield from link.send_frames([link.frame("CFR")])
                link.start_hs_rx()
                pending = yield from self._receive_image(settings)
                continue
            post = None
            for name in ("MPS", "EOP", "EOM", "PRI_MPS"):
                if FCF.get(name) in fcfs:
                    post = name
            if post is not None and settings is not None and not settings["ecm"]:
                if self._page_open:
                    rows, bad = self._close_page()
                    ok = rows > 0 and bad <= rows // 50  # copy quality: at most 2 % bad rows
                    if ok:
                        link.out.pages += 1
                    else:
                        self.received.pop()
                    last_resp = "MCF" if ok else "RTN"
                resp = last_resp or "RTN"
                yield from link.wait(GAP)
                yield from link.send_frames([link.frame(resp)])
                if resp == "MCF" and post == "MPS":
                    link.start_hs_rx()
                    pending = yield from self._receive_image(settings)
                elif resp == "MCF" and post == "EOM":
                    yield from link.send_frames(ident_cmd)
                    dcs_seen = False
                    end_t1 = link.now + T1
                continue
            pps = find_frame(frames, FCF["PPS"])
            if pps is not None and settings is not None and settings["ecm"]:
                fcf2 = pps[3] & 0xFE if len(pps) > 3 else 0
                nfr = (pps[6] + 1) if len(pps) > 6 else 0
                key = bytes(pps[4:6])
                if key == self._ecm_done_key and not self._ecm_frames:
                    # our MCF for this block was lost: confirm again, do not store it twice
                    yield from link.wait(GAP)
                    yield from link.send_frames([link.frame("MCF")])
                    if fcf2 in (FCF["MPS"], FCF["NULL"]):
                        link.start_hs_rx()
                        pending = yield from self._receive_image(settings, keep_ecm=fcf2 == FCF["NULL"])
                    continue
                if self._ecm_block_key == key:
                    # a retransmission's PPS may count only the resent frames: keep the block's count
                    nfr = max(nfr, self._ecm_block_nfr)
                self._ecm_block_key, self._ecm_block_nfr = key, nfr
                have = self._ecm_frames
                missing = [i for i in range(nfr) if i not in have]
                yield from link.wait(GAP)
                if missing and nfr:
                    bm = bytearray(32)
                    for i in missing:
                        bm[i // 8] |= 1 << (i % 8)
                    yield from link.send_frames([link.frame("PPR", bytes(bm))])
                    link.start_hs_rx()
                    pending = yield from self._receive_image(settings, keep_ecm=True)
                    continue
                # block complete
                self._ecm_page.extend(b"".join(have[i] for i in range(nfr)))
                if len(self._ecm_page) > max_page_octets(settings["width"]):
                    raise T30Failure(f"page too long: more than {max_page_octets(settings['width'])} octets")
                self._ecm_frames = {}
                self._ecm_block_key = None
                self._ecm_done_key = key
                if fcf2 in (FCF["MPS"], FCF["EOP"], FCF["EOM"]):
                    ok = self._close_ecm_page(settings)
                    if ok:
                        link.out.pages += 1
                yield from link.send_frames([link.frame("MCF")])
                if fcf2 in (FCF["MPS"], FCF["NULL"]):
                    link.start_hs_rx()
                    pending = yield from self._receive_image(settings, keep_ecm=fcf2 == FCF["NULL"])
                elif fcf2 == FCF["EOM"]:
                    yield from link.send_frames(ident_cmd)
                    dcs_seen = False
                    end_t1 = link.now + T1
                continue
            if FCF["RR"] in fcfs:
                yield from link.wait(GAP)
                yield from link.send_frames([link.frame("MCF")])
                continue
            if FCF["CRP"] in fcfs and last_resp:
                yield from link.wait(GAP)
                yield from link.send_frames([link.frame(last_resp)])
                continue
            link.note(f"ignored command {[hex(f) for f in fcfs]}")

    def _receive_tcf(self) -> Step[tuple[bool, list[bytes] | None]]:
        """Collect TCF bits; returns (good, pending_frames)."""
        link = self.link
        rx = link.hsrx
        assert rx is not None, "the image modem receiver is started before TCF"
        bits = []
        end = link.now + T2
        carrier_since = None
        while link.now < end:
            b = rx.take_bits()
            if len(b):
                bits.append(b)
            if rx.carrier:
                if carrier_since is None:
                    carrier_since = link.now
            elif carrier_since is not None:
                if rx.trained or link.now - carrier_since > RATE:
                    break  # carrier dropped after training, or after a long untrainable signal
                carrier_since = None
            if rx.signal_lost:
                break
            if link.frames:
                fr = yield from link.recv_frames(T4)
                link.stop_hs_rx()
                return False, fr
            link.sleep_until = end   # or the receiver's next bits or state change
            yield
        b = np.concatenate(bits) if bits else np.zeros(0, np.uint8)
        link.stop_hs_rx()
        # longest run of zeros must cover at least 0.8 s
        if len(b) == 0:
            link.note("TCF: no bits")
            return False, None
        ones = np.nonzero(b)[0]
        edges = np.concatenate([[-1], ones, [len(b)]])
        longest = int(np.max(np.diff(edges) - 1))
        good = longest >= int(0.8 * link.hs_rate)
        link.note(f"TCF {link.hs_name} {link.hs_rate}: {len(b)} bits, {len(ones)} ones, zero run {longest} -> "
                  f"{'good' if good else 'bad'}")
        return good, None

    def _receive_image(self, settings: DcsSettings, keep_ecm: bool = False) -> Step[list[bytes] | None]:
        """Receive one page (non-ECM) or one ECM block on the image modem; returns pending V.21 frames or None."""
        link = self.link
        rx = link.hsrx
        assert rx is not None, "the image modem receiver is started before a page"
        end = link.now + T2
        ecm = settings["ecm"]
        hd = hdlc.HDLCDecoder(max_len=300)
        dec = None if ecm else T4Decoder(settings["width"], settings["coding"])   # a page's decoder (not ECM)
        if ecm:
            if not keep_ecm:
                self._ecm_frames = {}
            if not keep_ecm and not self._ecm_cont:
                self._ecm_page = bytearray()
        rows: list[np.ndarray] = []
        trained = False
        in_kernel = rx if ecm and isinstance(rx, V17Rx) else None   # deframes: the session wakes per frame
        if in_kernel is not None:
            in_kernel.attach_hdlc(hd)
        while True:
            if rx.trained:
                trained = True
            if in_kernel is not None:
                self._ecm_store(in_kernel.take_frames())
            else:
                b = rx.take_bits()
                if len(b):
                    if dec is None:
                        self._ecm_store(hd.put_bits(b))
                    else:
                        rows += self._decode(dec, b)
            if trained and (rx.signal_lost or not rx.carrier):
                break
            if not trained and link.now > end:
                link.stop_hs_rx()
                return None
            if not trained and link.frames:
                link.stop_hs_rx()
                pending = yield from link.recv_frames(T4)
                return pending
            link.sleep_until = FOREVER if trained else end + 1   # or the receiver's next bits or state change
            yield
        link.stop_hs_rx()
        if dec is None:
            self._ecm_cont = True
            link.note(f"ECM block: {len(self._ecm_frames)} frames")
            return None
        rows += self._decode(dec, None)
        link.note(f"page: {len(rows)} rows, {dec.bad_rows} bad, RTC={dec.page_ended}")
        self._page_open = True
        self._page_rows = rows
        self._page_bad = dec.bad_rows
        self._check_pages()
        self.received.append(FaxPage(np.array(rows, np.uint8).reshape(-1, settings["width"]), 204.0,
                                     196.0 if settings["fine"] else 98.0))
        return None

    def _ecm_store(self, frames: list[tuple[bytes, bool]]) -> None:
        """Keep the good FCD frames of the ECM block in progress, by frame number."""
        store = self._ecm_frames
        for fr, ok in frames:
            if ok and len(fr) >= 4 and fr[2] == _FCD:
                store[fr[3]] = fr[4:]

    def _decode(self, dec: T4Decoder, bits: np.ndarray | None) -> list[np.ndarray]:
        """dec.feed(bits) (dec.finish() for None); a page over the row limit ends the session."""
        try:
            return dec.feed(bits) if bits is not None else dec.finish()
        except T4PageTooLong as exc:
            self.link.stop_hs_rx()
            raise T30Failure(str(exc)) from None

    def _check_pages(self) -> None:
        if len(self.received) >= MAX_PAGES:
            raise T30Failure(f"too many pages: more than {MAX_PAGES} in one session")

    def _close_page(self) -> tuple[int, int]:
        self._page_open = False
        return len(self._page_rows), self._page_bad

    def _close_ecm_page(self, settings: DcsSettings) -> bool:
        self._ecm_cont = False
        data = bytes(self._ecm_page)
        self._ecm_page = bytearray()
        y_dpi = 196.0 if settings["fine"] else 98.0
        msb = reverse_bits(data)
        rows = check_page(msb, settings["width"], settings["coding"]) if settings["coding"] != "mmr" else -1
        if rows > 0:   # clean (every row, RTC): kept as received, its image decoded only if someone asks
            self.link.note(f"ECM page: {rows} rows, 0 bad")
            self._check_pages()
            self.received.append(CodedPage(settings["coding"], msb, settings["width"], rows, 204.0, y_dpi))
            return True
        dec = T4Decoder(settings["width"], settings["coding"])
        try:
            image = dec.decode_all(bytes_to_bits_lsb(data))
        except T4PageTooLong as exc:
            raise T30Failure(str(exc)) from None
        except Exception as exc:   # one corrupt page from the line: refused (logged), the session goes on
            self.link.note(f"ECM page decode failed: {exc}")
            _log.warning("fax: ECM page decode failed: %s", exc)
            return False
        self.link.note(f"ECM page: {len(image)} rows, {dec.bad_rows} bad")
        if not len(image):
            return False
        self._check_pages()
        # a clean page (every row decoded, RTC or EOFB seen) is kept as received for the TIFF: no second coding
        coded = (settings["coding"], msb) if dec.page_ended and not dec.bad_rows else None
        self.received.append(FaxPage(image, 204.0, y_dpi, coded=coded))
        return True
