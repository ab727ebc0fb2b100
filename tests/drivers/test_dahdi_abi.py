"""The dahdi:// backend's ABI against the real <dahdi/user.h> (Debian dahdi-source, fetched by `make`):
every ioctl number, struct size and field offset the backend uses, compiled by the C compiler."""
import json
import os
import subprocess

from trunkline.drivers.backends import dahdi_abi
from trunkline.drivers.backends._tldahdi import ffi, lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INCLUDE = os.path.join(ROOT, "build", "dahdi", "usr", "include")


def _real_header_values(tmp_path):
    assert os.path.exists(os.path.join(INCLUDE, "dahdi", "user.h")), \
        "the DAHDI header is missing: run `make dahdi-header` (apt-get download dahdi-source && dpkg -x)"
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <dahdi/user.h>', 'int main(void) {',
             'printf("{");']
    items = [(f"n:{name}", f"(unsigned long)({name})") for name in dahdi_abi.HEADER_NAMES]
    items += [(f"i:{real}", f"(unsigned long)({real})") for real in dahdi_abi.IOCTLS.values()]
    for real, fields in dahdi_abi.STRUCTS.values():
        items.append((f"s:{real}", f"(unsigned long)sizeof({real})"))
        items += [(f"o:{real}.{f}", f"(unsigned long)offsetof({real}, {f})") for f in fields]
        items += [(f"z:{real}.{f}", f"(unsigned long)sizeof((({real} *)0)->{f})") for f in fields]
    for k, (key, expr) in enumerate(items):
        sep = "," if k else ""
        lines.append(f'printf("{sep}\\"{key}\\": %lu", {expr});')
    lines += ['printf("}\\n");', "return 0; }"]
    src = tmp_path / "abi.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "abi"
    subprocess.run(["cc", "-Wall", "-Werror", "-I", INCLUDE, "-o", str(exe), str(src)], check=True)
    return json.loads(subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout)


def test_backend_abi_matches_real_dahdi_header(tmp_path):
    real = _real_header_values(tmp_path)
    for name, ours in dahdi_abi.HEADER_NAMES.items():
        assert real[f"n:{name}"] == ours, name
    for ours, name in dahdi_abi.IOCTLS.items():
        assert real[f"i:{name}"] == getattr(lib, ours), name
    checked = 0
    for ours, (name, fields) in dahdi_abi.STRUCTS.items():
        assert real[f"s:{name}"] == ffi.sizeof(ours), name
        for f in fields:
            assert real[f"o:{name}.{f}"] == ffi.offsetof(ours, f), f"{name}.{f}"
            assert real[f"z:{name}.{f}"] == ffi.sizeof(dict(ffi.typeof(ours).fields)[f].type), f"{name}.{f}"
            checked += 1
    assert checked == sum(len(f) for _, f in dahdi_abi.STRUCTS.values()) > 30
