"""Call commands across two servers sharing one database (acd.remote): a command for a call held by the
other server is carried out there within its deadline, or refused — and then never carried out later."""
import pytest
from acd_rig import Rig, connect_caller, hear
from acd_rig import run as run_async
from sqlalchemy import create_engine, select

from trunkline.acd.models import AcdCommand
from trunkline.acd.service import Refused
from trunkline.data.db import make_session_factory


def test_command_for_a_call_on_another_server_is_taken_in_time_or_refused_never_late(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    sfs = [make_session_factory(create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}))
           for _ in range(2)]
    q = {"q": {"strategy": "longest-idle", "moh": ""}}
    a = Rig("srv-a", q, [{"id": "A0", "station_port": 0, "host": "srv-a", "queues": ["q"]}], session_factory=sfs[0],
            remote_command_seconds=2.0)
    b = Rig("srv-b", {}, [], session_factory=sfs[1], remote_command_seconds=2.0)
    a.route("q")
    out = {}

    async def main():
        await a.start("A0")
        await b.start()
        ph, st = await connect_caller(a)                        # the call is on server A
        out["held"] = await b.acd.execute("A0", "hold")          # asked on server B, carried out on A
        out["hold_levels"] = await hear({"caller": ph, "agent": st})
        take = a.acd._commands.remote.take
        a.acd._commands.remote.take = lambda: None              # server A stops taking requests
        with pytest.raises(Refused, match="did not take the command in time"):
            await b.acd.execute("A0", "unhold")
        a.acd._commands.remote.take = take                      # ... and takes again: nothing fires late
        await a.sim.sleep(1.5)
        out["still_held"] = a.acd.held("A0")
        out["unhold"] = await b.acd.execute("A0", "unhold")
        out["levels"] = await hear({"caller": ph, "agent": st})
        with pytest.raises(Refused, match="already being transferred|not on hold"):
            await b.acd.execute("A0", "unhold")
        await ph.hangup()
        await a.sim.sleep(1.0)
        with pytest.raises(Refused, match="no call in progress"):
            await b.acd.execute("A0", "hangup")                 # refused at once: no call now
        await a.stop()
        await b.stop()

    run_async(main())
    with sfs[0]() as s:
        rows = [(r.cmd, r.done, r.taken_by, r.result) for r in s.scalars(select(AcdCommand).order_by(AcdCommand.id))]
    print("\nrequests:", rows)
    assert out["held"]["ok"] and out["held"]["remote"]
    assert out["hold_levels"]["caller"]["agent"] < 60 and out["hold_levels"]["agent"]["caller"] < 60
    assert out["still_held"] is True                           # the refused unhold never happened
    assert out["levels"]["caller"]["agent"] > 800 and out["levels"]["agent"]["caller"] > 800
    assert rows[:3] == [("hold", 1, "srv-a", "ok"), ("unhold", 1, "", "refused: expired"),
                        ("unhold", 1, "srv-a", "ok")]
    assert rows[3][:3] == ("unhold", 1, "srv-a") and rows[3][3].startswith("refused: ")
