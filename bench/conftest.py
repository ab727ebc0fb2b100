"""Benchmarks run on one core: pin BLAS to one thread before numpy loads; collect bench_dtmf.py."""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

# pytest only collects test_*.py by default; every bench_*.py here holds pytest-benchmark tests


def pytest_collect_file(file_path, parent):
    if (file_path.name.startswith("bench_") and file_path.suffix == ".py"
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
