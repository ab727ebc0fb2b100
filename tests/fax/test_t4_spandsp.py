"""Our T.4/T.6 C codec (fax/t4.py over fax/kernel/t4codec.c, #21) against independent codecs on random pages:
libspandsp's t4_rx decodes what we encode and we decode what its t4_tx encodes (MH, MR, MMR; widths 1728,
2048, 2432; with and without fill), libtiff (Pillow, tiffcp) likewise through TIFF files; and corrupt input
(truncated, garbage, over-long rows) ends in bounded time with bad rows or a T4Error."""
import subprocess
import time

import numpy as np
import pytest
from peers import spandsp_t4
from PIL import Image

from trunkline.fax import t4
from trunkline.fax.t4_limits import MAX_PAGE_ROWS
from trunkline.fax.tiff import FaxPage, read_tiff, read_tiff_own, write_tiff

WIDTHS = (1728, 2048, 2432)
CODINGS = ("mh", "mr", "mmr")


def _random_pages(width: int, seed: int) -> list[np.ndarray]:
    """Pages that exercise every code: noise (runs of 1-3), sparse dots, long runs and makeup codes, a
    black line, a column at the right edge, rows identical to the one above (2-D V0/pass)."""
    rng = np.random.default_rng(seed)
    noise = (rng.random((24, width)) < 0.5).astype(np.uint8)
    sparse = (rng.random((40, width)) < 0.01).astype(np.uint8)
    runs = (np.cumsum(rng.random((40, width)) < 0.004, axis=1) & 1).astype(np.uint8)
    runs[5] = 1
    runs[:, -1] = 1
    runs[20:30] = runs[19]
    runs[30:33] = 0
    return [noise, sparse, runs]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("coding", CODINGS)
def test_ours_encoded_decoded_by_spandsp(tmp_path, width, coding):
    for i, page in enumerate(_random_pages(width, seed=width + len(coding))):
        for min_bits in ((0,) if coding == "mmr" else (0, 400)):
            data = t4.encode_page_bytes(page, coding, k=4, min_bits=min_bits)
            got = spandsp_t4.t4_decode(data, width, coding, str(tmp_path / "rx.tif"))
            assert got.shape == page.shape and np.array_equal(got, page), (i, min_bits)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("coding", CODINGS)
def test_spandsp_encoded_decoded_by_ours(tmp_path, width, coding):
    for i, page in enumerate(_random_pages(width, seed=3 * width + len(coding))):
        plain, g4 = str(tmp_path / "plain.tif"), str(tmp_path / "g4.tif")
        Image.fromarray(page == 0).save(plain, dpi=(204, 196))
        subprocess.run(["tiffcp", "-c", "g4", plain, g4], check=True)      # libtiff codes the page,
        subprocess.run(["tiffset", "-s", "258", "1", g4], check=True)      # spandsp wants BitsPerSample
        for min_bits in ((0,) if coding == "mmr" else (0, 400)):
            bits = t4.bytes_to_bits_lsb(spandsp_t4.t4_encode(g4, coding, min_bits))
            assert np.array_equal(t4.decode_page(bits, width, coding), page), (i, min_bits)
            dec = t4.T4Decoder(width, coding)   # and fed as the line delivers it, 20 ms at 14,400 bit/s
            rows = [r for j in range(0, len(bits), 288) for r in dec.feed(bits[j:j + 288])] + dec.finish()
            assert dec.page_ended and dec.bad_rows == 0 and np.array_equal(np.array(rows), page), (i, min_bits)


@pytest.mark.parametrize("width", WIDTHS)
def test_random_pages_through_libtiff_both_ways(tmp_path, width):
    pages = _random_pages(width, seed=7 * width)
    for comp, mode in (("g3", "g3"), ("g3-2d", "g3:2d"), ("g4", "g4")):
        ours = str(tmp_path / f"ours-{comp}.tif")
        write_tiff(ours, [FaxPage(p) for p in pages], comp, k=4)
        assert [np.array_equal(g.image, p) for g, p in zip(read_tiff(ours), pages)] == [True] * 3   # libtiff
        plain, theirs = str(tmp_path / "plain.tif"), str(tmp_path / f"theirs-{comp}.tif")
        ims = [Image.fromarray(p == 0) for p in pages]
        ims[0].save(plain, save_all=True, append_images=ims[1:], dpi=(204, 196))
        subprocess.run(["tiffcp", "-c", mode, "-r", "100000", plain, theirs], check=True)
        assert [np.array_equal(g.image, p) for g, p in zip(read_tiff_own(theirs), pages)] == [True] * 3


def test_streaming_encoder_matches_whole_page():
    page = _random_pages(1728, seed=1)[2]
    for coding in CODINGS:
        enc = t4.T4Encoder(1728, coding, k=4, min_bits=0 if coding == "mmr" else 300)
        lines = np.concatenate([enc.encode_line(r) for r in page] + [enc.finish()])
        assert np.array_equal(lines, t4.encode_page(page, coding, k=4, min_bits=0 if coding == "mmr" else 300))
        assert t4.bits_to_bytes_lsb(lines) == t4.encode_page_bytes(page, coding, 4, 0 if coding == "mmr" else 300)


def _decode_bounded(bits: np.ndarray, width: int, coding: str) -> tuple[np.ndarray | None, float]:
    t = time.process_time()
    try:
        img = t4.decode_page(bits, width, coding)
    except t4.T4Error:
        img = None
    return img, time.process_time() - t


@pytest.mark.parametrize("coding", CODINGS)
def test_corrupt_input_ends_in_bounded_time(coding):
    """Truncated pages, garbage and over-long rows: rows or a T4Error, never a hang; CPU time bounded."""
    rng = np.random.default_rng(21)
    page = _random_pages(1728, seed=2)[2]
    bits = t4.encode_page(page, coding, k=4)
    worst = 0.0
    for cut in rng.integers(1, len(bits), 20):   # truncated: the rows before the cut come out intact
        img, dt = _decode_bounded(bits[:cut], 1728, coding)
        worst = max(worst, dt)
        if img is not None and len(img) > 2:
            assert np.array_equal(img[:len(img) - 2], page[:len(img) - 2])
    garbage = rng.integers(0, 2, 2_000_000).astype(np.uint8)   # 2 Mbit: 140 s of a 14,400 bit/s line
    img, dt = _decode_bounded(garbage, 1728, coding)
    worst = max(worst, dt)
    assert img is None or len(img) <= MAX_PAGE_ROWS
    wide = t4.encode_page(_random_pages(2432, seed=3)[0], coding)   # 2432-pixel rows into a 1728 decoder
    dec = t4.T4Decoder(1728, coding)
    if coding == "mmr":
        with pytest.raises(t4.T4Error, match="MMR data corrupt after 0 rows"):
            dec.feed(wide) + dec.finish()
    else:
        rows = dec.feed(wide) + dec.finish()
        assert dec.bad_rows == len(rows) == 24 and not np.any(rows)   # each over-long row replaced
    assert worst < 1.0, f"a corrupt page took {worst:.2f} s of CPU"
