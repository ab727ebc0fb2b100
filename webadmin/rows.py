"""Reading rows for pages: one row by key (404 when missing), newest-first lists filtered by query arguments;
cells for CSV exports that a spreadsheet cannot run as formulas."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from flask import abort, request
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute

from trunkline.data.db import Base, session_scope

from .security import db

M = TypeVar("M", bound=Base)

def int_arg(name: str, default: int, lo: int, hi: int) -> int:
    """Query argument `name` as an int in [lo, hi] (missing/empty: default); abort 400 naming it otherwise."""
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        abort(400, description=_("%(name)s must be a whole number, not %(text)s", name=name, text=text[:40]))
    if not lo <= value <= hi:
        abort(400, description=_("%(name)s must be between %(lo)s and %(hi)s", name=name, lo=lo, hi=hi))
    return value


def float_arg(name: str, default: float, lo: float, hi: float) -> float:
    """Query argument `name` as a number in [lo, hi] (missing/empty: default); abort 400 naming it otherwise."""
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        abort(400, description=_("%(name)s must be a number, not %(text)s", name=name, text=text[:40]))
    if not math.isfinite(value) or not lo <= value <= hi:
        abort(400, description=_("%(name)s must be between %(lo)s and %(hi)s", name=name, lo=f"{lo:g}", hi=f"{hi:g}"))
    return value


#: a text cell starting with one of these is read as a formula by spreadsheets (CSV/formula injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
#: a telephone number in international form ("+8613800138000") is a plain signed number to a spreadsheet,
#: never a formula that runs anything: exported as it is
SIGNED_NUMBER = re.compile(r"[+-]?[0-9]+")


def export_cell(value: Any) -> Any:
    """A value for a CSV/XLSX export cell: None -> "", text a spreadsheet would run as a formula gets a
    leading apostrophe (shown as text: "'=cmd|..."); numbers, "+86..." telephone numbers and other values
    unchanged."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not SIGNED_NUMBER.fullmatch(value):
        return "'" + value
    return value


def export_row(values: Sequence[Any]) -> list[Any]:
    """`export_cell` of each value."""
    return [export_cell(v) for v in values]


def row_or_404(model: type[M], key: Any) -> M:
    """The row of `model` with primary key `key` (detached, attributes loaded), else abort 404."""
    with session_scope(db()) as s:
        row = s.get(model, key)
        if row is None:
            abort(404)
        return row


def listed(model: type[M], order_by: Sequence[ColumnElement[Any]], limit: int,
           filters: Mapping[str, InstrumentedAttribute[Any]]) -> Sequence[M]:
    """Up to `limit` rows of `model` in `order_by` order; each query argument named in `filters` that the
    request carries keeps only rows whose column equals it."""
    with session_scope(db()) as s:
        q = select(model).order_by(*order_by)
        for arg, column in filters.items():
            if request.args.get(arg):
                q = q.where(column == request.args[arg])
        return s.scalars(q.limit(limit)).all()
