"""Reading rows for pages: one row by key (404 when missing), newest-first lists filtered by query arguments."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from flask import abort, request
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute

from trunkline.data.db import Base, session_scope

from .security import db

M = TypeVar("M", bound=Base)


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
