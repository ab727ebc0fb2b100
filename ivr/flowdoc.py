"""YAML flow documents: parse with line numbers and validate (ivr.flows runs them on a call).

A document::

    name: hotline
    language: zh                 # prompt language of this flow (zh / en)
    start: welcome               # default: the first node
    prompts:                     # optional text prompts, synthesised by TTS
      welcome: {zh: 欢迎致电, en: Welcome}
    nodes:
      welcome: {type: play, prompt: welcome, next: main}
      main:
        type: menu
        greeting: main_long
        choices: {"1": balance, "2": vm}
        agent: support           # "0 for an agent" -> queue support
        on_fail: bye
      bye: {type: hangup}

Every problem found is reported as ``flow 'hotline', node 'main' (line 12): ...``;
`FlowError.problems` lists them all.
"""
from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import node_schema as _schema

TOP_KEYS = {"name", "language", "start", "nodes", "prompts", "description", "vars", "recording"}
#: a flow's `recording:` policy (ivr.recpolicy; "" = the route's or queue's)
RECORDING = ("none", "ivr", "agent", "whole")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,79}$")
LANGS = ("zh", "en")


class LineDict(dict):
    """A mapping from YAML that remembers the line (1-based) of itself and of each key."""
    line = 0

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.key_lines: dict[str, int] = {}


#: the largest flow document accepted, in characters (a real flow is a few KiB)
MAX_FLOW_CHARS = 512 * 1024


class _Loader(yaml.SafeLoader):
    """Safe loader whose mappings are LineDicts and whose mapping keys are always text."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                    key_node.start_mark)
        key = key_node.value
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass
class Problem:
    """One validation problem: node name (or '' for the document), 1-based line, message."""
    node: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"node {self.node!r} (line {self.line})" if self.node else f"line {self.line}"
        return f"{where}: {self.message}"


class FlowError(ValueError):
    """A flow document that cannot be loaded; `problems` lists every problem with node and line."""

    def __init__(self, flow: str, problems: list[Problem]) -> None:
        self.flow = flow
        self.problems = problems
        head = f"flow {flow!r}" if flow else "flow document"
        super().__init__("\n".join(f"{head}, {p}" for p in problems))


@dataclass
class FlowDocument:
    """A validated flow document."""
    name: str
    language: str
    start: str
    nodes: dict[str, dict[str, Any]]
    prompts: dict[str, dict[str, str]] = field(default_factory=dict)   # name -> {language: text}
    vars: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    lines: dict[str, int] = field(default_factory=dict)    # node name -> line
    recording: str = ""                                    # recording policy ("" = route's / queue's)

    def prompt_names(self) -> set[str]:
        """Every literal prompt name the nodes refer to."""
        out: set[str] = set()
        for spec in self.nodes.values():
            out |= _schema.prompt_refs(spec)
        return out


def parse(text: str, known_flows: Collection[str] | None = None, prompts: _schema.PromptChecker | None = None,
          calendars: Collection[str] | None = None, lookups: Collection[str] | None = None,
          queues: Collection[str] | None = None) -> FlowDocument:
    """Parse and validate a YAML flow document; returns a FlowDocument or raises FlowError.

    known_flows: names sub-flow nodes may call (None: not checked); prompts: a PromptLibrary
    to check that prompt names exist (None: not checked); calendars / lookups: names that
    branch-on-time and lookup nodes may use (None: not checked); queues: names queue nodes and
    menu agent keys may transfer to (None: not checked).
    """
    if not isinstance(text, str):
        raise FlowError("", [Problem("", 1, "a flow document must be YAML text")])
    if len(text) > MAX_FLOW_CHARS:
        raise FlowError("", [Problem("", 1, f"flow document too large ({len(text)} characters; "
                                            f"at most {MAX_FLOW_CHARS})")])
    try:
        doc = yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise FlowError("", [Problem("", 1, "YAML nested too deep")]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise FlowError("", [Problem("", line, f"YAML syntax error: {e.problem or e}")]) from None
    except yaml.YAMLError as e:
        raise FlowError("", [Problem("", 1, f"YAML error: {e}")]) from None
    if not isinstance(doc, LineDict):
        raise FlowError("", [Problem("", 1, "a flow document must be a mapping with 'name' and 'nodes'")])
    problems: list[Problem] = []

    def top(msg: str, key: str | None = None) -> None:
        problems.append(Problem("", doc.key_lines.get(key, doc.line) if key else doc.line, msg))

    for key in doc:
        if key not in TOP_KEYS:
            top(f"unknown top-level key {key!r} (allowed: {', '.join(sorted(TOP_KEYS))})", key)
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        top("'name' must be a flow name (letters, digits, _ . -)", "name")
        name = name if isinstance(name, str) else ""
    language = doc.get("language", "zh")
    if language not in LANGS:
        top(f"'language' must be one of {', '.join(LANGS)}, not {language!r}", "language")
    flow_prompts = doc.get("prompts", {}) or {}
    if not isinstance(flow_prompts, dict):
        top("'prompts' must map prompt names to {zh: text, en: text}", "prompts")
        flow_prompts = {}
    for pname, texts in flow_prompts.items():
        line = flow_prompts.key_lines.get(pname, doc.line) if isinstance(flow_prompts, LineDict) else doc.line
        if isinstance(texts, str):
            continue
        if not isinstance(texts, dict) or not texts or any(k not in LANGS or not isinstance(v, str)
                                                           for k, v in texts.items()):
            problems.append(Problem("", line, f"prompt {pname!r} must be text or a mapping of zh/en to text"))
    recording = doc.get("recording", "") or ""
    if recording not in ("", *RECORDING):
        top(f"'recording' must be one of {', '.join(RECORDING)}, not {recording!r}", "recording")
        recording = ""
    init_vars = doc.get("vars", {}) or {}
    if not isinstance(init_vars, dict):
        top("'vars' must be a mapping of variable names to values", "vars")
        init_vars = {}
    nodes = doc.get("nodes")
    if not isinstance(nodes, LineDict) or not nodes:
        top("'nodes' must be a non-empty mapping of node names to node definitions", "nodes")
        raise FlowError(name, problems)
    start = doc.get("start", next(iter(nodes)))
    if not isinstance(start, str) or start not in nodes:     # a mapping here is unhashable: not a name
        top(f"'start' names {start!r}, which is not a node", "start")
    ctx = _schema.ValidationContext(
        node_names=set(nodes), known_flows=None if known_flows is None else set(known_flows) | {name},
        prompts=prompts, calendars=calendars, lookups=lookups, queues=queues, flow_prompts=set(flow_prompts),
        language=language)
    lines = {}
    for nname, spec in nodes.items():
        line = nodes.key_lines[nname]
        lines[nname] = line
        if not NAME_RE.match(nname):
            problems.append(Problem(nname, line, "node names use letters, digits, _ . - (and start with a letter)"))
        for line_no, msg in _schema.validate(nname, spec, line, ctx):
            problems.append(Problem(nname, line_no, msg))
    if problems:
        raise FlowError(name, problems)
    return FlowDocument(name=name, language=language, start=start, nodes=dict(nodes),
                        prompts={k: ({language: v} if isinstance(v, str) else dict(v))
                                 for k, v in flow_prompts.items()},
                        vars=dict(init_vars), source=text, lines=lines, recording=str(recording))
