"""cffi builder for the T.4/T.6 fax image codec (API mode, compiled at install time with the other C modules)."""
import os
import runpy

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
cdef_from_header = runpy.run_path(os.path.join(HERE, "..", "..", "hw_sim", "cffi_header.py"))["cdef_from_header"]


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(os.path.join(HERE, "t4codec.h"), defines=True))
ffibuilder.set_source(
    "trunkline.fax._t4codec",
    '#include "t4codec.h"',
    sources=[os.path.relpath(os.path.join(HERE, name)) for name in ("t4codec.c", "t4decode.c")],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O2", "-std=c99", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
