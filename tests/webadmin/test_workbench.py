"""Acceptance of the agent workbench and the supervisor console in headless Chromium, against the real
media engine + IVR + ACD on the card simulator in real time, sharing the web admin's database.

A caller goes through the IVR (menu choice, account number collected with mask) into the queue; the agent's
page rings with the screen pop; the agent answers (station phone); audio is measured both ways; the agent
consults a second agent and completes the attended transfer; the supervisor listens, whispers (the caller
hears nothing of it, measured) and barges; the first agent wraps up with a disposition and becomes ready.
"""
import asyncio
import os
import threading

import pytest
from acd_rig import hear, print_matrix, tone
from chrome import login_form, start_chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select
from web_fixtures import make_app

from trunkline.acd.service import ACD
from trunkline.data import db
from trunkline.data.models import AuditLog, User
from trunkline.ivr.flows import FlowRegistry, Router, Services
from trunkline.ivr.prompts import PromptLibrary
from trunkline.pstn import SimRig
from trunkline.webadmin import serve

FLOW = """\
name: main
language: zh
nodes:
  menu: {type: menu, greeting: main, choices: {"2": acct}, timeout: 8, on_fail: bye, on_timeout: bye}
  acct: {type: get_digits, var: account, digits: 8, min: 4, mask: true, mask_keep: 2, prompt: acct,
         timeout: 8, next: q, on_fail: bye}
  q: {type: queue, queue: support, next: bye}
  bye: {type: hangup}
"""
HEARD, SILENT = 800, 60


class DeskSim:
    """Engine + IVR + ACD on a simulated card (2 analog trunks, 4 stations) in real time, in its own thread."""

    def __init__(self, factory, tmp):
        self.factory, self.tmp = factory, tmp
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        assert self.ready.wait(60), "engine did not start"

    def _main(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._run())

    async def _run(self):
        self.rig = SimRig.with_query("fxo=2&fxs=4", name=f"desk-{id(self)}")
        self.sim, self.engine = self.rig.sim, self.rig.engine
        lib = PromptLibrary(self.tmp / "prompts", language="zh", tts=False)
        lib.add_samples("main", tone(650, 0.3), lang="zh")
        lib.add_samples("acct", tone(750, 0.3), lang="zh")
        services = Services(prompts=lib, session_factory=self.factory, data_dir=str(self.tmp / "data"))
        self.acd = ACD(self.engine, self.factory, config={
            "instance": "desk", "recordings_dir": str(self.tmp / "recordings"), "dispositions": ["solved", "callback"],
            "queues": {"support": {"strategy": "longest-idle", "moh": "", "wrapup": 120, "ring_timeout": 40}},
            "agents": [{"id": "100", "name": "Alice", "station_port": 0, "queues": ["support"]},
                       {"id": "200", "name": "Bob", "station_port": 1, "queues": ["support"]}]})
        services.acd = self.acd
        registry = FlowRegistry(services)
        registry.load_yaml(FLOW)
        Router(registry, "main").install(self.engine)
        self.rig.board.set_realtime(True)
        self._stop = asyncio.Event()
        runner = asyncio.ensure_future(self.engine.run())
        await self.acd.start()
        self.ready.set()
        await self._stop.wait()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and t is not runner]
        self.acd.stop()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        self.engine.stop()
        await runner
        self.rig.close()

    def do(self, coro, timeout=60):
        """Run `coro` on the engine's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("desk")
    app, hub = make_app(tmp, LIVE_STREAM_SECONDS=30.0)
    with db.session_scope(hub.session_factory) as s:
        s.scalars(select(User).where(User.username == "agent")).one().agent_id = "100"
        s.scalars(select(User).where(User.username == "super")).one().queues = "support"
    sim = DeskSim(hub.session_factory, tmp)
    hub.engine, hub.acd = sim.engine, sim.acd
    stopper = serve(app, host="127.0.0.1", port=0, threads=16)
    yield {"base": f"http://127.0.0.1:{stopper.port}", "sim": sim, "hub": hub}
    stopper.stop()
    sim.close()


@pytest.fixture(scope="module")
def browser():
    drv = start_chrome()
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


def _state(b):
    return b.find_element(By.ID, "state").get_attribute("data-state")


def _text(b, css):
    """Text of the element at `css` now (the live grids re-render: never keep an element)."""
    return b.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", css)


def _post(b, url, body):
    """POST JSON from the page (its CSRF token) and return [status, json]."""
    return b.execute_async_script("""
        const [url, body, done] = arguments;
        fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json',
          'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}, body: JSON.stringify(body)})
          .then(r => r.json().then(j => done([r.status, j])));""", url, body)


def test_workbench_supervisor_acceptance(desk, browser, artifacts_dir):
    b, sim, base = browser, desk["sim"], desk["base"]
    wait = WebDriverWait(b, 40)
    # -- the agent logs in and lands on their workbench; signs in at station 0
    login_form(b, base, "agent")
    wait.until(lambda d: d.current_url.endswith("/workbench/100"))
    assert "Workbench" in b.find_element(By.TAG_NAME, "nav").text
    assert _state(b) == "logged_out"
    refused = _post(b, "/cti/agent/100/command", {"cmd": "hangup"})
    assert refused[0] == 409 and "no call in progress" in refused[1]["error"]          # refused at once
    Select(b.find_element(By.ID, "phone-kind")).select_by_value("station")
    Select(b.find_element(By.ID, "phone-station")).select_by_value("0")
    b.find_element(By.ID, "sign-in").click()
    wait.until(lambda d: _state(d) == "available")
    Select(b.find_element(By.ID, "not-ready-reason")).select_by_value("lunch")
    b.find_element(By.ID, "not-ready").click()
    wait.until(lambda d: _state(d) == "break" and "lunch" in d.find_element(By.ID, "reason").text)
    b.find_element(By.ID, "ready").click()
    wait.until(lambda d: _state(d) == "available")
    assert sim.acd.command("200", "login", {})["state"] == "available"
    assert sim.acd.command("200", "break", {"reason": "meeting"})["state"] == "break"   # 100 takes the call

    # -- a caller goes through the IVR (menu 2, account number masked) into the queue; the page rings
    async def caller_in():
        ph = sim.sim.call("12345", from_="13800138000")
        await ph.wait_answer(20)
        await sim.sim.sleep(0.6)
        await ph.send_dtmf("2")
        await sim.sim.sleep(0.8)
        await ph.send_dtmf("12345678#")
        return ph
    ph = sim.do(caller_in())
    wait.until(lambda d: _state(d) == "ringing")
    banner = b.find_element(By.ID, "banner")
    assert banner.is_displayed() and "13800138000" in banner.text
    pop = b.find_element(By.ID, "pop").text
    print("\nscreen pop:\n" + pop)
    assert "13800138000" in pop and "support" in pop and "menu: 2" in pop and "******78" in pop
    assert "12345678" not in pop and "ivr_" not in pop                               # masked as the flow says
    b.save_screenshot(os.path.join(artifacts_dir, "workbench_ringing.png"))

    # -- the agent answers (station 0 picks up); audio both ways
    st0, st1, st2 = (sim.sim.station(p) for p in (0, 1, 2))

    async def pick(st):
        await st.wait_ring(20)
        st.offhook()
        await sim.sim.sleep(0.5)
    sim.do(pick(st0))
    wait.until(lambda d: _state(d) == "busy")
    m = sim.do(hear({"caller": ph, "agent": st0}))
    print_matrix("caller and agent 100", m)
    assert m["caller"]["agent"] > HEARD and m["agent"]["caller"] > HEARD

    # -- hold (music on hold is the queue's; here silence) and resume
    b.find_element(By.ID, "hold").click()
    wait.until(lambda d: "hold" in d.find_element(By.ID, "banner").text.lower() or
               d.find_element(By.ID, "unhold").is_enabled())
    m = sim.do(hear({"caller": ph, "agent": st0}))
    assert m["caller"]["agent"] < SILENT and m["agent"]["caller"] < SILENT           # on hold: not heard
    b.find_element(By.ID, "unhold").click()
    wait.until(lambda d: d.find_element(By.ID, "hold").is_enabled())

    # -- consult agent 200, then complete the attended transfer by hanging up
    assert sim.acd.command("200", "ready", {})["ok"]
    Select(b.find_element(By.ID, "xfer-type")).select_by_value("agent")
    b.find_element(By.ID, "xfer-target").send_keys("200")
    b.find_element(By.ID, "consult").click()
    sim.do(pick(st1))
    m = sim.do(hear({"caller": ph, "agent": st0, "agent2": st1}))
    print_matrix("consulting (caller holds)", m)
    assert m["agent"]["agent2"] > HEARD and m["agent2"]["agent"] > HEARD and m["caller"]["agent2"] < SILENT
    st0.onhook()                                                                     # transfer completed
    sim.do(sim.sim.sleep(1.0))
    m = sim.do(hear({"caller": ph, "agent2": st1}))
    print_matrix("after the transfer", m)
    assert m["caller"]["agent2"] > HEARD and m["agent2"]["caller"] > HEARD
    wait.until(lambda d: _state(d) == "wrapup")
    left = float(b.find_element(By.ID, "wrap-left").text)
    assert 60 < left <= 120

    # -- the supervisor: console, listen, whisper, barge on agent 200 from station 2
    login_form(b, base, "super")
    wait.until(lambda d: d.current_url.endswith("/supervisor"))
    row = wait.until(lambda d: _text(d, "#agents tr[data-agent='200'].state-busy"))
    assert "13800138000" in row and "support" in row
    assert wait.until(lambda d: _text(d, "#queues tr[data-queue='support']"))
    Select(b.find_element(By.ID, "sup-phone-kind")).select_by_value("station")
    Select(b.find_element(By.ID, "sup-station")).select_by_value("2")
    levels = {}
    for mode in ("listen", "whisper", "barge"):
        css = f"#agents tr[data-agent='200'] button.{mode}"
        wait.until(lambda d, css=css: d.execute_script(
            "const b = document.querySelector(arguments[0]); if (b) b.click(); return !!b;", css))
        if mode == "listen":
            sim.do(pick(st2))
        msg = wait.until(lambda d: (t := d.find_element(By.ID, "msg").text) and "…" not in t and t)
        assert msg == "Done.", msg
        b.execute_script("document.getElementById('msg').textContent = ''")
        levels[mode] = sim.do(hear({"caller": ph, "agent2": st1, "sup": st2}))
        print_matrix(f"supervisor {mode}", levels[mode])
    lis, whi, bar = levels["listen"], levels["whisper"], levels["barge"]
    assert lis["sup"]["caller"] > HEARD and lis["sup"]["agent2"] > HEARD
    assert lis["caller"]["sup"] < SILENT and lis["agent2"]["sup"] < SILENT
    assert whi["agent2"]["sup"] > HEARD and whi["caller"]["sup"] < SILENT             # the caller hears nothing
    assert bar["caller"]["sup"] > HEARD and bar["agent2"]["sup"] > HEARD
    with db.session_scope(desk["hub"].session_factory) as s:
        acts = [(a.username, a.action) for a in s.scalars(select(AuditLog).where(AuditLog.action.like("supervisor.%")))]
    assert acts.count(("super", "supervisor.monitor")) == 3
    b.save_screenshot(os.path.join(artifacts_dir, "supervisor_console.png"))
    sim.do(ph.hangup())
    st1.onhook()
    st2.onhook()

    # -- agent 100 wraps up: disposition, then ready
    login_form(b, base, "agent")
    wait.until(lambda d: d.current_url.endswith("/workbench/100"))
    wait.until(lambda d: _state(d) == "wrapup")
    Select(b.find_element(By.ID, "disposition")).select_by_value("solved")
    b.find_element(By.ID, "dispose").click()
    wait.until(lambda d: "solved" in d.find_element(By.ID, "history").text)
    hist = b.find_element(By.ID, "history").text
    assert "13800138000" in hist and "transferred" in hist
    b.find_element(By.ID, "ready").click()
    wait.until(lambda d: _state(d) == "available")
    b.save_screenshot(os.path.join(artifacts_dir, "workbench_ready.png"))
    assert sim.acd.reconciled == []                  # nothing was left for the reconciliation to clear
