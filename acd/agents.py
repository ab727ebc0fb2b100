"""Agent states and the agent definition (where an agent is reached, skills, queue memberships)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOGGED_OUT = "logged_out"
AVAILABLE = "available"
RINGING = "ringing"
BUSY = "busy"
WRAPUP = "wrapup"
BREAK = "break"

STATES = (LOGGED_OUT, AVAILABLE, RINGING, BUSY, WRAPUP, BREAK)
LOGGED_IN = (AVAILABLE, RINGING, BUSY, WRAPUP, BREAK)
STAFFED = (AVAILABLE, RINGING, BUSY, WRAPUP)          # counted as working capacity for EWT

# Break reason codes an agent may use; "no-answer" is set by the ACD after max no-answers.
DEFAULT_BREAK_REASONS = ("break", "lunch", "meeting", "training", "admin", "no-answer")


class AgentError(ValueError):
    """Bad agent definition or an impossible state change (message says which)."""


@dataclass
class AgentSpec:
    """An agent as configured: FXS station port (on `host`) or an external number, skills 1..10."""
    id: str
    name: str = ""
    station_port: int | None = None
    number: str | None = None
    host: str | None = None
    pin: str = ""
    skills: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.id = str(self.id)
        if not self.id or not self.id.replace("_", "").replace("-", "").isalnum():
            raise AgentError(f"agent id {self.id!r} must be non-empty letters/digits")
        if self.station_port is None and not self.number:
            raise AgentError(f"agent {self.id}: needs a station_port or an external number")
        if self.station_port is not None and (not isinstance(self.station_port, int) or self.station_port < 0):
            raise AgentError(f"agent {self.id}: station_port must be a port index >= 0")
        self.skills = validate_skills(self.skills, f"agent {self.id}")


def validate_skills(skills: dict[str, Any] | None, where: str) -> dict[str, int]:
    """Check a {skill: level} mapping (levels 1..10) and return it with int levels."""
    if skills is None:
        return {}
    if not isinstance(skills, dict):
        raise AgentError(f"{where}: skills must be a mapping skill -> level 1..10, got {skills!r}")
    out = {}
    for name, level in skills.items():
        try:
            lv = int(level)
        except (TypeError, ValueError):
            raise AgentError(f"{where}: skill {name!r} level {level!r} is not a number") from None
        if not 1 <= lv <= 10:
            raise AgentError(f"{where}: skill {name!r} level {lv} outside 1..10")
        out[str(name)] = lv
    return out
