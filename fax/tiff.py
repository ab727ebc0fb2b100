"""TIFF Class F read/write.

Writing uses our own T.4/T.6 encoder (C, fax/kernel/t4codec.c) for the strip data and a small TIFF container writer
(one strip per page, FillOrder 1, inch resolution); a page that carries its coded data (FaxPage.coded: a clean
received ECM page, a stored T.6 page) is written as it is. Reading uses Pillow (libtiff) for the container
and decompression and returns numpy bit images (1 = black), each one-strip T.6 page with its data as stored.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, TiffImagePlugin, UnidentifiedImageError

from .t4 import WIDTHS, T4Decoder, T4Encoder, T4Error, bytes_to_bits_lsb, bytes_to_bits_msb, reverse_bits
from .t4_limits import MAX_PAGE_ROWS, MAX_PAGES

__all__ = ["FaxPage", "CodedPage", "read_tiff", "read_tiff_own", "write_tiff", "TiffError", "RES_STANDARD", "RES_FINE"]

RES_STANDARD = (204.0, 98.0)  # dots per inch (8 pels/mm x 3.85 lines/mm)
RES_FINE = (204.0, 196.0)  # 8 pels/mm x 7.7 lines/mm


class TiffError(ValueError):
    """A TIFF file that is missing, corrupt, or not usable as a fax document."""


@dataclass
class FaxPage:
    """One fax page: image (rows, width) uint8 1=black, and resolution in dots per inch."""
    image: np.ndarray
    x_dpi: float = 204.0
    y_dpi: float = 196.0
    #: the page's coded data as it came, when it decodes to `image` exactly: (coding "mh", "mr" or "mmr", octets
    #: MSB first as in a TIFF strip of FillOrder 1). A clean received ECM page keeps it (the received TIFF stores
    #: it as it is), a stored one-strip T.6 page too (sent as it is): no second coding of the image.
    coded: tuple[str, bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def fine(self) -> bool:
        """True for fine (7.7 lines/mm) vertical resolution."""
        return self.y_dpi > 150

    @property
    def width(self) -> int:
        """Pixels per line."""
        return int(self.image.shape[1])

    def size(self) -> tuple[int, int]:
        """(rows, pixels per line)."""
        rows, width = self.image.shape
        return int(rows), int(width)


class CodedPage(FaxPage):
    """A page known to decode cleanly from its coded data (a received ECM page checked by t4.check_page), kept
    as coded: its image is decoded only when first asked for (a received TIFF stores the data as it is)."""

    def __init__(self, coding: str, data: bytes, width: int, rows: int, x_dpi: float = 204.0,
                 y_dpi: float = 196.0) -> None:
        super().__init__(np.zeros((0, width), np.uint8), x_dpi, y_dpi, coded=(coding, data))
        self._rows, self._width = rows, width
        del self.image   # decoded by __getattr__ on first use

    def __getattr__(self, name: str) -> Any:
        """The image, decoded from the coded data (once)."""
        if name != "image" or "coded" not in self.__dict__:
            raise AttributeError(name)
        coding, data = self.coded or ("", b"")
        image = T4Decoder(self._width, coding).decode_all(bytes_to_bits_msb(data))
        self.image = image
        return image

    @property
    def width(self) -> int:
        """Pixels per line."""
        return self._width

    def size(self) -> tuple[int, int]:
        """(rows, pixels per line)."""
        return self._rows, self._width


def read_tiff(path: str) -> list[FaxPage]:
    """All pages of a bilevel (multi-page) TIFF as FaxPage objects; raises TiffError on bad files."""
    if not os.path.exists(path):
        raise TiffError(f"{path}: no such file")
    pages = []
    try:
        with Image.open(path) as im:
            if im.format != "TIFF" or not isinstance(im, TiffImagePlugin.TiffImageFile):
                raise TiffError(f"{path}: not a TIFF file ({im.format})")
            i = 0
            while True:
                try:
                    im.seek(i)
                except EOFError:
                    break
                _check_size(path, i, *im.size)
                fr = im.convert("1") if im.mode != "1" else im
                fr.load()
                white = np.array(fr, dtype=bool)
                xr, yr = RES_FINE
                info = im.info.get("dpi") or im.info.get("resolution")
                if info:
                    xr, yr = float(info[0]), float(info[1])
                    unit = im.tag_v2.get(296, 2)
                    if unit == 3:  # centimetre
                        xr, yr = xr * 2.54, yr * 2.54
                img = (~white).astype(np.uint8)
                pages.append(FaxPage(img, xr, yr, coded=_stored_t6(path, im.tag_v2, img)))
                i += 1
    except TiffError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, struct.error,
            Image.DecompressionBombError) as exc:   # Pillow: TypeError on missing size tags
        raise TiffError(f"{path}: corrupt or unreadable TIFF ({exc})") from None
    if not pages:
        raise TiffError(f"{path}: TIFF has no pages")
    return pages


def write_tiff(path: str, pages: list[FaxPage], compression: str = "g4", k: int = 4,
               software: str = "trunkline fax", as_coded: bool = False) -> None:
    """Write pages as a TIFF Class F file; compression "g3" (MH), "g3-2d" (MR, k) or "g4" (T.6). A page that
    carries its coded data (FaxPage.coded) is stored in it as it is when that is in `compression`, or with
    as_coded in whatever coding it came (a received fax: each page as received)."""
    coding = {"g3": "mh", "g3-2d": "mr", "g4": "mmr"}.get(compression)
    if coding is None:
        raise ValueError(f"unknown compression {compression!r}")
    if not pages:
        raise ValueError("no pages to write")
    strips = []
    codings = []   # (coding, EOLs byte aligned) of each page
    for p in pages:
        if isinstance(p, CodedPage) and (as_coded or p.coded is not None and p.coded[0] == coding):
            strips.append(p.coded[1] if p.coded else b"")   # decodes cleanly to size() by construction
            codings.append((p.coded[0] if p.coded else coding, False))
            continue
        img = np.asarray(p.image, dtype=np.uint8)
        if img.ndim != 2 or img.shape[0] == 0:
            raise ValueError("page image must be (rows, width) with at least one row")
        if p.coded is not None and (as_coded or p.coded[0] == coding):
            strips.append(p.coded[1])
            codings.append((p.coded[0], False))
            continue
        enc = T4Encoder(img.shape[1], coding, k=k, rtc=False, byte_align_eol=coding != "mmr")
        strips.append(enc.page_bytes(img, lsb=False))   # G3: no RTC (rtc=False); G4: EOFB
        codings.append((coding, coding != "mmr"))
    # layout: header, then per page: strip data, then IFD
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    prev_next_ptr = 4
    sw = software.encode() + b"\x00"
    for n, (p, strip, (pcoding, aligned)) in enumerate(zip(pages, strips, codings)):
        if len(out) % 2:
            out += b"\x00"
        strip_off = len(out)
        out += strip
        if len(out) % 2:
            out += b"\x00"
        extra_off = len(out)
        # rationals and software string stored before the IFD
        xres_off = extra_off
        out += struct.pack("<II", int(round(p.x_dpi * 100)), 100)
        yres_off = len(out)
        out += struct.pack("<II", int(round(p.y_dpi * 100)), 100)
        sw_off = len(out)
        out += sw
        if len(out) % 2:
            out += b"\x00"
        h, w = p.size()
        tags: list[tuple[int, int, Any]] = [
            (254, 4, [2]), (256, 4, [w]), (257, 4, [h]), (258, 3, [1]),
            (259, 3, [4 if pcoding == "mmr" else 3]), (262, 3, [0]), (266, 3, [1]),
            (273, 4, [strip_off]), (277, 3, [1]), (278, 4, [h]), (279, 4, [len(strip)]),
            (282, 5, xres_off), (283, 5, yres_off), (296, 3, [2]), (297, 3, [n, len(pages)]),
            (305, 2, (sw_off, len(sw))),
        ]
        if pcoding == "mmr":
            tags.append((293, 4, [0]))
        else:
            tags.append((292, 4, [(1 if pcoding == "mr" else 0) | (4 if aligned else 0)]))
        tags.sort(key=lambda t: t[0])
        ifd_off = len(out)
        struct.pack_into("<I", out, prev_next_ptr, ifd_off)
        out += struct.pack("<H", len(tags))
        for tag, typ, val in tags:
            if typ == 5:
                out += struct.pack("<HHII", tag, typ, 1, val)
            elif typ == 2:
                out += struct.pack("<HHII", tag, typ, val[1], val[0])
            elif typ == 3:
                raw = struct.pack(f"<{len(val)}H", *val).ljust(4, b"\x00")
                out += struct.pack("<HHI", tag, typ, len(val)) + raw
            else:
                out += struct.pack("<HHII", tag, typ, 1, val[0])
        prev_next_ptr = len(out)
        out += b"\x00\x00\x00\x00"
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(out)
    os.replace(tmp, path)


def _stored_t6(path: str, tags: Any, img: np.ndarray) -> tuple[str, bytes] | None:
    """("mmr", a page's T.6 data as stored, MSB first) when it is one strip of min-is-white T.6 that our decoder
    reads back to exactly `img` (so it can be sent as it is); else None."""
    if tags.get(259, 1) != 4 or tags.get(262, 0) != 0 or len(tags.get(273, ())) != 1 or int(tags.get(293, 0)) & 2:
        return None
    if len(tags.get(279, ())) != 1:     # no byte count of its one strip (Pillow guessed it): not kept as stored
        return None
    off, cnt = int(tags[273][0]), int(tags[279][0])
    if not 0 <= off or not 0 < cnt <= os.path.getsize(path) - off:
        return None
    with open(path, "rb") as f:
        f.seek(off)
        raw = f.read(cnt)
    if tags.get(266, 1) == 2:
        raw = reverse_bits(raw)
    dec = T4Decoder(img.shape[1], "mmr")
    try:
        rows = dec.feed(bytes_to_bits_msb(raw)) + dec.finish()
    except T4Error:
        return None
    if not dec.page_ended or dec.bad_rows or len(rows) != len(img) or not np.array_equal(np.array(rows, np.uint8), img):
        return None
    return ("mmr", raw)


def _check_size(path: str, index: int, width: int, height: int) -> None:
    """Refuse a page (before decoding it) wider than a fax line, longer than MAX_PAGE_ROWS, or past
    MAX_PAGES pages: an uploaded TIFF must not make us decode or hold an unbounded image."""
    if index >= MAX_PAGES:
        raise TiffError(f"{path}: more than {MAX_PAGES} pages")
    if not 0 < width <= max(WIDTHS) or not 0 < height <= MAX_PAGE_ROWS:
        raise TiffError(f"{path}: page {index} is {width} x {height} pixels (at most {max(WIDTHS)} x "
                        f"{MAX_PAGE_ROWS})")


def check_width(width: int) -> None:
    """Raise TiffError unless width is a fax line width (1728, 2048 or 2432 pixels)."""
    if width not in WIDTHS:
        raise TiffError(f"page width {width} is not a fax width {WIDTHS}")


def read_tiff_own(path: str) -> list[FaxPage]:
    """All pages of a G3/G4 TIFF decoded with our own T.4/T.6 decoder (Pillow only parses tags)."""
    if not os.path.exists(path):
        raise TiffError(f"{path}: no such file")
    pages = []
    try:
        with open(path, "rb") as f, Image.open(f) as im:
            if not isinstance(im, TiffImagePlugin.TiffImageFile):
                raise TiffError(f"{path}: not a TIFF file ({im.format})")
            i = 0
            while True:
                try:
                    im.seek(i)
                except EOFError:
                    break
                t = im.tag_v2
                comp = t.get(259, 1)
                width, height = int(t[256]), int(t[257])
                _check_size(path, i, width, height)
                opts = int(t.get(292, 0))
                if comp == 3:
                    coding = "mr" if opts & 1 else "mh"
                elif comp == 4:
                    coding = "mmr"
                else:
                    raise TiffError(f"{path}: page {i} compression {comp} is not G3/G4")
                offs = t[273]
                counts = t[279]
                rps = int(t.get(278, height))
                rows: list[np.ndarray] = []
                size = os.fstat(f.fileno()).st_size
                for off, cnt in zip(offs, counts):
                    if not (0 <= off and 0 <= cnt and off + cnt <= size):   # read(cnt) would allocate cnt first
                        raise TiffError(f"{path}: page {i} strip of {cnt} octets at {off} is outside the file")
                    f.seek(off)
                    raw = f.read(cnt)
                    if len(raw) != cnt:
                        raise TiffError(f"{path}: page {i} strip truncated")
                    dec = T4Decoder(width, coding)
                    if coding != "mmr":
                        dec._seen_eol = True  # TIFF G3 strips need not start with an EOL
                    want = min(rps, height - len(rows))
                    # FillOrder 2: the first bit in each octet's LSB
                    bits = bytes_to_bits_lsb(raw) if t.get(266, 1) == 2 else bytes_to_bits_msb(raw)
                    got = dec.feed(bits) + dec.finish()
                    rows.extend(got[:want])
                if len(rows) != height:
                    raise TiffError(f"{path}: page {i} decoded {len(rows)} rows, expected {height}")
                xr, yr = RES_FINE
                if 282 in t and 283 in t:
                    xr, yr = float(t[282]), float(t[283])
                    if t.get(296, 2) == 3:
                        xr, yr = xr * 2.54, yr * 2.54
                img = np.array(rows, dtype=np.uint8)
                if t.get(262, 0) == 1:  # min-is-black: coded "white" runs are black pixels
                    img ^= 1
                pages.append(FaxPage(img, xr, yr))
                i += 1
    except TiffError:
        raise
    except T4Error as exc:
        raise TiffError(f"{path}: corrupt fax data ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, KeyError, TypeError, struct.error,
            Image.DecompressionBombError) as exc:   # Pillow: TypeError on missing size tags
        raise TiffError(f"{path}: corrupt or unreadable TIFF ({exc})") from None
    if not pages:
        raise TiffError(f"{path}: TIFF has no pages")
    return pages
