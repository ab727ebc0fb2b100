"""Chinese telephone numbers in one place: canonical form, E.164, mobile / fixed / service, area codes and
display. Every layer that compares or shows numbers (call firewall, do-not-call, campaigns, CDR search,
caller-ID display) goes through here, so +8613800138000, 008613800138000, 013800138000 and 13800138000 are
one subscriber.

Canonical form (what rules store and compare): a Chinese mobile is its 11 digits (13800138000); a Chinese
fixed line is the national form with the trunk prefix 0 (01062345678, 075512345678); a number abroad is
``+`` and its E.164 digits (+14155550100); anything else (service numbers 95588, local numbers without an
area code) is its digits. Anonymous or withheld numbers are "".
"""
from __future__ import annotations

import re

COUNTRY = "86"
MOBILE_RE = re.compile(r"1[3-9]\d{9}")
#: two-digit area codes (after the trunk prefix 0): Beijing 10, Guangzhou 20, Shanghai 21 ... 29
TWO_DIGIT_AREAS = {"10", "20", "21", "22", "23", "24", "25", "27", "28", "29"}
MOBILE, FIXED, SERVICE, INTERNATIONAL, LOCAL, ANONYMOUS = ("mobile", "fixed", "service", "international",
                                                           "local", "anonymous")


def _digits(number: str | None) -> tuple[bool, str]:
    text = (number or "").strip()
    return text.startswith("+"), "".join(ch for ch in text if ch.isdigit())


def _national(nsn: str) -> str:
    """A Chinese national significant number (no prefix) in canonical form."""
    if MOBILE_RE.fullmatch(nsn):
        return nsn
    return "0" + nsn if nsn else ""


def canonical(number: str | None) -> str:
    """The canonical form of a number (see the module docstring); "" for anonymous."""
    plus, d = _digits(number)
    if not d:
        return ""
    if plus:
        return _national(d[len(COUNTRY):]) if d.startswith(COUNTRY) else "+" + d
    if d.startswith("00"):
        rest = d[2:]
        return _national(rest[len(COUNTRY):]) if rest.startswith(COUNTRY) else "+" + rest
    if d.startswith(COUNTRY) and MOBILE_RE.fullmatch(d[len(COUNTRY):]):
        return d[len(COUNTRY):]                    # 8613800138000 written without + or 00
    if d.startswith("0") and MOBILE_RE.fullmatch(d[1:]):
        return d[1:]                               # a mobile dialled with the trunk prefix: 013800138000
    return d


def canonical_prefix(prefix: str | None) -> str:
    """A number prefix (for prefix rules) in the same canonical form: +86138 / 0086138 -> 138,
    +8610 -> 010, 00852 -> +852; a plain prefix stays as it is."""
    plus, d = _digits(prefix)
    if not d:
        return ""
    if plus or d.startswith("00"):
        rest = d if plus else d[2:]
        if rest.startswith(COUNTRY):
            nsn = rest[len(COUNTRY):]
            mobile = nsn[:1] == "1" and (len(nsn) == 1 or nsn[1] in "3456789")
            return nsn if mobile else ("0" + nsn if nsn else "")
        return "+" + rest
    return d


def kind(number: str | None) -> str:
    """mobile | fixed | service | international | local | anonymous."""
    c = canonical(number)
    if not c:
        return ANONYMOUS
    if c.startswith("+"):
        return INTERNATIONAL
    if MOBILE_RE.fullmatch(c):
        return MOBILE
    if c.startswith("0") and len(c) >= 10:
        return FIXED
    if len(c) <= 6:
        return SERVICE                              # 110, 10086, 95588, 12345
    return LOCAL


def area_code(number: str | None) -> str:
    """The area code of a Chinese fixed line with its 0 ("010", "0755"), else ""."""
    c = canonical(number)
    if kind(c) != FIXED:
        return ""
    return c[:3] if c[1:3] in TWO_DIGIT_AREAS else c[:4]


def e164(number: str | None) -> str:
    """+86... for Chinese mobiles and fixed lines, +... for numbers abroad; other numbers as canonical."""
    c = canonical(number)
    k = kind(c)
    if k == MOBILE:
        return "+" + COUNTRY + c
    if k == FIXED:
        return "+" + COUNTRY + c[1:]
    return c


def display(number: str | None) -> str:
    """A number as people write it: 138 0013 8000, 010-6234 5678, 0755-1234 5678, +1 4155550100."""
    c = canonical(number)
    k = kind(c)
    if k == MOBILE:
        return f"{c[:3]} {c[3:7]} {c[7:]}"
    if k == FIXED:
        ac = area_code(c)
        sub = c[len(ac):]
        return f"{ac}-{sub[:4]} {sub[4:]}" if len(sub) == 8 else f"{ac}-{sub}"
    return c


def search_key(number: str | None) -> str:
    """The digits every written form of a number contains (for substring search over stored numbers):
    a Chinese number's national significant digits, else the canonical digits."""
    c = canonical(number)
    if kind(c) == FIXED:
        return c[1:]
    return c.lstrip("+")
