"""Benchmarks run on one core: pin BLAS to one thread before numpy loads; collect bench_dtmf.py."""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

# pytest only collects test_*.py by default; these bench modules hold pytest-benchmark tests
BENCH_MODULES = {"bench_dtmf.py"}


def pytest_collect_file(file_path, parent):
    if file_path.name in BENCH_MODULES and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
