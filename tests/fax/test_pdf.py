"""Received faxes as PDF (fax.pdf): poppler (pdfinfo, pdfimages, pdftoppm — a PDF reader no one here wrote)
reads the PDF made from a multi-page TIFF-F with standard and fine pages: page count, page size from the fax
resolution, G4 images at 204 x 196 dpi whose every pixel equals the fax image (standard rows doubled), and
a rendered page with ink on it."""
import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from trunkline.fax.convert import synth_document
from trunkline.fax.pdf import tiff_to_pdf, write_pdf
from trunkline.fax.tiff import TiffError, read_tiff, write_tiff


def pdfinfo(path):
    out = subprocess.run(["pdfinfo", "-f", "1", "-l", "99", str(path)], capture_output=True, text=True,
                         check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))
    sizes = [(float(w), float(h)) for w, h in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", out)]
    return pages, sizes


def test_multipage_fax_pdf_is_read_back_by_poppler(tmp_path):
    std = synth_document(2, rows=400, seed=5)                   # 98 lines/inch
    fine = synth_document(1, fine=True, rows=700, seed=6)       # 196 lines/inch
    tif = tmp_path / "fax.tif"
    write_tiff(str(tif), std + fine, "g4")
    pdf = tmp_path / "fax.pdf"
    assert tiff_to_pdf(str(tif), str(pdf)) == 3
    assert pdf.read_bytes()[:5] == b"%PDF-" and not (tmp_path / "fax.pdf.part").exists()
    pages, sizes = pdfinfo(pdf)
    assert pages == 3
    for (w, h), rows in zip(sizes, (800, 800, 700)):             # 1728 px at 204 dpi = 8.47 in, A4 width
        assert abs(w - 1728 * 72 / 204) < 0.5 and abs(h - rows * 72 / 196) < 0.5, (w, h)
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
    for line, rows in zip(listing, (800, 800, 700), strict=True):
        f = line.split()        # page num type width height color comp bpc enc interp object ID x-ppi y-ppi ...
        assert (f[3], f[4], f[7], f[8], f[12], f[13]) == ("1728", str(rows), "1", "ccitt", "204", "196"), line
    subprocess.run(["pdfimages", str(pdf), str(tmp_path / "img")], check=True, capture_output=True)
    for i, page in enumerate(read_tiff(str(tif))):
        with Image.open(tmp_path / f"img-{i:03d}.pbm") as im:
            black = ~np.array(im.convert("1"), dtype=bool)
        want = page.image.astype(bool) if page.fine else np.repeat(page.image.astype(bool), 2, axis=0)
        assert black.shape == want.shape and np.array_equal(black, want)     # lossless, every pixel
    subprocess.run(["pdftoppm", "-r", "50", "-f", "3", "-l", "3", "-gray", str(pdf), str(tmp_path / "p")],
                   check=True, capture_output=True)                          # poppler renders the page
    with Image.open(next(tmp_path.glob("p-*3.pgm"))) as im:
        ink = np.array(im) < 128
    assert 0.01 < ink.mean() < 0.5


def test_no_pages_and_bad_tiff_are_refused(tmp_path):
    with pytest.raises(TiffError):
        write_pdf(str(tmp_path / "x.pdf"), [])
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(TiffError):
        tiff_to_pdf(str(bad), str(tmp_path / "y.pdf"))
    assert not (tmp_path / "y.pdf").exists()
