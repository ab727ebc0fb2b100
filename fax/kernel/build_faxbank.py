"""cffi builder for the fax bank kernels (API mode, compiled at install time with the other C modules)."""
import os
import runpy

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
cdef_from_header = runpy.run_path(os.path.join(HERE, "..", "..", "hw_sim", "cffi_header.py"))["cdef_from_header"]


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(os.path.join(HERE, "faxbank.h"), defines=True))
ffibuilder.cdef(cdef_from_header(os.path.join(HERE, "faxrx.h"), defines=True))
ffibuilder.set_source(
    "trunkline.fax._faxbank",
    '#include "faxbank.h"\n#include "faxrx.h"',
    sources=[os.path.relpath(os.path.join(HERE, name))
             for name in ("faxbank.c", "fbtx.c", "fbtxfsk.c", "fbhdlc.c", "faxrx.c", "rxfront.c", "rxlock.c",
                          "v21rx.c")],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O3", "-std=c99", "-Wall"],
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
