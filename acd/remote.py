"""Call commands across servers sharing one database: a request for a call held by another server is a row
in acd_commands bound to that call's queue entry with a deadline. The holding server takes it only while
the deadline has not passed and the agent is still on that very call; otherwise the requester expires the
row itself (one atomic UPDATE decides who wins), so a command is never carried out after its request
has been answered."""
from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from .models import AcdCommand
from .runtime import Runtime
from .store import ACDError, Refused

log = logging.getLogger("trunkline.acd")

#: how long (s) a request for a call on another server waits to be taken
DEADLINE = 3.0

#: carry out a call command on a call held here: (agent, cmd, args) -> extra result fields
OnCall = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


class RemoteRefused(Refused):
    """The server holding the call refused the command or did not take it in time (HTTP 409)."""


def post(sf: sessionmaker[Session], agent: str, cmd: str, args: dict[str, Any], entry: int, now: float,
         deadline: float = DEADLINE) -> int:
    """Store one request row for the call of queue entry `entry`; returns its id."""
    with sf() as s:
        row = AcdCommand(agent=str(agent), cmd=cmd, args=dict(args, entry=int(entry), deadline=now + deadline),
                         created=now)
        s.add(row)
        s.commit()
        return row.id


def expire(sf: sessionmaker[Session], cid: int) -> bool:
    """Claim an untaken request as expired (True) — False when a server took it first."""
    with sf() as s:
        res = cast(CursorResult[Any], s.execute(update(AcdCommand).where(AcdCommand.id == cid, AcdCommand.done == 0)
                                                .values(done=1, taken_by="", result="refused: expired")))
        s.commit()
        return res.rowcount == 1


def outcome(sf: sessionmaker[Session], cid: int) -> tuple[bool, str]:
    """(done, result) of a request row."""
    with sf() as s:
        row = s.get(AcdCommand, cid)
        if row is None:
            raise ACDError(f"command {cid} vanished")
        return bool(row.done), row.result or ""


def settle(result: str) -> dict[str, Any]:
    """The requester's answer for a finished row: {"ok": True} or RemoteRefused / ACDError."""
    if result == "ok":
        return {"ok": True, "remote": True}
    if result.startswith("refused: "):
        why = result[9:]
        raise RemoteRefused("the server holding the call did not take the command in time" if why == "expired"
                            else why)
    raise ACDError(result.removeprefix("error: "))


def wait_blocking(sf: sessionmaker[Session], agent: str, cmd: str, args: dict[str, Any], entry: int,
                  deadline: float = DEADLINE, run_for: float = 40.0) -> dict[str, Any]:
    """From a web admin thread with no ACD in its process: post, wait for the holding server, expire."""
    cid = post(sf, agent, cmd, args, entry, time.time(), deadline)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        done, result = outcome(sf, cid)
        if done and result:
            return settle(result)
        time.sleep(0.05)
    if expire(sf, cid):
        return settle("refused: expired")
    end = time.monotonic() + run_for             # taken in time: the holding server is carrying it out
    while time.monotonic() < end:
        done, result = outcome(sf, cid)
        if result:
            return settle(result)
        time.sleep(0.05)
    raise ACDError(f"command {cid} was taken but gave no result within {run_for:g} s")


class RemoteCommands:
    """Both ends of cross-server call commands for one ACD."""

    def __init__(self, rt: Runtime, on_call: OnCall) -> None:
        self.rt = rt
        self.on_call = on_call

    async def request(self, agent: str, cmd: str, args: dict[str, Any], entry: int) -> dict[str, Any]:
        """Ask the server holding entry `entry` to carry out `cmd`; waits (engine time) for its answer."""
        rt, sf = self.rt, self.rt.core.sf
        deadline = float(rt.config.get("remote_command_seconds", DEADLINE))
        cid = post(sf, agent, cmd, args, entry, rt.core.now(), deadline)
        end = rt.engine.now + deadline
        while rt.engine.now < end:
            done, result = outcome(sf, cid)
            if done and result:
                return settle(result)
            await rt.engine.sleep(0.05)
        if expire(sf, cid):
            return settle("refused: expired")
        end = rt.engine.now + 40.0
        while rt.engine.now < end:
            done, result = outcome(sf, cid)
            if result:
                return settle(result)
            await rt.engine.sleep(0.05)
        raise ACDError(f"command {cid} was taken but gave no result")

    def take(self) -> None:
        """Claim requests for calls held here (still in time, still the same call) and carry them out."""
        rt = self.rt
        now = rt.core.now()
        with rt.core.transaction() as s:
            rows = list(s.scalars(select(AcdCommand).where(AcdCommand.done == 0).order_by(AcdCommand.id)))
            todo = []
            for r in rows:
                conn = rt.connections.get(r.agent)
                if conn is None:
                    continue                                   # not ours: its requester expires it
                args = dict(r.args or {})
                claim = update(AcdCommand).where(AcdCommand.id == r.id, AcdCommand.done == 0)
                if float(args.get("deadline", 0.0)) < now:
                    s.execute(claim.values(done=1, taken_by=rt.instance, result="refused: expired"))
                elif int(args.get("entry", -1)) != conn.entry:
                    s.execute(claim.values(done=1, taken_by=rt.instance,
                                           result=f"refused: agent {r.agent} is on another call now"))
                else:
                    res = cast(CursorResult[Any], s.execute(claim.values(done=1, taken_by=rt.instance)))
                    if res.rowcount == 1:
                        todo.append((r.id, r.agent, r.cmd, args))
        for cid, agent, cmd, args in todo:
            rt.spawn(self._run(cid, agent, cmd, args))

    async def _run(self, cid: int, agent: str, cmd: str, args: dict[str, Any]) -> None:
        try:
            await self.on_call(agent, cmd, args)
            res = "ok"
        except ACDError as exc:
            res = f"refused: {exc}"
        except Exception as exc:     # one bad command must not stop the others: its row says why
            log.warning("ACD command %d (%s for agent %s) failed: %s", cid, cmd, agent, exc)
            res = f"error: {exc}"
        with self.rt.core.transaction() as s:
            r = s.get(AcdCommand, cid)
            if r is not None:
                r.result = res
