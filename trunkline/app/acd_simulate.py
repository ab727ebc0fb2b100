"""Traffic simulation of the ACD in virtual time: a discrete-event run over the real ACDCore.

Poisson arrivals, exponential talk times and caller patience, agents that
answer after a ring delay (and sometimes not at all). Every decision — who
gets the call, positions, EWT, wrap-up, no-answer handling, abandon — is made
by the same ACDCore (and database) the live ACD uses; only the audio is
replaced by event times. Reports service level, ASA, abandon rate and the
error of the announced EWT (blend) and of its parts against actual waits.

    python -m trunkline.app.acd_simulate --calls 300 --agents 10
"""
import argparse
import asyncio
import heapq
import itertools
import json
import math
import random
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from trunkline.acd.core import ACDCore
from trunkline.acd.ewt import erlang_c_wait
from trunkline.acd.models import create_tables
from trunkline.acd.queues import QueueConfig
from trunkline.acd.service import ACD, QueueResult
from trunkline.data.db import make_session_factory
from trunkline.media import Call
from trunkline.pstn import SimError, SimRig


@dataclass
class SimReport:
    """Outcome figures of one simulation (times in seconds, rates as fractions)."""
    calls: int
    answered: int
    abandoned: int
    service_level: float        # answered within `sl_seconds` / (answered + abandoned)
    sl_seconds: float
    asa: float                  # average speed of answer of answered calls
    abandon_rate: float
    max_wait: float
    occupancy: float            # agent busy+wrap-up time / (agents * duration)
    ewt_mae: float              # announced EWT (blend) at entry vs actual wait, answered callers
    ewt_bias: float             # mean (EWT - actual)
    ewt_mae_model: float        # M/M/N position model alone
    ewt_mae_observed: float     # observed seconds-per-position alone (where available)
    ewt_mae_erlang: float       # unconditional Erlang C mean wait, for comparison
    erlang_c_predicted_wait: float   # Erlang C mean wait from the offered traffic
    mean_wait_all: float        # mean wait of answered callers (what Erlang C predicts)
    no_answer_breaks: int
    duration: float
    ewt_samples: int

    def line(self) -> str:
        """One-line summary."""
        return (f"calls={self.calls} answered={self.answered} abandoned={self.abandoned} "
                f"SL{int(self.sl_seconds)}={self.service_level:.1%} ASA={self.asa:.1f}s "
                f"abandon={self.abandon_rate:.1%} occupancy={self.occupancy:.1%} "
                f"EWT MAE={self.ewt_mae:.1f}s bias={self.ewt_bias:+.1f}s (model {self.ewt_mae_model:.1f}s, "
                f"observed {self.ewt_mae_observed:.1f}s, Erlang C mean {self.ewt_mae_erlang:.1f}s)")


def simulate(calls: int = 300, agents: int = 10, duration: float = 3600.0, aht: float = 95.0, wrapup: float = 5.0,
             patience: float = 180.0, ring_delay: float = 3.0, no_answer: float = 0.02, strategy: str = "longest-idle",
             seed: int = 1, session_factory: sessionmaker[Session] | None = None, sl_seconds: float = 20.0,
             ring_timeout: float = 15.0) -> SimReport:
    """Run one simulated hour (default) and return a SimReport. Arrival rate = calls / duration."""
    rng = random.Random(seed)
    if session_factory is None:
        eng = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        create_tables(eng)
        session_factory = make_session_factory(eng)
    clock = [0.0]
    core = ACDCore(session_factory, instance="sim", clock=lambda: clock[0], rng=random.Random(seed + 1))
    core.define_queue(QueueConfig(name="sim", strategy=strategy, wrapup=wrapup, ring_timeout=ring_timeout,
                                  service_level=sl_seconds, default_aht=aht + wrapup, max_no_answer=2,
                                  reject_delay=5.0))
    for i in range(agents):
        core.define_agent({"id": f"ag{i:02d}", "number": f"80{i:02d}"})
        core.add_member("sim", f"ag{i:02d}")
        core.login(f"ag{i:02d}", now=0.0)

    events: list[tuple[float, int, str, tuple[Any, ...]]] = []
    seq = itertools.count()

    def at(t: float, kind: str, *args: Any) -> None:
        heapq.heappush(events, (t, next(seq), kind, args))

    lam = calls / duration
    t = 0.0
    for n in range(calls):
        t += rng.expovariate(lam)
        at(t, "arrive", n)
    info: dict[int, dict[str, Any]] = {}          # entry -> dict(arrive, ewt pieces, answered)
    breaks = 0

    def dispatch(now: float) -> None:
        for off in core.dispatch(now):
            agent = off.agents[0]
            if rng.random() < no_answer:
                at(now + ring_timeout, "noanswer", off.entry, agent)
            else:
                at(now + rng.uniform(0.5, 2 * ring_delay - 0.5), "answer", off.entry, agent)

    while events:
        now, _, kind, args = heapq.heappop(events)
        clock[0] = now
        if kind == "arrive":
            jr = core.join("sim", f"call{args[0]}", caller_id=f"1{args[0]:05d}", now=now)
            est = jr.estimate
            info[jr.entry] = {"arrive": now, "blend": jr.ewt, "model": est.model, "observed": est.observed,
                              "erlang": est.erlang}
            at(now + rng.expovariate(1.0 / patience), "abandon", jr.entry)
            dispatch(now)
        elif kind == "abandon":
            if core.leave(args[0], "abandon", now=now):
                info[args[0]]["abandoned"] = now
                dispatch(now)
        elif kind == "answer":
            entry, agent = args
            if core.answered(entry, agent, now=now):
                info[entry]["answered"] = now
                at(now + rng.expovariate(1.0 / aht), "hangup", entry)
            else:
                dispatch(now)
        elif kind == "noanswer":
            entry, agent = args
            core.missed(entry, agent, now=now)
            if core.agent_state(agent)[0] == "break":
                breaks += 1
                at(now + 60.0, "ready", agent)         # the agent notices and comes back after a minute
            at(now + 5.0, "tick")
            dispatch(now)
        elif kind == "hangup":
            core.complete(args[0], now=now, by="caller")
            if wrapup > 0:
                at(now + wrapup, "tick")
            else:
                dispatch(now)
        elif kind == "ready":
            core.ready(args[0], now=now)
            dispatch(now)
        elif kind == "tick":
            core.tick(now=now)          # wrap-ups due end first, then whoever is free takes a caller
            dispatch(now)
    end = clock[0]

    answered = [v for v in info.values() if "answered" in v]
    abandoned = [v for v in info.values() if "abandoned" in v]
    waits = [v["answered"] - v["arrive"] for v in answered]
    closed = len(answered) + len(abandoned)
    in_sl = sum(1 for w in waits if w <= sl_seconds)
    errs = [v["blend"] - (v["answered"] - v["arrive"]) for v in answered]
    errs_m = [abs(v["model"] - (v["answered"] - v["arrive"])) for v in answered]
    errs_o = [abs(v["observed"] - (v["answered"] - v["arrive"])) for v in answered if v["observed"] is not None]
    errs_e = [abs(min(v["erlang"], 3600.0) - (v["answered"] - v["arrive"])) for v in answered]
    status = core.agents_status(now=end)
    work = sum(a["talk_time"] for a in status) + wrapup * len(answered)
    return SimReport(
        calls=calls, answered=len(answered), abandoned=len(abandoned),
        service_level=in_sl / closed if closed else 0.0, sl_seconds=sl_seconds,
        asa=sum(waits) / len(waits) if waits else 0.0,
        abandon_rate=len(abandoned) / calls if calls else 0.0, max_wait=max(waits, default=0.0),
        occupancy=work / (agents * max(end, duration)),
        ewt_mae=sum(abs(e) for e in errs) / len(errs) if errs else 0.0,
        ewt_bias=sum(errs) / len(errs) if errs else 0.0,
        ewt_mae_model=sum(errs_m) / len(errs_m) if errs_m else 0.0,
        ewt_mae_observed=sum(errs_o) / len(errs_o) if errs_o else math.nan,
        ewt_mae_erlang=sum(errs_e) / len(errs_e) if errs_e else 0.0,
        erlang_c_predicted_wait=erlang_c_wait(agents, lam, aht + wrapup + ring_delay),
        mean_wait_all=sum(waits) / len(waits) if waits else 0.0,
        no_answer_breaks=breaks, duration=end, ewt_samples=len(errs))


async def simulate_engine(calls: int = 30, agents: int = 3, duration: float = 600.0, aht: float = 40.0,
                          patience: float = 90.0, ring_delay: float = 2.0, seed: int = 3,
                          strategy: str = "longest-idle", sl_seconds: float = 20.0,
                          name: str = "acd-engine-sim") -> dict[str, Any]:
    """The same traffic through the real media engine and card simulator (analog callers, FXS agents).

    Callers are hw_sim phones that hang up after their talk time or when their
    patience runs out; agents are hw_sim stations that answer after a ring delay
    and hang up when the ACD has ended their call. Returns a dict of figures.
    """
    rng = random.Random(seed)
    rig = SimRig.with_query(f"fxo={max(8, calls // 2)}&fxs={agents}", name=name, trunk="analog")
    card, sim, engine = rig.card, rig.sim, rig.engine
    acd = ACD(engine, config={"instance": name, "queues": {"q": {"strategy": strategy, "moh": "",
                                                                   "service_level": sl_seconds}},
                              "agents": [{"id": f"a{i}", "station_port": i, "queues": ["q"]} for i in range(agents)]})
    answered: dict[str, float] = {}
    joined: dict[str, float] = {}

    def on_doc(d: dict[str, Any]) -> None:
        if d["type"] == "call.answered":
            answered[d["caller_id"]] = d["wait"]
        elif d["type"] == "queue.joined":
            joined[d["caller_id"]] = d["ewt"]
    acd.core.hub.subscribe(on_doc)
    results: list[QueueResult] = []

    async def flow(call: Call) -> None:
        await call.answer()
        results.append(await acd.enqueue(call, "q"))
    engine.route(flow)
    out: dict[str, Any] = {"calls": calls, "offered": 0, "answered": 0, "abandoned": 0, "failed": 0}

    async def caller(i: int) -> None:
        cid = f"9{i:04d}"
        try:
            ph = sim.call("100", from_=cid)
            await ph.wait_answer(30)
        except SimError:
            out["failed"] += 1
            return
        out["offered"] += 1
        give_up = card.now + rng.expovariate(1.0 / patience)
        while cid not in answered and card.now < give_up and not ph.ended:
            await sim.sleep(0.5)
        if cid in answered:
            await sim.sleep(rng.expovariate(1.0 / aht))
        if not ph.ended:
            await ph.hangup()

    async def agent(i: int) -> None:
        st = sim.station(i)
        while True:
            await st.wait_ring(10 * duration)
            await sim.sleep(rng.uniform(0.5, 2 * ring_delay - 0.5))
            st.offhook()
            await sim.sleep(1.0)
            while acd.agent_state(f"a{i}")[0] in ("busy", "ringing"):
                await sim.sleep(0.5)
            st.onhook()
            await sim.sleep(0.5)

    runner = asyncio.ensure_future(engine.run())
    await acd.start()
    for i in range(agents):
        acd.login(f"a{i}")
    staff = [asyncio.ensure_future(agent(i)) for i in range(agents)]
    t0 = card.now
    tasks = []
    for i in range(calls):
        await sim.sleep(rng.expovariate(calls / duration))
        tasks.append(asyncio.ensure_future(caller(i)))
    await asyncio.gather(*tasks)
    await sim.sleep(2.0)
    for t in staff:
        t.cancel()
    acd.stop()
    engine.stop()
    await runner
    q = acd.queues_status()[0]
    rig.close()
    waits = list(answered.values())
    errs = [joined[c] - w for c, w in answered.items() if c in joined]
    out.update(answered=len(waits), abandoned=sum(1 for r in results if r.outcome == "abandoned"),
               asa=sum(waits) / len(waits) if waits else 0.0,
               service_level=q["service_level"], ewt_mae=sum(abs(e) for e in errs) / len(errs) if errs else 0.0,
               ewt_bias=sum(errs) / len(errs) if errs else 0.0, virtual_seconds=card.now - t0,
               outcomes={o: sum(1 for r in results if r.outcome == o) for o in {r.outcome for r in results}})
    return out


def main(argv: list[str] | None = None) -> SimReport:
    """Command line: run a simulation and print its report."""
    p = argparse.ArgumentParser(description="ACD traffic simulation in virtual time")
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--agents", type=int, default=10)
    p.add_argument("--duration", type=float, default=3600.0)
    p.add_argument("--aht", type=float, default=95.0)
    p.add_argument("--wrapup", type=float, default=5.0)
    p.add_argument("--patience", type=float, default=180.0)
    p.add_argument("--strategy", default="longest-idle")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    r = simulate(calls=a.calls, agents=a.agents, duration=a.duration, aht=a.aht, wrapup=a.wrapup,
                 patience=a.patience, strategy=a.strategy, seed=a.seed)
    print(json.dumps(asdict(r), indent=1) if a.json else r.line())
    return r


if __name__ == "__main__":
    main()
