"""cffi builder for the fax bank kernels (API mode, compiled at install time with the other C modules)."""
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _cdef_from_header(path):
    """The header's declarations with its #define sizes substituted (cffi's cdef takes no macros)."""
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    sizes = dict(re.findall(r"#define\s+(\w+)\s+(\d+)", text))
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    body = "\n".join(lines)
    for name, val in sizes.items():
        body = re.sub(rf"\b{name}\b", val, body)
    return re.sub(r"\[(\d+) \* (\d+)\]", lambda mm: f"[{int(mm.group(1)) * int(mm.group(2))}]", body)


ffibuilder = FFI()
ffibuilder.cdef(_cdef_from_header(os.path.join(HERE, "faxbank.h")))
ffibuilder.set_source(
    "trunkline.fax._faxbank",
    '#include "faxbank.h"',
    sources=[os.path.relpath(os.path.join(HERE, "faxbank.c"))],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O2", "-std=c99", "-Wall"],
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
