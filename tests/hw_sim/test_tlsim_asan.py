"""The C card simulator built with AddressSanitizer + UndefinedBehaviorSanitizer and driven through a short
call scenario (tlsim_asan_scenario.c); any sanitizer report fails the test (#16)."""
import os
import subprocess
from pathlib import Path

import trunkline.hw_sim

HW_SIM = Path(trunkline.hw_sim.__file__).resolve().parent
SCENARIO = Path(__file__).with_name("tlsim_asan_scenario.c")
FLAGS = ["-std=c99", "-D_POSIX_C_SOURCE=200809L", "-g", "-O1", "-fno-omit-frame-pointer", "-Wall", "-Werror",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
ENV = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=23",
       "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=24"}


def _build(sources: list[Path], out: Path) -> None:
    subprocess.run(["gcc", *FLAGS, f"-I{HW_SIM}", *map(str, sources), "-o", str(out)], check=True,
                   capture_output=True, text=True, timeout=120)


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
    r = subprocess.run([str(exe)], env=ENV, capture_output=True, text=True, timeout=120)
    assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["ok setup", "ok fxo call", "ok fxs call", "ok d channel",
                                     "ok cas alarms connect", "ok events", "scenario ok"]
