"""Agent commands: state changes (login, logout, break, ready), commands queued in acd_commands by
the web admin of any server (carried out by the server holding the agent's call), and station
feature codes (*1 login, *2 logout, *3 break, *4 ready)."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from trunkline.media import Call, Timeout

from .connected import Connected, check_monitor_mode
from .core import ACDError
from .models import AcdAgent, AcdCommand
from .runtime import AUDIO_NOT_PLAYED, Runtime

log = logging.getLogger("trunkline.acd")

#: commands that need the agent's call, so only the server holding it takes them
CALL_COMMANDS = ("transfer", "hangup", "monitor", "conference")


class AgentCommands:
    """What agents and supervisors ask of the ACD, from the API, the web admin or a station."""

    def __init__(self, rt: Runtime, connected: Connected) -> None:
        self.rt = rt
        self.connected = connected

    # ------------------------------------------------------------ agent state
    def login(self, agent: str) -> str:
        """Log agent in (Available)."""
        r = self.rt.core.login(agent)
        self.rt.kick()
        return r

    def logout(self, agent: str) -> str:
        """Log agent out (after the current call)."""
        return self.rt.core.logout(agent)

    def set_break(self, agent: str, reason: str = "break") -> str:
        """Agent on break with a reason code."""
        return self.rt.core.set_break(agent, reason)

    def ready(self, agent: str) -> str:
        """Agent Available."""
        r = self.rt.core.ready(agent)
        self.rt.kick()
        return r

    # ------------------------------------------------------------ queued commands
    def request_monitor(self, agent: str, mode: str = "listen", supervisor: str = "", station: str | None = None,
                        number: str | None = None) -> dict[str, int]:
        """Thread-safe request (web admin): queue listen/whisper/barge; `station` = FXS port, else `number`.

        The ACD server holding the agent's call rings the supervisor and joins
        them; returns {"command": id} (see acd_commands.result for the outcome).
        """
        check_monitor_mode(mode)
        args: dict[str, Any] = {"mode": mode, "supervisor": supervisor}
        st_ = str(station or "").strip()
        if st_.isdigit() and int(st_) < self.rt.engine.station_count:
            args["port"] = int(st_)
        elif st_ or number:
            args["number"] = st_ or str(number)
        else:
            raise ACDError("monitor needs the supervisor's station port or number")
        with self.rt.core.transaction() as s:
            row = AcdCommand(agent=str(agent), cmd="monitor", args=args, created=self.rt.core.now())
            s.add(row)
            s.flush()
            return {"command": row.id}

    def take(self) -> None:
        """Claim the queued commands this server can carry out and run each in a task."""
        rt = self.rt
        with rt.core.transaction() as s:
            rows = list(s.scalars(select(AcdCommand).where(AcdCommand.done == 0).order_by(AcdCommand.id)))
            todo = []
            for r in rows:
                if r.cmd in CALL_COMMANDS and r.agent not in rt.connections:
                    continue
                r.done, r.taken_by = 1, rt.instance
                todo.append((r.id, r.agent, r.cmd, dict(r.args or {})))
        for cid, agent, cmd, args in todo:
            rt.spawn(self._run(cid, agent, cmd, args))

    async def _run(self, cid: int, agent: str, cmd: str, args: dict[str, Any]) -> None:
        try:
            await self._carry_out(agent, cmd, args)
            res = "ok"
        except Exception as exc:     # one bad command must not stop the others: its row says why
            log.warning("ACD command %d (%s for agent %s) failed: %s", cid, cmd, agent, exc)
            res = f"error: {exc}"
        with self.rt.core.transaction() as s:
            r = s.get(AcdCommand, cid)
            if r is not None:
                r.result = res

    async def _carry_out(self, agent: str, cmd: str, args: dict[str, Any]) -> None:
        conn = self.connected
        if cmd == "ready":
            self.ready(agent)
        elif cmd == "break":
            self.set_break(agent, args.get("reason", "break"))
        elif cmd == "login":
            self.login(agent)
        elif cmd == "logout":
            self.logout(agent)
        elif cmd == "wrapup":
            self.rt.core.wrapup(agent, float(args.get("seconds", 30)))
        elif cmd == "transfer":
            conn.transfer(agent, args.get("kind", "blind"), queue=args.get("queue"), to_agent=args.get("agent"))
        elif cmd == "hangup":
            await conn.hangup_agent_call(agent)
        elif cmd == "monitor":
            await conn.start_monitor(agent, args.get("mode", "listen"), supervisor_port=args.get("port"),
                                     supervisor_number=args.get("number"), supervisor=args.get("supervisor", ""))
        elif cmd == "conference":
            await conn.conference_in(agent, number=args.get("number"), port=args.get("port"))
        else:
            raise ACDError(f"unknown command {cmd!r}")

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
                    if a is None or (a.pin and a.pin != pin):
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
