"""Run one fuzz target (fuzz_targets.TARGETS) under atheris with a per-input time and memory bound (#16).

    python tests/fuzz_run.py TARGET CORPUS_DIR [libFuzzer flags, e.g. -max_total_time=5 -runs=2000]
    python tests/fuzz_run.py TARGET --replay FILE...      (no atheris needed: reproduce a crash file)

Bounds (environment): FUZZ_INPUT_SECONDS (default 2) per input, FUZZ_MEM_MB (default 2048) address space
for the whole process (RLIMIT_AS). An input over its time raises InputTimeout, an allocation past the
limit raises MemoryError; neither is a documented decoder error, so libFuzzer reports it as a crash,
saves the input (-artifact_prefix) and the process exits non-zero. A native call that never returns
is killed by faulthandler after 3x the input bound. Exit status 0 = no finding.
"""
import faulthandler
import os
import resource
import signal
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # each BLAS thread reserves address space
INPUT_SECONDS = float(os.environ.get("FUZZ_INPUT_SECONDS", "2"))
MEM_MB = int(os.environ.get("FUZZ_MEM_MB", "2048"))


#: the modules each target instruments for coverage (the decoder under test and its helpers)
MODULES: dict[str, list[str]] = {
    "q921": ["trunkline.drivers.signaling.q921"], "q931": ["trunkline.drivers.signaling.q931"],
    "r2": ["trunkline.drivers.signaling.r2_core", "trunkline.dsp.r2mf"],
    "t4": ["trunkline.fax.t4", "trunkline.fax.t4_limits"], "hdlc": ["trunkline.fax.hdlc"],
    "sms_pdu": ["trunkline.drivers.serial.pdu"], "audio": ["trunkline.media.prompts"],
    "tiff": ["trunkline.fax.tiff", "trunkline.fax.t4", "PIL.TiffImagePlugin"],
    "yaml_flow": ["trunkline.ivr.flowdoc", "trunkline.ivr.node_schema", "yaml"],
}


class InputTimeout(BaseException):
    """One input ran longer than FUZZ_INPUT_SECONDS (a finding, never a decoder's documented error)."""


def _on_alarm(signum: int, frame: object) -> None:
    raise InputTimeout(f"input took longer than {INPUT_SECONDS} s")


def _selftest_hang(data: bytes) -> None:
    """Proves the time bound fails a run: never finishes in time."""
    time.sleep(INPUT_SECONDS * 2)


def _selftest_oom(data: bytes) -> None:
    """Proves the memory bound fails a run: wants more than FUZZ_MEM_MB."""
    bytearray(MEM_MB * 1024 * 1024 * 2)


def bounded(fn):
    """fn wrapped so each call is bounded in time (SIGALRM) with a hard native backstop (faulthandler)."""
    def run(data: bytes) -> None:
        signal.signal(signal.SIGALRM, _on_alarm)     # (re)installed after libFuzzer set its own handlers
        faulthandler.dump_traceback_later(INPUT_SECONDS * 3 + 5, exit=True)
        signal.setitimer(signal.ITIMER_REAL, INPUT_SECONDS)
        try:
            fn(data)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            faulthandler.cancel_dump_traceback_later()
    return run


def _instrument(atheris, modules: list[str]) -> None:
    """Coverage-instrument the functions and methods defined in these modules only (instrumenting every
    trunkline import costs ~10 s a process)."""
    import importlib
    import inspect
    for mod_name in modules:
        mod = importlib.import_module(mod_name)
        for obj in list(vars(mod).values()):
            members = [obj] + (list(vars(obj).values()) if inspect.isclass(obj) else [])
            for fn in members:
                fn = getattr(fn, "__func__", fn)
                if inspect.isfunction(fn) and fn.__module__ == mod_name:
                    atheris.instrument_func(fn)


def main(argv: list[str]) -> int:
    """Fuzz or replay one target; returns the exit status."""
    name, rest = argv[0], argv[1:]
    limit = MEM_MB * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    selftests = {"_selftest_hang": _selftest_hang, "_selftest_oom": _selftest_oom}
    if rest and rest[0] == "--replay":
        import fuzz_targets
        target = bounded(selftests.get(name) or fuzz_targets.TARGETS[name])
        for path in rest[1:]:
            with open(path, "rb") as f:
                target(f.read())
            print(f"{path}: ok")
        return 0
    import atheris
    if name in selftests:
        target = bounded(selftests[name])
    else:
        import fuzz_targets
        _instrument(atheris, MODULES[name])
        target = bounded(fuzz_targets.TARGETS[name])
    # libFuzzer's own -timeout would take SIGALRM from us. Its RSS watchdog is off: it reads the peak RSS
    # from getrusage, which Linux carries over from the process that forked this one (a 2 GB pytest made
    # every target "out of memory" before its first input); RLIMIT_AS above is the memory bound.
    atheris.Setup([sys.argv[0], "-timeout=0", "-rss_limit_mb=0", *rest], target)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
