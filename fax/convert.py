"""Convert images and PDFs to TIFF Class F pages, and synthesise test/demo documents.

Images go through Pillow (any format it reads, all frames); PDFs through `pdftoppm` when installed.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from .tiff import FaxPage, TiffError, read_tiff, write_tiff

__all__ = ["image_to_pages", "to_tiff", "synth_document", "ConvertError"]

A4_MM = (210.0, 297.0)


class ConvertError(ValueError):
    """A document that cannot be converted to fax pages."""


def _frame_to_page(im, width: int, fine: bool, fit_a4: bool = True) -> FaxPage:
    x_dpi, y_dpi = 204.0, (196.0 if fine else 98.0)
    g = im.convert("L")
    w, h = g.size
    # scale to the full line width; keep the aspect ratio in millimetres
    sx = width / w
    sy = sx * y_dpi / x_dpi
    nh = max(1, int(round(h * sy)))
    if fit_a4:
        max_rows = int(A4_MM[1] / 25.4 * y_dpi)
        nh = min(nh, max_rows * 4)  # long pages are allowed, but not absurd
    g = g.resize((width, nh), Image.Resampling.LANCZOS)
    bw = g.convert("1")  # Floyd-Steinberg dither
    white = np.array(bw, dtype=bool)
    return FaxPage((~white).astype(np.uint8), x_dpi, y_dpi)


def image_to_pages(path: str, width: int = 1728, fine: bool = True) -> list[FaxPage]:
    """Pages of an image or PDF file scaled to fax width (pixels) and resolution."""
    if not os.path.exists(path):
        raise ConvertError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(5)
    if head == b"%PDF-":
        return _pdf_to_pages(path, width, fine)
    pages = []
    try:
        with Image.open(path) as im:
            n = getattr(im, "n_frames", 1)
            for i in range(n):
                im.seek(i)
                pages.append(_frame_to_page(im, width, fine))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ConvertError(f"{path}: not a readable image ({exc})") from None
    return pages


def _pdf_to_pages(path: str, width: int, fine: bool) -> list[FaxPage]:
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise ConvertError(f"{path}: PDF conversion needs pdftoppm (Debian package poppler-utils)")
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([exe, "-gray", "-r", "204", path, os.path.join(d, "p")], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise ConvertError(f"{path}: pdftoppm failed: {r.stderr.strip()[:200]}")
        files = sorted(glob.glob(os.path.join(d, "p*.pgm")))
        if not files:
            raise ConvertError(f"{path}: PDF has no pages")
        pages = []
        for fn in files:
            with Image.open(fn) as im:
                pages.append(_frame_to_page(im, width, fine))
        return pages


def to_tiff(src: str, dst: str, width: int = 1728, fine: bool = True, compression: str = "g4") -> int:
    """Convert an image/PDF (or re-encode a TIFF) to a TIFF-F file at dst; returns the page count."""
    pages = image_to_pages(src, width, fine)
    write_tiff(dst, pages, compression)
    return len(pages)


def synth_document(n_pages: int = 2, width: int = 1728, fine: bool = False, rows: int | None = None,
                   seed: int = 1, title: str = "TRUNKLINE FAX TEST") -> list[FaxPage]:
    """Synthesised pages with text, rules, boxes and a checker pattern (deterministic for a seed)."""
    y_dpi = 196.0 if fine else 98.0
    if rows is None:
        rows = int(A4_MM[1] / 25.4 * y_dpi)
    rng = np.random.default_rng(seed)
    try:
        font = ImageFont.load_default(size=28)
    except TypeError:  # older Pillow
        font = ImageFont.load_default()
    pages = []
    words = ["fax", "hotline", "invoice", "queue", "agent", "voice", "trunk", "E1", "PRI", "T.30", "page",
             "modem", "14400", "number", "account", "balance"]
    for p in range(n_pages):
        im = Image.new("L", (width, rows), 255)
        dr = ImageDraw.Draw(im)
        dr.text((60, 20), f"{title} - page {p + 1}/{n_pages}", fill=0, font=font)
        dr.rectangle((40, 10, width - 40, rows - 10), outline=0, width=3)
        y = 70
        line_h = 34 if fine else 18
        while y < rows * 0.6:
            txt = " ".join(rng.choice(words, size=int(rng.integers(5, 14))).tolist())
            dr.text((60, y), txt, fill=0, font=font)
            y += line_h
        # checker pattern and diagonal lines near the bottom
        cy = int(rows * 0.65)
        for i in range(0, width - 200, 32):
            for j in range(0, int(rows * 0.2), 16):
                if ((i // 32) + (j // 16) + p) % 2 == 0:
                    dr.rectangle((100 + i, cy + j, 100 + i + 31, cy + j + 15), fill=0)
        for i in range(0, width, 97):
            dr.line((i, rows - 10, min(width - 1, i + 300), int(rows * 0.87)), fill=0, width=2)
        img = (np.array(im) < 128).astype(np.uint8)
        pages.append(FaxPage(img, 204.0, y_dpi))
    return pages


def check_document(path: str) -> int:
    """Page count of a TIFF-F that can be sent; raises TiffError/ConvertError if it cannot."""
    pages = read_tiff(path)
    for p in pages:
        if p.width not in (1728, 2048, 2432):
            raise TiffError(f"{path}: page width {p.width} is not a fax width")
    return len(pages)
