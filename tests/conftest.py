"""Shared pytest configuration and fixtures (the simulation rig every engine test builds on)."""
import os
import sys

import pytest

from trunkline.hw_sim.dahdi_emu import SHIM_PATH, preload_env, shim_loaded
from trunkline.pstn.rig import SimRig


def _children_without_shim() -> None:
    """The shim is in this process: the children a test starts (peers, browsers, servers) run without it."""
    rest = [p for p in os.environ.get("LD_PRELOAD", "").split(":") if p and p != SHIM_PATH]
    if rest:
        os.environ["LD_PRELOAD"] = ":".join(rest)
    else:
        os.environ.pop("LD_PRELOAD", None)


ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test-artifacts")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """The dahdi:// tests drive an emulated /dev/dahdi, an LD_PRELOAD shim (hw_sim/dahdi_shim.c): when this
    pytest was started without it, start it again (same arguments) with the shim preloaded."""
    if shim_loaded() or os.environ.get("TRUNKLINE_DAHDI_REEXEC"):
        return None
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.stop_global_capturing()
    env = preload_env()
    env["TRUNKLINE_DAHDI_REEXEC"] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "pytest", *config.invocation_params.args], env)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: soak tests (run in make test, bounded)")
    # an xdist controller (-n N) runs no test: its children are the workers, which need the shim too
    controller = bool(getattr(config.option, "numprocesses", None)) and "PYTEST_XDIST_WORKER" not in os.environ
    if shim_loaded() and not controller:
        _children_without_shim()


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
