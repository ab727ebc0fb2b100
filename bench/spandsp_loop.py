"""spandsp fax terminals driven by a tight C loop over many sessions (cffi API mode, built on first use).

One C call per 20 ms block runs fax_tx (or fax_rx) for every listed session and returns the
thread CPU time it spent, so the figure for spandsp has no per-session Python or cffi overhead.
Phase E (the end of a session) is written by a C handler into an int array (-1 while running).
"""
from __future__ import annotations

import hashlib
import importlib
import os
import sys

from cffi import FFI

CDEF = """
typedef struct fax_state_s fax_state_t;
fax_state_t *fd_new(int calling, const char *send, const char *receive, int modems, int ecm, int *phase_e);
void fd_free(fax_state_t *s);
double fd_tx(fax_state_t **s, int n, const int *active, int16_t *out, int len);
double fd_rx(fax_state_t **s, int n, const int *active, int16_t *in, int len);
"""

SOURCE = r"""
#include <string.h>
#include <time.h>
#include <tiffio.h>
#include <spandsp.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void phase_e(t30_state_t *s, void *user_data, int completion_code)
{
    *(int *) user_data = completion_code;
}

fax_state_t *fd_new(int calling, const char *send, const char *receive, int modems, int ecm, int *phase_e_slot)
{
    fax_state_t *f = fax_init(NULL, calling);
    t30_state_t *t;
    if (f == NULL)
        return NULL;
    fax_set_transmit_on_idle(f, 1);
    t = fax_get_t30_state(f);
    if (send && *send)
        t30_set_tx_file(t, send, -1, -1);
    if (receive && *receive)
        t30_set_rx_file(t, receive, -1);
    t30_set_supported_modems(t, modems);
    t30_set_ecm_capability(t, ecm);
    t30_set_tx_ident(t, "SPANDSP");
    *phase_e_slot = -1;
    t30_set_phase_e_handler(t, phase_e, phase_e_slot);
    return f;
}

void fd_free(fax_state_t *s)
{
    fax_free(s);
}

double fd_tx(fax_state_t **s, int n, const int *active, int16_t *out, int len)
{
    double t0 = cpu_now();
    for (int i = 0; i < n; i++) {
        int16_t *o = out + (size_t) i * len;
        int k = active[i] ? fax_tx(s[i], o, len) : 0;
        if (k < len)
            memset(o + k, 0, (size_t) (len - k) * sizeof(int16_t));
    }
    return cpu_now() - t0;
}

double fd_rx(fax_state_t **s, int n, const int *active, int16_t *in, int len)
{
    double t0 = cpu_now();
    for (int i = 0; i < n; i++)
        if (active[i])
            fax_rx(s[i], in + (size_t) i * len, len);
    return cpu_now() - t0;
}
"""


def load():
    """The compiled module (ffi, lib); built once per source version into var/build."""
    key = hashlib.sha1((CDEF + SOURCE).encode()).hexdigest()[:10]
    name = f"_fd_spandsp_{key}"
    build = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "var", "build")
    os.makedirs(build, exist_ok=True)
    if build not in sys.path:
        sys.path.insert(0, build)
    try:
        mod = importlib.import_module(name)
    except ModuleNotFoundError:
        ffi = FFI()
        ffi.cdef(CDEF)
        ffi.set_source(name, SOURCE, libraries=["spandsp", "tiff"], extra_compile_args=["-O2"])
        ffi.compile(tmpdir=build, verbose=False)
        importlib.invalidate_caches()
        mod = importlib.import_module(name)
    return mod.ffi, mod.lib
