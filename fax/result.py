"""The outcome of a fax call: what FaxEndpoint(...).result and the T.30 session report."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FaxResult:
    """Outcome of a fax call: ok, pages transferred, image bit rate (bit/s), ECM used, reason text
    ("in progress" until the call ends, then "OK" or why it failed), the far terminal's identity."""
    ok: bool = False
    pages: int = 0
    bit_rate: int = 0
    ecm: bool = False
    reason: str = "in progress"
    remote_ident: str = ""
