"""The one reader of our C headers for the cffi builders (hw_sim, dahdi://, RTP, fax bank): a header as cffi cdef
text.

The builders run before the package is installed, so they load this file by path (runpy), not by import."""
import re


def cdef_from_header(path: str, replace: tuple[tuple[str, str], ...] = (), defines: bool = False) -> str:
    """The header's declarations with comments and preprocessor lines removed, then each (old, new) replaced;
    with `defines`, the header's numeric #define names are substituted (cffi's cdef takes no macros) and
    array sizes written `[A * B]` multiplied out."""
    text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    sizes = dict(re.findall(r"#define\s+(\w+)\s+(\d+)", text)) if defines else {}
    for old, new in replace:
        text = text.replace(old, new)
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    for name, val in sizes.items():
        body = re.sub(rf"\b{name}\b", val, body)
    if defines:
        body = re.sub(r"\[(\d+) \* (\d+)\]", lambda m: f"[{int(m.group(1)) * int(m.group(2))}]", body)
    return body
