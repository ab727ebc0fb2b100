"""Received faxes as PDF (for e-mail): every page of a TIFF-F at its true size, bilevel and losslessly
compressed (Pillow writes 1-bit pages as CCITT G4 in the PDF when built with libtiff, else Flate).

Pillow is used because it is already the fax layer's TIFF reader (no new dependency) and is well kept;
standard-resolution pages (98 lines/inch) are written with their rows doubled so that every page of the
PDF has the fine 204 x 196 dpi grid and keeps its A4 aspect."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from .tiff import RES_FINE, FaxPage, TiffError, read_tiff

__all__ = ["write_pdf", "tiff_to_pdf"]


def _image(page: FaxPage) -> Image.Image:
    """A fax page as a mode-'1' Pillow image (white paper, black ink) on the fine grid."""
    rows = page.image if page.fine else np.repeat(page.image, 2, axis=0)
    return Image.fromarray(np.where(rows.astype(bool), 0, 255).astype(np.uint8), mode="L").convert("1")


def write_pdf(path: str, pages: list[FaxPage]) -> int:
    """Write `pages` as one PDF document at `path` (written to a temporary name, then renamed); returns
    the page count. TiffError when there is no page."""
    if not pages:
        raise TiffError(f"{path}: no pages to write")
    images = [_image(p) for p in pages]
    tmp = f"{path}.part"
    images[0].save(tmp, format="PDF", save_all=True, append_images=images[1:], dpi=RES_FINE,
                   title="fax", producer="Trunkline")
    os.replace(tmp, path)
    return len(images)


def tiff_to_pdf(tiff_path: str, pdf_path: str) -> int:
    """Convert a received TIFF-F fax to a PDF; returns its page count (TiffError on an unreadable TIFF)."""
    return write_pdf(pdf_path, read_tiff(tiff_path))
