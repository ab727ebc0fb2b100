"""Estimated wait time: Erlang C over the last hour's arrival and handle rates, blended with observed waits.

Model part (M/M/N): with N staffed agents, mean handle time h (talk + wrap-up)
and arrival rate lambda, the probability a new caller waits is Erlang C
C(N, A) with A = lambda*h Erlangs and the mean wait is C / (N/h - lambda).
For a caller who already holds queue position p while all agents are busy,
departures are Poisson with rate N/h, so the expected remaining wait is
p*h/N (minus agents free right now). Observed part: seconds per queue position
actually seen by recent answered callers (sum of waits / sum of entry
positions). The blend trusts observations more as they accumulate:
w = n / (n + k).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_b(n: float, a: float) -> float:
    """Erlang B blocking probability for n servers and a Erlangs offered."""
    if n < 0 or a < 0:
        raise ValueError("erlang_b needs n >= 0 and a >= 0")
    b = 1.0
    for k in range(1, int(n) + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(n: float, a: float) -> float:
    """Erlang C probability of waiting (1.0 when a >= n: the queue grows without bound)."""
    if n <= 0 or a >= n:
        return 1.0
    if a <= 0:
        return 0.0
    b = erlang_b(n, a)
    return n * b / (n - a * (1.0 - b))


def erlang_c_wait(n: float, lam: float, aht: float) -> float:
    """Mean wait in seconds of a new arrival (M/M/n), lam in calls/s, aht in s; inf when overloaded."""
    if n <= 0:
        return math.inf
    a = lam * aht
    if a >= n:
        return math.inf
    return erlang_c(n, a) * aht / (n - a)


def service_level(n: float, lam: float, aht: float, t: float) -> float:
    """Fraction of calls answered within t seconds (M/M/n, Erlang C)."""
    if n <= 0:
        return 0.0
    a = lam * aht
    if a >= n:
        return 0.0
    return 1.0 - erlang_c(n, a) * math.exp(-(n - a) * t / aht)


@dataclass
class QueueStats:
    """Inputs of the estimate, all over a recent window (seconds, counts)."""
    arrivals: int = 0              # arrivals in the window
    window: float = 3600.0         # seconds covered (<= 1 hour)
    aht: float = 180.0             # mean handle time (talk + wrap-up) of calls completed in the window
    staffed: int = 0               # agents logged in and not on break
    free: int = 0                  # agents available right now
    obs_wait: float = 0.0          # sum of recent answered waits (s)
    obs_positions: float = 0.0     # sum of those callers' positions at entry
    obs_count: int = 0             # number of those callers

    @property
    def lam(self) -> float:
        """Arrival rate in calls per second."""
        return self.arrivals / self.window if self.window > 0 else 0.0


@dataclass
class Estimate:
    """EWT pieces in seconds: model (M/M/N at this position), erlang (Erlang C mean for a new arrival),
    observed, blended (what callers hear), weight of observed."""
    model: float
    erlang: float
    observed: float | None
    blended: float
    weight: float


def estimate(stats: QueueStats, position: int, k: float = 10.0, cap: float = 3600.0) -> Estimate:
    """EWT in seconds for a caller at 1-based `position` given `stats`; returns an Estimate."""
    if position < 1:
        raise ValueError("position is 1-based")
    n = stats.staffed
    h = max(stats.aht, 1e-6)
    if n <= 0:
        model = cap
    else:
        ahead = position - stats.free
        model = ahead * h / n if ahead > 0 else 0.0
    model = min(model, cap)
    observed = None
    w = 0.0
    if stats.obs_count > 0 and stats.obs_positions > 0:
        observed = min(cap, stats.obs_wait / stats.obs_positions * position)
        w = stats.obs_count / (stats.obs_count + k)
    blended = model if observed is None else (1 - w) * model + w * observed
    erl = min(cap, erlang_c_wait(n, stats.lam, h)) if n > 0 else cap
    return Estimate(model=model, erlang=erl, observed=observed, blended=blended, weight=w)
