"""Virtual-time outbound campaigns on a simulated E1 PRI: outcomes vs what each far end did, retries, report."""
import datetime as dt

import numpy as np
import pytest
from amd_samples import MACHINE, synth
from simharness import Rig

from trunkline.ivr.blacklist import Firewall
from trunkline.ivr.calendar import Calendar
from trunkline.ivr.campaign import Campaign, CampaignError

RETRY = {"busy": 60.0, "noanswer": 120.0, "congestion": 45.0}
RING_TIMEOUT = 8.0


def cng(seconds=6.0, level=8000):
    """Fax calling tone: 1100 Hz 0.5 s on, 3 s off."""
    t = np.arange(4000) / 8000
    burst = (level * np.sin(2 * np.pi * 1100 * t)).astype(np.int16)
    cycle = np.concatenate([burst, np.zeros(24000, dtype=np.int16)])
    return np.tile(cycle, int(np.ceil(seconds / 3.5)))


async def say(party, pcm, chunk=1600):
    """Play audio in 0.2 s pieces, stopping once the call is cleared (the simulator keeps queued far-end
    audio on the channel after Trunkline clears, and it would leak into the next call on that B-channel)."""
    for i in range(0, len(pcm), chunk):
        if party.ended:
            return
        await party.play(pcm[i:i + chunk])


def far_ends(rig, n, rng):
    """Give n numbers a behaviour each; returns {number: expected final outcome, ...} and extra facts."""
    hello = synth("en", "Hello?", 160)
    greeting = synth("en", MACHINE["en"][0], 160)
    fax_pcm = cng()

    async def human(party):
        await party.sleep(0.3)
        await say(party, hello)
        await party.listen(6.0)
        await party.hangup()

    async def machine(party):
        await say(party, greeting)

    async def fax(party):
        await say(party, fax_pcm)

    async def fax_ced(party):            # an answering fax machine: 2100 Hz CED for 3 s
        t = np.arange(24000) / 8000
        await party.sleep(0.2)
        await say(party, (6000 * np.sin(2 * np.pi * 2100 * t)).astype(np.int16))

    async def silent(party):
        await party.listen(8.0)

    kinds = ["human", "machine", "fax", "busy", "noanswer", "unallocated", "congestion", "busy_then_human",
             "dnc", "blacklisted", "fax_ced", "silent"]
    weights = [0.28, 0.12, 0.06, 0.10, 0.08, 0.08, 0.06, 0.08, 0.05, 0.05, 0.02, 0.02]
    expect, plan = {}, {}
    for i in range(n):
        number = f"1390000{i:04d}"
        kind = kinds[rng.choice(len(kinds), p=weights)]
        plan[number] = kind
        answer_after = float(rng.uniform(0.5, 3.0))
        if kind in ("human", "busy_then_human"):
            rig.sim.add_destination(number, kind="busy" if kind == "busy_then_human" else "answer",
                                    answer_after=answer_after, script=human)
            expect[number] = "human"
        elif kind == "machine":
            rig.sim.add_destination(number, kind="answer", answer_after=answer_after, script=machine)
            expect[number] = "machine"
        elif kind == "fax":
            rig.sim.add_destination(number, kind="answer", answer_after=answer_after, script=fax)
            expect[number] = "fax"
        elif kind == "fax_ced":
            rig.sim.add_destination(number, kind="answer", answer_after=answer_after, script=fax_ced)
            expect[number] = "fax"
        elif kind == "silent":
            rig.sim.add_destination(number, kind="answer", answer_after=answer_after, script=silent)
            expect[number] = "silence"
        elif kind in ("busy", "noanswer", "unallocated", "congestion"):
            rig.sim.add_destination(number, kind=kind)
            expect[number] = kind
        else:
            rig.sim.add_destination(number, kind="answer", answer_after=answer_after, script=human)
            expect[number] = kind
    return expect, plan, human


@pytest.mark.parametrize("n", [150, pytest.param(500, marks=pytest.mark.slow)])
def test_campaign_mixed_far_ends_outcomes_retries_report(n):
    rng = np.random.default_rng(2026)
    rig = Rig("e1=1", [])
    expect, plan, human = far_ends(rig, n, rng)
    dnc = [num for num, k in plan.items() if k == "dnc"]
    fw = Firewall()
    for num, k in plan.items():
        if k == "blacklisted":
            fw.add(num)
    rows = [{"number": num, "name": f"customer {i}", "amount": str(100 + i)} for i, num in enumerate(plan)]
    flow_ran = {}

    async def flow(call, contact):
        flow_ran[contact.number] = dict(contact.variables)
        await call.wait(1.0)

    camp = Campaign(rig.engine, "survey", rows, flow=flow, caller_id="95588", trunk="pri",
                    ring_timeout=RING_TIMEOUT, max_channels=20, calls_per_second=4.0, max_attempts=3,
                    retry_after=RETRY, dnc=dnc, firewall=fw)
    samples = []

    async def scenario():
        await rig.engine.sleep(1.0)

        import asyncio

        async def watch():
            flipped = set()
            while camp.state in ("idle", "running", "paused"):
                samples.append((rig.engine.now, camp.progress()["active"]))
                for c in camp.contacts:       # a busy line becomes free once it was dialled busy
                    if plan[c.number] == "busy_then_human" and c.tries and c.number not in flipped:
                        rig.sim.add_destination(c.number, kind="answer", answer_after=1.0, script=human)
                        flipped.add(c.number)
                await rig.engine.sleep(0.5)
        asyncio.ensure_future(watch())
        return await camp.run()

    import time
    t0 = time.perf_counter()
    report = rig.run(scenario, limit=3000.0)
    wall = time.perf_counter() - t0
    by = {r["number"]: r for r in report["numbers"]}
    mismatch = [(num, plan[num], expect[num], by[num]["outcome"], by[num]["attempts"])
                for num in plan if by[num]["outcome"] != expect[num]]
    prog = report["progress"]
    print(f"\ncampaign of {n} numbers: {wall:.1f} s wall for {rig.engine.now:.0f} s media time, "
          f"{prog['dials']} dials")
    print("  outcomes:", {k: v for k, v in prog.items() if isinstance(v, int) and k not in
                          ("total", "dials", "active", "pending", "dialing", "done")})
    for m in mismatch[:10]:
        print("  MISMATCH", m)
    assert not mismatch
    assert prog["done"] == n and prog["state"] == "done"
    # retries scheduled as configured
    for num, kind in plan.items():
        atts = by[num]["attempts"]
        if kind in ("busy", "noanswer", "congestion"):
            assert len(atts) == 3, (num, atts)
            for a, b in zip(atts, atts[1:]):
                # scheduled exactly retry_after s after the attempt ended; dialled at or after that
                assert abs(a[4] - a[3] - RETRY[kind]) < 0.01, (num, atts)
                assert a[4] - 0.01 <= b[0] <= a[4] + n / 4.0 + 5.0, (num, atts)   # at most the backlog
                if kind == "noanswer":
                    assert abs(a[3] - a[0] - RING_TIMEOUT) < 0.2, (num, atts)
            assert atts[-1][4] is None
        elif kind == "busy_then_human":
            assert [a[1] for a in atts] == ["busy", "human"] and atts[0][2] == 17
            assert abs(atts[0][4] - atts[0][3] - RETRY["busy"]) < 0.01 and atts[1][0] >= atts[0][4] - 0.01
        elif kind in ("dnc", "blacklisted"):
            assert atts == []
        else:
            assert len(atts) == 1
        if kind == "unallocated":
            assert atts[0][2] == 1
    # the flow ran for every person (and answered-but-silent line), with the row's variables, for nobody else
    assert set(flow_ran) == {num for num, e in expect.items() if e in ("human", "silence")}
    assert {"fax_ced", "silent"} <= set(plan.values())
    i0 = list(plan).index(next(iter(flow_ran)))
    assert flow_ran[next(iter(flow_ran))]["amount"] == str(100 + i0)
    # pacing: never more than max_channels at once
    assert max(a for _, a in samples) <= 20
    assert not camp.flow_errors


def test_campaign_pause_resume_stop_window_and_csv():
    rig = Rig("e1=1", [])
    csv_text = "number,name\n" + "".join(f"1380000{i:04d},n{i}\n" for i in range(12))
    rows = Campaign.rows_from_csv(csv_text)
    assert rows[3] == {"number": "13800000003", "name": "n3"}
    with pytest.raises(CampaignError):
        Campaign.rows_from_csv("phone\n123\n")
    for r in rows:
        rig.sim.add_destination(r["number"], kind="busy")
    cal = Calendar("office", {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                   timezone="Asia/Shanghai")
    # Friday 08:59:40 local: nothing may be dialled for 20 s
    start = dt.datetime(2026, 11, 20, 8, 59, 40, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    camp = Campaign(rig.engine, "window", rows, caller_id="1", calendar=cal, start=start, max_channels=2,
                    calls_per_second=1.0, retry_after={"busy": 5.0}, max_attempts=2)
    seen = {}

    async def scenario():
        import asyncio
        await rig.engine.sleep(1.0)
        t0 = rig.engine.now
        task = asyncio.ensure_future(camp.run())
        await rig.engine.sleep(19.0)
        seen["before_open"] = camp.dials
        await rig.engine.sleep(4.0)
        seen["after_open"] = camp.dials
        camp.pause()
        await rig.engine.sleep(2.0)
        d = camp.dials
        await rig.engine.sleep(10.0)
        seen["paused_extra"] = camp.dials - d
        camp.resume()
        await rig.engine.sleep(3.0)
        seen["resumed_extra"] = camp.dials - d
        camp.stop()
        rep = await task
        seen["first_dial"] = min(a[0] for r in rep["numbers"] for a in r["attempts"]) - t0
        return rep
    rep = rig.run(scenario, limit=200.0)
    print("\n", seen, rep["progress"])
    assert seen["before_open"] == 0
    assert 19.5 <= seen["first_dial"] <= 21.5
    assert seen["after_open"] >= 2
    assert seen["paused_extra"] == 0 and seen["resumed_extra"] >= 1
    assert rep["progress"]["state"] == "stopped"
    assert any(r["outcome"] is None for r in rep["numbers"])   # stop leaves unfinished numbers open


def test_campaign_bad_definition():
    with pytest.raises(CampaignError):
        Campaign(None, "x", [{"name": "no number"}])
    with pytest.raises(CampaignError):
        Campaign(None, "x", ["1"], max_channels=0)


def test_contacts_from_database_query(tmp_path):
    from sqlalchemy import text

    from trunkline.data.db import make_engine, make_session_factory
    eng = make_engine(f"sqlite:///{tmp_path}/c.db")
    with eng.begin() as c:
        c.execute(text("create table customers (phone text, name text, owed integer)"))
        c.execute(text("insert into customers values ('13800000001', 'Li', 120), ('13800000002', 'Wang', 0), "
                       "('13800000003', 'Zhao', 75)"))
    f = make_session_factory(eng)
    rows = Campaign.rows_from_query(f, "select phone as number, name, owed from customers where owed > :m "
                                       "order by phone", {"m": 0})
    assert rows == [{"number": "13800000001", "name": "Li", "owed": "120"},
                    {"number": "13800000003", "name": "Zhao", "owed": "75"}]
    with pytest.raises(CampaignError):
        Campaign.rows_from_query(f, "select phone, name from customers")


def test_do_not_call_matches_every_written_form():
    """#17: a do-not-call entry 13800138000 covers +8613800138000, 008613800138000 and 013800138000."""
    camp = Campaign(None, "dnc", ["+8613800138000", "008613800138000", "013800138000", "13900139000"],
                    dnc=["138 0013 8000"])
    assert [camp._screen(c.number) for c in camp.contacts] == ["dnc", "dnc", "dnc", None]
