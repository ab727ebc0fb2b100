"""cffi builder for the media engine's tick kernels, DTMF stage 2 and decisions, the AMD state machine and the
recording writer's file work (API mode, compiled at install time with the other C modules)."""
import os
import runpy

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
cdef_from_header = runpy.run_path(os.path.join(HERE, "..", "..", "hw_sim", "cffi_header.py"))["cdef_from_header"]


ffibuilder = FFI()
HEADERS = ("tick.h", "recwrite.h", "dtmf2.h", "amd.h")
ffibuilder.cdef("".join(cdef_from_header(os.path.join(HERE, h)) for h in HEADERS))
ffibuilder.set_source(
    "trunkline.media._tick",
    "".join(f'#include "{h}"\n' for h in HEADERS),
    sources=[os.path.relpath(os.path.join(HERE, name)) for name in ("tick.c", "recwrite.c", "dtmf2.c", "amd.c")],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O3", "-std=c99", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
