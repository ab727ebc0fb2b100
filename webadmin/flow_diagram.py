"""The IVR flow editor's diagram: nodes of a YAML flow text with their branches (any value naming another node)
and the validator's problems on each node, as JSON for flow_edit.js (redrawn as the admin types)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from trunkline.ivr import flowdoc

MAX_NODES = 500


def _edges(value: Any, names: set[str], label: str, out: list[list[str]]) -> None:
    if isinstance(value, str):
        if value in names:
            out.append([label, value])
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "type":
                _edges(v, names, f"{label}.{k}" if label else str(k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _edges(v, names, f"{label}[{i}]", out)


def diagram(text: str, check: Callable[[str], Any]) -> dict[str, Any]:
    """{"nodes": [{name, type, edges: [[branch, target]], problems}], "start", "problems": [[line, text]]}
    for a flow text; `check` is the validator (raises flowdoc.FlowError). Never raises."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        return {"nodes": [], "start": None, "problems": [[mark.line + 1 if mark else None, str(e).splitlines()[0]]]}
    except RecursionError:
        return {"nodes": [], "start": None, "problems": [[1, "YAML nested too deep"]]}
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(nodes, dict):
        return {"nodes": [], "start": None, "problems": [[None, "no nodes"]]}
    names = {str(n) for n in list(nodes)[:MAX_NODES]}
    per_node: dict[str, list[str]] = {}
    general: list[list[Any]] = []
    try:
        check(text)
    except flowdoc.FlowError as e:
        for p in e.problems:
            if p.node in names:
                per_node.setdefault(p.node, []).append(f"{p.line}: {p.message}")
            else:
                general.append([p.line, p.message])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        general.append([None, str(e)])
    out = []
    for name in list(nodes)[:MAX_NODES]:
        spec = nodes[name]
        edges: list[list[str]] = []
        _edges(spec, names, "", edges)
        out.append({"name": str(name), "type": spec.get("type", "") if isinstance(spec, dict) else "",
                    "edges": edges, "problems": per_node.get(str(name), [])})
    start = doc.get("start") if isinstance(doc.get("start"), str) else (out[0]["name"] if out else None)
    return {"nodes": out, "start": start, "problems": general}
