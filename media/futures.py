"""Settling the futures call operations wait on: a timer, a digit, the end of a prompt and a hang-up can
race for the same future; the first one wins, the others find it done."""
from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


def settle(fut: asyncio.Future[T], value: T) -> None:
    """Set the future's result unless it is already done."""
    if not fut.done():
        fut.set_result(value)


def settle_error(fut: asyncio.Future[T], exc: BaseException) -> None:
    """Fail the future with exc unless it is already done."""
    if not fut.done():
        fut.set_exception(exc)
