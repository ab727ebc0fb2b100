"""The C card simulator built with AddressSanitizer + UndefinedBehaviorSanitizer and driven through a short
call scenario (tlsim_asan_scenario.c); any sanitizer report fails the test (#16)."""
import subprocess
from pathlib import Path

from asan import ENV, build, run

import trunkline.hw_sim

HW_SIM = Path(trunkline.hw_sim.__file__).resolve().parent
SCENARIO = Path(__file__).with_name("tlsim_asan_scenario.c")


def _build(sources: list[Path], out: Path) -> None:
    build(sources, out, HW_SIM)


def test_sanitizers_are_live(tmp_path):
    """The same flags catch a one-past-the-end heap read: a silent sanitizer would make the next test empty."""
    bad = tmp_path / "oob.c"
    bad.write_text("#include <stdlib.h>\nint main(int argc, char **argv) { volatile char *p = calloc(8, 1); "
                   "int r = p[7 + argc]; free((void *) p); return r; }\n")
    _build([bad], tmp_path / "oob")
    r = subprocess.run([str(tmp_path / "oob")], env=ENV, capture_output=True, text=True, timeout=60)
    # ASan (exit 23) or, at -O1, UBSan's object-size check (exit 24) reports it first
    assert (r.returncode, "heap-buffer-overflow" in r.stderr or "runtime error" in r.stderr) in ((23, True), (24, True))


def test_call_scenario_under_asan_and_ubsan(tmp_path):
    """FXO and FXS calls, D-channel frames (max length, too long, queue overrun), CAS, alarms, switched
    connections, the rows API with unknown rows and event-queue growth: right outcomes, no sanitizer report."""
    exe = tmp_path / "scenario"
    _build([HW_SIM / "tlsim.c", SCENARIO], exe)
    r = run(exe)
    assert r.stdout.splitlines() == ["ok setup", "ok fxo call", "ok fxs call", "ok d channel",
                                     "ok cas alarms connect", "ok events", "scenario ok"]
