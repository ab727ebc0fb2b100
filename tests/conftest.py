"""Shared pytest configuration and fixtures (the simulation rig every engine test builds on)."""
import os

import pytest

from trunkline.pstn.rig import SimRig

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test-artifacts")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: soak tests (run in make test, bounded)")


@pytest.fixture
def artifacts_dir():
    """Directory for screenshots and reports a test leaves behind."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def make_rig():
    """Build `SimRig`s (card + far end + board + engine) on fresh cards; all are closed after the test.

    make_rig("fxo=4&fxs=2", trunk="pri", prompts=[dir], **engine_kw) takes a sim:// query;
    make_rig.for_trunk("r2", channels=30) a trunk type and a channel count."""
    rigs = []

    def build(query="fxo=4&fxs=2", **kw):
        rig = SimRig.with_query(query, **kw)
        rigs.append(rig)
        return rig

    def for_trunk(trunk, channels, **kw):
        rig = SimRig.for_trunk(trunk, channels, **kw)
        rigs.append(rig)
        return rig

    build.for_trunk = for_trunk
    yield build
    for rig in rigs:
        rig.close()


@pytest.fixture
def rig(make_rig):
    """A rig with 4 analog lines (FXO) and 2 stations (FXS) on the PRI default engine."""
    return make_rig()
