"""Acceptance of the agent workbench, the browser softphone and the supervisor console in real headless
Chromium, against the real media engine + IVR + ACD on the card simulator in real time, sharing the web
admin's database. Chromium's fake microphone plays a 600 Hz WAV; every "hears" below is measured: at the
simulated caller and station with Goertzel, in the page with a WebAudio analyser on the received stream.

An agent user logs in, lands on the workbench, signs in with the browser phone; a caller goes through the IVR
(menu choice, account number collected with mask) into the queue; the page rings with the screen pop; the
agent answers in the page; audio both ways; keypad DTMF; hold; the agent consults a second agent (station)
and completes the attended transfer by hanging up in the page; the supervisor, hearing through their own
browser phone, listens, whispers (the caller hears nothing of it) and barges (the caller hears them), then
hangs up; the agent (page reloaded: the same phone reconnects) wraps up with a disposition and becomes
ready; a second call the caller ends first puts the page's phone back on hook; signing out gives it back.
"""
import os
import subprocess
import time

import pytest
from acd_rig import FREQ, level, tone
from chrome import login_form, start_chrome
from desk_sim import DeskSim
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select
from web_fixtures import make_app

from trunkline.data import db
from trunkline.data.models import AuditLog, User
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
ACD_CONFIG = {
    "instance": "desk", "dispositions": ["solved", "callback"],
    "queues": {"support": {"strategy": "longest-idle", "moh": "", "wrapup": 120, "ring_timeout": 40}},
    "agents": [{"id": "100", "name": "Alice", "number": "8100", "queues": ["support"]},
               {"id": "200", "name": "Bob", "station_port": 0, "queues": ["support"]}]}
MIC_HZ = 600.0       # the fake microphone's tone (the agent's and the supervisor's browser)
HEARD, SILENT = 800, 60        # Goertzel RMS between simulated parties
MIC_HEARD = 120      # Goertzel RMS of the browser tone at a party (Chromium processes the mic: 250..750; none: < 1)
PAGE_HEARD, PAGE_SILENT = -60.0, -80.0    # dB in the page's analyser


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
          .then(r => r.json().catch(() => null).then(j => done([r.status, j])));""", url, body)


def _page_level(b, hz):
    """dB the page's browser phone hears at `hz` now (None before its media is up)."""
    lv = b.execute_script("return window.softphoneLevel(arguments[0]);", hz)
    return None if lv is None else lv["at"]


def measure(sim, b, parties, hear=(), quiet=(), seconds=1.0, play=True, patience=6.0):
    """Every simulated party sends its tone (acd_rig.FREQ; not with play=False: then the browser's microphone
    is measured with no far-end sound for its echo canceller to act on) while the browser sends its
    microphone. The page is read first: each of `hear` until it hears that party (up to `patience` s, a
    loaded machine delays WebRTC), then each of `quiet` as the last reading with the tones still on.
    Returns ({listener: {speaker: Goertzel level over the whole window}} with speaker "browser" at MIC_HZ,
    {party: dB the page heard at its frequency (the loudest for `hear`, the last for `quiet`)})."""
    def feed():                      # keep about 0.6 s of each tone queued (phase-continuous 0.5 s pieces)
        async def top_up():
            for name, p in parties.items():
                if play and p.card.far_play_pending(p.channel) < 4800:
                    p.play_nowait(tone(FREQ[name], 0.5))
        sim.do(top_up())

    async def start():
        await sim.sim.sleep(0.3)
        for p in parties.values():
            p.start_capture()
            p.take_captured()

    async def collect():
        return {name: p.take_captured() for name, p in parties.items()}
    feed()
    sim.do(start())
    t0 = time.monotonic()
    page = {n: -999.0 for n in hear}
    while time.monotonic() < t0 + seconds or (time.monotonic() < t0 + patience and
                                               any(v <= PAGE_HEARD for v in page.values())):
        feed()
        for n in hear:
            db_ = _page_level(b, FREQ[n])
            page[n] = max(page[n], db_ if db_ is not None else -999.0)
        time.sleep(0.1)
    for n in quiet:
        db_ = _page_level(b, FREQ[n])
        page[n] = db_ if db_ is not None else -999.0
    got = sim.do(collect())
    m = {name: {**{s: level(x, FREQ[s]) for s in parties}, "browser": level(x, MIC_HZ)} for name, x in got.items()}
    print("  heard at " + ", ".join(f"{k}: " + " ".join(f"{s} {v:.0f}" for s, v in row.items()) for k, row in m.items())
          + "".join(f"; page hears {n}: {v:.0f} dB" for n, v in page.items()))
    return m, page


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("desk")
    app, hub = make_app(tmp, LIVE_STREAM_SECONDS=30.0)
    with db.session_scope(hub.session_factory) as s:
        s.scalars(select(User).where(User.username == "agent")).one().agent_id = "100"
        s.scalars(select(User).where(User.username == "super")).one().queues = "support"
    sim = DeskSim(hub.session_factory, tmp, "fxo=2&fxs=1", FLOW, ACD_CONFIG, browser_phones=2,
                  prompts={"main": tone(650, 0.3), "acct": tone(750, 0.3)})
    hub.engine, hub.acd = sim.engine, sim.acd
    stopper = serve(app, host="127.0.0.1", port=0, threads=16)
    wav = tmp / "mic.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(wav), "synth", "120", "sine", str(MIC_HZ),
                    "vol", "0.3"], check=True)
    drv = start_chrome(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                        f"--use-file-for-fake-audio-capture={wav}", "--allow-loopback-in-peer-connection"])
    drv.set_page_load_timeout(30)
    yield {"base": f"http://127.0.0.1:{stopper.port}", "sim": sim, "hub": hub, "b": drv}
    drv.quit()
    rtc = app.extensions.get("webrtc_phones")
    if rtc is not None:
        rtc.close()
    stopper.stop()
    sim.close()


def test_workbench_softphone_supervisor_acceptance(desk, artifacts_dir):
    b, sim, base = desk["b"], desk["sim"], desk["base"]
    phones = sim.rig.board.phones
    wait = WebDriverWait(b, 40)
    t0 = time.monotonic()

    def lap(what):
        print(f"[{time.monotonic() - t0:5.1f} s] {what}")
    connected = lambda d: d.execute_script("return document.getElementById('sp-status').textContent") == "connected"  # noqa: E731
    lap('the agent logs in, lands on their workbe')
    # -- the agent logs in, lands on their workbench, tries the desk, signs in with this browser
    login_form(b, base, "agent")
    wait.until(lambda d: d.current_url.endswith("/workbench/100"))
    assert "Workbench" in b.find_element(By.TAG_NAME, "nav").text
    assert _state(b) == "logged_out"
    refused = _post(b, "/cti/agent/100/command", {"cmd": "hangup"})
    assert refused[0] == 409 and "no call in progress" in refused[1]["error"]          # refused at once
    Select(b.find_element(By.ID, "phone-kind")).select_by_value("browser")
    b.find_element(By.ID, "sign-in").click()
    wait.until(lambda d: _state(d) == "available")
    port = phones.phone_for("100").port
    assert port == sim.engine.station_count - 2                         # the first browser station port
    wait.until(connected)
    Select(b.find_element(By.ID, "not-ready-reason")).select_by_value("lunch")
    b.find_element(By.ID, "not-ready").click()
    wait.until(lambda d: _state(d) == "break" and "lunch" in d.find_element(By.ID, "reason").text)
    b.find_element(By.ID, "ready").click()
    wait.until(lambda d: _state(d) == "available")
    assert sim.acd.command("200", "login", {})["state"] == "available"
    assert sim.acd.command("200", "break", {"reason": "meeting"})["state"] == "break"   # 100 takes the call

    lap('a caller goes through the IVR (menu 2, a')
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
    # the ACD's offer reaches the page by SSE; the engine rings the browser phone on its next tick
    wait.until(lambda d: sim.engine.station_call(port) is not None and phones.phone_for("100").ringing)
    banner = b.find_element(By.ID, "banner")
    assert banner.is_displayed() and "13800138000" in banner.text
    pop = b.find_element(By.ID, "pop").text
    print("\nscreen pop:\n" + pop)
    assert "13800138000" in pop and "support" in pop and "menu: 2" in pop and "******78" in pop
    assert "12345678" not in pop and "ivr_" not in pop                               # masked as the flow says
    b.save_screenshot(os.path.join(artifacts_dir, "workbench_ringing.png"))

    lap('the agent answers in the page: audio bot')
    # -- the agent answers in the page: audio both ways, measured
    b.find_element(By.ID, "sp-answer").click()
    wait.until(lambda d: _state(d) == "busy")
    m, page = measure(sim, b, {"caller": ph}, hear=("caller",))
    assert page["caller"] > PAGE_HEARD

    lap('a keypad digit reaches the caller as DTM')
    # -- a keypad digit reaches the caller as DTMF (5 = 770 + 1336 Hz); bad input is refused with a reason
    async def start():
        ph.start_capture()
        ph.take_captured()

    async def capture(seconds):
        await sim.sim.sleep(seconds)
        return ph.take_captured()
    sim.do(start())
    b.find_element(By.CSS_SELECTOR, ".sp-key[data-digit='5']").click()
    got = sim.do(capture(1.0))
    mic, lo, hi = level(got, MIC_HZ), level(got, 770.0), level(got, 1336.0)
    print(f"at the caller: browser microphone {mic:.0f}, keypad 5: 770 Hz {lo:.0f}, 1336 Hz {hi:.0f}")
    assert mic > MIC_HEARD and lo > 100 and hi > 100                   # the browser's audio reaches the caller
    assert _post(b, "/workbench/100/softphone/dtmf", {"digits": "5x"})[0] == 400
    assert _post(b, "/workbench/100/softphone/offer", {"sdp": "hello"})[0] == 400
    assert _post(b, "/workbench/200/softphone/hook", {"offhook": True})[0] == 403       # not this agent's phone
    assert _post(b, "/supervisor/softphone/hook", {"offhook": True})[0] == 403          # agents have no console
    assert phones.phone_for("100").attached and sim.engine.station_call(port) is not None

    lap("hold (music on hold is the queue's; here")
    # -- hold (music on hold is the queue's; here silence) and resume
    b.find_element(By.ID, "hold").click()
    wait.until(lambda d: d.find_element(By.ID, "unhold").is_enabled())
    m, page = measure(sim, b, {"caller": ph}, quiet=("caller",), seconds=1.5)
    assert m["caller"]["browser"] < SILENT and page["caller"] < PAGE_SILENT, (m, page)  # on hold: not heard
    b.find_element(By.ID, "unhold").click()
    wait.until(lambda d: d.find_element(By.ID, "hold").is_enabled())

    lap('consult agent 200 (station 0) while the ')
    # -- consult agent 200 (station 0) while the caller holds, then complete the transfer by hanging up
    st0 = sim.sim.station(0)

    async def pick(st):
        await st.wait_ring(20)
        st.offhook()
        await sim.sim.sleep(0.5)
    assert sim.acd.command("200", "ready", {})["ok"]
    Select(b.find_element(By.ID, "xfer-type")).select_by_value("agent")
    b.find_element(By.ID, "xfer-target").send_keys("200")
    b.find_element(By.ID, "consult").click()
    sim.do(pick(st0))
    print("consulting (the caller holds):")
    m, page = measure(sim, b, {"caller": ph, "agent2": st0}, hear=("agent2",), quiet=("caller",), seconds=1.5)
    assert m["agent2"]["browser"] > MIC_HEARD and page["agent2"] > PAGE_HEARD
    assert m["caller"]["agent2"] < SILENT and m["caller"]["browser"] < SILENT and page["caller"] < PAGE_SILENT
    b.find_element(By.ID, "sp-hangup").click()                                       # transfer completed
    wait.until(lambda d: _state(d) == "wrapup")
    wait.until(lambda d: sim.engine.station_call(port) is None)    # the engine releases the leg just after
    assert not phones.phone_for("100").offhook
    print("after the transfer:")
    m, _ = measure(sim, b, {"caller": ph, "agent2": st0})
    assert m["caller"]["agent2"] > HEARD and m["agent2"]["caller"] > HEARD
    left = float(b.find_element(By.ID, "wrap-left").text)
    assert 60 < left <= 120

    lap('the supervisor hears through their brows')
    # -- the supervisor hears through their browser phone: listen, whisper, barge on agent 200
    login_form(b, base, "super")
    wait.until(lambda d: d.current_url.endswith("/supervisor"))
    row = wait.until(lambda d: _text(d, "#agents tr[data-agent='200'].state-busy"))
    assert "13800138000" in row and "support" in row
    assert wait.until(lambda d: _text(d, "#queues tr[data-queue='support']"))
    Select(b.find_element(By.ID, "sup-phone-kind")).select_by_value("browser")
    levels, page_levels = {}, {}
    for mode in ("listen", "whisper", "barge"):
        css = f"#agents tr[data-agent='200'] button.{mode}"
        wait.until(lambda d, css=css: d.execute_script(
            "const b = document.querySelector(arguments[0]); if (b) b.click(); return !!b;", css))
        msg = wait.until(lambda d: (t := d.find_element(By.ID, "msg").text) and "…" not in t and t)
        assert msg == "Done.", msg
        b.execute_script("document.getElementById('msg').textContent = ''")
        print(f"supervisor {mode} (browser = the supervisor):")
        levels[mode], page_levels[mode] = measure(sim, b, {"caller": ph, "agent2": st0}, play=mode == "listen",
                                                  hear=("caller", "agent2") if mode == "listen" else ())
    sup = phones.phone_for("supervisor:super")
    assert sup is not None and sup.port == port + 1 and sup.offhook     # the second browser phone, answered
    lis, whi, bar = levels["listen"], levels["whisper"], levels["barge"]
    assert page_levels["listen"]["caller"] > PAGE_HEARD and page_levels["listen"]["agent2"] > PAGE_HEARD
    assert lis["caller"]["browser"] < SILENT and lis["agent2"]["browser"] < SILENT
    assert whi["agent2"]["browser"] > MIC_HEARD and whi["caller"]["browser"] < SILENT     # the caller hears nothing
    assert bar["caller"]["browser"] > MIC_HEARD and bar["agent2"]["browser"] > MIC_HEARD
    assert lis["caller"]["agent2"] > HEARD and lis["agent2"]["caller"] > HEARD          # the call itself goes on
    with db.session_scope(desk["hub"].session_factory) as s:
        acts = [(a.username, a.action) for a in s.scalars(select(AuditLog).where(AuditLog.action.like("supervisor.%")))]
    assert acts.count(("super", "supervisor.monitor")) == 3
    b.save_screenshot(os.path.join(artifacts_dir, "supervisor_console.png"))
    b.find_element(By.ID, "sup-sp-hangup").click()                      # the supervisor leaves the call
    wait.until(lambda d: not sup.offhook and sim.engine.station_call(sup.port) is None)
    m, _ = measure(sim, b, {"caller": ph, "agent2": st0})
    assert m["caller"]["agent2"] > HEARD and m["caller"]["browser"] < SILENT
    sim.do(ph.hangup())
    st0.onhook()

    lap('agent 100 comes back (the same browser p')
    # -- agent 100 comes back (the same browser phone reconnects), wraps up with a disposition, is ready
    login_form(b, base, "agent")
    wait.until(lambda d: d.current_url.endswith("/workbench/100"))
    wait.until(lambda d: _state(d) == "wrapup")
    wait.until(connected)
    assert phones.phone_for("100").port == port
    Select(b.find_element(By.ID, "disposition")).select_by_value("solved")
    b.find_element(By.ID, "dispose").click()
    wait.until(lambda d: "solved" in d.find_element(By.ID, "history").text)
    hist = b.find_element(By.ID, "history").text
    assert "13800138000" in hist and "transferred" in hist
    b.find_element(By.ID, "ready").click()
    wait.until(lambda d: _state(d) == "available")
    b.save_screenshot(os.path.join(artifacts_dir, "workbench_ready.png"))

    lap('next call: the caller hangs up first; th')
    # -- next call: the caller hangs up first; the page puts its phone back on hook by itself
    ph = sim.do(caller_in())
    wait.until(lambda d: _state(d) == "ringing" and phones.phone_for("100").ringing)
    b.find_element(By.ID, "sp-answer").click()
    wait.until(lambda d: _state(d) == "busy")
    sim.do(ph.hangup())
    wait.until(lambda d: _state(d) == "wrapup" and not phones.phone_for("100").offhook)
    assert sim.engine.station_call(port) is None
    lap('signing out gives the browser phone back')
    # -- signing out gives the browser phone back
    b.find_element(By.ID, "sign-out").click()
    wait.until(lambda d: _state(d) == "logged_out" and phones.phone_for("100") is None)
    assert sim.acd.reconciled == []                  # nothing was left for the reconciliation to clear
