"""TIFF pages kept in the coding they came in (FaxPage.coded): stored as received, sent as stored."""
import numpy as np
import pytest

from trunkline.fax.convert import synth_document
from trunkline.fax.t4 import T4Encoder, reverse_bits
from trunkline.fax.tiff import FaxPage, read_tiff, read_tiff_own, write_tiff


def test_reverse_bits():
    """Each octet's bit order reversed (LSB-first line order <-> TIFF FillOrder 1)."""
    assert reverse_bits(bytes([0x01, 0x80, 0x0F, 0xA5])) == bytes([0x80, 0x01, 0xF0, 0xA5])


@pytest.mark.parametrize("aligned", [False, True])
def test_pages_stored_as_they_came_read_back_by_libtiff_and_by_us(tmp_path, aligned):
    """A received fax (as_coded): each page's MH / MR / T.6 data is the strip as it is (EOLs, RTC or EOFB as on
    the line, fill or not), and both readers get the page back."""
    pages = synth_document(3, rows=120, seed=3)
    coded = []
    for p, coding in zip(pages, ("mh", "mr", "mmr")):
        enc = T4Encoder(p.width, coding, k=4, byte_align_eol=aligned and coding != "mmr")
        coded.append(FaxPage(p.image, p.x_dpi, p.y_dpi, coded=(coding, enc.page_bytes(p.image, lsb=False))))
    path = str(tmp_path / "r.tif")
    write_tiff(path, coded, "g4", as_coded=True)
    raw = open(path, "rb").read()
    for p in coded:
        assert p.coded is not None and p.coded[1] in raw
    for reader in (read_tiff, read_tiff_own):
        got = reader(path)
        assert [np.array_equal(g.image, p.image) for g, p in zip(got, coded)] == [True] * 3


def test_coded_data_in_another_coding_is_coded_again_unless_as_coded(tmp_path):
    """Without as_coded a page whose data is in another coding than asked for is coded again."""
    p = synth_document(1, rows=80, seed=5)[0]
    mr = T4Encoder(p.width, "mr", k=4).page_bytes(p.image, lsb=False)
    path = str(tmp_path / "g4.tif")
    write_tiff(path, [FaxPage(p.image, p.x_dpi, p.y_dpi, coded=("mr", mr))], "g4")
    assert mr not in open(path, "rb").read()
    got = read_tiff(path)
    assert np.array_equal(got[0].image, p.image) and got[0].coded is not None and got[0].coded[0] == "mmr"


def test_read_tiff_keeps_a_t6_strip_only_when_it_decodes_to_the_page(tmp_path):
    """A one-strip T.6 page is kept as stored (to be sent as it is); a G3 page is not; a T.6 strip that our
    decoder would not read back to the same image is not."""
    pages = synth_document(2, rows=100, seed=6)
    g4, g3 = str(tmp_path / "a.tif"), str(tmp_path / "b.tif")
    write_tiff(g4, pages, "g4")
    write_tiff(g3, pages, "g3-2d")
    got = read_tiff(g4)
    for g, p in zip(got, pages):
        assert g.coded is not None and g.coded[0] == "mmr"
        assert g.coded[1] == T4Encoder(p.width, "mmr").page_bytes(p.image, lsb=False)
    assert all(g.coded is None for g in read_tiff(g3))
    data = bytearray(open(g4, "rb").read())
    strip = got[0].coded[1]
    at = bytes(data).index(strip)
    data[at + len(strip) - 3:at + len(strip)] = b"\x00\x00\x00"   # EOFB gone: libtiff still reads the rows
    open(g4, "wb").write(bytes(data))
    assert read_tiff(g4)[0].coded is None
