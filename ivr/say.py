"""Say numbers, digits, money, dates and times in Chinese (zh) and English (en).

Every function returns a list of prompt fragment names (``"zh/digits/2"``,
``"zh/yuan"``, ``"en/tens/20"`` ...). `FRAGMENTS` maps each name to the text it
speaks, so `text()` shows a reading and the prompt library can synthesise a
missing fragment with espeak-ng. `render()` turns fragments into 8 kHz audio.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np

from trunkline.media.prompts import PromptLibrary

#: a number say.number / say.money read: int, float, Decimal or its text
Number = int | float | Decimal | str

LANGS = ("zh", "en")

_ZH_DIGITS = "零一二三四五六七八九"
_EN_SMALL = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
             "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
             "nineteen"]
_EN_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy",
            80: "eighty", 90: "ninety"}
_EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December"]
_EN_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_ZH_WEEKDAYS = "一二三四五六日"


def _en_ordinal_text(n):
    special = {1: "first", 2: "second", 3: "third", 5: "fifth", 8: "eighth", 9: "ninth", 12: "twelfth"}
    if n in special:
        return special[n]
    if n < 20:
        return _EN_SMALL[n] + "th"
    tens, unit = divmod(n, 10)
    if unit == 0:
        return _EN_TENS[n][:-1] + "ieth"
    return _EN_TENS[tens * 10] + " " + _en_ordinal_text(unit)


def _build_fragments():
    f = {}
    for d in range(10):
        f[f"zh/digits/{d}"] = _ZH_DIGITS[d]
    f.update({
        "zh/liang": "两", "zh/yao": "幺", "zh/shi": "十", "zh/bai": "百", "zh/qian": "千",
        "zh/wan": "万", "zh/yi": "亿", "zh/dian": "点", "zh/fu": "负", "zh/yuan": "元",
        "zh/jiao": "角", "zh/fen": "分", "zh/zheng": "整", "zh/nian": "年", "zh/yue": "月",
        "zh/ri": "日", "zh/xingqi": "星期", "zh/tian": "天", "zh/miao": "秒",
        "zh/shangwu": "上午", "zh/xiawu": "下午",
    })
    for n in range(20):
        f[f"en/digits/{n}"] = _EN_SMALL[n]
    for n, word in _EN_TENS.items():
        f[f"en/tens/{n}"] = word
    for n in range(1, 32):
        f[f"en/ordinals/{n}"] = _en_ordinal_text(n)
    for i, m in enumerate(_EN_MONTHS, 1):
        f[f"en/months/{i}"] = m
    for i, w in enumerate(_EN_WEEKDAYS):
        f[f"en/weekdays/{i}"] = w
    f.update({
        "en/hundred": "hundred", "en/thousand": "thousand", "en/million": "million",
        "en/billion": "billion", "en/minus": "minus", "en/point": "point", "en/dollar": "dollar",
        "en/dollars": "dollars", "en/cent": "cent", "en/cents": "cents", "en/and": "and",
        "en/yuan": "yuan", "en/fen": "fen",
        "en/oh": "oh", "en/oclock": "o'clock", "en/second": "second", "en/seconds": "seconds", "en/am": "a m",
        "en/pm": "p m",
    })
    return f


FRAGMENTS = _build_fragments()


def fragment_lang(name: str) -> str:
    """Language code of a fragment name ("zh" or "en")."""
    return name.split("/", 1)[0]


def text(fragments: Iterable[str]) -> str:
    """The reading of a fragment list as text (zh joined tight, en joined by spaces)."""
    out: list[str] = []
    for name in fragments:
        if name not in FRAGMENTS:
            raise KeyError(f"unknown say fragment {name!r}")
        word = FRAGMENTS[name]
        if out and fragment_lang(name) == "en":
            out.append(" ")
        out.append(word)
    return "".join(out)


def _check_lang(lang):
    if lang not in LANGS:
        raise ValueError(f"say: unsupported language {lang!r} (use one of {', '.join(LANGS)})")


def _to_int(n):
    if isinstance(n, bool):
        raise TypeError("say: a boolean is not a number")
    if isinstance(n, int):
        return n
    if isinstance(n, str):
        s = n.replace(",", "").strip()
        if not s.lstrip("-").isdigit():
            raise ValueError(f"say: {n!r} is not an integer")
        return int(s)
    if isinstance(n, (float, Decimal)) and n == int(n):
        return int(n)
    raise ValueError(f"say: {n!r} is not an integer")


# ---------------------------------------------------------------- Chinese numbers

_ZH_POS_UNIT = {3: "zh/qian", 2: "zh/bai", 1: "zh/shi"}
_ZH_GROUP_UNIT = {0: [], 1: ["zh/wan"], 2: ["zh/yi"], 3: ["zh/wan", "zh/yi"]}


def _zh_int(n, measure=False):
    """Fragments for a non-negative integer < 10**16 in Chinese.

    Rules: 零 once for any run of zeros between spoken digits (also across
    万/亿 groups, 10005 -> 一万零五); a leading 1 before 十 is dropped
    (10 -> 十, 110000 -> 十一万); 2 reads 两 before 千, as the first digit
    before 百, as a whole group before 万/亿 (两万, 两亿) and, with a measure
    word, as the whole number (两元); otherwise 二.
    """
    if n == 0:
        return ["zh/digits/0"]
    if n >= 10 ** 16:
        raise ValueError(f"say: {n} is too large to read in Chinese (limit 10**16 - 1)")
    if n == 2 and measure:
        return ["zh/liang"]
    groups = []
    while n:
        n, g = divmod(n, 10000)
        groups.append(g)
    out = []
    first = True           # nothing spoken yet
    zero_pending = False
    for gi in range(len(groups) - 1, -1, -1):
        g = groups[gi]
        if g == 0:
            if not first:
                zero_pending = True
            continue
        if not first and g < 1000:
            zero_pending = True
        digits = [(g // 10 ** p) % 10 for p in (3, 2, 1, 0)]
        started = False
        for idx, d in enumerate(digits):
            pos = 3 - idx
            if d == 0:
                if started:
                    zero_pending = True
                continue
            if zero_pending:
                out.append("zh/digits/0")
                zero_pending = False
            if d == 2 and (pos == 3 or (pos == 2 and first) or (pos == 0 and g == 2 and gi > 0)):
                out.append("zh/liang")
            elif not (d == 1 and pos == 1 and first):
                out.append(f"zh/digits/{d}")
            if pos:
                out.append(_ZH_POS_UNIT[pos])
            started = True
            first = False
        out.extend(_ZH_GROUP_UNIT[gi])
        zero_pending = False
    return out


def _en_below_1000(n):
    out = []
    h, rest = divmod(n, 100)
    if h:
        out += [f"en/digits/{h}", "en/hundred"]
    if rest:
        if rest < 20:
            out.append(f"en/digits/{rest}")
        else:
            t, u = divmod(rest, 10)
            out.append(f"en/tens/{t * 10}")
            if u:
                out.append(f"en/digits/{u}")
    return out


def _en_int(n):
    """Fragments for a non-negative integer < 10**12 in English (no "and")."""
    if n == 0:
        return ["en/digits/0"]
    if n >= 10 ** 12:
        raise ValueError(f"say: {n} is too large to read in English (limit 10**12 - 1)")
    out = []
    for scale, unit in ((10 ** 9, "en/billion"), (10 ** 6, "en/million"), (10 ** 3, "en/thousand")):
        q, n = divmod(n, scale)
        if q:
            out += _en_below_1000(q) + [unit]
    return out + _en_below_1000(n)


# ---------------------------------------------------------------- public API


def digits(s: str | int, lang: str = "zh", phone: bool = False) -> list[str]:
    """Read a digit string one digit at a time (phone=True reads 1 as 幺 in zh)."""
    _check_lang(lang)
    s = str(s)
    out = []
    for ch in s:
        if ch in " -":
            continue
        if not ch.isdigit():
            raise ValueError(f"say.digits: {s!r} has a non-digit {ch!r}")
        if lang == "zh" and phone and ch == "1":
            out.append("zh/yao")
        else:
            out.append(f"{lang}/digits/{ch}")
    return out


def number(n: Number, lang: str = "zh", measure: bool = False) -> list[str]:
    """Read an integer or decimal number (measure=True: zh 2 -> 两, as before a measure word)."""
    _check_lang(lang)
    value: Number = n
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, str):
        try:
            value = Decimal(value.replace(",", "").strip())
        except InvalidOperation:
            raise ValueError(f"say.number: {n!r} is not a number") from None
    if isinstance(value, Decimal) and value != value.to_integral_value():
        sign, whole_str, frac_str = _split_decimal(value)
        out = [f"{lang}/fu" if lang == "zh" else "en/minus"] if sign else []
        whole = int(whole_str)
        out += _zh_int(whole) if lang == "zh" else _en_int(whole)
        out.append("zh/dian" if lang == "zh" else "en/point")
        out += digits(frac_str, lang)
        return out
    whole = _to_int(value)
    prefix = []
    if whole < 0:
        prefix = ["zh/fu" if lang == "zh" else "en/minus"]
        whole = -whole
    return prefix + (_zh_int(whole, measure) if lang == "zh" else _en_int(whole))


def _split_decimal(d):
    s = format(d, "f")
    sign = s.startswith("-")
    s = s.lstrip("-")
    whole, _, frac = s.partition(".")
    return sign, whole, frac.rstrip("0")


def _money_decimal(amount):
    try:
        d = Decimal(str(amount).replace(",", "").strip()) if not isinstance(amount, Decimal) else amount
    except InvalidOperation:
        raise ValueError(f"say.money: {amount!r} is not an amount") from None
    if not d.is_finite():
        raise ValueError(f"say.money: {amount!r} is not a finite amount")
    return d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


#: currencies say.money reads, with their English unit / hundredth fragments (singular, plural)
CURRENCIES = {"CNY": (("en/yuan", "en/yuan"), ("en/fen", "en/fen")),
              "USD": (("en/dollar", "en/dollars"), ("en/cent", "en/cents"))}


def money(amount: Number, lang: str = "zh", currency: str = "CNY") -> list[str]:
    """Read an amount of money, rounded to 0.01: zh yuan/jiao/fen (2.50 -> 两元五角); en by currency:
    CNY (the default) twelve yuan and fifty fen, USD twelve dollars and fifty cents."""
    _check_lang(lang)
    if currency not in CURRENCIES:
        raise ValueError(f"say.money: currency must be one of {', '.join(CURRENCIES)}, not {currency!r}")
    (unit1, units_), (cent1, cents_) = CURRENCIES[currency]
    d = _money_decimal(amount)
    neg = d < 0
    cents_total = int(abs(d) * 100)
    units, cents = divmod(cents_total, 100)
    out = []
    if lang == "zh":
        if neg:
            out.append("zh/fu")
        jiao, fen = divmod(cents, 10)
        if units:
            out += _zh_int(units, measure=True) + ["zh/yuan"]
        if jiao:
            out += _zh_int(jiao, measure=True) + ["zh/jiao"]
        elif fen and units:
            out.append("zh/digits/0")
        if fen:
            out += _zh_int(fen, measure=True) + ["zh/fen"]
        if not units and not cents:
            out += ["zh/digits/0", "zh/yuan"]
        return out
    if neg:
        out.append("en/minus")
    if units or not cents:
        out += _en_int(units) + [unit1 if units == 1 else units_]
    if cents:
        if units:
            out.append("en/and")
        out += _en_int(cents) + [cent1 if cents == 1 else cents_]
    return out


def _as_date(d: object) -> _dt.date:
    if isinstance(d, _dt.datetime):
        return d.date()
    if isinstance(d, _dt.date):
        return d
    if isinstance(d, str):
        try:
            return _dt.date.fromisoformat(d)
        except ValueError:
            raise ValueError(f"say.date: {d!r} is not an ISO date (YYYY-MM-DD)") from None
    raise TypeError(f"say.date: {d!r} is not a date")


def _en_year(y):
    if y < 1000 or y % 1000 < 10 and y // 1000 == 2:   # 2000-2009 read "two thousand (five)"
        return _en_int(y)
    hi, lo = divmod(y, 100)
    out = _en_int(hi)
    if lo == 0:
        return out + ["en/hundred"]
    if lo < 10:
        return out + ["en/oh", f"en/digits/{lo}"]
    return out + _en_int(lo)


def date(d: _dt.date | str, lang: str = "zh", weekday: bool = False) -> list[str]:
    """Read a calendar date (zh: 二零二六年十一月二十三日; en: November twenty third twenty twenty six)."""
    _check_lang(lang)
    day = _as_date(d)
    if lang == "zh":
        out = digits(f"{day.year:04d}", "zh") + ["zh/nian"]
        out += _zh_int(day.month) + ["zh/yue"] + _zh_int(day.day) + ["zh/ri"]
        if weekday:
            wd = day.weekday()
            out += ["zh/xingqi", "zh/tian" if wd == 6 else f"zh/digits/{wd + 1}"]
        return out
    out = [f"en/weekdays/{day.weekday()}"] if weekday else []
    return out + [f"en/months/{day.month}", f"en/ordinals/{day.day}"] + _en_year(day.year)


def _as_time(t: object) -> _dt.time:
    if isinstance(t, _dt.datetime):
        return t.time()
    if isinstance(t, _dt.time):
        return t
    if isinstance(t, str):
        try:
            return _dt.time.fromisoformat(t)
        except ValueError:
            raise ValueError(f"say.time: {t!r} is not a time (HH:MM[:SS])") from None
    raise TypeError(f"say.time: {t!r} is not a time")


def time(t: _dt.time | _dt.datetime | str, lang: str = "zh", seconds: bool = False,
         twelve_hour: bool | None = None) -> list[str]:
    """Read a time of day (zh 24-hour by default: 十四点零五分; en 12-hour: two oh five p m)."""
    _check_lang(lang)
    tod = _as_time(t)
    if lang == "zh":
        out = []
        hour = tod.hour
        if twelve_hour:
            out.append("zh/shangwu" if hour < 12 else "zh/xiawu")
            hour = hour % 12 or 12
        out += _zh_int(hour, measure=True) + ["zh/dian"]
        if tod.minute == 0 and not (seconds and tod.second):
            out.append("zh/zheng")
        else:
            if tod.minute < 10:
                out.append("zh/digits/0")
            out += _zh_int(tod.minute) + ["zh/fen"]
            if seconds and tod.second:
                out += _zh_int(tod.second) + ["zh/miao"]
        return out
    hour12 = tod.hour % 12 or 12
    out = _en_int(hour12)
    if tod.minute == 0:
        out.append("en/oclock")
    elif tod.minute < 10:
        out += ["en/oh", f"en/digits/{tod.minute}"]
    else:
        out += _en_int(tod.minute)
    if seconds and tod.second:
        out += ["en/and"] + _en_int(tod.second) + ["en/second" if tod.second == 1 else "en/seconds"]
    if twelve_hour is not False:
        out.append("en/am" if tod.hour < 12 else "en/pm")
    return out


def datetime(dt: _dt.datetime | str, lang: str = "zh", weekday: bool = False) -> list[str]:
    """Read a date followed by a time of day."""
    return date(dt, lang, weekday=weekday) + time(dt, lang)


def render(fragments: Iterable[str], library: PromptLibrary, lang: str | None = None) -> np.ndarray:
    """Concatenate the audio of fragments from a prompt library into one int16 array at 8 kHz."""
    parts = [np.asarray(library.load(name, lang=lang), dtype=np.int16) for name in fragments]
    if not parts:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate(parts)
