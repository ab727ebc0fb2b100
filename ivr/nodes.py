"""Flow-document node types: what keys each takes (for validation) and how each runs on a call.

Every runner is ``async run(ex, name, spec) -> next node name | None | RETURN``
where `ex` is the running `flows.Execution` (call, services, language, trace).
"""
import logging
import os
import re
from dataclasses import dataclass

from trunkline.media.errors import ChannelError, Hangup, Timeout

from . import menu as _menu
from . import say as _say

log = logging.getLogger(__name__)

RETURN = object()        # a sub-flow ends and returns to its caller
TEMPLATE_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")
DIGIT_KEYS = set("0123456789*#")

# key kinds: node, prompts, num, int, bool, str, map, choices, cases, enum:a|b
SCHEMA = {
    "play": ({"prompt": "prompts", "barge_in": "bool", "next": "node"}, {"prompt"}),
    "menu": ({"greeting": "prompts", "short_greeting": "prompts", "invalid": "prompts",
              "timeout_prompt": "prompts", "timeout": "num", "digits": "int", "inter_digit": "num",
              "terminator": "str", "max_failures": "int", "max_timeouts": "int", "barge_in": "bool",
              "choices": "choices", "agent": "str", "agent_digit": "str", "on_fail": "node",
              "on_timeout": "node", "var": "str"}, {"greeting", "choices"}),
    "get_digits": ({"prompt": "prompts", "var": "str", "digits": "int", "min": "int", "timeout": "num",
                    "inter_digit": "num", "terminator": "str", "mask": "bool", "mask_keep": "int",
                    "retries": "int", "invalid": "prompts", "next": "node", "on_fail": "node"}, {"var"}),
    "say": ({"what": "enum:number|digits|money|date|time|datetime", "value": "str", "lang": "enum:zh|en",
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
COMMON = {"type": "str", "description": "str"}


@dataclass
class ValidationContext:
    """What validation may check references against (None = not checked)."""
    node_names: set
    known_flows: object = None
    prompts: object = None
    calendars: object = None
    lookups: object = None
    flow_prompts: set = None
    language: str = "zh"


def _as_list(v):
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def prompt_refs(spec):
    """Literal prompt names a node spec plays (templates excluded)."""
    out = set()
    if not isinstance(spec, dict):
        return out
    kind = spec.get("type")
    keys, _ = SCHEMA.get(kind, ({}, set()))
    for key, k in keys.items():
        if k == "prompts":
            for p in _as_list(spec.get(key)):
                if isinstance(p, str) and "${" not in p:
                    out.add(p)
    return out


def _line(spec, key, default):
    return getattr(spec, "key_lines", {}).get(key, default)


def validate(name, spec, line, ctx):
    """Problems of one node as (line, message) pairs."""
    probs = []
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
            items = _as_list(v)
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


def _validate_kind(kind, spec, line, ctx):
    probs = []
    ln = lambda key: _line(spec, key, line)   # noqa: E731
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
    elif kind == "subflow":
        if ctx.known_flows is not None and str(spec["flow"]) not in ctx.known_flows:
            probs.append((ln("flow"), f"no flow named {spec['flow']!r} is loaded"))
    elif kind == "hangup":
        if "cause" in spec and not 1 <= spec["cause"] <= 127:
            probs.append((ln("cause"), "'cause' must be a Q.850 cause 1..127"))
    return probs


# ---------------------------------------------------------------- runtime


def render(template, vars_):
    """Substitute ${name} from vars_ (missing names become '')."""
    if not isinstance(template, str):
        return template
    return TEMPLATE_RE.sub(lambda m: str(vars_.get(m.group(1), "")), template)


async def run_play(ex, name, spec):
    """Play prompts (barge-in unless barge_in: false)."""
    await ex.play(spec["prompt"], spec.get("barge_in", True))
    return spec.get("next")


async def run_menu(ex, name, spec):
    """Run a menu; choices go to their node, the agent digit to the queue, failures to on_fail/on_timeout."""
    choices = spec["choices"]
    agent_queue = spec.get("agent")
    m = _menu.Menu(
        greeting=_as_list(spec["greeting"]), choices=tuple(choices),
        short_greeting=_as_list(spec.get("short_greeting")), invalid=_as_list(spec.get("invalid")),
        timeout_prompt=_as_list(spec.get("timeout_prompt")), timeout=float(spec.get("timeout", 5.0)),
        digits=int(spec.get("digits", max(len(c) for c in choices))),
        inter_digit=float(spec.get("inter_digit", 3.0)), terminator=str(spec.get("terminator", "#")),
        max_failures=int(spec.get("max_failures", 3)), max_timeouts=int(spec.get("max_timeouts", 3)),
        barge_in=spec.get("barge_in", True), agent_digit=str(spec.get("agent_digit", "0")) if agent_queue else "")
    res = await _menu.run_menu(ex.call, m, ex.play)
    ex.trace.entered(name, value=res.digits)
    if "var" in spec:
        ex.vars[spec["var"]] = res.digits
    if res.kind == _menu.CHOICE:
        return choices[res.digits]
    if res.kind == _menu.AGENT:
        ok = await ex.to_queue(agent_queue, data=None)
        return None if ok else spec.get("on_fail")
    if res.kind == _menu.TIMED_OUT:
        return spec.get("on_timeout", spec.get("on_fail"))
    return spec.get("on_fail")


async def run_get_digits(ex, name, spec):
    """Collect min..digits digits into a variable (masked in the CDR when mask: true); retries, then on_fail."""
    call = ex.call
    count, lo = int(spec.get("digits", 1)), int(spec.get("min", 1))
    tries = int(spec.get("retries", 3))
    for attempt in range(max(1, tries)):
        if "prompt" in spec:
            await ex.play(spec["prompt"], True)
        try:
            got = await call.get_digits(count, timeout=float(spec.get("timeout", 5.0)),
                                        inter_digit=float(spec.get("inter_digit", 3.0)),
                                        terminators=str(spec.get("terminator", "#")))
        except Timeout:
            got = ""
        if lo <= len(got) <= count:
            ex.trace.entered(name, masked=spec.get("mask", False), keep=int(spec.get("mask_keep", 0)), value=got)
            ex.vars[spec["var"]] = got
            return spec.get("next")
        ex.trace.entered(name, masked=spec.get("mask", False), keep=int(spec.get("mask_keep", 0)), value=got)
        call.flush_digits()
        if "invalid" in spec and attempt + 1 < tries:
            await ex.play(spec["invalid"], True)
    return spec.get("on_fail")


async def run_say(ex, name, spec):
    """Say a number, digits, money, date or time (value may use ${var}) in the flow's language."""
    lang = spec.get("lang", ex.lang)
    value = render(str(spec["value"]), ex.vars)
    fn = {"number": _say.number, "digits": _say.digits, "money": _say.money, "date": _say.date,
          "time": _say.time, "datetime": _say.datetime}[spec["what"]]
    if spec["what"] == "datetime" and value in ("", "now"):
        value = ex.services.now()
    elif spec["what"] in ("date", "time") and value in ("", "now"):
        value = ex.services.now()
    try:
        frags = fn(value, lang)
    except (ValueError, TypeError) as e:
        log.warning("say node %s: cannot say %r as %s: %s", name, value, spec["what"], e)
        frags = []
    items = _as_list(spec.get("before")) + [frags] + _as_list(spec.get("after"))
    await ex.play(items, spec.get("barge_in", True))
    return spec.get("next")


async def run_record(ex, name, spec):
    """Record the caller into a new WAV file; the path goes into `var` (kept even when the caller hangs up)."""
    path = ex.services.new_recording_path(ex.call, name)
    if "prompt" in spec:
        await ex.play(spec["prompt"], False)
    try:
        res = await ex.call.record(path, max_seconds=float(spec.get("max_seconds", 60.0)),
                                   silence_seconds=spec.get("silence_seconds"),
                                   terminators=str(spec.get("terminators", "#")), beep=spec.get("beep", True))
    except Hangup as e:
        rec = getattr(e, "recording", None)
        if rec is not None:
            ex.vars[spec["var"]] = rec.path
        raise
    ex.vars[spec["var"]] = res.path
    ex.vars[spec["var"] + "_seconds"] = round(res.seconds, 2)
    return spec.get("next")


async def run_voicemail(ex, name, spec):
    """Deposit a message into a box, or log in and retrieve messages."""
    vm = ex.services.voicemail
    if vm is None:
        raise RuntimeError("voicemail node: no voicemail service configured")
    if spec.get("mode", "deposit") == "deposit":
        await vm.deposit(ex.call, render(str(spec["box"]), ex.vars), lang=ex.lang, trace=ex.trace)
    else:
        box = render(str(spec["box"]), ex.vars) if "box" in spec else None
        await vm.retrieve(ex.call, box=box, lang=ex.lang, trace=ex.trace)
    return spec.get("next")


async def run_lookup(ex, name, spec):
    """Query a configured lookup source; fields become variables, a failure plays the fallback and goes to on_error."""
    from .lookup import LookupFailed
    source = ex.services.lookups.get(spec["source"])
    params = {k: render(v, ex.vars) for k, v in (spec.get("params") or {}).items()}
    try:
        if source is None:
            raise LookupFailed(f"no lookup source named {spec['source']!r}")
        result = await source.query(params, inline=ex.services.virtual(ex.call))
    except LookupFailed as e:
        log.warning("lookup %s failed: %s", spec["source"], e)
        ex.vars["lookup_error"] = str(e)
        await ex.play(_as_list(spec.get("fallback")) or ["ivr-lookup-failed"], True)
        return spec.get("on_error", spec.get("next"))
    store = spec.get("store")
    if store:
        for var, fieldname in store.items():
            ex.vars[var] = result.get(fieldname, "")
    else:
        ex.vars.update(result)
    return spec.get("next")


async def run_set(ex, name, spec):
    """Set variables (values may use ${var})."""
    for k, v in spec["vars"].items():
        ex.vars[k] = render(v, ex.vars)
    return spec.get("next")


async def run_branch(ex, name, spec):
    """Branch on a variable, on the calendar (open/closed/holiday) or on the caller number (longest prefix)."""
    on = spec["on"]
    if on == "var":
        value = str(ex.vars.get(spec["var"], ""))
        return spec["cases"].get(value, spec.get("default"))
    if on == "time":
        cal = ex.services.calendars.get(spec["calendar"])
        if cal is None:
            raise RuntimeError(f"branch {name}: no calendar named {spec['calendar']!r}")
        state = cal.state(ex.services.now())
        ex.vars["calendar_state"] = state
        if state == "holiday":
            return spec.get("holiday", spec["closed"])
        return spec["open"] if state == "open" else spec["closed"]
    caller = "".join(ch for ch in (ex.call.caller_id or "") if ch.isdigit() or ch == "+")
    if not caller:
        return spec.get("anonymous", spec.get("default"))
    cases = spec.get("cases") or {}
    for n in range(len(caller), 0, -1):
        if caller[:n] in cases:
            return cases[caller[:n]]
    return spec.get("default")


async def run_queue(ex, name, spec):
    """Transfer to an ACD queue; with survey: true the caller rates the call after the agent hangs up."""
    data = {k: render(v, ex.vars) for k, v in (spec.get("data") or {}).items()} or None
    ok = await ex.to_queue(render(str(spec["queue"]), ex.vars), data=data, priority=spec.get("priority"))
    if not ok:
        return spec.get("on_fail")
    # the post-call survey: only when the agent ended the conversation and the caller is still there
    if spec.get("survey") and not ex.call.hungup and ex.vars.get("queue_ended_by") in ("agent", ""):
        from .survey import survey
        await survey(ex.call, ex.services, queue=str(spec["queue"]), lang=ex.lang, trace=ex.trace)
    return spec.get("next")


async def run_dial(ex, name, spec):
    """Transfer to a number: dial out and bridge until either side hangs up; on_fail when busy/no answer."""
    import asyncio
    number = render(str(spec["number"]), ex.vars)
    caller_id = render(str(spec.get("caller_id", ex.call.caller_id or "")), ex.vars)
    engine = ex.call.engine
    ex.trace.entered(name, value=number)
    try:
        leg = engine.dial(number, caller_id=caller_id)
    except ChannelError as e:                            # no trunk takes the call
        ex.vars["dial_status"] = e.reason or "channelerror"
        return spec.get("on_fail")
    task = asyncio.ensure_future(leg.wait_answer(float(spec.get("timeout", 30.0))))
    gone = engine.loop.create_future()
    ex.call.on_hangup(lambda _c: gone.done() or gone.set_result(None))
    if ex.call.hungup and not gone.done():
        gone.set_result(None)
    await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        # the caller hung up while the transfer was ringing: give up the outbound leg
        task.cancel()
        if not leg.hungup:
            await leg.hangup()
        raise Hangup(f"caller hung up while dialing {number}")
    try:
        other = task.result()
    except (ChannelError, Timeout) as e:
        ex.vars["dial_status"] = getattr(e, "reason", None) or type(e).__name__.lower()
        return spec.get("on_fail")
    if ex.call.hungup:
        await other.hangup()
        raise Hangup(f"caller hung up as {number} answered")
    ex.vars["dial_status"] = "answered"
    try:
        await ex.call.bridge(other)
        # the bridge lasts until either side hangs up
        done = engine.loop.create_future()
        for c in (ex.call, other):
            c.on_hangup(lambda _c: done.done() or done.set_result(_c))
        if not (ex.call.hungup or other.hungup):
            await done
    finally:
        if ex.call.bridged_to is not None and not ex.call.hungup:
            await ex.call.unbridge()
        if not other.hungup:
            await other.hangup()
    if ex.call.hungup:
        raise Hangup("caller left during the transfer")
    return spec.get("next")


async def run_fax(ex, name, spec):
    """Receive a fax into a TIFF-F file or send one; says the fax service is unavailable when it is missing."""
    call = ex.call
    fn = getattr(call, "receive_fax" if spec["mode"] == "receive" else "send_fax", None)
    try:
        import trunkline.fax as _fax
        available = fn is not None and hasattr(_fax, "FaxEndpoint")
    except ImportError:
        available = False
    if not available:
        log.warning("fax node %s: the fax service is unavailable (no trunkline.fax.FaxEndpoint)", name)
        ex.vars["fax_status"] = "unavailable"
        await ex.play(_as_list(spec.get("unavailable")) or ["ivr-fax-unavailable"], False)
        return spec.get("on_fail")
    if spec["mode"] == "receive":
        path = render(spec["file"], ex.vars) if "file" in spec else ex.services.new_fax_path(call)
    else:
        path = render(spec.get("file", ""), ex.vars)
    result = await fn(path)
    ok = bool(getattr(result, "ok", False))
    store = getattr(ex.services, "fax_store", None)
    if store is not None:
        inbound = spec["mode"] == "receive"
        store.record("in" if inbound else "out", path, result,
                     number=(call.caller_id if inbound else call.called) or "", call_id=call.id,
                     status="done" if ok else "failed", reason="" if ok else getattr(result, "reason", ""))
    ex.vars["fax_status"] = "ok" if ok else (getattr(result, "reason", "") or "failed")
    ex.vars["fax_pages"] = getattr(result, "pages", 0)
    if "var" in spec:
        ex.vars[spec["var"]] = path
    return spec.get("next") if ok else spec.get("on_fail", spec.get("next"))


async def run_survey(ex, name, spec):
    """Ask the caller for a 1-5 rating and store it."""
    from .survey import survey
    await survey(ex.call, ex.services, queue=str(spec.get("queue", "")), lang=ex.lang, trace=ex.trace)
    return spec.get("next")


async def run_hangup(ex, name, spec):
    """Hang up with a Q.850 cause (default 16)."""
    ex.trace.finish(f"hangup at {name}")
    await ex.call.hangup(int(spec.get("cause", 16)))
    return None


async def run_subflow(ex, name, spec):
    """Run another registered flow (current version), then continue at next."""
    await ex.subflow(str(spec["flow"]))
    return spec.get("next")


async def run_return(ex, name, spec):
    """End a sub-flow and return to the calling flow."""
    return RETURN


RUNNERS = {
    "play": run_play, "menu": run_menu, "get_digits": run_get_digits, "say": run_say, "record": run_record,
    "voicemail": run_voicemail, "lookup": run_lookup, "set": run_set, "branch": run_branch,
    "queue": run_queue, "dial": run_dial, "fax": run_fax, "survey": run_survey, "hangup": run_hangup,
    "subflow": run_subflow, "return": run_return,
}
MEDIA_FREE = {"set", "branch", "return", "subflow"}


def recording_dir(base, call):
    """A per-call directory for recordings under base."""
    d = os.path.join(base, str(getattr(call, "id", "call")))
    os.makedirs(d, exist_ok=True)
    return d
