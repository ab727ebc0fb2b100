"""Who is dialling: the origin (role, account) of an outbound dial, carried in a context variable from the
command, campaign or flow that asks down to the engine's single dial choke point (`Engine.dial`), where
the dial plan the app installs (`Engine.dial_guard`) allows, caps, routes or refuses it."""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from .errors import ChannelError

#: Q.850 / Asterisk AST_CAUSE_OUTGOING_CALL_BARRED: the dial plan does not allow this call
CAUSE_BARRED = 52


@dataclass(frozen=True)
class DialOrigin:
    """Who asks for an outbound call: role (agent, supervisor, campaign, flow, acd, system) and account."""
    role: str = "system"
    account: str = ""


_SYSTEM = DialOrigin()
_origin: contextvars.ContextVar[DialOrigin | None] = contextvars.ContextVar("trunkline_dial_origin", default=None)


def current_origin() -> DialOrigin:
    """The origin of dials made now in this task (system when nobody said)."""
    return _origin.get() or _SYSTEM


@contextlib.contextmanager
def dialing_as(role: str, account: object = "") -> Iterator[DialOrigin]:
    """Dials made inside the block (in this task and tasks it starts) are attributed to (role, account)."""
    origin = DialOrigin(str(role), str(account or ""))
    token = _origin.set(origin)
    try:
        yield origin
    finally:
        _origin.reset(token)


class DialRefused(ChannelError):
    """The dial plan refused the call (not allowed for the role, over a cap, no route); `cause` says which."""


class DialGuard(Protocol):
    """The dial plan as the engine sees it."""

    def __call__(self, number: str, caller_id: str, trunk: str | None,
                 origin: DialOrigin) -> tuple[str, str, str | None]:
        """(number to send, caller ID, trunk type or None = any) for an allowed dial; raises DialRefused."""
        ...
