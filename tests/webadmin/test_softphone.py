"""The browser softphone (WebRTC) in real headless Chromium against the real engine + ACD on the card simulator.

The agent signs in with "this browser" (Chromium's fake microphone plays a 600 Hz WAV); a simulated caller
comes through the flow into the queue; the page rings and the agent answers in the page; the caller's
1000 Hz tone is measured in the page (WebAudio analyser on the received stream) and the browser's 600 Hz
is measured at the caller (Goertzel); a keypad digit reaches the caller as DTMF; the page hangs up.
"""
import asyncio
import subprocess
import threading

import pytest
from acd_rig import level, tone
from chrome import login_form, start_chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select
from web_fixtures import make_app

from trunkline.acd.service import ACD
from trunkline.data import db
from trunkline.data.models import User
from trunkline.ivr.flows import FlowRegistry, Router, Services
from trunkline.ivr.prompts import PromptLibrary
from trunkline.pstn import SimRig
from trunkline.webadmin import serve

FLOW = """\
name: main
language: zh
nodes:
  q: {type: queue, queue: support, next: bye}
  bye: {type: hangup}
"""
HEARD = 300          # Goertzel RMS at the caller (Chromium's mic processing brings the 0.3 FS tone to ~750)
MIC_HZ, CALLER_HZ = 600.0, 1000.0


class PhoneSim:
    """Engine + flow + ACD on a simulated card (2 analog trunks, 1 station, 2 browser phones), real time."""

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
        self.rig = SimRig.with_query("fxo=2&fxs=1", name=f"softphone-{id(self)}", browser_phones=2)
        self.sim, self.engine = self.rig.sim, self.rig.engine
        services = Services(prompts=PromptLibrary(self.tmp / "prompts", language="zh", tts=False),
                            session_factory=self.factory, data_dir=str(self.tmp / "data"))
        self.acd = ACD(self.engine, self.factory, config={
            "instance": "softphone", "recordings_dir": str(self.tmp / "recordings"),
            "queues": {"support": {"strategy": "longest-idle", "moh": "", "wrapup": 60, "ring_timeout": 40}},
            "agents": [{"id": "100", "name": "Alice", "station_port": 0, "queues": ["support"]}]})
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
def phone_desk(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("softphone")
    app, hub = make_app(tmp, LIVE_STREAM_SECONDS=30.0)
    with db.session_scope(hub.session_factory) as s:
        s.scalars(select(User).where(User.username == "agent")).one().agent_id = "100"
    sim = PhoneSim(hub.session_factory, tmp)
    hub.engine, hub.acd = sim.engine, sim.acd
    stopper = serve(app, host="127.0.0.1", port=0, threads=16)
    wav = tmp / "mic.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(wav), "synth", "30", "sine", str(MIC_HZ),
                    "vol", "0.3"], check=True)
    drv = start_chrome(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                        f"--use-file-for-fake-audio-capture={wav}", "--allow-loopback-in-peer-connection"])
    drv.set_page_load_timeout(30)
    yield {"base": f"http://127.0.0.1:{stopper.port}", "sim": sim, "b": drv, "app": app}
    drv.quit()
    rtc = app.extensions.get("webrtc_phones")
    if rtc is not None:
        rtc.close()
    stopper.stop()
    sim.close()


def _state(b):
    return b.find_element(By.ID, "state").get_attribute("data-state")


def _post(b, url, body):
    """POST JSON from the page (its CSRF token) and return [status, json]."""
    return b.execute_async_script("""
        const [url, body, done] = arguments;
        fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json',
          'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}, body: JSON.stringify(body)})
          .then(r => r.json().catch(() => null).then(j => done([r.status, j])));""", url, body)


def test_softphone_browser_agent_takes_a_call_audio_both_ways(phone_desk):
    b, sim, base = phone_desk["b"], phone_desk["sim"], phone_desk["base"]
    wait = WebDriverWait(b, 30)
    login_form(b, base, "agent")
    wait.until(lambda d: d.current_url.endswith("/workbench/100"))
    Select(b.find_element(By.ID, "phone-kind")).select_by_value("browser")
    b.find_element(By.ID, "sign-in").click()
    wait.until(lambda d: _state(d) == "available")
    phones = sim.rig.board.phones
    port = phones.phone_for("100").port
    assert port == sim.engine.station_count - 2                         # the first browser station port
    wait.until(lambda d: d.execute_script("return document.getElementById('sp-status').textContent") == "connected")
    b.refresh()                                                          # a reload reconnects the same phone
    wait.until(lambda d: d.execute_script("return document.getElementById('sp-status').textContent") == "connected")
    assert phones.phone_for("100").port == port

    async def caller_in():
        ph = sim.sim.call("12345", from_="13800138000")
        await ph.wait_answer(20)
        return ph
    ph = sim.do(caller_in())
    wait.until(lambda d: _state(d) == "ringing")
    assert sim.engine.station_call(port) is not None                    # the ACD rang the browser's station
    b.find_element(By.ID, "sp-answer").click()
    wait.until(lambda d: _state(d) == "busy")

    # the caller's tone reaches the page: the analyser's loudest bin is at 1000 Hz, well above the floor
    ph.play_nowait(tone(CALLER_HZ, 8.0))
    heard = []

    def page_hears(d):
        lv = d.execute_script("return window.softphoneLevel();")
        heard.append(lv)
        return lv is not None and abs(lv["hz"] - CALLER_HZ) < 30 and lv["db"] > -60
    WebDriverWait(b, 10, poll_frequency=0.2).until(page_hears)
    print("\npage hears:", heard[-1])

    # the browser's fake microphone (600 Hz) reaches the caller
    async def start():
        ph.start_capture()
        ph.take_captured()

    async def capture(seconds):
        await sim.sim.sleep(seconds)
        return ph.take_captured()
    sim.do(start())
    got = sim.do(capture(1.5))
    mic, other = level(got, MIC_HZ), level(got, 1700.0)
    print(f"caller hears browser mic: {mic:.0f} at {MIC_HZ:g} Hz, {other:.0f} at 1700 Hz")
    assert mic > HEARD and mic > 10 * other

    # a keypad digit reaches the caller as DTMF (5 = 770 + 1336 Hz) in place of the microphone
    sim.do(start())
    b.find_element(By.CSS_SELECTOR, ".sp-key[data-digit='5']").click()
    got = sim.do(capture(1.2))
    lo, hi = level(got, 770.0), level(got, 1336.0)
    print(f"keypad 5 at the caller: 770 Hz {lo:.0f}, 1336 Hz {hi:.0f}")
    assert lo > 100 and hi > 100

    # bad input is refused with a reason and leaves the phone as it was
    assert _post(b, "/workbench/100/softphone/dtmf", {"digits": "5x"})[0] == 400
    assert _post(b, "/workbench/100/softphone/offer", {"sdp": "hello"})[0] == 400
    assert _post(b, "/workbench/200/softphone/hook", {"offhook": True})[0] == 403       # not this agent's phone
    assert phones.phone_for("100").attached and sim.engine.station_call(port) is not None

    # hang up in the page: the call ends, the agent wraps up, the phone is back on hook
    b.find_element(By.ID, "sp-hangup").click()
    wait.until(lambda d: _state(d) == "wrapup")
    assert sim.engine.station_call(port) is None
    assert not phones.phone_for("100").offhook

    # next call: the caller hangs up first; the page puts its phone back on hook by itself
    b.find_element(By.ID, "ready").click()
    wait.until(lambda d: _state(d) == "available")
    ph = sim.do(caller_in())
    wait.until(lambda d: _state(d) == "ringing")
    b.find_element(By.ID, "sp-answer").click()
    wait.until(lambda d: _state(d) == "busy")
    sim.do(ph.hangup())
    wait.until(lambda d: _state(d) == "wrapup" and not phones.phone_for("100").offhook)
    assert sim.engine.station_call(port) is None

    # signing out gives the browser phone back
    b.find_element(By.ID, "sign-out").click()
    wait.until(lambda d: _state(d) == "logged_out" and phones.phone_for("100") is None)
