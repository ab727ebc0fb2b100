"""Running flows: a versioned flow registry, the flow-document interpreter and the router.

Python flows (``async def flow(call)``) and YAML flow documents register under
a name. Each (re)load makes a new immutable `FlowVersion`; a call binds the
version that is current when it starts, so a reload takes effect for new calls
and never disturbs calls in progress. A document that fails validation is
rejected with its problems and the current version stays in service.
"""
from __future__ import annotations

import inspect
import itertools
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func

from trunkline.data.db import session_scope
from trunkline.media.call import Call
from trunkline.media.errors import Hangup

from . import blacklist
from . import flowdoc as _flowdoc
from . import nodes as _nodes
from .cdr import CallTrace, mask
from .models import IvrFlow
from .recpolicy import CallRecordings
from .routes import Decision, InboundRoutes
from .services import Services

__all__ = ["MAX_DEPTH", "MAX_SILENT_STEPS", "Execution", "FlowRegistry", "FlowRuntimeError", "FlowVersion",
           "Router", "Services"]

PythonFlow = Callable[[Call], Awaitable[None]]
log = logging.getLogger(__name__)
MAX_DEPTH = 8
MAX_SILENT_STEPS = 500


class FlowRuntimeError(RuntimeError):
    """A flow cannot continue (loop without media, sub-flow depth, missing flow)."""


@dataclass(frozen=True)
class FlowVersion:
    """One immutable version of a flow: a Python coroutine function or a FlowDocument."""
    name: str
    version: int
    kind: str                      # "python" | "yaml"
    obj: PythonFlow | _flowdoc.FlowDocument

    @property
    def language(self) -> str:
        """The flow's prompt language (documents say it; Python flows default to zh)."""
        return str(getattr(self.obj, "language", "zh"))

    @property
    def recording(self) -> str:
        """The flow's recording policy (document key `recording:`, a Python flow's `recording` attribute;
        "" = not set)."""
        return str(getattr(self.obj, "recording", "") or "")


class Execution:
    """One call running one flow version (and its sub-flows); the `nodes.Runtime` node runners use."""

    def __init__(self, call: Call, services: Services, version: FlowVersion, trace: CallTrace,
                 depth: int = 0) -> None:
        self.call = call
        self.services = services
        self.version = version
        self.trace = trace
        self.depth = depth
        self.doc = version.obj if isinstance(version.obj, _flowdoc.FlowDocument) else None
        self.lang: str = call.vars.get("language") or version.language
        self.vars: dict[str, Any] = call.vars

    # -- helpers the node runners use
    def _resolve(self, item: Any) -> list[Any]:
        lib = self.services.prompts
        if isinstance(item, str):
            item = _nodes.render(item, self.vars)
            if self.doc is not None and item in self.doc.prompts and (lib is None or lib.find(item, self.lang) is None):
                texts = self.doc.prompts[item]
                text = texts.get(self.lang) or next(iter(texts.values()))
                if lib is None:
                    raise FlowRuntimeError(f"prompt {item!r} is defined by text, but there is no prompt library")
                return [lib.tts(text, self.lang)]
            if os.path.isabs(item) or lib is None:
                return [item]
            return [lib.path(item, self.lang)]
        if isinstance(item, (list, tuple)):
            out = []
            for x in item:
                out.extend(self._resolve(x))
            return out
        return [item]

    async def play(self, items: Any, barge_in: bool = True) -> str | None:
        """Play prompt names / say fragment lists / arrays; returns a barge-in digit or None."""
        resolved = self._resolve(list(items) if isinstance(items, (list, tuple)) else [items])
        if not resolved:
            return None
        return await self.call.play(*resolved, barge_in=barge_in)

    async def to_queue(self, queue: str, data: dict[str, Any] | None = None, priority: int | None = None) -> bool:
        """Transfer to an ACD queue (`Services.acd`); False when the ACD is unavailable or refuses."""
        acd = self.services.acd
        if acd is None:
            log.warning("queue %s: the ACD is not available", queue)
            self.vars["queue_status"] = "acd unavailable"
            await self.play(["ivr-queue-unavailable"], False)
            return False
        given = dict(data) if data else {k: v for k, v in self.vars.items()
                                         if not k.startswith("ivr") and isinstance(v, (str, int, float))}
        payload: dict[str, Any] = {k: v for k, v in given.items()
                                   if isinstance(v, (str, int, float, bool)) or v is None}
        for var, keep in dict(self.vars.get("ivr_masked") or {}).items():
            if var in payload:                   # collected with mask: true: the agent sees it masked as well
                payload[var] = mask(str(payload[var]), int(keep))
        # the screen pop: the menu choices the caller made and the digits entered (masked where the flow says)
        payload["ivr_path"] = [{"node": p["node"], "type": p["type"]} for p in self.trace.path][-30:]
        payload["ivr_digits"] = [dict(d) for d in self.trace.digits][-30:]
        self.trace.enter(queue, "queue-transfer")
        try:
            if priority is None:
                result = await acd.enqueue(self.call, queue, data=payload)
            else:
                result = await acd.enqueue(self.call, queue, data=payload, priority=priority)
        except Hangup:
            raise
        except Exception as e:     # queue unknown, closed, full: the flow goes on at on_fail, the call stays up
            log.warning("queue %s refused the call: %s", queue, e)
            self.vars["queue_status"] = str(e)
            return False
        self.vars["queue_status"] = str(result.outcome)
        self.vars["queue_ended_by"] = str(result.ended_by or "")
        if result.agent:
            self.vars["agent"] = str(result.agent)
        return True

    async def subflow(self, name: str) -> None:
        """Run another registered flow (its current version) and come back."""
        if self.depth + 1 >= MAX_DEPTH:
            raise FlowRuntimeError(f"sub-flow {name!r}: nesting deeper than {MAX_DEPTH}")
        registry = self.services.registry
        if registry is None:
            raise FlowRuntimeError(f"sub-flow {name!r}: no flow registry")
        version = registry.current(name)
        child = Execution(self.call, self.services, version, self.trace, self.depth + 1)
        await child.run()

    async def run(self) -> None:
        """Run this execution's flow to its end (a return, a hang-up node, or a node without next)."""
        doc = self.version.obj
        if not isinstance(doc, _flowdoc.FlowDocument):
            self.trace.enter(self.version.name, "python", flow=self.version.name)
            await doc(self.call)
            return
        node: str | None = doc.start
        if self.depth == 0 and getattr(self.call, "answered_at", None) is None \
                and doc.nodes[doc.start]["type"] != "early_media":
            await self.call.answer()         # a flow document answers when it starts (after early media)
        for k, v in doc.vars.items():
            self.vars.setdefault(k, v)
        self.vars.setdefault("caller_id", str(getattr(self.call, "caller_id", "") or ""))   # ${caller_id}
        self.vars.setdefault("called", str(getattr(self.call, "called", "") or ""))         # ${called}
        silent = 0
        while node is not None:
            spec = doc.nodes[node]
            kind = spec["type"]
            self.trace.enter(node, kind, flow=doc.name)
            self.vars["ivr_node"] = node
            silent = silent + 1 if kind in _nodes.MEDIA_FREE else 0
            if silent > MAX_SILENT_STEPS:
                raise FlowRuntimeError(f"flow {doc.name!r}: {silent} steps without media at node {node!r} (a loop)")
            nxt = await _nodes.RUNNERS[kind](self, node, spec)
            if nxt is _nodes.RETURN:
                return
            if self.call.hungup and kind != "hangup":
                raise Hangup(f"caller hung up in node {node!r}")
            node = nxt


class FlowRegistry:
    """Named flows with versions; `handler(name)` is what engine.route() takes."""

    def __init__(self, services: Services | None = None) -> None:
        self.services = services or Services()
        self.services.registry = self
        self._versions: dict[str, list[FlowVersion]] = {}
        self._current: dict[str, FlowVersion] = {}
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Names of the flows that have a current version."""
        return sorted(self._current)

    def current(self, name: str) -> FlowVersion:
        """The version new calls of `name` get; FlowRuntimeError if none."""
        try:
            return self._current[name]
        except KeyError:
            raise FlowRuntimeError(f"no flow named {name!r} is loaded") from None

    def versions(self, name: str) -> list[FlowVersion]:
        """All versions of a flow loaded in this process, oldest first."""
        return list(self._versions.get(name, []))

    def _install(self, name: str, kind: str, obj: PythonFlow | _flowdoc.FlowDocument,
                 version: int | None = None) -> FlowVersion:
        with self._lock:
            prev = self._versions.get(name, [])
            v = version if version is not None else (prev[-1].version + 1 if prev else 1)
            fv = FlowVersion(name, v, kind, obj)
            self._versions.setdefault(name, []).append(fv)
            self._current[name] = fv
        log.info("flow %s version %d (%s) now serves new calls", name, v, kind)
        return fv

    def register(self, name: str, func: PythonFlow) -> FlowVersion:
        """Register (or replace) a Python flow: `async def func(call)`, or an object whose `__call__` is one
        (its `language` attribute, if any, is the flow's prompt language)."""
        if not (inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__)):
            raise TypeError(f"flow {name!r}: {func!r} is not an async def function")
        return self._install(name, "python", func)

    def validate(self, text: str) -> _flowdoc.FlowDocument:
        """Parse and validate a YAML document against this registry; FlowDocument or FlowError."""
        s = self.services
        return _flowdoc.parse(text, known_flows=set(self._current), prompts=s.prompts, calendars=s.calendars,
                              lookups=s.lookups, queues=s.queues)

    def load_yaml(self, text: str, store: bool = True, author: str = "") -> FlowVersion:
        """Validate and install a YAML flow as a new version; on error raise FlowError, nothing changes."""
        doc = self.validate(text)
        version = None
        if store and self.services.session_factory is not None:
            version = self._store(doc, author)
        return self._install(doc.name, "yaml", doc, version)

    def _store(self, doc: _flowdoc.FlowDocument, author: str) -> int:
        factory = self.services.session_factory
        if factory is None:
            raise FlowRuntimeError(f"flow {doc.name!r} cannot be stored: no session factory")
        with session_scope(factory) as s:
            last = s.query(func.max(IvrFlow.version)).filter(IvrFlow.name == doc.name).scalar() or 0
            s.add(IvrFlow(name=doc.name, version=last + 1, source=doc.source, language=doc.language,
                          created_by=author))
            return int(last) + 1

    def load_from_db(self) -> dict[str, int | str]:
        """Install the newest valid stored version of every flow; returns {name: version or error text}."""
        if self.services.session_factory is None:
            raise FlowRuntimeError("flows cannot be loaded from the database: no session factory")
        out: dict[str, int | str] = {}
        with self.services.session_factory() as s:
            rows = s.query(IvrFlow).order_by(IvrFlow.name, IvrFlow.version.desc()).all()
        by_name: dict[str, list[IvrFlow]] = {}
        for r in rows:
            by_name.setdefault(r.name, []).append(r)
        pending = dict(by_name)
        for _ in range(len(pending) + 1):          # sub-flows may need other flows loaded first
            progress = False
            for name, rs in list(pending.items()):
                for r in rs:
                    try:
                        doc = self.validate(r.source)
                    except _flowdoc.FlowError as e:
                        out[name] = str(e)
                        continue
                    self._install(name, "yaml", doc, r.version)
                    out[name] = r.version
                    del pending[name]
                    progress = True
                    break
            if not progress:
                break
        return out

    def handler(self, name: str) -> PythonFlow:
        """An `async def flow(call)` that runs the version of `name` current when each call starts."""
        async def flow(call: Call) -> None:
            await self.run(call, self.current(name))
        flow.__name__ = f"ivr_flow_{name}"
        return flow

    async def run(self, call: Call, version: FlowVersion) -> None:
        """Run one call through one flow version, keeping its IVR path in the CDR."""
        engine = getattr(call, "engine", None)
        clock = (lambda: engine.now) if engine is not None else None
        trace = CallTrace(call, version.name, version.version, clock=clock)
        ex = Execution(call, self.services, version, trace)
        call.language = ex.lang
        try:
            await ex.run()
            trace.finish("hangup" if call.hungup else "completed")
        except Hangup:
            last = trace.path[-1]["node"] if trace.path else ""
            trace.finish(f"caller hung up at {last}" if last else "caller hung up")
            raise
        except Exception as e:     # noted in the IVR path, then raised on: the engine logs the failed call
            trace.finish(f"error: {type(e).__name__}")
            raise
        finally:
            trace.save(self.services.session_factory)


class Router:
    """Wires the IVR into an engine: the call firewall before answer, then the flow for each call.

    ``Router(registry, default="hotline", by_number={"95555": "bank"}).install(engine)`` sets
    ``engine.screen`` (blacklist check before routing) and ``engine.route``. With `routes` (the
    ``ivr_inbound_routes`` table, read at each call) the called number, trunk, span and the time of day
    (services.now() against the route's calendar) choose the flow; with `recordings` the route's or
    flow's recording policy is applied (ivr.recpolicy).
    """

    # An analog trunk cannot refuse a call: the line keeps ringing and the port offers it again
    # (without caller ID this time). A re-offer on the same port within this many seconds is the
    # same call and stays refused.
    ANALOG_RING_MEMORY = 10.0

    def __init__(self, registry: FlowRegistry, default: str, by_number: dict[str, str] | None = None,
                 firewall: blacklist.Firewall | None = None, routes: InboundRoutes | None = None,
                 recordings: CallRecordings | None = None) -> None:
        self.registry = registry
        self.default = default
        self.by_number = dict(by_number or {})
        self.routes = routes
        self.recordings = recordings
        self.firewall = firewall
        self._refused: dict[Any, float] = {}     # analog channel -> media time of the last refusal

    def screen(self, call: Call) -> tuple[str, int] | None:
        """Check the caller against the firewall: ("reject", cause), or None (a flow override goes in vars)."""
        now = getattr(getattr(call, "engine", None), "now", 0.0)
        if call.trunk == "analog":
            last = self._refused.get(call.channel)
            if last is not None and now - last < self.ANALOG_RING_MEMORY:
                self._refused[call.channel] = now
                return ("reject", 21)
        act = (self.firewall or blacklist.default()).check(call.caller_id)
        if act.kind == blacklist.REJECT:
            log.info("call from %r rejected by firewall rule %r (cause %d)", call.caller_id, act.pattern, act.cause)
            if call.trunk == "analog":
                self._refused[call.channel] = now
            return ("reject", act.cause)
        if act.kind == blacklist.FLOW:
            call.vars["ivr_route"] = act.flow
            call.vars["firewall_rule"] = act.pattern
        return None

    def decide(self, call: Call) -> Decision:
        """The flow a call runs: firewall override, then the inbound routes (number, trunk, span, time of
        day), then `by_number`, then the default."""
        override = call.vars.get("ivr_route")
        if override:
            return Decision(str(override))
        fallback = self.by_number.get(call.called) or self.default
        if self.routes is None:
            return Decision(fallback)
        engine = getattr(call, "engine", None)
        span = int(engine.board.span_of[call.channel]) if engine is not None else None
        return self.routes.decide(call.called or "", call.trunk, span, self.registry.services.now(),
                                  self.registry.services.calendars, fallback)

    def flow_for(self, call: Call) -> str:
        """Name of the flow a call runs (see `decide`)."""
        return self.decide(call).flow

    async def __call__(self, call: Call) -> None:
        """The engine's route handler: choose the flow, apply the recording policy, run the flow."""
        decision = self.decide(call)
        try:
            version = self.registry.current(decision.flow)
        except FlowRuntimeError:           # a route naming a flow that is not loaded: the default serves
            log.error("inbound route %s names flow %r, which is not loaded: the default flow %r serves the call",
                      decision.route, decision.flow, self.default)
            version = self.registry.current(self.default)
        if decision.route is not None:
            call.vars["inbound_route"] = decision.route
            call.vars["after_hours"] = decision.after_hours
        if self.recordings is not None:
            policy, source = ((decision.record, f"route:{decision.route}") if decision.record
                              else (version.recording, f"flow:{version.name}"))
            self.recordings.begin(call, policy, source)
        await self.registry.run(call, version)

    def install(self, engine: Any) -> Router:
        """Make this router the engine's screen and inbound route."""
        engine.screen = self.screen
        engine.route(self)
        return self
