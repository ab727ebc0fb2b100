"""The sending side of T.30 (phases B-D as transmitter): pick a modem and coding from the remote DIS,
DCS + TCF training with fall-back, each page (T.4/T.6, or ECM blocks with partial page retransmission),
post-page commands, and DCN at the end."""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from . import hdlc
from .t4 import T4Encoder, reverse_bits
from .t30_frames import FALLBACK, FCF, DisCaps, build_dcs, find_frame, ident_fif
from .t30_link import GAP, T4, T5, Step, T30Failure, T30Link
from .tiff import FaxPage

__all__ = ["T30Sender"]

#: a modem the sender may train at: (name, bit/s, DCS rate bits)
Candidate = tuple[str, int, tuple[int, int, int, int]]


class T30Sender:
    """Sends `pages` to a terminal that announced `caps` (its DIS, or its DTC when it polls us)."""

    def __init__(self, link: T30Link, pages: list[FaxPage]) -> None:
        self.link = link
        self.pages = pages
        self.page_fine = False
        self.ecm_frames_resent = 0
        self._page_coded: tuple[str, bytes] | None = None   # the current page's coded data as stored

    def _candidates(self, caps: DisCaps) -> list[Candidate]:
        out = []
        for name, rate, bits in FALLBACK:
            if name in self.link.modems and name in caps["modems"]:
                if caps["v27_fallback_only"] and rate != 2400:
                    continue
                out.append((name, rate, bits))
        return out

    def run(self, caps: DisCaps) -> Step[None]:
        """Send every page, then DCN; sets the outcome (ok, pages, bit rate, ECM); T30Failure on failure."""
        link = self.link
        cands = self._candidates(caps)
        if not cands:
            raise T30Failure("no common modem with the remote terminal")
        ecm = link.ecm and caps["ecm"]
        if ecm:
            coding = "mmr" if caps["t6"] else ("mr" if caps["mr"] else "mh")
        else:
            coding = "mr" if caps["mr"] else "mh"
        first = self.pages[0]
        fine = first.fine and caps["fine"]
        width = first.width
        if width not in caps["widths"]:
            raise T30Failure(f"remote terminal cannot print {width}-pixel lines")
        scan_ms = 0 if ecm else caps["scan_ms"]
        link.out.ecm = ecm
        ci = 0
        page_i = 0
        need_train = True
        retries = 0
        while page_i < len(self.pages):
            if need_train:
                while True:
                    name, rate, bits = cands[ci]
                    link.hs_name, link.hs_rate = name, rate
                    dcs = build_dcs(bits, fine, coding, width, scan_ms, ecm)
                    res = yield from self._train(dcs)
                    if res == "CFR":
                        break
                    ci += 1
                    if ci >= len(cands):
                        raise T30Failure("training failed at every speed")
                need_train = False
                link.out.bit_rate = rate
                self.page_fine = fine
            img = self._page_image(self.pages[page_i], fine, width)
            self._page_coded = self.pages[page_i].coded if img is self.pages[page_i].image else None
            last = page_i == len(self.pages) - 1
            post = "EOP" if last else "MPS"
            if ecm:
                resp = yield from self._send_page_ecm(img, coding, post, page_i)
            else:
                min_bits = link.hs_rate * scan_ms // 1000
                resp = yield from self._send_page(img, coding, post, min_bits)
            if resp in ("MCF", "RTP"):
                page_i += 1
                link.out.pages = page_i
                retries = 0
                if resp == "RTP":
                    need_train = True
            elif resp == "RTN":
                retries += 1
                if retries > 3:
                    raise T30Failure("page rejected (RTN) too many times")
                need_train = True
                if ci + 1 < len(cands):
                    ci += 1
            elif resp == "PIN" or resp == "PIP":
                raise T30Failure("procedure interrupt from remote")
            else:
                # no usable answer to the page (e.g. the receiver could not train): retrain slower
                link.note(f"page not confirmed ({resp}); retraining")
                retries += 1
                if retries > 3:
                    raise T30Failure(f"page not confirmed after retries (last response {resp})")
                need_train = True
                # TCF passed but the page did not get through: try the next modem type
                nxt = [j for j in range(ci + 1, len(cands)) if cands[j][0] != cands[ci][0]]
                if nxt:
                    ci = nxt[0]
                elif ci + 1 < len(cands):
                    ci += 1
        yield from link.wait(GAP)
        yield from link.send_frames([link.frame("DCN")])
        link.out.ok = True
        link.out.reason = "OK"

    def _page_image(self, page: FaxPage, fine: bool, width: int) -> NDArray[np.uint8]:
        img = np.asarray(page.image, dtype=np.uint8)
        if img.shape[1] != width:
            raise T30Failure(f"page width {img.shape[1]} differs from the negotiated {width}")
        if page.fine and not fine:
            img = img[::2] | img[1::2][: len(img[::2])] if len(img) > 1 else img
        elif fine and not page.fine:
            img = np.repeat(img, 2, axis=0)
        return img

    def _train(self, dcs: bytes) -> Step[str]:
        """DCS + TCF; returns 'CFR' or 'FTT' (after up to 3 tries without an answer)."""
        link = self.link
        for _ in range(3):
            yield from link.send_frames([link.frame("TSI", ident_fif(link.ident), final=False),
                                         link.frame("DCS", dcs)])
            yield from link.send_hs(np.zeros(int(1.5 * link.hs_rate), np.uint8))
            frames = yield from link.recv_frames(T4)
            if frames is None:
                continue
            if find_frame(frames, FCF["CFR"]) is not None:
                yield from link.wait(GAP)
                return "CFR"
            if find_frame(frames, FCF["FTT"]) is not None:
                link.note(f"FTT at {link.hs_name} {link.hs_rate}")
                yield from link.wait(GAP)
                return "FTT"
            if find_frame(frames, FCF["DCN"]) is not None:
                raise T30Failure("remote disconnected during training")
            if find_frame(frames, 0x80) is not None:  # DIS again: our DCS was lost
                continue
        raise T30Failure("no response to DCS/TCF")

    def _post_command(self, frames: list[bytes]) -> Step[list[bytes]]:
        """Send a post-message command up to 3 times until a response arrives; returns the frames."""
        link = self.link
        for _ in range(3):
            yield from link.wait(GAP)
            yield from link.send_frames(frames, preamble_s=1.0)
            got = yield from link.recv_frames(T4)
            if got:
                return got
        raise T30Failure("no response to post-message command")

    def _send_page(self, img: NDArray[np.uint8], coding: str, post: str, min_bits: int) -> Step[str]:
        link = self.link
        enc = T4Encoder(img.shape[1], coding, k=4 if self.page_fine else 2, min_bits=min_bits)
        bits = np.concatenate([enc.encode_lines(img), enc.finish()])
        short = link.hs_name == "v17"
        yield from link.send_hs(bits, short_train=short)
        try:
            frames = yield from self._post_command([link.frame(post)])
        except T30Failure:
            return "none"
        for name in ("MCF", "RTP", "RTN", "PIP", "PIN"):
            if find_frame(frames, FCF[name]) is not None:
                return name
        if find_frame(frames, FCF["DCN"]) is not None:
            raise T30Failure("remote disconnected after a page")
        return "?" + frames[-1][2:3].hex()

    def _send_page_ecm(self, img: NDArray[np.uint8], coding: str, post: str, page_i: int) -> Step[str]:
        link = self.link
        if coding == "mmr" and self._page_coded is not None and self._page_coded[0] == "mmr":   # as stored
            data = reverse_bits(self._page_coded[1])
        else:
            data = T4Encoder(img.shape[1], coding, k=4 if self.page_fine else 2).page_bytes(img, lsb=True)
        fsize = 256
        frames = [data[i:i + fsize] for i in range(0, len(data), fsize)]
        blocks = [frames[i:i + 256] for i in range(0, len(frames), 256)]
        short = link.hs_name == "v17"
        for bi, block in enumerate(blocks):
            last_block = bi == len(blocks) - 1
            fcf2 = (FCF[post] | link.dis_received) if last_block else FCF["NULL"]
            todo = list(range(len(block)))
            pprs = 0
            while True:
                hd = [bytes([0xFF, 0x03, FCF["FCD"], i]) + block[i] for i in todo]
                hd += [bytes([0xFF, 0x03, FCF["RCP"]])] * 3
                # 0.2 s of flags, then the frames (one flag between, four closing), packed eight bits an octet
                hb = hdlc.HDLCEncoder().encode_packed(hd, int(0.2 * link.hs_rate / 8) + 1, 1, 4)
                yield from link.send_hs(hb, short_train=short)
                pps = bytes([fcf2, page_i & 0xFF, bi & 0xFF, len(block) - 1])
                resp = yield from self._post_command([link.frame("PPS", pps)])
                rnr_since = link.now
                while find_frame(resp, FCF["RNR"]) is not None:
                    if link.now - rnr_since > T5:
                        raise T30Failure("T5 expired: receiver not ready")
                    resp = yield from self._post_command([link.frame("RR")])
                if find_frame(resp, FCF["MCF"]) is not None:
                    break
                ppr = find_frame(resp, FCF["PPR"])
                if ppr is None:
                    if find_frame(resp, FCF["DCN"]) is not None:
                        raise T30Failure("remote disconnected during an ECM block")
                    raise T30Failure(f"unexpected ECM response {resp[-1][2:3].hex()}")
                pprs += 1
                if pprs > 8:
                    raise T30Failure("ECM block not accepted after 8 partial page requests")
                bm = ppr[3:35]
                todo = [i for i in range(len(block)) if i // 8 < len(bm) and (bm[i // 8] >> (i % 8)) & 1]
                self.ecm_frames_resent += len(todo)
                link.note(f"PPR: resend {len(todo)} frames")
                if not todo:
                    todo = list(range(len(block)))
        return "MCF"
