"""Recording policy: which parts of a call are recorded — none, the IVR part (answer to queue entry), the
agent part (bridge to its end) or the whole call (answer to hang-up) — each on two tracks (what the caller
says, what the caller hears: prompts, then the agent).

The policy comes from the inbound route, else the flow, else the queue the call enters (default: whole
call for queue calls); a campaign sets its own. A call whose policy is still open when it is answered is
recorded provisionally from the answer: the queue's policy keeps that recording (whole call), cuts it at
queue entry (IVR part) or drops it (agent part / none); an IVR-only call that no policy claims is not kept.
The recordings are background recordings of the engine's RecorderBank (tags "policy" and "agent"), so
they run beside any `call.record()` (voicemail) and cost nothing per recording on the tick. Each kept
recording gets a ``recordings`` row (call_id = the CDR's call_id, with its policy and part), and the
CDR says the policy that applied (``cdrs.recording_policy``).
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.data.models import Recording as RecordingRow
from trunkline.media.call import Call
from trunkline.media.errors import Hangup
from trunkline.media.recorder import Recording

from .routes import RECORD_POLICIES

log = logging.getLogger(__name__)

NONE, IVR, AGENT, WHOLE = RECORD_POLICIES
#: the policy of a queue call when nothing else decided it
QUEUE_DEFAULT = WHOLE
MAIN_TAG, AGENT_TAG = "policy", "agent"
#: longest policy recording (s); a longer call's recording ends there
MAX_SECONDS = 4 * 3600.0


def check_policy(value: str, allow_unset: bool = True) -> str:
    """`value` if it is a recording policy (or "" when `allow_unset`); ValueError naming the choices."""
    if value in RECORD_POLICIES or (allow_unset and value == ""):
        return value
    raise ValueError(f"recording policy must be one of {', '.join(RECORD_POLICIES)}, not {value!r}")


@dataclass
class _State:
    """One call's policy state."""
    call: Call
    policy: str = ""                   # "" = not decided yet
    source: str = ""                   # route:NAME, flow:NAME, queue:NAME, campaign:NAME
    main: Recording | None = None      # IVR part / whole call / provisional (tag "policy")
    main_part: str = ""                # ivr | whole | "" (provisional)
    agent_rec: Recording | None = None
    agent: str | None = None
    queue: str | None = None
    waiting_answer: bool = False
    files: int = 0                     # policy recordings made so far (each gets its own file)
    drop: set[int] = field(default_factory=set)     # id() of recordings to delete when closed


class CallRecordings:
    """Applies the recording policy to calls (see the module docstring); a no-op without `recordings_dir`."""

    def __init__(self, recordings_dir: str | None, session_factory: Callable[[], Session] | None = None) -> None:
        self.recordings_dir = recordings_dir
        self.session_factory = session_factory
        self._calls: dict[str, _State] = {}
        self._engines: set[int] = set()

    # ------------------------------------------------------------ wiring
    def install(self, engine: Any) -> CallRecordings:
        """Listen for answers on `engine`'s event bus (a provisional or IVR recording starts at the answer)."""
        if id(engine) not in self._engines:
            self._engines.add(id(engine))
            engine.bus.subscribe(self._on_event)
        return self

    def _on_event(self, ev: dict[str, Any]) -> None:
        if ev.get("type") != "call_answered":
            return
        st = self._calls.get(str(ev.get("call_id")))
        if st is not None and st.waiting_answer:
            st.waiting_answer = False
            self._start_main(st, WHOLE if st.policy == WHOLE else IVR if st.policy == IVR else "")

    def _state(self, call: Call) -> _State:
        st = self._calls.get(call.id)
        if st is None:
            st = self._calls[call.id] = _State(call)
            call.on_hangup(self._ended)
        return st

    # ------------------------------------------------------------ the call's life
    def begin(self, call: Call, policy: str, source: str) -> None:
        """At the start of the call's flow: the route's or flow's policy ("" = open; the queue decides)."""
        if not self.recordings_dir or call.hungup:
            return
        st = self._state(call)
        if policy:
            self._decide(st, policy, source)
        if st.policy in ("", IVR, WHOLE) and st.main is None:
            if call.state == "up":
                self._start_main(st, st.policy if st.policy in (IVR, WHOLE) else "")
            else:
                st.waiting_answer = True

    def enter_queue(self, call: Call, queue: str, queue_policy: str) -> str:
        """At queue entry: the policy that applies from here (the queue's if none was decided); ends the IVR
        part, drops a provisional recording the policy does not keep, starts a whole-call one if none runs."""
        if not self.recordings_dir or call.hungup:
            return NONE
        st = self._state(call)
        st.queue = queue
        if not st.policy:
            self._decide(st, queue_policy or QUEUE_DEFAULT, f"queue:{queue}")
        st.waiting_answer = False
        if st.main is not None and st.main_part == "":             # provisional: the policy says what it is
            if st.policy == WHOLE:
                st.main_part = WHOLE
                call.cdr.recording = st.main.path
            elif st.policy == IVR:
                st.main_part = IVR
            else:
                st.drop.add(id(st.main))
        if st.main is not None and st.main_part == IVR or id(st.main) in st.drop:
            call.stop_recording("queue entry", tag=MAIN_TAG)
        elif st.policy == WHOLE and st.main is None:
            self._start_main(st, WHOLE)
        return st.policy

    def bridge(self, call: Call, agent: str | None, queue: str | None, queue_policy: str = "") -> str | None:
        """Caller and agent are bridged: the agent part starts (policy agent); returns the path of the
        recording that holds this conversation (agent part or whole call), or None. A call that never
        entered a queue here (a callback dialled back) gets the queue's policy now."""
        if not self.recordings_dir or call.hungup:
            return None
        st = self._calls.get(call.id)
        if st is None or not st.policy:
            self.enter_queue(call, queue or "", queue_policy)
            st = self._calls[call.id]
        st.agent, st.queue = agent or st.agent, queue or st.queue
        if st.policy == AGENT:
            path = self._path(st, AGENT)
            st.agent_rec = call.start_recording(path, AGENT_TAG, max_seconds=MAX_SECONDS,
                                                on_closed=lambda r: self._closed(st, r, AGENT))
            return path
        if st.policy == WHOLE and st.main is not None:
            return st.main.path
        return None

    def unbridge(self, call: Call) -> None:
        """The agent conversation ended (the caller may go on: a transfer, a survey): the agent part stops."""
        st = self._calls.get(call.id)
        if st is not None and st.agent_rec is not None and not call.hungup:
            call.stop_recording("agent left", tag=AGENT_TAG)

    def _ended(self, call: Call) -> None:
        st = self._calls.get(call.id)
        if st is None:
            return
        st.waiting_answer = False
        if not st.policy:                 # an IVR-only call no policy claimed: nothing is kept
            call.cdr.recording_policy = NONE
            if st.main is not None:
                st.drop.add(id(st.main))
        if st.main is None and st.agent_rec is None:
            self._calls.pop(call.id, None)

    # ------------------------------------------------------------ helpers
    def _decide(self, st: _State, policy: str, source: str) -> None:
        st.policy, st.source = check_policy(policy, allow_unset=False), source
        st.call.cdr.recording_policy = policy
        st.call.vars["recording_policy"] = policy
        st.call.vars["recording_policy_source"] = source

    def _path(self, st: _State, part: str) -> str:
        """A new file for one of the call's recordings (a second agent after a transfer gets its own)."""
        assert self.recordings_dir is not None
        os.makedirs(self.recordings_dir, exist_ok=True)
        st.files += 1
        suffix = f"-{st.files}" if st.files > 1 else ""
        return os.path.join(self.recordings_dir, f"{part}-{st.call.id}{suffix}.wav")

    def _start_main(self, st: _State, part: str) -> None:
        call = st.call
        if call.hungup or st.main is not None:
            return
        path = self._path(st, part or "call")
        try:
            st.main = call.start_recording(path, MAIN_TAG, max_seconds=MAX_SECONDS,
                                           on_closed=lambda r: self._closed(st, r, st.main_part))
        except Hangup:
            return
        st.main_part = part
        if part in (IVR, WHOLE):
            call.cdr.recording = path

    def _closed(self, st: _State, rec: Recording, part: str) -> None:
        """A policy recording's file is closed (engine thread): drop it, or index it."""
        if rec is st.main:
            st.main = None
        if rec is st.agent_rec:
            st.agent_rec = None
        if st.call.hungup and st.main is None and st.agent_rec is None:
            self._calls.pop(st.call.id, None)
        if id(rec) in st.drop or not part:
            try:
                os.remove(rec.path)
            except OSError as exc:
                log.warning("recording %s not removed: %s", rec.path, exc)
            return
        self._index(st, rec, part)

    def _index(self, st: _State, rec: Recording, part: str) -> None:
        factory = self.session_factory
        if factory is None:
            return
        call = st.call
        try:
            with session_scope(factory) as s:
                if not inspect(s.get_bind()).has_table("recordings"):
                    return
                s.add(RecordingRow(call_id=call.id, path=rec.path, format="wav",
                                   started_at=_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=rec.seconds),
                                   seconds=round(rec.seconds, 3),
                                   bytes=os.path.getsize(rec.path) if os.path.exists(rec.path) else 0,
                                   caller=call.caller_id or "", agent=st.agent if part != IVR else None,
                                   queue=st.queue, two_track=rec.two_track, policy=st.policy, part=part))
        except (SQLAlchemyError, OSError) as exc:   # the file exists either way; say why it is not indexed
            log.warning("recording %s not indexed: %s", rec.path, exc)
