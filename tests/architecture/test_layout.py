"""The architecture's rules, checked on the source tree: typed public APIs, small modules, no silent
fallbacks, honest tests. (The layer contract itself is import-linter's, run by `make lint`.)"""
import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TYPED = ["dsp", "drivers", "media", "fax", "acd", "ivr", "trunkline/data"]
SIZED = ["drivers", "media", "dsp", "fax", "ivr", "acd", "webadmin"]
MAX_LINES = 600
SOURCE = ["trunkline", "drivers", "media", "dsp", "acd", "ivr", "fax", "webadmin", "hw_sim", "pstn", "bench"]

#: the only `except ImportError` allowed outside tests: genuinely optional externals, each with its warning
OPTIONAL_EXTERNALS: dict[str, str] = {}


def _modules(folder):
    for path in sorted((ROOT / folder).rglob("*.py")):
        if "migrations" in path.parts or ".venv" in path.parts:
            continue
        yield path


def _public_functions(tree):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                        not sub.name.startswith("_") or sub.name == "__init__"):
                    yield f"{node.name}.{sub.name}", sub


def _unannotated(fn):
    a = fn.args
    missing = []
    for i, arg in enumerate(a.posonlyargs + a.args + a.kwonlyargs):
        if i == 0 and arg.arg in ("self", "cls"):
            continue
        if arg.annotation is None:
            missing.append(arg.arg)
    for star, arg in (("*", a.vararg), ("**", a.kwarg)):
        if arg is not None and arg.annotation is None:
            missing.append(star + arg.arg)
    if fn.returns is None and fn.name != "__init__":
        missing.append("return")
    return missing


@pytest.mark.parametrize("folder", TYPED)
def test_public_functions_and_methods_have_type_hints(folder):
    gaps = []
    for path in _modules(folder):
        for name, fn in _public_functions(ast.parse(path.read_text())):
            missing = _unannotated(fn)
            if missing:
                gaps.append(f"{path.relative_to(ROOT)}:{fn.lineno} {name}: {', '.join(missing)}")
    assert not gaps, f"{len(gaps)} public functions without full type hints:\n" + "\n".join(gaps)


@pytest.mark.parametrize("folder", SIZED)
def test_no_module_over_the_size_limit(folder):
    big = [f"{p.relative_to(ROOT)}: {n} lines" for p in _modules(folder)
           if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not big, "modules over %d lines:\n%s" % (MAX_LINES, "\n".join(big))


def test_except_importerror_only_for_optional_externals():
    found = []
    for folder in SOURCE:
        for path in _modules(folder):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ExceptHandler) and node.type is not None \
                        and "ImportError" in ast.unparse(node.type):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    allowed = {loc.split(":")[0] for loc in OPTIONAL_EXTERNALS}
    stray = [loc for loc in found if loc.split(":")[0] not in allowed]
    assert not stray, "except ImportError outside the optional externals:\n" + "\n".join(stray)


def test_tests_do_not_skip_our_own_modules_or_assert_nothing():
    bad = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(ROOT)
        if path.name == "test_layout.py":
            continue
        for m in re.finditer(r"importorskip\(\s*[\"']trunkline", text):
            bad.append(f"{rel}: importorskip of our own module at offset {m.start()}")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Assert) and isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.Or) \
                    and any(isinstance(v, ast.Constant) and v.value for v in node.test.values):
                bad.append(f"{rel}:{node.lineno}: assert ... or <true constant> cannot fail")
            if isinstance(node, ast.ExceptHandler) and (node.type is None or ast.unparse(node.type) in (
                    "Exception", "BaseException")) and all(isinstance(s, ast.Pass) for s in node.body):
                bad.append(f"{rel}:{node.lineno}: a handler that swallows every exception")
    assert not bad, "\n".join(bad)
