"""`trunkline simulate`: the fixed last line, failed=0, on analog, PRI, SS7 (China No.7) and SIP trunks."""
import os
import re
import subprocess
import sys

import pytest

LAST = re.compile(r"^calls=(\d+) answered=(\d+) completed=(\d+) failed=(\d+)$")


def simulate(*args):
    exe = os.path.join(os.path.dirname(sys.executable), "trunkline")
    r = subprocess.run([exe, "simulate", *args], capture_output=True, text=True, timeout=600)
    last = r.stdout.strip().splitlines()[-1]
    m = LAST.match(last)
    assert m, f"last line {last!r}; stderr: {r.stderr[-2000:]}"
    return r.returncode, tuple(int(x) for x in m.groups())


@pytest.mark.parametrize("trunk", ["analog", "pri", "ss7", "sip"])
def test_simulate_small(trunk):
    rc, (calls, answered, completed, failed) = simulate("--calls", "60", "--channels", "30", "--trunk", trunk,
                                                        "--virtual")
    assert (calls, answered, completed, failed) == (60, 60, 60, 0) and rc == 0


@pytest.mark.slow
@pytest.mark.parametrize("trunk,channels", [("analog", 120), ("pri", 120), ("ss7", 60)])
def test_simulate_1000_calls(trunk, channels):
    rc, result = simulate("--calls", "1000", "--channels", str(channels), "--trunk", trunk, "--virtual", "--quiet")
    assert result == (1000, 1000, 1000, 0) and rc == 0


def test_simulate_rejects_bad_arguments():
    exe = os.path.join(os.path.dirname(sys.executable), "trunkline")
    r = subprocess.run([exe, "simulate", "--calls", "5", "--channels", "0", "--virtual"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "--channels" in r.stderr


def test_simulate_on_the_dahdi_backend():
    """`--board dahdi`: the dahdi:// backend on the emulated /dev/dahdi (the command starts itself again with
    the LD_PRELOAD shim); the same fixed last line."""
    rc, result = simulate("--board", "dahdi", "--trunk", "pri", "--calls", "3", "--channels", "30", "--virtual")
    assert result == (3, 3, 3, 0) and rc == 0
