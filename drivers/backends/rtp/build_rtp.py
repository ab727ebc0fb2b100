"""cffi builder for the RTP I/O core of SIP spans (API mode, compiled at install time)."""
import os
import runpy

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
cdef_from_header = runpy.run_path(os.path.join(HERE, "..", "..", "..", "hw_sim", "cffi_header.py"))["cdef_from_header"]


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(os.path.join(HERE, "rtp.h"), (("[RTP_JB]", "[16]"), ("[RTP_FRAME]", "[160]"))))
ffibuilder.set_source(
    "trunkline.drivers.backends._rtp",
    '#include "rtp.h"',
    sources=[os.path.relpath(os.path.join(HERE, f)) for f in ("rtp.c", "rtp_demux.c")],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O2", "-std=c99", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
