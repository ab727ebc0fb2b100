"""Short coverage-guided fuzz runs (atheris) of every untrusted-input decoder, all targets at once (#16).

Each target runs in its own process (tests/fuzz_run.py) from its seed corpus (tests/fuzz/corpus/<target>/)
for FUZZ_SECONDS with a per-input time bound and an address-space bound; an escaping undocumented
exception, an input over its time or an allocation over the memory bound makes the process exit non-zero
with the input saved, and the test fails showing it. `make fuzz` runs the same targets for minutes each.
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fuzz_targets import TARGETS

TESTS = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "corpus"
RUNNER = TESTS / "fuzz_run.py"
FUZZ_SECONDS = 2
SELFTESTS = {"_selftest_hang": "InputTimeout", "_selftest_oom": "MemoryError"}


def _launch(name: str, work: Path, seconds: int, env: dict[str, str]) -> subprocess.Popen[str]:
    corpus = work / name / "corpus"
    shutil.copytree(CORPUS / name if (CORPUS / name).exists() else CORPUS / "q921", corpus)
    args = [sys.executable, str(RUNNER), name, str(corpus), f"-max_total_time={seconds}",
            f"-artifact_prefix={work / name}/", "-print_final_stats=1"]
    return subprocess.Popen(args, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every target (and the two bound self-tests) fuzzed concurrently: {name: (exit status, output, dir)}."""
    work = tmp_path_factory.mktemp("fuzz")
    env = {**os.environ, "FUZZ_INPUT_SECONDS": "2", "FUZZ_MEM_MB": "2048"}
    procs = {n: _launch(n, work, FUZZ_SECONDS, env) for n in TARGETS}
    tight = {**env, "FUZZ_INPUT_SECONDS": "0.5", "FUZZ_MEM_MB": "1024"}
    procs.update({n: _launch(n, work, FUZZ_SECONDS, tight) for n in SELFTESTS})
    deadline = time.monotonic() + 120
    out = {}
    for name, p in procs.items():
        try:
            text, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            text, _ = p.communicate()
            text += "\n(killed: the run did not end)"
        out[name] = (p.returncode, text, work / name)
    return out


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_has_a_seed_corpus(name):
    seeds = [p for p in (CORPUS / name).iterdir() if p.is_file()]
    assert len(seeds) >= 3 and all(p.stat().st_size > 0 for p in seeds)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target_short_run_finds_nothing(runs, name):
    rc, text, work = runs[name]
    crashes = sorted(p.name for p in work.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
    assert rc == 0 and not crashes, f"fuzz finding in {name} (saved: {crashes}):\n{text[-6000:]}"
    done = [ln for ln in text.splitlines() if ln.startswith("Done ")]
    assert done and int(done[-1].split()[1]) >= 20, text[-3000:]     # it really ran inputs
    assert "INITED" in text and "cov:" in text                        # coverage-guided, seeds loaded


@pytest.mark.parametrize("name", sorted(SELFTESTS))
def test_time_and_memory_bounds_fail_the_run(runs, name):
    """An input that overruns its time or memory bound is a finding: non-zero exit and the input saved."""
    rc, text, work = runs[name]
    assert rc != 0 and SELFTESTS[name] in text, text[-3000:]
    assert any(p.name.startswith("crash-") for p in work.iterdir()), text[-3000:]
