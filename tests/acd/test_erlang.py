"""Erlang C (acd.erlang) against an independent exact formula (factorials in rational arithmetic) and
published worked examples: 100 calls in 30 min, AHT 180 s, 80 % in 20 s -> 10 Erlangs, 14 agents,
SL 88.8 %, ASA 7.8 s, P(wait) 17.4 %, occupancy 71.4 % (13 agents give 79.6 %, just short)."""
import math
from fractions import Fraction

import pytest

from trunkline.acd.erlang import StaffingError, asa, erlang_c, required_agents, service_level


def erlang_c_exact(n, a):
    """P(wait) = (A^N/N! * N/(N-A)) / (sum_{k<N} A^k/k! + A^N/N! * N/(N-A)), exactly."""
    a = Fraction(a)
    top = a ** n / math.factorial(n) * Fraction(n) / (n - a)
    return float(top / (sum(a ** k / math.factorial(k) for k in range(n)) + top))


@pytest.mark.parametrize("n,a", [(3, 2), (11, 10), (13, 10), (14, 10), (30, 25.5), (60, 50), (120, 100.25)])
def test_erlang_c_matches_the_exact_formula(n, a):
    assert erlang_c(n, a) == pytest.approx(erlang_c_exact(n, a), rel=1e-9)


def test_published_values():
    assert erlang_c(3, 2) == pytest.approx(4 / 9)                     # the textbook M/M/3 at 2 Erlangs
    assert service_level(13, 10.0, 180, 20) == pytest.approx(0.7956, abs=5e-4)
    p = required_agents(100, 180, 1800, sl_target=0.8, target_s=20, max_occupancy=1.0)
    assert (p.traffic, p.agents) == (10.0, 14)
    assert p.service_level == pytest.approx(0.8884, abs=5e-4) and p.asa == pytest.approx(7.8, abs=0.05)
    assert p.p_wait == pytest.approx(0.1741, abs=5e-4) and p.occupancy == pytest.approx(10 / 14)
    assert asa(14, 10.0, 180) == pytest.approx(p.asa)
    # occupancy cap and shrinkage
    capped = required_agents(100, 180, sl_target=0.8, target_s=20, max_occupancy=0.70)
    assert capped.agents == 15 and capped.occupancy <= 0.70
    shrunk = required_agents(100, 180, sl_target=0.8, target_s=20, max_occupancy=1.0, shrinkage=0.3)
    assert shrunk.scheduled == math.ceil(14 / 0.7) == 20


def test_edges_and_bad_inputs():
    assert required_agents(0, 0).agents == 0 and erlang_c(5, 0) == 0.0 and erlang_c(5, 5) == 1.0
    big = required_agents(3000, 240, sl_target=0.9, target_s=15)      # 400 Erlangs: bounded, stable
    assert 400 < big.agents < 480 and big.service_level >= 0.9
    for bad in ({"calls": -1, "aht": 180}, {"calls": 10, "aht": 0}, {"calls": 10, "aht": 180, "sl_target": 1.0},
                {"calls": 10, "aht": 180, "shrinkage": 1.0}, {"calls": float("nan"), "aht": 180},
                {"calls": 10 ** 9, "aht": 180}):
        with pytest.raises(StaffingError):
            required_agents(**bad)
