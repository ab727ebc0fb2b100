"""cffi builder for the dahdi:// backend's C part (API mode, compiled at install time; needs no DAHDI headers)."""
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _cdef_from_header(path):
    """Return the header's declarations in a form cffi's cdef accepts."""
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = text.replace("} __attribute__((packed));", "    ...;\n};")   # layout from the C compiler
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    return "\n".join(lines)


ffibuilder = FFI()
ffibuilder.cdef(_cdef_from_header(os.path.join(HERE, "tldahdi.h")))
ffibuilder.set_source(
    "trunkline.drivers.backends._tldahdi",
    '#include "tldahdi.h"',
    sources=[os.path.relpath(os.path.join(HERE, "tldahdi.c"))],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O2", "-std=gnu99", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
