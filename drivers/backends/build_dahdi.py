"""cffi builder for the dahdi:// backend's C part (API mode, compiled at install time; needs no DAHDI headers)."""
import os
import runpy

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
cdef_from_header = runpy.run_path(os.path.join(HERE, "..", "..", "hw_sim", "cffi_header.py"))["cdef_from_header"]


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(os.path.join(HERE, "tldahdi.h"), (("} __attribute__((packed));", "    ...;\n};"),)))
ffibuilder.set_source(
    "trunkline.drivers.backends._tldahdi",
    '#include "tldahdi.h"',
    sources=[os.path.relpath(os.path.join(HERE, "tldahdi.c"))],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O2", "-std=gnu99", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
