"""Skills matching: which agents qualify for a caller's required skills, and how well.

Agents hold skills with levels 1..10; a call requires {skill: minimum level}
(from IVR data). Widening relaxes the minimum levels by a number of levels
as the caller waits, and finally ("any") lets every member take the call.
"""
from __future__ import annotations

from typing import Any

from .agents import validate_skills


def required_from_data(data: dict[str, Any] | None, key: str = "skills") -> dict[str, int]:
    """Required skills from IVR data: data[key] as {skill: level} or a list of names (level 1)."""
    if not data or key not in data:
        return {}
    req = data[key]
    if isinstance(req, (list, tuple)):
        req = {str(s): 1 for s in req}
    return validate_skills(req, "call required skills")


def qualifies(agent_skills: dict[str, int], required: dict[str, int], relax: int | str = 0) -> bool:
    """True when the agent meets every required skill at (level - relax), never below 1; "any" passes all."""
    if relax == "any" or not required:
        return True
    drop = int(relax)
    for skill, need in required.items():
        if agent_skills.get(skill, 0) < max(1, need - drop):
            return False
    return True


def score(agent_skills: dict[str, int], required: dict[str, int]) -> float:
    """Match quality: sum of the agent's levels in the required skills (missing skills count 0)."""
    if not required:
        return 0.0
    return float(sum(agent_skills.get(s, 0) for s in required))
