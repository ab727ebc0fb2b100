"""Arrays in anonymous mappings (media/anonmem.py): untouched pages cost nothing, give_back returns only the
whole pages inside a range (they read as zeros again), and views find their mapping."""
import numpy as np
from memory_probe import resident_pages

from trunkline.media.anonmem import PAGE, anon_array, give_back, mapping_of


def test_give_back_returns_whole_pages_inside_the_range_only():
    a = anon_array((8, PAGE), np.uint8)
    m = mapping_of(a)
    assert resident_pages(a) == 0 and not a.any()
    a[:] = 7
    assert resident_pages(a) == 8
    assert m is not None and len(m) == 8 * PAGE
    assert mapping_of(a[2:5]) is m and mapping_of(a.reshape(-1)) is m and mapping_of(np.zeros(4)) is None
    assert give_back(m, PAGE + 1, 4 * PAGE) == 2 * PAGE          # pages 2 and 3 (page 1 only partly inside)
    assert resident_pages(a) == 6
    assert (a[2:4] == 0).all() and (a[1] == 7).all() and (a[4] == 7).all()
    assert give_back(m, 5 * PAGE, 99 * PAGE) == 3 * PAGE and give_back(None, 0, PAGE) == 0
    assert give_back(m, 10, 20) == 0
    empty = anon_array((0, 16), np.int16)
    assert mapping_of(empty) is None and empty.shape == (0, 16)
