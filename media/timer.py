"""Media-time timers of the engine: the handle `Engine.call_later` returns (the heap that runs them is the engine's)."""
from __future__ import annotations

from collections.abc import Callable


class TimerHandle:
    """A scheduled media-time callback; cancel() stops it."""
    __slots__ = ("due", "fn", "cancelled")

    def __init__(self, due: int, fn: Callable[[], object]) -> None:
        self.due, self.fn, self.cancelled = due, fn, False

    def cancel(self) -> None:
        """Do not run the callback."""
        self.cancelled = True
