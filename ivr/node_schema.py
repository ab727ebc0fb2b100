"""Flow-document node types: the keys each takes and the validation of a node spec.

Shared by the flow document parser (ivr.flowdoc, which the web admin's flow editor calls) and
the node runners (ivr.nodes), which run what validated here.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

DIGIT_KEYS = set("0123456789*#")

# key kinds: node, prompts, num, int, bool, str, map, choices, cases, enum:a|b
SCHEMA: dict[str, tuple[dict[str, str], set[str]]] = {
    "play": ({"prompt": "prompts", "barge_in": "bool", "next": "node"}, {"prompt"}),
    "early_media": ({"prompt": "prompts", "answer": "bool", "next": "node"}, {"prompt"}),
    "menu": ({"greeting": "prompts", "short_greeting": "prompts", "invalid": "prompts",
              "timeout_prompt": "prompts", "timeout": "num", "digits": "int", "inter_digit": "num",
              "terminator": "str", "max_failures": "int", "max_timeouts": "int", "barge_in": "bool",
              "choices": "choices", "agent": "str", "agent_digit": "str", "on_fail": "node",
              "on_timeout": "node", "var": "str"}, {"greeting", "choices"}),
    "get_digits": ({"prompt": "prompts", "var": "str", "digits": "int", "min": "int", "timeout": "num",
                    "inter_digit": "num", "terminator": "str", "mask": "bool", "mask_keep": "int",
                    "retries": "int", "invalid": "prompts", "next": "node", "on_fail": "node"}, {"var"}),
    "say": ({"what": "enum:number|digits|money|date|time|datetime", "value": "str", "lang": "enum:zh|en",
             "currency": "enum:CNY|USD",
             "before": "prompts", "after": "prompts", "barge_in": "bool", "next": "node"}, {"what", "value"}),
    "record": ({"var": "str", "prompt": "prompts", "max_seconds": "num", "silence_seconds": "num",
                "beep": "bool", "terminators": "str", "next": "node"}, {"var"}),
    "voicemail": ({"mode": "enum:deposit|retrieve", "box": "str", "next": "node"}, set()),
    "lookup": ({"source": "str", "params": "map", "store": "map", "fallback": "prompts", "next": "node",
                "on_error": "node"}, {"source"}),
    "set": ({"vars": "map", "next": "node"}, {"vars"}),
    "branch": ({"on": "enum:var|time|caller", "var": "str", "cases": "cases", "default": "node",
                "calendar": "str", "open": "node", "closed": "node", "holiday": "node",
                "anonymous": "node"}, {"on"}),
    "queue": ({"queue": "str", "data": "map", "priority": "int", "survey": "bool", "next": "node",
               "on_fail": "node"}, {"queue"}),
    "dial": ({"number": "str", "caller_id": "str", "timeout": "num", "next": "node", "on_fail": "node"},
             {"number"}),
    "fax": ({"mode": "enum:receive|send", "file": "str", "var": "str", "unavailable": "prompts",
             "next": "node", "on_fail": "node"}, {"mode"}),
    "survey": ({"queue": "str", "next": "node"}, set()),
    "hangup": ({"cause": "int"}, set()),
    "subflow": ({"flow": "str", "next": "node"}, {"flow"}),
    "return": ({}, set()),
}
COMMON: dict[str, str] = {"type": "str", "description": "str"}


class PromptChecker(Protocol):
    """What validation asks of a prompt library (ivr.prompts.PromptLibrary)."""

    def exists(self, name: str, lang: str | None = None) -> bool:
        """True if the prompt can be played in `lang`."""


@dataclass
class ValidationContext:
    """What validation may check references against (None = not checked)."""
    node_names: set[str]
    known_flows: Collection[str] | None = None
    prompts: PromptChecker | None = None
    calendars: Collection[str] | None = None
    lookups: Collection[str] | None = None
    queues: Collection[str] | None = None
    flow_prompts: set[str] | None = None
    language: str = "zh"


def as_list(v: Any) -> list[Any]:
    """A node value that may be one item or a list, as a list (None: empty)."""
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def prompt_refs(spec: Any) -> set[str]:
    """Literal prompt names a node spec plays (templates excluded)."""
    out: set[str] = set()
    if not isinstance(spec, dict):
        return out
    keys, _ = SCHEMA.get(str(spec.get("type")), ({}, set()))
    for key, k in keys.items():
        if k == "prompts":
            for p in as_list(spec.get(key)):
                if isinstance(p, str) and "${" not in p:
                    out.add(p)
    return out


def _line(spec: Any, key: str, default: int) -> int:
    return getattr(spec, "key_lines", {}).get(key, default)


def validate(name: str, spec: Any, line: int, ctx: ValidationContext) -> list[tuple[int, str]]:
    """Problems of one node as (line, message) pairs."""
    probs: list[tuple[int, str]] = []
    if not isinstance(spec, dict):
        return [(line, "a node must be a mapping with a 'type'")]
    kind = spec.get("type")
    if kind is None:
        return [(line, f"missing 'type' (one of: {', '.join(SCHEMA)})")]
    if kind not in SCHEMA:
        return [(_line(spec, "type", line), f"unknown node type {kind!r} (one of: {', '.join(SCHEMA)})")]
    keys, required = SCHEMA[kind]
    for key in spec:
        if key not in keys and key not in COMMON:
            probs.append((_line(spec, key, line),
                          f"unknown key {key!r} for a {kind} node (allowed: {', '.join(sorted(keys)) or 'none'})"))
    for key in sorted(required):
        if key not in spec:
            probs.append((line, f"a {kind} node needs {key!r}"))
    for key, k in keys.items():
        if key not in spec:
            continue
        v = spec[key]
        ln = _line(spec, key, line)
        if k == "node":
            if not isinstance(v, str) or v not in ctx.node_names:
                probs.append((ln, f"{key!r} goes to {v!r}, which is not a node of this flow"))
        elif k == "prompts":
            items = as_list(v)
            if not items or not all(isinstance(p, str) and p for p in items):
                probs.append((ln, f"{key!r} must be a prompt name or a list of prompt names"))
                continue
            for p in items:
                if "${" in p:
                    continue
                if ctx.flow_prompts and p in ctx.flow_prompts:
                    continue
                if ctx.prompts is not None and not ctx.prompts.exists(p, ctx.language):
                    probs.append((ln, f"prompt {p!r} not found in the prompt library ({ctx.language})"))
        elif k == "num":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                probs.append((ln, f"{key!r} must be a positive number of seconds, not {v!r}"))
        elif k == "int":
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                probs.append((ln, f"{key!r} must be a whole number >= 0, not {v!r}"))
        elif k == "bool":
            if not isinstance(v, bool):
                probs.append((ln, f"{key!r} must be true or false, not {v!r}"))
        elif k == "str":
            if not isinstance(v, (str, int)) or isinstance(v, bool) or str(v) == "":
                probs.append((ln, f"{key!r} must be non-empty text, not {v!r}"))
        elif k == "map":
            if not isinstance(v, dict):
                probs.append((ln, f"{key!r} must be a mapping"))
        elif k in ("choices", "cases"):
            if not isinstance(v, dict) or not v:
                probs.append((ln, f"{key!r} must be a non-empty mapping of values to node names"))
                continue
            for ck, target in v.items():
                cl = _line(v, ck, ln)
                if k == "choices" and (not ck or not set(ck) <= DIGIT_KEYS):
                    probs.append((cl, f"menu choice {ck!r} must be keypad digits (0-9 * #)"))
                if not isinstance(target, str) or target not in ctx.node_names:
                    probs.append((cl, f"choice {ck!r} goes to {target!r}, which is not a node of this flow"))
        elif k.startswith("enum:"):
            allowed = k[5:].split("|")
            if v not in allowed:
                probs.append((ln, f"{key!r} must be one of {', '.join(allowed)}, not {v!r}"))
    if probs:
        return probs
    return probs + _validate_kind(kind, spec, line, ctx)


def _validate_kind(kind: str, spec: Mapping[str, Any], line: int, ctx: ValidationContext) -> list[tuple[int, str]]:
    probs: list[tuple[int, str]] = []

    def ln(key: str) -> int:
        return _line(spec, key, line)

    if kind == "menu":
        choices = spec["choices"]
        ndig = spec.get("digits", max(len(c) for c in choices))
        if ndig < 1:
            probs.append((ln("digits"), "'digits' must be at least 1"))
        for c in choices:
            if len(c) > ndig:
                probs.append((_line(choices, c, ln("choices")), f"choice {c!r} is longer than digits={ndig}"))
        agent_digit = str(spec.get("agent_digit", "0"))
        if "agent" in spec and agent_digit in choices:
            probs.append((ln("agent"), f"the agent digit {agent_digit!r} is also a menu choice"))
        for key in ("max_failures", "max_timeouts"):
            if key in spec and spec[key] < 1:
                probs.append((ln(key), f"{key!r} must be at least 1"))
        if "agent" in spec:
            probs += _queue_problem(str(spec["agent"]), ln("agent"), ctx)
    elif kind == "get_digits":
        lo, hi = spec.get("min", 1), spec.get("digits", 1)
        if hi < 1 or lo > hi:
            probs.append((ln("digits"), f"digit count must satisfy 1 <= min ({lo}) <= digits ({hi})"))
    elif kind == "voicemail":
        if spec.get("mode", "deposit") == "deposit" and "box" not in spec:
            probs.append((line, "a voicemail deposit node needs 'box'"))
    elif kind == "lookup":
        if ctx.lookups is not None and spec["source"] not in ctx.lookups:
            probs.append((ln("source"), f"no lookup source named {spec['source']!r}"))
    elif kind == "branch":
        on = spec["on"]
        if on == "var":
            for key in ("var", "cases"):
                if key not in spec:
                    probs.append((line, f"a branch on var needs {key!r}"))
        elif on == "time":
            for key in ("calendar", "open", "closed"):
                if key not in spec:
                    probs.append((line, f"a branch on time needs {key!r}"))
            if "calendar" in spec and ctx.calendars is not None and spec["calendar"] not in ctx.calendars:
                probs.append((ln("calendar"), f"no calendar named {spec['calendar']!r}"))
        elif on == "caller":
            if "cases" not in spec and "anonymous" not in spec:
                probs.append((line, "a branch on caller needs 'cases' (numbers or prefixes) or 'anonymous'"))
        if "default" not in spec and on != "time":
            probs.append((line, "a branch needs a 'default' node"))
    elif kind == "queue":
        probs += _queue_problem(str(spec["queue"]), ln("queue"), ctx)
    elif kind == "subflow":
        if ctx.known_flows is not None and str(spec["flow"]) not in ctx.known_flows:
            probs.append((ln("flow"), f"no flow named {spec['flow']!r} is loaded"))
    elif kind == "hangup":
        if "cause" in spec and not 1 <= spec["cause"] <= 127:
            probs.append((ln("cause"), "'cause' must be a Q.850 cause 1..127"))
    return probs


def _queue_problem(queue: str, line: int, ctx: ValidationContext) -> list[tuple[int, str]]:
    """A missing queue (a literal name, not a {template}) as a problem on its line."""
    if ctx.queues is None or "{" in queue or queue in ctx.queues:
        return []
    return [(line, f"no queue named {queue!r}")]
