"""Member-selection strategies (app_queue / mod_callcenter names) over candidate agents.

Pure functions: given the eligible, available members of one queue for one
caller, return the agents to ring, best first. Ring-all returns the whole
lowest-penalty group to ring at once.
"""
from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RING_ALL = "ring-all"
LONGEST_IDLE = "longest-idle"
ROUND_ROBIN = "round-robin"        # with memory (app_queue rrmemory)
FEWEST_CALLS = "fewest-calls"
LEAST_TALK_TIME = "least-talk-time"
TOP_DOWN = "top-down"              # agent order (app_queue linear)
RANDOM = "random"
WEIGHTED_RANDOM = "weighted-random"
SKILLS = "skills-based"

#: round-robin memory: the last agent rung, as (position, agent id) or a bare agent id
RoundRobinMemory = tuple[int, str] | str | None

STRATEGIES = (RING_ALL, LONGEST_IDLE, ROUND_ROBIN, FEWEST_CALLS, LEAST_TALK_TIME,
              TOP_DOWN, RANDOM, WEIGHTED_RANDOM, SKILLS)


@dataclass
class Candidate:
    """One available, eligible member: queue stats and the caller-specific skill score."""
    agent: str
    penalty: int = 0
    position: int = 0
    weight: float = 1.0
    calls: int = 0               # calls taken in this queue
    talk_time: float = 0.0       # seconds talked in this queue
    idle_since: float = 0.0      # became available at (seconds)
    skill_score: float = 0.0     # higher = better match for this caller
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Choice:
    """Agents to offer the call to: ring_all -> ring all of `agents` at once, else only agents[0]."""
    agents: list[Candidate]
    ring_all: bool = False


def choose(strategy: str, candidates: list[Candidate], rr_last: RoundRobinMemory = None,
           rng: _random.Random | None = None) -> Choice | None:
    """Pick agent(s) among `candidates` (list of Candidate) by `strategy`; None if no candidate."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    if not candidates:
        return None
    best_pen = min(c.penalty for c in candidates)
    group = [c for c in candidates if c.penalty == best_pen]      # lower penalty (tier) first
    if strategy == RING_ALL:
        return Choice(sorted(group, key=lambda c: (c.position, c.agent)), ring_all=True)
    return Choice(order(strategy, group, rr_last, rng))


def order(strategy: str, group: list[Candidate], rr_last: RoundRobinMemory = None,
          rng: _random.Random | None = None) -> list[Candidate]:
    """All of `group` ordered best first by `strategy` (ties broken by position, then id)."""
    shuffle = rng.shuffle if rng is not None else _random.shuffle
    draw = rng.random if rng is not None else _random.random
    tie = lambda c: (c.position, c.agent)   # noqa: E731
    if strategy in (LONGEST_IDLE, RING_ALL):
        return sorted(group, key=lambda c: (c.idle_since, *tie(c)))
    if strategy == FEWEST_CALLS:
        return sorted(group, key=lambda c: (c.calls, *tie(c)))
    if strategy == LEAST_TALK_TIME:
        return sorted(group, key=lambda c: (c.talk_time, *tie(c)))
    if strategy == TOP_DOWN:
        return sorted(group, key=tie)
    if strategy == ROUND_ROBIN:
        ring = sorted(group, key=tie)
        return _after(ring, rr_last)
    if strategy == RANDOM:
        g = sorted(group, key=tie)
        shuffle(g)
        return g
    if strategy == WEIGHTED_RANDOM:
        return _weighted_order(sorted(group, key=tie), draw)
    if strategy == SKILLS:
        return sorted(group, key=lambda c: (-c.skill_score, c.idle_since, *tie(c)))
    raise ValueError(f"unknown strategy {strategy!r}")


def _after(ring: list[Candidate], rr_last: RoundRobinMemory) -> list[Candidate]:
    """Round-robin: start after the remembered agent's position (wrapping)."""
    if rr_last is None:
        return ring
    last_pos = rr_last if isinstance(rr_last, tuple) else None
    if last_pos is None:
        ids = [c.agent for c in ring]
        if rr_last in ids:
            i = ids.index(rr_last) + 1
            return ring[i:] + ring[:i]
        return ring
    later = [c for c in ring if (c.position, c.agent) > last_pos]
    earlier = [c for c in ring if (c.position, c.agent) <= last_pos]
    return later + earlier


def _weighted_order(group: list[Candidate], draw: Callable[[], float]) -> list[Candidate]:
    """Draw without replacement with probability proportional to weight (weights <= 0 never first)."""
    pool = list(group)
    out: list[Candidate] = []
    while pool:
        total = sum(max(c.weight, 0.0) for c in pool)
        if total <= 0:
            out.extend(pool)
            break
        x = draw() * total
        acc = 0.0
        for i, c in enumerate(pool):
            acc += max(c.weight, 0.0)
            if x < acc:
                out.append(pool.pop(i))
                break
        else:
            out.append(pool.pop())
    return out
