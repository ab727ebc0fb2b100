"""Q.850 cause <-> SIP response mapping (RFC 3398 sections 7.2.4.1 and 8.2.6.1)."""

SIP_TO_Q850 = {400: 41, 401: 21, 402: 21, 403: 21, 404: 1, 405: 63, 406: 79, 407: 21, 408: 102, 410: 22,
               413: 127, 414: 28, 415: 79, 416: 127, 420: 127, 480: 18, 481: 41, 482: 25, 483: 25, 484: 28,
               485: 1, 486: 17, 487: 16, 488: 65, 500: 41, 501: 79, 502: 38, 503: 41, 504: 102, 505: 127,
               600: 17, 603: 21, 604: 1, 606: 58}
Q850_TO_SIP = {1: 404, 2: 404, 3: 404, 16: 480, 17: 486, 18: 408, 19: 480, 20: 480, 21: 603, 22: 410,
               26: 404, 27: 502, 28: 484, 29: 501, 31: 480, 34: 503, 38: 503, 41: 503, 42: 503, 47: 503,
               55: 403, 57: 403, 58: 503, 63: 405, 65: 488, 69: 501, 79: 501, 87: 403, 88: 503, 102: 504,
               111: 500, 127: 500}


def q850_of(status: int) -> int:
    """The Q.850 cause for a SIP final response (class defaults: 4xx 41... per RFC 3398)."""
    if status in SIP_TO_Q850:
        return SIP_TO_Q850[status]
    if status >= 600:
        return 31
    if status >= 500:
        return 41
    return 127 if status >= 400 else 31


def sip_of(cause: int) -> int:
    """The SIP response for clearing an unanswered inbound call with Q.850 `cause`."""
    return Q850_TO_SIP.get(cause, 500 if cause >= 100 else 480)


def reason_header(cause: int) -> str:
    """A Reason header value (RFC 3326) carrying the Q.850 cause."""
    return f"Q.850;cause={cause}"


def cause_from_reason(value: str, default: int = 16) -> int:
    """The Q.850 cause of a Reason header, or `default`."""
    for part in value.split(","):
        if part.strip().upper().startswith("Q.850"):
            for p in part.split(";")[1:]:
                k, _, v = p.partition("=")
                if k.strip().lower() == "cause" and v.strip().isdigit():
                    return int(v.strip())
    return default
