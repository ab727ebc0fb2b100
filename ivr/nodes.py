"""Flow-document node runners: how each node type runs on a call (ivr.node_schema says what keys it takes).

Every runner is ``async run(ex, name, spec) -> next node name | None | RETURN``
where `ex` is the running flow (`Runtime`: flows.Execution with the call, services, language, trace).
"""
from __future__ import annotations

import asyncio
import enum
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from trunkline.media.call import Call
from trunkline.media.dialguard import dialing_as
from trunkline.media.errors import ChannelError, Hangup, Timeout
from trunkline.media.futures import settle
from trunkline.media.ports import FaxOutcome

from . import menu as _menu
from . import say as _say
from .cdr import CallTrace
from .lookup import LookupFailed
from .node_schema import as_list
from .services import Services
from .survey import survey as _survey

log = logging.getLogger(__name__)

TEMPLATE_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")


class _Return(enum.Enum):
    RETURN = "return"


RETURN = _Return.RETURN    # a sub-flow ends and returns to its caller
#: what a runner returns: the next node's name, None (the flow ends) or RETURN
Next = str | _Return | None
NodeSpec = Mapping[str, Any]


class Runtime(Protocol):
    """What a node runner works with: the running flow (flows.Execution)."""
    call: Call
    services: Services
    trace: CallTrace
    lang: str
    vars: dict[str, Any]

    async def play(self, items: Any, barge_in: bool = True) -> str | None:
        """Play prompt names / say fragment lists / arrays; returns a barge-in digit or None."""

    async def to_queue(self, queue: str, data: dict[str, Any] | None = None, priority: int | None = None) -> bool:
        """Transfer the call to an ACD queue; False when the ACD is unavailable or refuses."""

    async def subflow(self, name: str) -> None:
        """Run another registered flow and come back."""


Runner = Callable[[Runtime, str, NodeSpec], Awaitable[Next]]


def render(template: Any, vars_: Mapping[str, Any]) -> Any:
    """Substitute ${name} from vars_ (missing names become ''); anything but text is returned as it is."""
    if not isinstance(template, str):
        return template
    return TEMPLATE_RE.sub(lambda m: str(vars_.get(m.group(1), "")), template)


async def run_play(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Play prompts (barge-in unless barge_in: false)."""
    await ex.play(spec["prompt"], spec.get("barge_in", True))
    return spec.get("next")


async def run_early_media(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Play prompts before answer (SIP 183 with SDP), then answer unless answer: false (e.g. an announcement
    followed by a hang-up, never charged); on trunks without early media the call is answered first."""
    call = ex.call
    try:
        await call.early_media()
    except ChannelError as exc:
        log.info("node %s: no early media on this call (%s): answering first", name, exc)
        await call.answer()
    await ex.play(spec["prompt"], False)
    if spec.get("answer", True):
        await call.answer()
    return spec.get("next")


async def run_menu(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Run a menu; choices go to their node, the agent digit to the queue, failures to on_fail/on_timeout."""
    choices = spec["choices"]
    agent_queue = spec.get("agent")
    m = _menu.Menu(
        greeting=as_list(spec["greeting"]), choices=tuple(choices),
        short_greeting=as_list(spec.get("short_greeting")), invalid=as_list(spec.get("invalid")),
        timeout_prompt=as_list(spec.get("timeout_prompt")), timeout=float(spec.get("timeout", 5.0)),
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
        ok = await ex.to_queue(str(agent_queue), data=None)
        return None if ok else spec.get("on_fail")
    if res.kind == _menu.TIMED_OUT:
        return spec.get("on_timeout", spec.get("on_fail"))
    return spec.get("on_fail")


async def run_get_digits(ex: Runtime, name: str, spec: NodeSpec) -> Next:
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
            if spec.get("mask", False):          # the agent's screen pop shows it masked too (flows.to_queue)
                ex.vars.setdefault("ivr_masked", {})[spec["var"]] = int(spec.get("mask_keep", 0))
            return spec.get("next")
        ex.trace.entered(name, masked=spec.get("mask", False), keep=int(spec.get("mask_keep", 0)), value=got)
        call.flush_digits()
        if "invalid" in spec and attempt + 1 < tries:
            await ex.play(spec["invalid"], True)
    return spec.get("on_fail")


#: say node `what` -> the say function reading it
SAYERS: dict[str, Callable[..., list[str]]] = {
    "number": _say.number, "digits": _say.digits, "money": _say.money, "date": _say.date, "time": _say.time,
    "datetime": _say.datetime}


async def run_say(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Say a number, digits, money, date or time (value may use ${var}) in the flow's language."""
    lang = spec.get("lang", ex.lang)
    value = render(str(spec["value"]), ex.vars)
    fn = SAYERS[spec["what"]]
    if spec["what"] == "datetime" and value in ("", "now"):
        value = ex.services.now()
    elif spec["what"] in ("date", "time") and value in ("", "now"):
        value = ex.services.now()
    try:
        frags = _say.money(value, lang, spec.get("currency", "CNY")) if spec["what"] == "money" else fn(value, lang)
    except (ValueError, TypeError) as e:
        log.warning("say node %s: cannot say %r as %s: %s", name, value, spec["what"], e)
        frags = []
    items = as_list(spec.get("before")) + [frags] + as_list(spec.get("after"))
    await ex.play(items, spec.get("barge_in", True))
    return spec.get("next")


async def run_record(ex: Runtime, name: str, spec: NodeSpec) -> Next:
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


async def run_voicemail(ex: Runtime, name: str, spec: NodeSpec) -> Next:
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


async def run_lookup(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Query a configured lookup source; fields become variables, a failure plays the fallback and goes to on_error."""
    source = ex.services.lookups.get(spec["source"])
    params = {k: render(v, ex.vars) for k, v in (spec.get("params") or {}).items()}
    try:
        if source is None:
            raise LookupFailed(f"no lookup source named {spec['source']!r}")
        result = await source.query(params, inline=ex.services.virtual(ex.call))
    except LookupFailed as e:
        log.warning("lookup %s failed: %s", spec["source"], e)
        ex.vars["lookup_error"] = str(e)
        await ex.play(as_list(spec.get("fallback")) or ["ivr-lookup-failed"], True)
        return spec.get("on_error", spec.get("next"))
    store = spec.get("store")
    if store:
        for var, fieldname in store.items():
            ex.vars[var] = result.get(fieldname, "")
    else:
        ex.vars.update(result)
    return spec.get("next")


async def run_set(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Set variables (values may use ${var})."""
    for k, v in spec["vars"].items():
        ex.vars[k] = render(v, ex.vars)
    return spec.get("next")


async def run_branch(ex: Runtime, name: str, spec: NodeSpec) -> Next:
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


async def run_queue(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Transfer to an ACD queue; with survey: true the caller rates the call after the agent hangs up."""
    data = {k: render(v, ex.vars) for k, v in (spec.get("data") or {}).items()} or None
    ok = await ex.to_queue(render(str(spec["queue"]), ex.vars), data=data, priority=spec.get("priority"))
    if not ok:
        return spec.get("on_fail")
    # the post-call survey: only when the agent ended the conversation and the caller is still there
    if spec.get("survey") and not ex.call.hungup and ex.vars.get("queue_ended_by") in ("agent", ""):
        await _survey(ex.call, ex.services, queue=str(spec["queue"]), lang=ex.lang, trace=ex.trace)
    return spec.get("next")


async def run_dial(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Transfer to a number: dial out and bridge until either side hangs up; on_fail when busy/no answer."""
    number = render(str(spec["number"]), ex.vars)
    caller_id = render(str(spec.get("caller_id", ex.call.caller_id or "")), ex.vars)
    engine = ex.call.engine
    ex.trace.entered(name, value=number)
    try:
        with dialing_as("flow", name):                  # the dial plan: flows dial as role "flow"
            leg = engine.dial(number, caller_id=caller_id)
    except ChannelError as e:                            # no trunk takes the call, or the dial plan refuses
        ex.vars["dial_status"] = e.reason or "channelerror"
        return spec.get("on_fail")
    task = asyncio.ensure_future(leg.wait_answer(float(spec.get("timeout", 30.0))))
    gone: asyncio.Future[None] = engine.loop.create_future()
    ex.call.on_hangup(lambda _c: settle(gone, None))
    if ex.call.hungup and not gone.done():
        gone.set_result(None)
    either: list[asyncio.Future[Any]] = [task, gone]
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
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
            c.on_hangup(lambda _c: settle(done, _c))
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


async def run_fax(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Receive a fax into a TIFF-F file or send one; says the fax service is unavailable when the call
    cannot run a fax session."""
    call = ex.call
    fn = call.receive_fax if spec["mode"] == "receive" else call.send_fax
    if not call.engine.can_fax:
        log.warning("fax node %s: the fax service is unavailable (the call cannot run a fax session)", name)
        ex.vars["fax_status"] = "unavailable"
        await ex.play(as_list(spec.get("unavailable")) or ["ivr-fax-unavailable"], False)
        return spec.get("on_fail")
    if spec["mode"] == "receive":
        path = render(spec["file"], ex.vars) if "file" in spec else ex.services.new_fax_path(call)
    else:
        path = render(spec.get("file", ""), ex.vars)
    result: FaxOutcome = await fn(path)
    ok = bool(result.ok)
    store = ex.services.fax_store
    if store is not None:
        inbound = spec["mode"] == "receive"
        store.record("in" if inbound else "out", path, result,
                     number=(call.caller_id if inbound else call.called) or "", call_id=call.id,
                     status="done" if ok else "failed", reason="" if ok else result.reason,
                     did=(call.called or "") if inbound else "")
    ex.vars["fax_status"] = "ok" if ok else (result.reason or "failed")
    ex.vars["fax_pages"] = result.pages
    if "var" in spec:
        ex.vars[spec["var"]] = path
    return spec.get("next") if ok else spec.get("on_fail", spec.get("next"))


async def run_survey(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Ask the caller for a 1-5 rating and store it."""
    await _survey(ex.call, ex.services, queue=str(spec.get("queue", "")), lang=ex.lang, trace=ex.trace)
    return spec.get("next")


async def run_hangup(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Hang up with a Q.850 cause (default 16)."""
    ex.trace.finish(f"hangup at {name}")
    await ex.call.hangup(int(spec.get("cause", 16)))
    return None


async def run_subflow(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """Run another registered flow (current version), then continue at next."""
    await ex.subflow(str(spec["flow"]))
    return spec.get("next")


async def run_return(ex: Runtime, name: str, spec: NodeSpec) -> Next:
    """End a sub-flow and return to the calling flow."""
    return RETURN


RUNNERS: dict[str, Runner] = {
    "play": run_play, "menu": run_menu, "get_digits": run_get_digits, "say": run_say, "record": run_record,
    "voicemail": run_voicemail, "lookup": run_lookup, "set": run_set, "branch": run_branch,
    "queue": run_queue, "dial": run_dial, "fax": run_fax, "survey": run_survey, "hangup": run_hangup,
    "subflow": run_subflow, "return": run_return, "early_media": run_early_media,
}
MEDIA_FREE = {"set", "branch", "return", "subflow"}

