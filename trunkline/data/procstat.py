"""This process's resource use read from Linux /proc: resident memory, its peak, open descriptors, CPU time.

One home for these figures: the web admin's /metrics serves them, the soak bench samples them, tests use them.
"""
from __future__ import annotations

import os
import time


def _status_kib(field: str) -> int:
    """A `kB` field of /proc/self/status (e.g. "VmRSS"), KiB; 0 where /proc has no such field."""
    prefix = field + ":"
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(prefix):
                return int(line.split()[1])
    return 0


def rss_kib() -> int:
    """Resident memory of this process now, KiB."""
    return _status_kib("VmRSS")


def peak_rss_kib() -> int:
    """Highest resident memory of this process since it started, KiB."""
    return _status_kib("VmHWM")


def open_fds() -> int:
    """File descriptors this process has open now."""
    return len(os.listdir("/proc/self/fd"))


def cpu_seconds() -> float:
    """CPU time this process has used, user + system, all threads, seconds."""
    return time.process_time()
