"""The one reader of our C headers for the cffi builders (hw_sim, dahdi://, RTP): a header as cffi cdef text.

The builders run before the package is installed, so they load this file by path (runpy), not by import."""
import re


def cdef_from_header(path: str, replace: tuple[tuple[str, str], ...] = ()) -> str:
    """The header's declarations with comments and preprocessor lines removed, then each (old, new) replaced."""
    text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    for old, new in replace:
        text = text.replace(old, new)
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
