"""`trunkline simulate`: N scripted callers through the demo hotline on a simulated board.

Every caller checks what the hotline did with its input (the menu choice and the
digits it entered, matched by caller ID), so `completed` means the flow really
ran through, not only that the line was cleared.
"""
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

from trunkline.app.blas_threads import use_one_blas_thread
from trunkline.ivr.demo import ensure_demo_prompts, hotline
from trunkline.media import PromptLibrary
from trunkline.pstn import SimError, SimRig, board_url_for, drive

HOLD_SECONDS = 26.0      # mean channel holding time of one demo call, ring and guard time included


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total, enabled):
        self.total, self.enabled, self.done, self.started = total, enabled, 0, time.monotonic()

    def step(self):
        self.done += 1
        if self.enabled and (self.done % max(1, self.total // 50) == 0 or self.done == self.total):
            filled = int(30 * self.done / self.total)
            sys.stderr.write(f"\r[{'#' * filled}{' ' * (30 - filled)}] {self.done}/{self.total} calls "
                             f"{time.monotonic() - self.started:5.1f}s")
            if self.done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


async def _caller(sim, rng, index, trunk, seen, outcome):
    caller = f"138{index:08d}"
    choice = rng.choice("123")
    account = "".join(rng.choice("0123456789") for _ in range(6))
    while True:
        try:
            phone = sim.call("95588", from_=caller, trunk=trunk)
            break
        except SimError:
            await sim.sleep(0.5)          # all trunks busy: the caller tries again
    try:
        await phone.wait_answer(timeout=30)
    except SimError:
        outcome["failed"] += 1
        return
    outcome["answered"] += 1
    await phone.sleep(rng.uniform(0.8, 2.5))
    await phone.send_dtmf(choice)
    if choice == "1":
        await phone.sleep(rng.uniform(0.5, 1.5))
        await phone.send_dtmf(account + "#")
    elif choice == "2":
        await phone.sleep(4.5)
        noise = np.random.default_rng(index).normal(0, 3000, int(1.5 * 8000)).astype(np.int16)
        await phone.play(noise)
    try:
        await phone.wait_hangup(timeout=90)
    except SimError:
        outcome["failed"] += 1
        await phone.hangup()
        return
    got = seen.pop(caller, None)      # checked once, then forgotten: memory stays flat over any number of calls
    ok = got is not None and got.get("choice") == choice and (choice != "1" or got.get("account") == account)
    outcome["completed" if ok else "failed"] += 1


async def run_simulation(calls, channels, trunk="analog", virtual=True, seed=1, progress=True, prompts_dir=None,
                         board="sim", monitor: Callable[[int, object], object] | None = None, quiet_every: int = 0):
    """Run the simulation (board "sim", or "dahdi": the card behind an emulated /dev/dahdi); returns dict
    calls/answered/completed/failed, and stuck (calls still on the engine once every caller is done).
    monitor(calls_done, engine) runs after each call, or with quiet_every=N only at quiet points: after every
    N calls no new caller comes until every caller so far is done and the clearing has reached the engine, so
    what the process holds then is what the calls left behind, not the working set of the calls still up (soak
    measurements; `stuck_max` is the most calls found on the engine at a quiet point). The recordings the demo
    hotline makes go to a temporary directory removed at the end."""
    use_one_blas_thread()
    prompts_dir = prompts_dir or os.path.join(tempfile.gettempdir(), "trunkline-prompts")
    ensure_demo_prompts(prompts_dir)
    rig = SimRig(board_url_for(trunk, channels, f"simulate-{os.getpid()}-{seed}"), trunk=trunk,
                 prompts=PromptLibrary([prompts_dir], "en"), board=board)
    sim, board, engine = rig.sim, rig.board, rig.engine
    rec_dir = tempfile.mkdtemp(prefix="trunkline-sim-rec-")
    seen = {}

    async def flow(call):
        call.vars["recordings_dir"] = rec_dir
        try:
            await hotline(call)
        finally:
            seen[call.caller_id] = dict(call.vars)

    engine.route(flow)
    board.set_realtime(not virtual)
    rng = random.Random(seed)
    outcome = {"calls": calls, "answered": 0, "completed": 0, "failed": 0}
    bar = Progress(calls, progress and calls >= 100)
    rate = 0.8 * channels / HOLD_SECONDS

    def done(task):
        pending.discard(task)
        bar.step()
        if monitor is not None and not quiet_every:
            monitor(bar.done, engine)

    pending: set[asyncio.Future[None]] = set()   # only the callers still running are kept

    async def settle():
        while pending:
            await asyncio.gather(*list(pending))
        await sim.sleep(1.0)          # the last clearing reaches the engine

    async def launcher():
        outcome["stuck_max"] = 0
        for i in range(calls):
            task = asyncio.ensure_future(_caller(sim, rng, i, trunk, seen, outcome))
            pending.add(task)
            task.add_done_callback(done)
            if quiet_every and (i + 1) % quiet_every == 0:
                await settle()
                outcome["stuck_max"] = max(outcome["stuck_max"], len(engine.calls))
                if monitor is not None:
                    monitor(bar.done, engine)
            await sim.sleep(rng.expovariate(rate))
        await settle()
        outcome["stuck"] = len(engine.calls)

    try:
        await drive(engine, launcher())      # a tick that raises ends the run with its error, never a hang
    finally:
        rig.close()
        shutil.rmtree(rec_dir, ignore_errors=True)   # nothing left behind in /tmp
    return outcome
