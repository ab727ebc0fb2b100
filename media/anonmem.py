"""Arrays in anonymous memory mappings, whose pages can be given back to the system when a pool shrinks.

numpy's own buffers come from malloc, and a page of one that was written once stays resident until the
array is freed. A pool sized for its busiest moment (the recording stage, the capture buffers) then holds
the memory of that moment for ever. An array made by `anon_array` lives in its own anonymous mapping:
untouched pages cost nothing, and `give_back` returns the whole pages inside a byte range
(madvise MADV_DONTNEED: they read as zeros again, and cost memory again only once written).
"""
from __future__ import annotations

import mmap
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

PAGE = mmap.PAGESIZE


def anon_map(size: int) -> mmap.mmap:
    """A private anonymous mapping of `size` bytes (> 0), zeroed: memory only for the pages written.

    Private, not Python's default shared mapping: madvise DONTNEED on a shared anonymous mapping only unmaps
    the pages from this process (the resident set drops) while the memory stays allocated behind it."""
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)


def anon_array(shape: tuple[int, ...], dtype: DTypeLike) -> NDArray[Any]:
    """A zeroed array of `shape` in a fresh anonymous mapping (`mapping_of` finds it; none when it has no bytes)."""
    dt = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if size == 0:
        return np.zeros(shape, dt)
    return np.frombuffer(anon_map(size), dt).reshape(shape)


def mapping_of(arr: NDArray[Any]) -> mmap.mmap | None:
    """The anonymous mapping an array made by `anon_array` (or a view of one) lives in; None for others."""
    base: Any = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return base if isinstance(base, mmap.mmap) else None


def give_back(m: mmap.mmap | None, start: int, stop: int) -> int:
    """Give the whole pages inside bytes [start, stop) of mapping `m` back to the system; the bytes given."""
    if m is None:
        return 0
    first = -(-max(start, 0) // PAGE) * PAGE
    last = min(stop, len(m)) // PAGE * PAGE
    if last <= first:
        return 0
    m.madvise(mmap.MADV_DONTNEED, first, last - first)
    return last - first
