"""Reference peers no one here wrote (libspandsp, libpri), loaded through cffi.

One module per area (spandsp_dtmf, spandsp_fax, libpri, ...); each builds its own
FFI with the declarations it needs and loads the library with `load()`.
"""
import pytest


def load(ffi, soname):
    """dlopen a peer library, failing the test run loudly if it is missing (make test installs it)."""
    try:
        return ffi.dlopen(soname)
    except OSError as exc:  # a missing peer is a broken set-up, not a skip
        pytest.fail(f"peer library {soname} not loadable ({exc}); run `make test` to install it")
