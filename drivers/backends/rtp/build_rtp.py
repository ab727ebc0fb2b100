"""cffi builder for the RTP I/O core of SIP spans (API mode, compiled at install time)."""
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _cdef_from_header(path):
    """Return the header's declarations in a form cffi's cdef accepts."""
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    return "\n".join(lines).replace("[RTP_JB]", "[16]").replace("[RTP_FRAME]", "[160]")


ffibuilder = FFI()
ffibuilder.cdef(_cdef_from_header(os.path.join(HERE, "rtp.h")))
ffibuilder.set_source(
    "trunkline.drivers.backends._rtp",
    '#include "rtp.h"',
    sources=[os.path.relpath(os.path.join(HERE, "rtp.c"))],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O2", "-std=c99", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
