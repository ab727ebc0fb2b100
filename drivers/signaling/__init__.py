"""Signaling stacks: analog loop start, ISDN PRI, China No.1 (MFC/R2), China No.7 (SS7/ISUP).

`make_signaling(span, emit, kind)` picks the stack for a span: FXO ports get
loop-start trunk signaling, FXS ports station signaling, E1/T1 spans ISDN PRI
("pri", the default), China No.1 MFC/R2 ("r2") or China No.7 ("ss7", E1 only; options: opc, dpc,
pc_format, cic_base, signaling_slot, ...).
"""
from collections.abc import Callable
from typing import Any

from trunkline.drivers.board import Span
from trunkline.drivers.signaling.analog import AnalogFXO, AnalogFXS
from trunkline.drivers.signaling.base import SignalingEvent, SpanSignaling
from trunkline.drivers.signaling.pri import PRISignaling
from trunkline.drivers.signaling.q931 import EUROISDN_E1, NI2
from trunkline.drivers.signaling.r2 import R2Signaling
from trunkline.drivers.signaling.sip import SipSignaling
from trunkline.drivers.signaling.ss7 import SS7Signaling


def make_signaling(span: Span, emit: Callable[[SignalingEvent], None], kind: str | None = None,
                   zone: str = "cn", **options: Any) -> SpanSignaling:
    """The signaling stack for a board span; kind overrides the default for E1/T1 ("pri", "r2", "ss7");
    options go to the SS7 stack (point codes, CIC base, signaling timeslot)."""
    if span.kind == "fxo":
        return AnalogFXO(span, emit, zone=zone)
    if span.kind == "fxs":
        return AnalogFXS(span, emit)
    if span.kind == "sip":
        return SipSignaling(span, emit)
    kind = kind or "pri"
    if kind == "pri":
        return PRISignaling(span, emit, switch=EUROISDN_E1 if span.kind == "e1" else NI2)
    if kind == "r2":
        return R2Signaling(span, emit)
    if kind == "ss7":
        return SS7Signaling(span, emit, **options)
    raise ValueError(f"unknown signaling {kind!r} for span {span.index} ({span.kind})")
