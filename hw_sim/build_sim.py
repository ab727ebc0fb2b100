"""cffi builder for the simulated telephony card (API mode, compiled at install time)."""
import os
import runpy

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
cdef_from_header = runpy.run_path(os.path.join(HERE, "cffi_header.py"))["cdef_from_header"]


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(os.path.join(HERE, "tlsim.h")) + """
#define TLSIM_BCHAN 0
#define TLSIM_DCHAN 1
#define TLSIM_FXO 2
#define TLSIM_FXS 3
""")
ffibuilder.set_source(
    "trunkline.hw_sim._tlsim",
    '#include "tlsim.h"',
    sources=[os.path.relpath(os.path.join(HERE, "tlsim.c"))],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O2", "-std=c99", "-D_POSIX_C_SOURCE=200809L", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
