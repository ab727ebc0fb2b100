"""T.4 MH/MR and T.6 MMR codecs and TIFF-F files, checked against libtiff (tiffcp and Pillow's libtiff)."""
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from trunkline.fax import t4
from trunkline.fax.convert import ConvertError, image_to_pages, synth_document, to_tiff
from trunkline.fax.tiff import TiffError, read_tiff, read_tiff_own, write_tiff


def _pages(width, fine, n=2):
    pages = synth_document(n, width=width, fine=fine, rows=400 if fine else 260, seed=width)
    pages[0].image[3, :] = 1  # a full black line
    pages[0].image[:, width - 1] = 1  # a run touching the right edge
    return pages


def _write_plain(path, pages):
    ims = [Image.fromarray(p.image == 0) for p in pages]
    ims[0].save(path, save_all=True, append_images=ims[1:], dpi=(pages[0].x_dpi, pages[0].y_dpi))


@pytest.mark.parametrize("width", [1728, 2048, 2432])
@pytest.mark.parametrize("mode", ["g3", "g3:2d", "g3:fill", "g3:2d:fill", "g4"])
def test_libtiff_encoded_decoded_by_ours(tmp_path, width, mode):
    pages = _pages(width, fine=(width == 1728))
    src, dst = str(tmp_path / "plain.tif"), str(tmp_path / "coded.tif")
    _write_plain(src, pages)
    subprocess.run(["tiffcp", "-c", mode, "-r", "100000", src, dst], check=True)
    got = read_tiff_own(dst)
    sizes = [os.path.getsize(dst)]
    print(f"tiffcp -c {mode} width {width}: {sizes[0]} bytes; ours decoded {[g.image.shape for g in got]}")
    assert len(got) == len(pages)
    for g, p in zip(got, pages):
        assert g.image.shape == p.image.shape
        assert np.array_equal(g.image, p.image)


@pytest.mark.parametrize("width", [1728, 2048, 2432])
@pytest.mark.parametrize("comp,k", [("g3", 0), ("g3-2d", 2), ("g3-2d", 4), ("g4", 0)])
def test_ours_encoded_decoded_by_libtiff(tmp_path, width, comp, k):
    pages = _pages(width, fine=(k != 2))
    path = str(tmp_path / "ours.tif")
    write_tiff(path, pages, comp, k=max(k, 2))
    got = read_tiff(path)  # Pillow -> libtiff decoder
    info = subprocess.run(["tiffinfo", path], capture_output=True, text=True)
    assert info.returncode == 0 and "error" not in info.stderr.lower(), info.stderr
    # tiffcp re-encodes through libtiff's decoder: must not complain either
    r = subprocess.run(["tiffcp", "-c", "none", path, str(tmp_path / "none.tif")], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    print(f"ours {comp} k={k} width {width}: {os.path.getsize(path)} bytes; "
          f"libtiff decoded {[g.image.shape for g in got]}")
    for g, p in zip(got, pages):
        assert np.array_equal(g.image, p.image)
        assert (g.x_dpi, g.y_dpi) == (p.x_dpi, p.y_dpi)


@pytest.mark.parametrize("coding", ["mh", "mr", "mmr"])
def test_streaming_decoder_in_chunks_and_fill_bits(coding):
    page = _pages(1728, fine=True, n=1)[0].image
    bits = t4.encode_page(page, coding, k=4, min_bits=0 if coding == "mmr" else 96)
    dec = t4.T4Decoder(1728, coding)
    rng = np.random.default_rng(5)
    rows = []
    pos = 0
    first_rows_at = None
    while pos < len(bits):
        n = int(rng.integers(1, 3000))
        rows += dec.feed(bits[pos:pos + n])
        pos += n
        if first_rows_at is None and rows:
            first_rows_at = pos
    rows += dec.finish()
    assert dec.page_ended and dec.bad_rows == 0
    assert first_rows_at < len(bits) // 2  # lines come out while the page is still arriving
    assert np.array_equal(np.array(rows), page)


def test_mh_fill_meets_minimum_line_bits():
    page = np.zeros((10, 1728), np.uint8)
    enc = t4.T4Encoder(1728, "mh", min_bits=200)
    for r in page:
        b = enc.encode_line(r)
        assert len(b) >= 200 + 12
    assert np.array_equal(t4.decode_page(t4.encode_page(page, "mh", min_bits=200), 1728, "mh"), page)


def test_corrupt_line_replaced_and_counted():
    page = _pages(1728, fine=False, n=1)[0].image[:80]
    bits = t4.encode_page(page, "mh").copy()
    eols = t4.T4Decoder(1728, "mh")._eol_positions(bits)
    bits[eols[40] + 3] ^= 1  # damage line 41
    dec = t4.T4Decoder(1728, "mh")
    rows = dec.feed(bits) + dec.finish()
    assert len(rows) == 80 and dec.bad_rows >= 1
    assert np.array_equal(np.array(rows)[:40], page[:40])
    assert np.array_equal(np.array(rows)[45:], page[45:])


def test_corrupt_tiff_gives_clear_error(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"\x08\x00\x00\x00" + os.urandom(200))
    with pytest.raises(TiffError):
        read_tiff(str(bad))
    with pytest.raises(TiffError):
        read_tiff(str(tmp_path / "missing.tif"))
    good = str(tmp_path / "g.tif")
    write_tiff(good, _pages(1728, False, 1), "g4")
    data = open(good, "rb").read()
    trunc = tmp_path / "trunc.tif"
    trunc.write_bytes(data[: len(data) // 3])
    with pytest.raises(TiffError):
        read_tiff_own(str(trunc))


def test_convert_png_to_tiff(tmp_path):
    im = Image.new("L", (850, 1100), 255)
    from PIL import ImageDraw
    ImageDraw.Draw(im).rectangle((100, 100, 700, 300), fill=0)
    src = str(tmp_path / "in.png")
    im.save(src)
    dst = str(tmp_path / "out.tif")
    assert to_tiff(src, dst) == 1
    p = read_tiff(dst)[0]
    assert p.width == 1728 and p.y_dpi == 196.0
    assert p.image[300:500, 300:1300].mean() > 0.99 and p.image[:150].mean() < 0.01
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ConvertError):
        image_to_pages(str(tmp_path / "junk.png"))
