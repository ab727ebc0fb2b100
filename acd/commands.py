"""Agent and supervisor commands, checked and immediate: a command that does not apply in the agent's
current state is refused at once with the reason (`Refused`); one that applies takes effect before the
request returns. Nothing is kept to fire later. A call command for a call held by another server goes
through `remote.RemoteCommands` (taken within its deadline or refused). Station feature codes
(*1 login, *2 logout, *3 break, *4 ready) are here too."""
from __future__ import annotations

import collections
import itertools
import logging
from typing import Any

from sqlalchemy import select

from trunkline.data.pins import check_pin
from trunkline.media import Call, Timeout
from trunkline.media.dialguard import DialRefused, dialing_as

from . import agents as st
from .connected import Connected, check_monitor_mode
from .core import ACDError
from .models import AcdAgent, AcdEntry
from .remote import RemoteCommands
from .runtime import AUDIO_NOT_PLAYED, Runtime
from .store import Refused

log = logging.getLogger("trunkline.acd")

#: commands on the agent's own state (the database alone carries them out)
STATE_COMMANDS = ("login", "logout", "ready", "break", "wrapup", "disposition")
#: commands on the agent's live call (only the server holding the call carries them out)
CALL_COMMANDS = ("hangup", "hold", "unhold", "transfer", "conference", "monitor")
#: supervisor commands on another agent's state
FORCE_COMMANDS = ("force_ready", "force_break", "force_logout")
COMMANDS = STATE_COMMANDS + CALL_COMMANDS + FORCE_COMMANDS


class AgentCommands:
    """What agents and supervisors ask of the ACD, from the API, the web admin or a station."""

    def __init__(self, rt: Runtime, connected: Connected) -> None:
        self.rt = rt
        self.connected = connected
        self.remote = RemoteCommands(rt, self._on_call)
        self._seq = itertools.count(1)
        #: the last commands applied: (sequence number, agent, command) — tests check none came late
        self.journal: collections.deque[tuple[int, str, str]] = collections.deque(maxlen=2000)
        self.break_reasons: tuple[str, ...] = tuple(rt.config.get("break_reasons") or st.DEFAULT_BREAK_REASONS)
        self.dispositions: tuple[str, ...] = tuple(rt.config.get("dispositions") or ())

    # ------------------------------------------------------------ agent state (API, feature codes)
    def login(self, agent: str) -> str:
        """Log agent in (Available)."""
        r = self.rt.core.login(agent)
        self.rt.kick()
        return r

    def logout(self, agent: str) -> str:
        """Log agent out (refused during a call)."""
        return self.rt.core.logout(agent)

    def set_break(self, agent: str, reason: str = "break") -> str:
        """Agent on break with a reason code (refused during a call)."""
        return self.rt.core.set_break(agent, reason)

    def ready(self, agent: str) -> str:
        """Agent Available (refused during a call)."""
        r = self.rt.core.ready(agent)
        self.rt.kick()
        return r

    # ------------------------------------------------------------ checked commands
    def begin(self) -> int:
        """A sequence number for one request (its commands are journalled under it)."""
        return next(self._seq)

    async def execute(self, agent: str, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Check `cmd` against the agent's state now and apply it now (on the engine loop); returns
        {"ok": True, "state": ..., ...}; raises Refused (does not apply) or ACDError (bad input)."""
        args = dict(args or {})
        agent = str(agent)
        seq = self.begin()
        if cmd not in COMMANDS:
            raise ACDError(f"unknown command {cmd!r}; one of {', '.join(COMMANDS)}")
        state, reason, entry = self._state(agent)
        out: dict[str, Any] = {"ok": True}
        if cmd in CALL_COMMANDS:
            check_call_args(cmd, args)
            if state != st.BUSY or entry is None:
                raise Refused(_no_call(agent, state, cmd))
            if agent in self.rt.connections:
                # any number dialled here goes through the dial plan as this agent (monitor: the supervisor)
                sup = str(args.get("supervisor") or "") if cmd == "monitor" else ""
                try:
                    with dialing_as("supervisor" if cmd == "monitor" else "agent", sup or agent):
                        out.update(await self._on_call(agent, cmd, args))
                except DialRefused as exc:
                    raise Refused(f"the dial plan refuses this number: {exc.reason}") from None
            else:
                out.update(await self.remote.request(agent, cmd, args, entry))
        else:
            check_state(agent, cmd, state, reason, args, self.break_reasons, self.dispositions)
            out.update(self._apply_state(agent, cmd, args))
        self.journal.append((seq, agent, cmd))
        out["state"] = self.rt.core.agent_state(agent)[0]
        return out

    def _state(self, agent: str) -> tuple[str, str, int | None]:
        with self.rt.core.transaction() as s:
            a = s.get(AcdAgent, agent)
            if a is None:
                raise ACDError(f"unknown agent {agent!r}")
            return a.state, a.reason, a.current_entry

    def _apply_state(self, agent: str, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        core = self.rt.core
        if cmd == "login":
            self._place(agent, args)
            self.login(agent)
        elif cmd in ("logout", "force_logout"):
            core.logout(agent)
        elif cmd in ("ready", "force_ready"):
            self.ready(agent)
        elif cmd in ("break", "force_break"):
            core.set_break(agent, str(args.get("reason") or "break"))
        elif cmd == "wrapup":
            secs = float(args.get("seconds", 30))
            if not 0 < secs <= 3600:
                raise ACDError("wrap-up seconds must be in (0, 3600]")
            core.wrapup(agent, secs)
        elif cmd == "disposition":
            return {"entry": self._dispose(agent, str(args["code"]), str(args.get("note") or "")[:200])}
        return {}

    def _place(self, agent: str, args: dict[str, Any]) -> None:
        """Where a signing-in agent is rung: `station` (FXS port here), `number` (extension / external)."""
        station, number = str(args.get("station") or "").strip(), str(args.get("number") or "").strip()
        if not station and not number:
            return
        with self.rt.core.transaction() as s:
            a = s.get(AcdAgent, agent)
            assert a is not None
            if station:
                if not station.isdigit() or int(station) >= self.rt.engine.station_count:
                    raise ACDError(f"no station {station} on this server "
                                   f"(0..{self.rt.engine.station_count - 1})")
                a.station_port, a.host, a.number = int(station), self.rt.instance, None
            else:
                if not number.replace("+", "", 1).isdigit() or len(number) > 32:
                    raise ACDError(f"not a telephone number: {number!r}")
                a.station_port, a.number = None, number

    def _dispose(self, agent: str, code: str, note: str) -> int:
        """Disposition code on the agent's last call today (in wrap-up or after)."""
        with self.rt.core.transaction() as s:
            e = s.scalars(select(AcdEntry).where(AcdEntry.agent == agent, AcdEntry.state == "done",
                                                 AcdEntry.answered_at.is_not(None))
                          .order_by(AcdEntry.ended_at.desc(), AcdEntry.id.desc())).first()
            if e is None:
                raise Refused(f"agent {agent} has no finished call to give a disposition")
            data = dict(e.data or {})
            data["disposition"] = {"code": code, "note": note, "at": round(self.rt.core.now(), 1)}
            e.data = data
            return e.id

    async def _on_call(self, agent: str, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        """Carry out a call command on the agent's call held here (Refused when it does not apply)."""
        conn = self.rt.connections.get(agent)
        if conn is None or conn.control is None or conn.control.done() or conn.caller.hungup \
                or conn.agent_call.hungup:
            raise Refused(f"agent {agent} has no call in progress on this server")
        c = self.connected
        if cmd == "hangup":
            await c.hangup_agent_call(agent)
        elif cmd == "hold":
            await c.hold(agent)
        elif cmd == "unhold":
            await c.unhold(agent)
        elif cmd == "transfer":
            kind = str(args.get("kind") or "blind")
            queue, to = args.get("queue") or None, args.get("agent") or None
            c.transfer(agent, kind, queue=queue, to_agent=to)
        elif cmd == "conference":
            port = args.get("port")
            await c.conference_in(agent, number=args.get("number") or None,
                                  port=int(port) if port not in (None, "") else None)
        elif cmd == "monitor":
            port = args.get("port")
            await c.start_monitor(agent, str(args.get("mode")), supervisor_port=int(port) if port not in
                                  (None, "") else None, supervisor_number=args.get("number") or None,
                                  supervisor=str(args.get("supervisor") or ""))
        return {}

    # ------------------------------------------------------------ station feature codes
    async def station_flow(self, call: Call) -> None:
        """Station off hook: *1<agent>[*<pin>]# login here, *2# logout, *3[reason]# break, *4# ready."""
        rt = self.rt
        port = rt.engine.station_port(call)
        try:
            code = await call.get_digits(24, timeout=10.0, inter_digit=3.0, terminators="#")
        except Timeout:
            return
        ok = False
        try:
            if code.startswith("*1") and len(code) > 2:
                agent, _, pin = code[2:].partition("*")
                with rt.core.transaction() as s:
                    a = s.get(AcdAgent, agent)
                    right = check_pin(pin, a.pin if a is not None else None)   # one hash, known agent or not
                    if a is None or not (right or not a.pin):
                        raise ACDError("unknown agent or wrong pin")
                    a.station_port, a.host = port, rt.instance
                self.login(agent)
                ok = True
            else:
                found = self._agent_at_port(port)
                if found is None:
                    raise ACDError(f"no agent at station {port}")
                if code == "*2":
                    self.logout(found)
                elif code.startswith("*3"):
                    self.set_break(found, code[2:] or "break")
                elif code == "*4":
                    self.ready(found)
                else:
                    raise ACDError(f"unknown feature code {code!r}")
                ok = True
        except ACDError as exc:
            log.info("station %s feature code %r refused: %s", port, code, exc)
        call.vars["acd_feature"] = (code, ok)
        try:
            await call.play(rt.engine.beep() if ok else call.tone("congestion"), barge_in=False)
        except AUDIO_NOT_PLAYED as exc:
            log.debug("station %s: feature code confirmation not played (%s)", port, exc)

    def _agent_at_port(self, port: int | None) -> str | None:
        with self.rt.core.transaction() as s:
            a = s.scalars(select(AcdAgent).where(AcdAgent.station_port == port,
                                                 (AcdAgent.host == self.rt.instance) | AcdAgent.host.is_(None))
                          ).first()
            return a.id if a else None


def _no_call(agent: str, state: str, cmd: str) -> str:
    if state == st.RINGING:
        return f"agent {agent}'s call is still ringing: answer it first ({cmd} needs a connected call)"
    return f"agent {agent} has no call in progress ({cmd} needs a connected call)"


def check_state(agent: str, cmd: str, state: str, reason: str, args: dict[str, Any],
                break_reasons: tuple[str, ...] = st.DEFAULT_BREAK_REASONS,
                dispositions: tuple[str, ...] = ()) -> None:
    """Refused unless state command `cmd` applies to an agent in `state` now (the core re-checks inside
    its transaction); ACDError for bad arguments."""
    on_call = state in (st.BUSY, st.RINGING)
    signed_in = state != st.LOGGED_OUT
    if cmd == "login" and signed_in:
        raise Refused(f"agent {agent} is already signed in")
    if cmd != "login" and cmd != "disposition" and not signed_in:
        raise Refused(f"agent {agent} is signed out; sign in first")
    if on_call and cmd in ("logout", "ready", "break", "wrapup", "force_ready", "force_break", "force_logout"):
        raise Refused(f"agent {agent} is {'on a call' if state == st.BUSY else 'being rung'}; "
                      "that waits until the call is over")
    if cmd in ("ready", "force_ready") and state == st.AVAILABLE:
        raise Refused(f"agent {agent} is already ready")
    if cmd in ("break", "force_break"):
        why = str(args.get("reason") or "break")
        if why not in break_reasons:
            raise ACDError(f"unknown not-ready reason {why!r}; one of {', '.join(break_reasons)}")
        if state == st.BREAK and reason == why:
            raise Refused(f"agent {agent} is already not ready ({why})")
    if cmd == "disposition":
        code = str(args.get("code") or "")
        if dispositions and code not in dispositions:
            raise ACDError(f"unknown disposition {code!r}; one of {', '.join(dispositions)}")
        if not code:
            raise ACDError("disposition needs a code")


def check_call_args(cmd: str, args: dict[str, Any]) -> None:
    """ACDError for call-command arguments that are wrong whatever the agent's state."""
    if cmd == "monitor":
        check_monitor_mode(str(args.get("mode", "")))
    elif cmd == "transfer":
        if str(args.get("kind") or "blind") not in ("blind", "attended"):
            raise ACDError("transfer kind must be blind or attended")
        if bool(args.get("queue")) == bool(args.get("agent")):
            raise ACDError("transfer needs a queue or an agent")
    elif cmd == "conference" and not (args.get("number") or str(args.get("port", "")).strip()):
        raise ACDError("conference needs a number or a station port")
