"""Build C sources with AddressSanitizer + UndefinedBehaviorSanitizer and run them (the card simulator's and the
T.4/T.6 codec's sanitizer tests, #16 / #21): any sanitizer report fails the run."""
import os
import subprocess
from pathlib import Path

FLAGS = ["-std=c99", "-D_POSIX_C_SOURCE=200809L", "-g", "-O1", "-fno-omit-frame-pointer", "-Wall", "-Werror",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
ENV = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=23",
       "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=24"}


def build(sources: list[Path], out: Path, include: Path) -> None:
    """Compile and link sources into the executable out with the sanitizer flags."""
    subprocess.run(["gcc", *FLAGS, f"-I{include}", *map(str, sources), "-o", str(out)], check=True,
                   capture_output=True, text=True, timeout=120)


def run(exe: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a sanitized executable; fails (assert) on any sanitizer report or a non-zero exit."""
    r = subprocess.run([str(exe), *args], env=ENV, capture_output=True, text=True, timeout=120)
    assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    return r
