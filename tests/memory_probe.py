"""Memory probes for tests: resident set of this process, and resident pages of one array (Linux /proc)."""
import numpy as np

from trunkline.data.procstat import rss_kib

__all__ = ["resident_pages", "rss_kib"]


def resident_pages(arr):
    """Pages of `arr`'s memory resident now (/proc/self/pagemap, bit 63: present)."""
    page = 4096
    first, last = arr.ctypes.data // page, (arr.ctypes.data + arr.nbytes - 1) // page
    with open("/proc/self/pagemap", "rb", buffering=0) as f:
        f.seek(first * 8)
        raw = np.frombuffer(f.read((last - first + 1) * 8), dtype="<u8")
    return int(np.count_nonzero(raw >> np.uint64(63)))
