"""Erlang C staffing: agents needed per interval for a service-level target.

Model (the assumptions shown with every proposal): calls arrive at random (Poisson) at a steady rate within
the interval; handle times are exponentially distributed with mean AHT (talk + wrap-up); callers wait as long
as it takes (patience and abandons ignored, which overstates waiting a little); every agent serves every
call; the interval is in steady state. Traffic A = calls x AHT / interval length (Erlangs).
  P(wait)  = Erlang C(N, A) = B / (1 - (A/N)(1 - B)) with B the Erlang B blocking, by its recursion
  SL(t)    = 1 - P(wait) x exp(-(N - A) t / AHT)
  ASA      = P(wait) x AHT / (N - A)
  occupancy = A / N
The proposal is the least N > A meeting the SL target and the occupancy cap; agents to schedule =
ceil(N / (1 - shrinkage)) (shrinkage: breaks, training, absence as a fraction of paid time).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MAX_AGENTS = 5000           # bound on the search (traffic above this is refused)


class StaffingError(ValueError):
    """Inputs out of range (negative calls, AHT <= 0, targets outside 0..1, ...)."""


def erlang_b(agents: int, traffic: float) -> float:
    """Erlang B blocking probability for `agents` servers offered `traffic` Erlangs (stable recursion)."""
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a call waits (Erlang C) with `agents` agents and `traffic` Erlangs; 1.0 when N <= A."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    b = erlang_b(agents, traffic)
    return b / (1.0 - (traffic / agents) * (1.0 - b))


def service_level(agents: int, traffic: float, aht: float, target_s: float) -> float:
    """Fraction of calls answered within `target_s` seconds (0..1); AHT in seconds."""
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    return 1.0 - erlang_c(agents, traffic) * math.exp(-(agents - traffic) * target_s / aht)


def asa(agents: int, traffic: float, aht: float) -> float:
    """Average speed of answer (s) over all calls; infinity when N <= A."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return erlang_c(agents, traffic) * aht / (agents - traffic)


@dataclass(frozen=True)
class Staffing:
    """One interval's proposal: traffic (Erlangs), agents on the phones, agents to schedule (after
    shrinkage), and the SL (0..1), ASA (s), P(wait) and occupancy (0..1) those agents give."""
    calls: float
    aht: float
    traffic: float
    agents: int
    scheduled: int
    service_level: float
    asa: float
    p_wait: float
    occupancy: float


def required_agents(calls: float, aht: float, interval_s: float = 1800.0, sl_target: float = 0.8,
                    target_s: float = 20.0, max_occupancy: float = 0.85, shrinkage: float = 0.0) -> Staffing:
    """Least agents meeting `sl_target` within `target_s` and `max_occupancy` for `calls` per interval with
    mean handle time `aht` (s); scheduled = ceil(agents / (1 - shrinkage)). StaffingError on bad inputs."""
    if not (calls >= 0 and math.isfinite(calls)):
        raise StaffingError("calls must be a number >= 0")
    if not (aht > 0 and math.isfinite(aht)) and calls > 0:
        raise StaffingError("average handle time must be > 0 s")
    if not interval_s > 0 or not 0 < sl_target < 1 or not target_s >= 0:
        raise StaffingError("interval > 0 s, service-level target between 0 and 1 (exclusive), target time >= 0 s")
    if not 0 < max_occupancy <= 1 or not 0 <= shrinkage < 1:
        raise StaffingError("maximum occupancy in (0, 1], shrinkage in [0, 1)")
    traffic = calls * aht / interval_s if calls > 0 else 0.0
    if traffic == 0:
        return Staffing(calls, aht, 0.0, 0, 0, 1.0, 0.0, 0.0, 0.0)
    if traffic > MAX_AGENTS:
        raise StaffingError(f"traffic of {traffic:.0f} Erlangs is beyond this calculator ({MAX_AGENTS} agents)")
    n = max(1, math.floor(traffic) + 1, math.ceil(traffic / max_occupancy))
    while n < MAX_AGENTS and service_level(n, traffic, aht, target_s) < sl_target:
        n += 1
    return Staffing(calls, aht, traffic, n, math.ceil(n / (1.0 - shrinkage) - 1e-9),
                    service_level(n, traffic, aht, target_s), asa(n, traffic, aht), erlang_c(n, traffic),
                    traffic / n)
