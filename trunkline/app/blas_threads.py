"""One BLAS thread: the engine's tick is single-threaded by design, and BLAS thread pools only cost it.

The tick's few matrix products (the call-progress tone bank, the fax bank's filters) are small: a BLAS
pool (OpenBLAS starts one thread per core) splits each across threads that then spin waiting for work. On a
busy server those threads compete with the engine for the same cores. Measured with `bench.soak` (600 calls
on 240 channels, virtual time, the 2-core machine busy with other work): 69.6 s wall and 50.4 s CPU with the
default pool, 25.3 s and 17.4 s with one thread. The benches already set OPENBLAS_NUM_THREADS=1 before numpy
loads; the server and the simulator limit the pools here, at start, with threadpoolctl (the pools are
already loaded by then, so an environment variable would be too late).
"""
from __future__ import annotations

from threadpoolctl import threadpool_limits


def use_one_blas_thread() -> None:
    """Limit every BLAS library loaded in this process to one thread, for the rest of the process."""
    threadpool_limits(limits=1, user_api="blas")
