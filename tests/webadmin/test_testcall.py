"""Test call from the browser, in real headless Chromium (fake microphone) against the server's own wiring
(`server.install_flows`, `TestCalls.install` as `trunkline run` does) on the card simulator in real time:
the admin opens the test-call page and dials 95588; the call runs the inbound route into the hotline flow;
the page hears the welcome prompt (a 700 Hz tone, measured by a WebAudio analyser on the received stream),
the admin presses 3 on the page's keypad, the flow takes that branch and hangs up; the CDR written through
the server's CDR recorder carries the number, the IVR path and the digit."""
import asyncio
import os
import threading
import time

import numpy as np
import pytest
from chrome import login_form, start_chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select
from web_fixtures import make_app

from trunkline.acd.service import ACD
from trunkline.app import server
from trunkline.data import db
from trunkline.data.config import Config
from trunkline.data.models import Cdr
from trunkline.data.spool import DurableWriter
from trunkline.ivr.prompts import PromptLibrary
from trunkline.ivr.testcall import TestCalls
from trunkline.media.cdr import CdrRecorder
from trunkline.pstn import SimRig
from trunkline.webadmin import serve

FLOW = """\
name: hotline
language: zh
nodes:
  welcome: {type: play, prompt: tc-welcome, next: menu}
  menu: {type: menu, greeting: tc-menu, timeout: 10, max_timeouts: 1, max_failures: 1, choices: {"3": three},
         on_fail: bye, on_timeout: bye}
  three: {type: play, prompt: tc-three, next: bye}
  bye: {type: hangup}
"""
WELCOME_HZ = 700.0


def _tone(hz, seconds):
    t = np.arange(int(seconds * 8000)) / 8000
    return (9000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


class WiredSim:
    """`trunkline run`'s wiring (flows, ACD, test calls, CDR recorder) on a simulated card with 2 browser
    phones, running in real time in its own thread."""

    def __init__(self, tmp, hub):
        self.tmp, self.hub = tmp, hub
        self.cfg = Config(var_dir=str(tmp / "var"), language="zh")
        os.makedirs(self.cfg.recordings_dir, exist_ok=True)
        lib = PromptLibrary(self.cfg.prompts_dir, language="zh", tts=False)
        for name, hz, sec in (("tc-welcome", WELCOME_HZ, 4.0), ("tc-menu", 1000.0, 1.0), ("tc-three", 1300.0, 1.0)):
            lib.add_samples(name, _tone(hz, sec), lang="zh")
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(self._run()), daemon=True)
        self.thread.start()
        assert self.ready.wait(60), "engine did not start"

    async def _run(self):
        factory = self.hub.session_factory
        self.rig = SimRig.with_query("fxo=2", name=f"testcall-{id(self)}", browser_phones=2,
                                     prompts=[self.cfg.prompts_dir], language="zh")
        engine = self.engine = self.rig.engine
        self.writer = DurableWriter(db.make_engine(f"sqlite:///{self.tmp}/web.db"), str(self.tmp / "spool.jsonl"))
        self.writer.start()
        engine.on_call_end(CdrRecorder(self.writer, server="test"))
        acd = ACD(engine, factory, config={"instance": "tc", "recordings_dir": self.cfg.recordings_dir})
        registry = server.install_flows(engine, self.cfg, factory, acd,
                                        server.DemoHotline(self.cfg.recordings_dir, "zh"))
        registry.load_yaml(FLOW)                     # the admin's saved "hotline" flow replaces the demo
        self.hub.engine, self.hub.acd, self.hub.flows = engine, acd, registry
        self.hub.test_calls = TestCalls.install(engine)
        self.rig.board.set_realtime(True)
        self._stop = asyncio.Event()
        runner = asyncio.ensure_future(engine.run())
        await acd.start()
        self.ready.set()
        await self._stop.wait()
        acd.stop()
        engine.stop()
        await runner
        self.writer.stop()
        self.rig.close()

    def close(self):
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)


@pytest.fixture
def wired(tmp_path):
    app, hub = make_app(tmp_path)
    sim = WiredSim(tmp_path, hub)
    stopper = serve(app, host="127.0.0.1", port=0, threads=16)
    drv = start_chrome(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                        "--allow-loopback-in-peer-connection"])
    drv.set_page_load_timeout(30)
    yield {"base": f"http://127.0.0.1:{stopper.port}", "sim": sim, "b": drv, "app": app, "hub": hub}
    drv.quit()
    rtc = app.extensions.get("webrtc_phones")
    if rtc is not None:
        rtc.close()
    stopper.stop()
    sim.close()


def _text(b, el_id):
    return b.execute_script(f"return document.getElementById('{el_id}').textContent")


def test_test_call_from_the_browser_reaches_the_flow_and_the_cdr(wired):
    b, base, hub = wired["b"], wired["base"], wired["hub"]
    t0 = time.monotonic()
    wait = WebDriverWait(b, 20, poll_frequency=0.2)
    login_form(b, base, "admin")
    b.get(base + "/config")
    b.find_element(By.ID, "cfg-testcall").click()                     # linked from the configuration page
    wait.until(lambda d: d.find_elements(By.ID, "tc-dial"))
    assert b.find_element(By.ID, "tc-number").get_attribute("value") == "95588"
    b.find_element(By.ID, "tc-dial").click()
    wait.until(lambda d: "welcome" in _text(d, "tc-path"))
    heard = []

    def page_hears(d):
        lv = d.execute_script("return window.testcallLevel();")
        heard.append(lv)
        return lv is not None and abs(lv["hz"] - WELCOME_HZ) < 30 and lv["db"] > -70
    wait.until(page_hears)
    print("\npage hears the welcome prompt:", heard[-1])
    wait.until(lambda d: "menu" in _text(d, "tc-path"))
    b.find_element(By.CSS_SELECTOR, ".tc-key[data-digit='3']").click()
    wait.until(lambda d: "three" in _text(d, "tc-path"))
    wait.until(lambda d: not d.find_element(By.ID, "tc-dial").get_attribute("disabled"))   # flow hung up
    assert hub.test_calls.placed == 1

    def cdr():
        with db.session_scope(hub.session_factory) as s:
            return [(r.called, r.caller, r.trunk, r.ivr_path, r.digits)
                    for r in s.scalars(select(Cdr).where(Cdr.called == "95588"))]
    WebDriverWait(b, 10, poll_frequency=0.3).until(lambda d: cdr())
    rows = cdr()
    print("CDR:", rows, f"({time.monotonic() - t0:.1f} s)")
    assert len(rows) == 1
    called, caller, trunk, path, digits = rows[0]
    assert called == "95588" and trunk == "station" and caller == "10000000000", rows
    assert path.startswith("welcome>menu>three") and "menu=3" in digits, rows
