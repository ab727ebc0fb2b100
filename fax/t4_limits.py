"""Bounds on the fax image data one channel may make us hold or work on (issue #16).

A fax caller controls the bits we decode: without bounds, a line that never ends, a page that never
ends or a session that never stops sending pages grows buffers and per-block work without limit, on
the media tick that every channel shares. These numbers are what a real page can need, with margin.
"""
from __future__ import annotations

__all__ = ["MAX_PAGE_ROWS", "MAX_PAGES", "FILL_ZEROS_KEPT", "max_line_bits", "max_page_octets"]

#: Rows of one page. A4 at fine resolution is 297 mm x 196 lines/inch = 2,291 rows; convert.py lets a
#: document page be at most four A4 heights (9,164 rows), so we accept that, rounded up to 9,216
#: (= 4 x 2,304). Longer ("unlimited length") pages are refused: the decoder raises T4PageTooLong.
MAX_PAGE_ROWS = 9216

#: Pages received in one session (a received page is held unpacked, 1 octet a pixel: an A4 fine page
#: is 4 MB, so 100 pages bound a session's image memory to a few hundred MB at worst).
MAX_PAGES = 100

#: Fill zeros (T.4 4.1.3: zeros between a line's data and its EOL) kept while no EOL ends them: the
#: EOL search needs 11; the rest carry no information and are dropped instead of buffered.
FILL_ZEROS_KEPT = 16


def max_line_bits(width: int) -> int:
    """Longest coded scan line (its data, without fill or EOL) a decoder waits for, in bits.

    MH codes at most 6 bits a pixel (white run of 1: "000111"), alternating with 3-bit black runs;
    MR/MMR 2-D at most 7 (VR3/VL3 "0000011" for a change at every pixel). 8 bits a pixel plus 1024
    bits of margin (tag bit, makeup codes) covers every valid line; more without an EOL is garbage.
    """
    return 8 * width + 1024


def max_page_octets(width: int) -> int:
    """Largest coded page (ECM: the octets of all its blocks) accepted: MAX_PAGE_ROWS longest lines."""
    return MAX_PAGE_ROWS * (max_line_bits(width) + 12) // 8
