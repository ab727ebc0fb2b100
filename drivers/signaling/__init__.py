"""Signaling stacks: analog loop start, ISDN PRI, China No.1 (MFC/R2).

`make_signaling(span, emit, kind)` picks the stack for a span: FXO ports get
loop-start trunk signaling, FXS ports station signaling, E1/T1 spans ISDN PRI
("pri", the default) or China No.1 MFC/R2 ("r2").
"""


def make_signaling(span, emit, kind=None, zone="cn"):
    """The signaling stack for a board span; kind overrides the default for E1/T1 ("pri" or "r2")."""
    if span.kind == "fxo":
        from trunkline.drivers.signaling.analog import AnalogFXO
        return AnalogFXO(span, emit, zone=zone)
    if span.kind == "fxs":
        from trunkline.drivers.signaling.analog import AnalogFXS
        return AnalogFXS(span, emit)
    kind = kind or "pri"
    if kind == "pri":
        from trunkline.drivers.signaling.pri import PRISignaling
        return PRISignaling(span, emit, switch="euroisdn" if span.kind == "e1" else "ni2")
    if kind == "r2":
        from trunkline.drivers.signaling.r2 import R2Signaling
        return R2Signaling(span, emit)
    raise ValueError(f"unknown signaling {kind!r} for span {span.index} ({span.kind})")
