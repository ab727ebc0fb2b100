"""IVR flows through the card simulator in virtual time: scripted callers press keys and listen.

Prompts here are pure tones (one frequency per prompt name, none near DTMF or the
record beep) so what a caller heard can be read back from the captured audio with
an FFT: the tests assert on the prompts heard, the CDR path, files and DB rows.
"""
import asyncio
import datetime as dt
import os
import socket
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import soundfile as sf

import trunkline.ivr.models  # noqa: F401  (ivr_ tables)
from trunkline.acd.service import ACD
from trunkline.data.db import Base, make_engine, make_session_factory
from trunkline.dsp.constants import RATE
from trunkline.fax import FaxEndpoint
from trunkline.fax.tiff import FaxPage, read_tiff, write_tiff
from trunkline.ivr import cdr, say
from trunkline.ivr.blacklist import Firewall
from trunkline.ivr.calendar import Calendar
from trunkline.ivr.flowdoc import FlowError
from trunkline.ivr.flows import FlowRegistry, Router, Services
from trunkline.ivr.lookup import HttpLookup, SqlLookup
from trunkline.ivr.prompts import SYSTEM_PROMPTS, PromptLibrary
from trunkline.ivr.voicemail import Voicemail
from trunkline.pstn import SimError

DTMF = (697, 770, 852, 941, 1209, 1336, 1477, 1633)
POOL = [f for f in range(300, 3500, 40)
        if all(abs(f - d) > 45 for d in DTMF) and abs(f - 1000) > 60 and abs(f - 450) > 60]
FLOW_PROMPTS = ["welcome", "main", "invalid", "timeout", "short", "bye", "open", "closed", "holiday",
                "l1", "l2", "l3", "l4", "l5", "leaf", "account", "balance", "sub", "after", "vip", "agent",
                "recorded"]
NAMES = FLOW_PROMPTS + sorted(SYSTEM_PROMPTS)
assert len(NAMES) <= len(POOL), (len(NAMES), len(POOL))
FREQ = dict(zip(NAMES, POOL))
FREQ["caller-message"] = 250          # what callers say into voicemail / recordings in these tests
BY_FREQ = {f: n for n, f in FREQ.items()}
PROMPT_SECONDS = 0.4


def tone(freq, seconds, level=8000):
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def heard_prompts(audio, win=400):
    """Names of the tone prompts in captured audio, in order (consecutive repeats of one play merged)."""
    audio = np.asarray(audio, dtype=np.float64)
    out, last, run = [], None, 0
    for i in range(0, len(audio) - win + 1, win):
        seg = audio[i:i + win] * np.hanning(win)
        if np.sqrt(np.mean(audio[i:i + win] ** 2)) < 500:
            name = None
        else:
            spec = np.abs(np.fft.rfft(seg)) ** 2
            k = int(np.argmax(spec))
            purity = spec[max(0, k - 2):k + 3].sum() / spec.sum()     # a prompt tone, not speech
            f = k * RATE / win
            cand = min(BY_FREQ, key=lambda x: abs(x - f))
            name = BY_FREQ[cand] if abs(cand - f) <= 20 and purity > 0.8 else None
        if name == last:
            run += 1
            continue
        last, run = name, 1
        if name is not None:
            out.append(name)
    return out


def collapse(names):
    """Heard prompt names with silence-separated repeats kept but exact neighbours merged."""
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


@pytest.fixture(scope="module")
def prompt_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("prompts")
    lib = PromptLibrary(root, language="zh", tts=False)
    for name, f in FREQ.items():
        lib.add_samples(name, tone(f, PROMPT_SECONDS), lang="zh")
    return root


class Rig:
    """The simulation rig (`SimRig`: a card with analog trunks, its far-end switch, an engine) with the IVR
    wired in: prompt library, voicemail, calendars, lookups, flow registry, firewall and router."""

    def __init__(self, sim_rig, tmp_path, prompt_root, when="2026-09-28 10:00"):
        self.sim_rig = sim_rig
        self.sim, self.board, self.engine = sim_rig.sim, sim_rig.board, sim_rig.engine
        db = make_engine(f"sqlite:///{tmp_path}/ivr.db")
        Base.metadata.create_all(db)
        self.db = make_session_factory(db)
        self.prompts = PromptLibrary(prompt_root, language="zh")
        self.when = dt.datetime.fromisoformat(when).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
        self.notified = []
        self.voicemail = Voicemail(self.db, tmp_path / "vm", self.prompts,
                                   notify=lambda box, msg: self.notified.append((box, msg)), silence_seconds=3.0)
        self.calendars = {"office": Calendar(
            "office", {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
            holidays={"2026-10-01": "国庆节"}, workdays={"2026-10-11": None})}
        self.lookups = {}
        self.services = Services(prompts=self.prompts, session_factory=self.db, calendars=self.calendars,
                                 lookups=self.lookups, voicemail=self.voicemail, clock=lambda: self.when,
                                 data_dir=str(tmp_path / "data"))
        self.registry = FlowRegistry(self.services)
        self.firewall = Firewall(self.db)
        self.router = Router(self.registry, "main", firewall=self.firewall).install(self.engine)

    def run(self, script, until=900.0):
        """Run the engine in virtual time while `script()` drives callers; returns its result."""
        async def main():
            async def wrapped():
                try:
                    return await script()
                finally:
                    await self.sim.sleep(1.5)        # let the engine see hang-ups and release channels
                    self.engine.stop()
            task = asyncio.ensure_future(wrapped())
            await self.engine.run(until=until)
            return await task
        return asyncio.run(main())

    def paths(self):
        from trunkline.ivr.models import IvrCallPath
        with self.db() as s:
            return [cdr.load(self.db, r.call_id) for r in s.query(IvrCallPath).order_by(IvrCallPath.id)]


@pytest.fixture
def rig(make_rig, tmp_path, prompt_root):
    return Rig(make_rig("fxo=4"), tmp_path, prompt_root)


async def call_in(rig, caller="13800000000", number="12345"):
    phone = rig.sim.call(number, from_=caller)
    await phone.wait_answer(timeout=20)
    phone.start_capture()
    return phone


async def hear(phone, seconds):
    return heard_prompts(await phone.listen(seconds))


MENU_FLOW = """\
name: main
language: zh
nodes:
  welcome: {type: play, prompt: welcome, next: menu}
  menu:
    type: menu
    greeting: main
    short_greeting: short
    invalid: invalid
    timeout_prompt: timeout
    timeout: 3
    max_failures: 2
    max_timeouts: 3
    choices: {"1": leaf}
    on_fail: bye
    on_timeout: bye
  leaf: {type: play, prompt: leaf, next: bye}
  bye: {type: hangup}
"""


def test_menu_invalid_timeout_and_exit(rig):
    rig.registry.load_yaml(MENU_FLOW)

    async def script():
        phone = await call_in(rig)
        got = await hear(phone, 1.2)                 # welcome + long greeting
        await phone.send_dtmf("9")                   # invalid
        got += await hear(phone, 4.5)                # invalid prompt, short greeting, silence -> timeout prompt
        await phone.send_dtmf("8")                   # second invalid: max_failures=2 -> exit action
        got += await hear(phone, 2.0)
        await phone.wait_hangup(10)
        return got

    got = rig.run(script)
    print("heard:", got)
    assert collapse(got) == ["welcome", "main", "invalid", "short", "timeout", "short"]
    (rec,) = rig.paths()
    assert [p["node"] for p in rec["path"]] == ["welcome", "menu", "bye"]
    assert [d["digits"] for d in rec["digits"]] == ["8"]
    assert rec["outcome"] == "hangup at bye"


def test_five_level_menu(rig):
    levels = "\n".join(
        f"  m{i}:\n    type: menu\n    greeting: l{i}\n"
        f"    choices: {{\"{i}\": {'m%d' % (i + 1) if i < 5 else 'leaf'}}}\n"
        f"    on_fail: bye" for i in range(1, 6))
    rig.registry.load_yaml(f"name: main\nnodes:\n{levels}\n  leaf: {{type: play, prompt: leaf, next: bye}}\n"
                           f"  bye: {{type: hangup}}\n")

    async def script():
        phone = await call_in(rig)
        got = []
        for i in range(1, 6):
            got += await hear(phone, 0.6)
            await phone.send_dtmf(str(i))
        got += await hear(phone, 1.0)
        await phone.wait_hangup(10)
        return got

    got = rig.run(script)
    print("heard:", got)
    assert collapse(got) == ["l1", "l2", "l3", "l4", "l5", "leaf"]
    (rec,) = rig.paths()
    assert [p["node"] for p in rec["path"]] == ["m1", "m2", "m3", "m4", "m5", "leaf", "bye"]
    assert [d["digits"] for d in rec["digits"]] == ["1", "2", "3", "4", "5"]
    # the CDR columns the data layer stores (trunkline.data.models.Cdr.ivr_path / digits)
    assert rec["flow"] == "main" and rec["outcome"] == "hangup at bye"


ALL_NODES = """\
name: main
language: zh
vars: {tier: gold}
nodes:
  start: {type: set, vars: {greeting_var: "${tier}-x"}, next: by_caller}
  by_caller:
    type: branch
    on: caller
    cases: {"1380": by_var, "999": bye}
    default: bye
  by_var:
    type: branch
    on: var
    var: tier
    cases: {gold: welcome}
    default: bye
  welcome: {type: play, prompt: welcome, next: hours}
  hours: {type: branch, on: time, calendar: office, open: acct, closed: bye, holiday: bye}
  acct:
    type: get_digits
    prompt: account
    var: account
    digits: 8
    mask: true
    mask_keep: 2
    next: look
  look: {type: lookup, source: billing, params: {account: "${account}"}, next: amount, on_error: bye}
  amount: {type: say, what: money, value: "${balance}", before: balance, next: rec}
  rec: {type: record, var: msg, prompt: recorded, max_seconds: 10, silence_seconds: 2, next: sub}
  sub: {type: subflow, flow: helper, next: after}
  after: {type: play, prompt: after, next: bye}
  bye: {type: hangup}
"""
HELPER = """\
name: helper
nodes:
  s1: {type: play, prompt: sub, next: s2}
  s2: {type: return}
"""


def _billing(rig, tmp_path):
    from sqlalchemy import text
    eng = make_engine(f"sqlite:///{tmp_path}/billing.db")
    with eng.begin() as c:
        c.execute(text("CREATE TABLE accounts (no TEXT, balance TEXT)"))
        c.execute(text("INSERT INTO accounts VALUES ('12345678', '2.50')"))
    rig.lookups["billing"] = SqlLookup("billing", "SELECT balance FROM accounts WHERE no = :account",
                                       make_session_factory(eng))


def test_every_node_type_in_one_flow(rig, tmp_path):
    _billing(rig, tmp_path)
    calls = []
    rig.engine.bus.subscribe(lambda ev: ev.get("type") == "call_offered" and calls.append(
        rig.engine.calls.get(ev["channel"])))
    rig.registry.load_yaml(HELPER)
    rig.registry.load_yaml(ALL_NODES)
    spoken = say.render(say.money("2.50", "zh"), rig.prompts)
    message = tone(250, 1.5)

    async def script():
        phone = await call_in(rig)
        got = await hear(phone, 1.0)                  # welcome, account prompt
        await phone.send_dtmf("12345678")
        audio = await phone.listen(1.2 + len(spoken) / RATE)   # balance, 两元五角 (speech), "recorded", beep
        got += heard_prompts(audio)
        await phone.play(message)                     # the caller speaks; silence then ends the recording
        got += await hear(phone, 4.0)
        await phone.wait_hangup(10)
        return got, audio

    got, audio = rig.run(script)
    print("heard:", got)
    assert collapse(got) == ["welcome", "account", "balance", "recorded", "sub", "after"]
    # the money reading reached the caller: cross-correlate with the rendered fragments
    a = audio.astype(np.float64)
    s = spoken.astype(np.float64)
    energy = np.sqrt(np.convolve(a ** 2, np.ones(len(s)), "valid"))
    corr = np.correlate(a, s, mode="valid") / (np.linalg.norm(s) * energy + 1e-9)
    print(f"say money: best normalised correlation {corr.max():.3f}")
    assert corr.max() > 0.9
    (rec,) = rig.paths()
    assert [p["node"] for p in rec["path"]] == ["start", "by_caller", "by_var", "welcome", "hours", "acct", "look",
                                                "amount", "rec", "sub", "s1", "s2", "after", "bye"]
    assert rec["digits"] == [{"node": "acct", "digits": "******78", "masked": True}]
    fields = cdr.cdr_fields(calls[0])
    assert fields["digits"] == "acct=******78" and "12345678" not in str(fields)
    assert fields["ivr_path"] == ("start>by_caller>by_var>welcome>hours>acct>look>amount>rec>sub>helper:s1>"
                                  "helper:s2>after>bye")
    # the recording holds the caller's 2 kHz tone
    rec_files = list((tmp_path / "data" / "recordings").rglob("*.wav"))
    assert len(rec_files) == 1
    data, rate = sf.read(rec_files[0], dtype="int16")
    spec = np.abs(np.fft.rfft(data.astype(float)))
    peak = np.argmax(spec) * rate / len(data)
    print(f"recording {len(data) / rate:.2f} s, peak {peak:.0f} Hz")
    assert rate == 8000 and abs(peak - 250) < 10 and 1.4 <= len(data) / rate <= 4.5


HANGUP_FLOW = """\
name: main
nodes:
  start: {type: branch, on: var, var: target, cases: {}, default: play}
  play: {type: play, prompt: [welcome, welcome, welcome, welcome, welcome, welcome, welcome, welcome]}
  menu: {type: menu, greeting: main, choices: {"1": bye}, timeout: 20}
  get_digits: {type: get_digits, var: x, digits: 4, timeout: 20}
  say: {type: say, what: number, value: "1234567", next: bye}
  record: {type: record, var: r, max_seconds: 30}
  voicemail: {type: voicemail, box: "100"}
  survey: {type: survey}
  subflow: {type: subflow, flow: helper2}
  queue: {type: queue, queue: support}
  dial: {type: dial, number: "5551234", timeout: 20}
  fax: {type: fax, mode: receive}
  bye: {type: hangup}
"""


@pytest.mark.parametrize("node", ["play", "menu", "get_digits", "say", "record", "voicemail", "survey", "subflow",
                                  "queue", "dial", "fax"])
def test_hangup_in_every_node(rig, node):
    rig.voicemail.create_box("100", "4321")
    rig.registry.load_yaml("name: helper2\nnodes:\n  h: {type: menu, greeting: sub, choices: {'1': h2}, timeout: 20}\n"
                           "  h2: {type: return}\n")
    text = HANGUP_FLOW.replace("cases: {}", "cases: {go: %s}" % node)
    text = text.replace("name: main\n", "name: main\nvars: {target: go}\n")
    rig.registry.load_yaml(text)

    async def script():
        phone = await call_in(rig)
        await phone.listen(0.25)
        await phone.hangup()
        await rig.sim.sleep(2.0)

    rig.run(script)
    (rec,) = rig.paths()
    last = rec["path"][-1]["node"]
    print(node, rec["outcome"], [p["node"] for p in rec["path"]])
    assert rec["outcome"] == f"caller hung up at {last}"
    assert node in [p["node"] for p in rec["path"]]
    assert not rig.engine.calls, "channel not released"


def test_voicemail_deposit_and_retrieval(rig):
    rig.voicemail.create_box("8001", "2468", name="Sales")
    rig.registry.load_yaml("name: main\nnodes:\n  vm: {type: voicemail, box: '8001'}\n")
    rig.registry.load_yaml("name: vmadmin\nnodes:\n  r: {type: voicemail, mode: retrieve, next: bye}\n"
                           "  bye: {type: hangup}\n")
    message = tone(250, 2.0)

    async def deposit():
        phone = await call_in(rig, caller="13911112222")
        got = await hear(phone, 1.0)               # default greeting, then the beep
        await phone.play(message)
        await phone.send_dtmf("#")
        got += await hear(phone, 1.0)
        await phone.wait_hangup(10)
        return got

    got = rig.run(deposit)
    print("deposit heard:", got)
    assert got[0] == "vm-default-greeting" and "ivr-goodbye" in got
    msgs = rig.voicemail.messages("8001")
    assert len(msgs) == 1 and msgs[0]["folder"] == "new" and msgs[0]["caller"] == "13911112222"
    assert 1.9 <= msgs[0]["duration_ms"] / 1000 <= 2.6
    assert rig.voicemail.waiting() == {"8001": 1}
    assert rig.notified and rig.notified[0][0] == "8001"

    # analog trunks carry no dialled number: point the hotline at the retrieval flow (a reload)
    rig.registry.load_yaml("name: main\nnodes:\n  r: {type: subflow, flow: vmadmin}\n")

    async def retrieve():
        phone = await call_in(rig)
        got = await hear(phone, 0.6)               # enter box
        await phone.send_dtmf("8001#")
        got += await hear(phone, 0.6)              # enter pin
        await phone.send_dtmf("1111#")             # wrong PIN
        got += await hear(phone, 1.2)              # bad pin, enter box again
        await phone.send_dtmf("8001#")
        got += await hear(phone, 0.6)
        await phone.send_dtmf("2468#")
        got += await hear(phone, 4.0)              # you have 1 new 0 saved, main menu
        await phone.send_dtmf("1")                 # listen to new messages
        got += await hear(phone, 9.0)              # from <number>, the message, message menu
        await phone.send_dtmf("7")                 # delete
        got += await hear(phone, 4.0)
        await phone.send_dtmf("*")
        got += await hear(phone, 1.0)
        await phone.wait_hangup(10)
        return got

    got2 = rig.run(retrieve)
    print("retrieve heard:", got2)
    assert got2[:4] == ["vm-enter-box", "vm-enter-pin", "vm-bad-pin", "vm-enter-box"]
    assert "vm-main-menu" in got2 and "vm-message-from" in got2 and "vm-deleted" in got2
    assert got2.index("vm-message-from") < got2.index("caller-message") < got2.index("vm-message-menu") \
        < got2.index("vm-deleted")
    assert rig.voicemail.messages("8001") == [] and not os.path.exists(msgs[0]["path"])
    rec = rig.paths()[-1]
    pins = [d["digits"] for d in rec["digits"] if d["node"] == "vm-pin"]
    assert pins == ["****", "****"]


@pytest.mark.parametrize("when,expected", [("2026-10-01 10:00", "holiday"), ("2026-09-28 10:00", "open"),
                                           ("2026-09-28 20:00", "closed"), ("2026-10-11 10:00", "open")])
def test_business_hours_and_holiday_branch(rig, when, expected):
    rig.when = dt.datetime.fromisoformat(when).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    rig.registry.load_yaml("""\
name: main
nodes:
  h: {type: branch, on: time, calendar: office, open: o, closed: c, holiday: hol}
  o: {type: play, prompt: open}
  c: {type: play, prompt: closed}
  hol: {type: play, prompt: holiday}
""")

    async def script():
        phone = await call_in(rig)
        got = await hear(phone, 1.0)
        await phone.wait_hangup(5)
        return got

    assert rig.run(script) == [expected]


def test_blacklisted_callers(rig):
    rig.registry.load_yaml("name: main\nnodes:\n  w: {type: play, prompt: welcome}\n")
    rig.registry.load_yaml("name: screening\nnodes:\n  v: {type: play, prompt: vip}\n")
    rig.firewall.add("170", "prefix", "reject", cause=21)
    rig.firewall.add("13600000000", "exact", "flow", flow="screening")

    async def script():
        # an analog trunk cannot refuse a call: a rejected call is simply never answered. Allowed calls are
        # answered at the second ring (~5 s), once the caller ID between the rings is known.
        bad = rig.sim.call("12345", from_="17012345678")
        with pytest.raises(SimError):
            await bad.wait_answer(timeout=20)      # four rings: the re-offers after the first stay refused
        await bad.hangup()
        phone = await call_in(rig, caller="13600000000")
        redirected = await hear(phone, 1.0)
        await phone.wait_hangup(5)
        return redirected

    assert rig.run(script) == ["vip"]
    flows = [r["flow"] for r in rig.paths()]
    assert flows == ["screening"]          # the rejected call never ran a flow


def test_lookup_backend_down_speaks_fallback(rig):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rig.lookups["billing"] = HttpLookup("billing", f"http://127.0.0.1:{port}/b?acct={{account}}", timeout=1.0)
    rig.registry.load_yaml("""\
name: main
nodes:
  a: {type: get_digits, prompt: account, var: account, digits: 4, next: l}
  l: {type: lookup, source: billing, params: {account: "${account}"}, next: ok, on_error: sorry}
  ok: {type: play, prompt: balance, next: bye}
  sorry: {type: play, prompt: agent, next: bye}
  bye: {type: hangup}
""")

    async def script():
        phone = await call_in(rig)
        got = await hear(phone, 0.6)
        await phone.send_dtmf("1234")
        got += await hear(phone, 3.0)
        await phone.wait_hangup(5)
        return got

    got = rig.run(script)
    print("heard:", got)
    assert got == ["account", "ivr-lookup-failed", "agent"]
    (rec,) = rig.paths()
    assert [p["node"] for p in rec["path"]] == ["a", "l", "sorry", "bye"]


def test_bad_reload_rejected_while_running_flow_stays_in_service(rig):
    v1 = rig.registry.load_yaml("name: main\nnodes:\n  a: {type: play, prompt: l1, next: b}\n"
                                "  b: {type: menu, greeting: l2, choices: {'1': c}, timeout: 5}\n"
                                "  c: {type: play, prompt: l3}\n")
    bad = "name: main\nnodes:\n  a: {type: play, prompt: l4, next: b}\n  b: {type: menu, greeting: l5, choises: {}}\n"
    good2 = "name: main\nnodes:\n  a: {type: play, prompt: l4, next: b}\n  b: {type: play, prompt: l5}\n"
    errors = []

    async def script():
        first = await call_in(rig)
        got1 = await hear(first, 0.9)                          # l1, l2 (v1)
        try:
            rig.registry.load_yaml(bad)
        except FlowError as e:
            errors.append(str(e))
        v2 = rig.registry.load_yaml(good2)
        await first.send_dtmf("1")
        got1 += await hear(first, 0.8)                         # still v1: l3
        await first.wait_hangup(5)
        second = await call_in(rig)
        got2 = await hear(second, 1.2)
        await second.wait_hangup(5)
        return got1, got2, v2

    got1, got2, v2 = rig.run(script)
    print(errors[0])
    assert "flow 'main', node 'b' (line 4): unknown key 'choises'" in errors[0]
    assert "needs 'choices'" in errors[0]
    assert got1 == ["l1", "l2", "l3"] and got2 == ["l4", "l5"]
    assert v2.version == v1.version + 1
    assert [r["flow_version"] for r in rig.paths()] == [v1.version, v2.version]


def test_menu_zero_for_an_agent_without_acd_and_survey(rig):
    rig.registry.load_yaml("""\
name: main
nodes:
  m: {type: menu, greeting: main, choices: {"1": s}, agent: support, on_fail: s}
  s: {type: survey, queue: support, next: bye}
  bye: {type: hangup}
""")

    async def script():
        phone = await call_in(rig)
        got = await hear(phone, 0.6)
        await phone.send_dtmf("0")
        got += await hear(phone, 1.0)              # ACD missing: clear prompt, then the menu's exit: survey
        await phone.send_dtmf("4")
        got += await hear(phone, 1.0)
        await phone.wait_hangup(5)
        return got

    got = rig.run(script)
    print("heard:", got)
    assert got == ["main", "ivr-queue-unavailable", "survey-ask", "survey-thanks"]
    from trunkline.ivr.survey import scores
    (rec,) = rig.paths()
    assert scores(rig.db, rec["call_id"]) == [4]


def test_python_flow_as_subflow_and_record_prompt_by_phone(rig, tmp_path):
    from trunkline.ivr.prompts import record_by_phone
    lib = PromptLibrary(tmp_path / "own", language="zh", tts=False, session_factory=rig.db)
    lib.add_samples("old", tone(FREQ["l1"], 0.4), number=42)
    for name in ("prompt-admin-pin", "vm-bad-pin", "prompt-enter-number", "prompt-record", "prompt-review",
                 "prompt-stored", "ivr-goodbye"):
        lib.add_samples(name, rig.prompts.load(name))
    stored = []

    async def admin(call):
        stored.extend(await record_by_phone(call, lib, pin="9999"))

    rig.registry.register("admin", admin)
    rig.registry.load_yaml("name: main\nnodes:\n  a: {type: play, prompt: welcome, next: b}\n"
                           "  b: {type: subflow, flow: admin}\n")
    voice = tone(FREQ["l5"], 1.0)

    async def script():
        phone = await call_in(rig)
        got = await hear(phone, 1.0)                  # welcome, enter PIN
        await phone.send_dtmf("9999#")
        got += await hear(phone, 0.6)                 # enter prompt number
        await phone.send_dtmf("42#")
        got += await hear(phone, 0.8)                 # record after the tone + beep
        await phone.play(voice)
        await phone.send_dtmf("#")
        got += await hear(phone, 1.8)                 # playback of the take, review menu
        await phone.send_dtmf("1")
        got += await hear(phone, 1.0)                 # stored, enter number
        await phone.send_dtmf("#")                    # no number: done
        got += await hear(phone, 1.0)
        await phone.wait_hangup(5)
        return got

    got = rig.run(script)
    print("heard:", got)
    assert got == ["welcome", "prompt-admin-pin", "prompt-enter-number", "prompt-record", "l5", "prompt-review",
                   "prompt-stored", "prompt-enter-number", "ivr-goodbye"]
    assert stored == ["old"]
    new = lib.load("old")
    spec = np.abs(np.fft.rfft(new.astype(float)))
    peak = np.argmax(spec) * RATE / len(new)
    print(f"stored prompt {len(new) / RATE:.2f} s, peak {peak:.0f} Hz")
    assert abs(peak - FREQ["l5"]) < 10 and 0.9 <= len(new) / RATE <= 1.6   # the take ends when "#" is detected
    (rec,) = rig.paths()
    assert [p["node"] for p in rec["path"]] == ["a", "b", "admin"]


def test_queue_to_a_real_agent_then_post_call_survey(make_rig, tmp_path, prompt_root):
    """Menu "0 for an agent" -> the ACD rings a station agent, they talk, the agent hangs up,
    the caller rates the call; the score lands in ivr_survey_scores with the call id and agent."""
    rig = Rig(make_rig("fxo=4&fxs=1"), tmp_path, prompt_root)
    acd = ACD(rig.engine, config={"queues": {"support": {}}, "feature_codes": False,
                                  "agents": [{"id": "a1", "name": "Alice", "station_port": 0,
                                              "queues": ["support"]}]})
    acd.core.login("a1")
    rig.services.acd = acd
    rig.registry.load_yaml("""\
name: main
nodes:
  m: {type: menu, greeting: main, choices: {"1": bye}, agent: support, on_fail: bye}
  bye: {type: hangup}
""".replace("agent: support, on_fail: bye}", "agent: support, on_fail: bye}\n  q: {type: queue, queue: support, "
                                              "survey: true, next: bye}").replace(
        "choices: {\"1\": bye}", "choices: {\"1\": q}"))
    station = rig.sim.station(0)
    caller_voice = tone(FREQ["l3"], 1.0)
    agent_voice = tone(FREQ["l4"], 1.0)

    async def script():
        await acd.start()
        phone = await call_in(rig)
        got = await hear(phone, 0.6)
        await phone.send_dtmf("1")
        await station.wait_ring(timeout=30)
        station.offhook()
        await rig.sim.sleep(0.5)
        station.start_capture()
        station.take_captured()
        phone.play_nowait(caller_voice)
        await station.play(agent_voice)
        agent_heard = heard_prompts(station.take_captured())
        got += heard_prompts(phone.take_captured())
        station.onhook()                              # the agent hangs up
        got += await hear(phone, 1.0)                 # survey question
        await phone.send_dtmf("5")
        got += await hear(phone, 1.0)
        await phone.wait_hangup(10)
        acd.stop()
        return got, agent_heard

    got, agent_heard = rig.run(script)
    print("caller heard:", got, "agent heard:", agent_heard)
    assert "l3" in agent_heard and "l4" in got         # a real two-way conversation through the bridge
    assert got[0] == "main" and got[-2:] == ["survey-ask", "survey-thanks"]
    from trunkline.ivr.survey import scores
    (rec,) = rig.paths()
    assert [p["node"] for p in rec["path"]][:2] == ["m", "q"]
    assert scores(rig.db, rec["call_id"]) == [5]
    from trunkline.ivr.models import IvrSurveyScore
    with rig.db() as s:
        row = s.query(IvrSurveyScore).one()
        assert (row.queue, row.agent) == ("support", "a1")


def test_fax_node_receives_a_fax_from_the_caller(rig, tmp_path):
    """The caller's fax machine (our FaxEndpoint on the far end, fed block by block) sends one page;
    the fax node receives it into a TIFF-F file through the engine."""
    img = np.zeros((120, 1728), np.uint8)
    img[20:100, 100:1600:50] = 1
    src = str(tmp_path / "send.tif")
    write_tiff(src, [FaxPage(img, 204.0, 98.0)])
    out = str(tmp_path / "got.tif")
    rig.registry.load_yaml(f"name: main\nnodes:\n  f: {{type: fax, mode: receive, file: '{out}', var: faxfile, "
                           f"next: ok, on_fail: bad}}\n  ok: {{type: play, prompt: open}}\n"
                           f"  bad: {{type: play, prompt: closed}}\n")
    sender = FaxEndpoint(True, send=src, modems=("v27ter", "v29"))

    async def script():
        phone = await call_in(rig)
        for _ in range(int(120 / 0.02)):
            sender.rx(phone.take_captured())
            phone.play_nowait(sender.tx(160))
            await rig.sim.sleep(0.02)
            if sender.done:
                break
        got = await hear(phone, 1.0)
        await phone.wait_hangup(5)
        return got

    got = rig.run(script)
    print("sender:", sender.result, "heard after:", got)
    assert sender.result.ok and got == ["open"]
    pages = read_tiff(out)
    assert len(pages) == 1 and (pages[0].image == img).mean() > 0.99


def test_fax_node_sends_a_fax_to_the_caller(rig, tmp_path):
    """Fax-on-demand: the fax node sends a TIFF-F document to the caller's fax machine."""
    img = np.zeros((120, 1728), np.uint8)
    img[10:110, 300:1400:40] = 1
    doc = str(tmp_path / "brochure.tif")
    write_tiff(doc, [FaxPage(img, 204.0, 98.0)])
    rig.registry.load_yaml(f"name: main\nvars: {{doc: '{doc}'}}\nnodes:\n"
                           f"  f: {{type: fax, mode: send, file: '${{doc}}', next: ok, on_fail: bad}}\n"
                           f"  ok: {{type: hangup}}\n  bad: {{type: play, prompt: closed}}\n")
    got = str(tmp_path / "got.tif")
    receiver = FaxEndpoint(True, receive=got, modems=("v27ter", "v29"))

    async def script():
        phone = await call_in(rig)
        for _ in range(int(120 / 0.02)):
            receiver.rx(phone.take_captured())
            phone.play_nowait(receiver.tx(160))
            await rig.sim.sleep(0.02)
            if receiver.done:
                break
        await phone.wait_hangup(10)

    rig.run(script)
    print("receiver:", receiver.result)
    assert receiver.result.ok and receiver.result.pages == 1
    assert (read_tiff(got)[0].image == img).mean() > 0.99
    (rec,) = rig.paths()
    assert [p["node"] for p in rec["path"]] == ["f", "ok"]


def test_per_flow_language_and_text_prompts(rig, tmp_path):
    """Two flows on one library: the en flow plays the en recording of a prompt, the zh flow the zh one;
    a prompt defined by text in the document is synthesised (espeak-ng) in the flow's language."""
    lib = PromptLibrary(tmp_path / "lang", language="zh")
    lib.add_samples("hello", tone(FREQ["l1"], 0.4), lang="zh")
    lib.add_samples("hello", tone(FREQ["l2"], 0.4), lang="en")
    rig.services.prompts = lib
    rig.registry.load_yaml("name: en_line\nlanguage: en\nnodes:\n  a: {type: play, prompt: hello}\n")
    rig.registry.load_yaml("name: main\nlanguage: zh\nprompts: {bye_text: {zh: 再见, en: Goodbye}}\nnodes:\n"
                           "  a: {type: play, prompt: hello, next: b}\n  b: {type: play, prompt: bye_text}\n")
    rig.firewall.add("13700000000", "exact", "flow", flow="en_line")

    async def script():
        zh = await call_in(rig)
        got_zh = heard_prompts(await zh.listen(2.0))
        await zh.wait_hangup(5)
        en = await call_in(rig, caller="13700000000")
        got_en = await hear(en, 1.0)
        await en.wait_hangup(5)
        return got_zh, got_en

    got_zh, got_en = rig.run(script)
    print("zh flow heard", got_zh, "en flow heard", got_en)
    assert got_zh == ["l1"] and got_en == ["l2"]
    if lib.tts_enabled:
        assert os.listdir(tmp_path / "lang" / "_tts")      # 再见 synthesised once into the TTS cache


def test_multi_digit_menu_inter_digit_timeout_and_no_barge_in(rig):
    rig.registry.load_yaml("""\
name: main
nodes:
  m:
    type: menu
    greeting: [main, main, main]
    invalid: invalid
    digits: 2
    inter_digit: 1.5
    timeout: 4
    barge_in: false
    choices: {"10": ten, "11": eleven}
    on_fail: bye
  ten: {type: play, prompt: l1, next: bye}
  eleven: {type: play, prompt: l2, next: bye}
  bye: {type: hangup}
""")

    async def script():
        phone = await call_in(rig)
        await phone.listen(0.3)
        await phone.send_dtmf("10")                   # during the greeting: no barge-in, digits thrown away
        audio = await phone.listen(1.0)
        got = heard_prompts(audio)
        await phone.send_dtmf("1")                    # one digit, then the inter-digit timeout: "1" is invalid
        got += await hear(phone, 3.5)
        await phone.send_dtmf("11")
        got += await hear(phone, 1.0)
        await phone.wait_hangup(5)
        return got

    got = rig.run(script)
    print("heard:", got)
    assert got == ["main", "invalid", "main", "l2"]   # the greeting played to its end despite the keys
    (rec,) = rig.paths()
    assert [p["node"] for p in rec["path"]] == ["m", "eleven", "bye"]
    assert rec["digits"] == [{"node": "m", "digits": "11", "masked": False}]


def test_a_loop_without_media_is_stopped_and_the_call_cleared(rig):
    rig.registry.load_yaml("name: main\nnodes:\n  a: {type: set, vars: {x: '1'}, next: b}\n"
                           "  b: {type: branch, on: var, var: x, cases: {'2': a}, default: a}\n")

    async def script():
        phone = await call_in(rig)
        await phone.wait_hangup(5)          # the engine clears the call instead of spinning forever

    rig.run(script)
    (rec,) = rig.paths()
    assert rec["outcome"] == "error: FlowRuntimeError" and len(rec["path"]) > 500
    assert not rig.engine.calls


DIAL_FLOW = """\
name: main
language: zh
nodes:
  dial: {type: dial, number: "5551234", timeout: 20, on_fail: failed, next: bye}
  failed: {type: play, prompt: leaf, next: bye}
  bye: {type: hangup}
"""


def test_dial_node_transfers_to_a_number_that_answers(rig):
    """Transfer to a number over an analog trunk (DTMF dialing through the simulated CO): the far party
    answers, caller and party hear each other through the bridge, the party hangs up, the flow goes on."""
    rig.registry.load_yaml(DIAL_FLOW)
    heard = {}

    async def party(p):
        heard["party"] = await p.listen(1.0)
        await p.play(tone(1000, 1.0))
        await p.hangup()
    rig.sim.add_destination("5551234", kind="answer", answer_after=2.0, script=party)

    async def script():
        phone = await call_in(rig)
        phone.play_nowait(tone(700, 14.0))     # the caller talks through dialing, ringing and the bridge
        heard["caller"] = await phone.listen(16.0)
        await phone.wait_hangup(20)
        return rig.engine.calls

    left = rig.run(script)
    spectrum = lambda x, f: np.abs(np.fft.rfft(x.astype(float)))[int(f * len(x) / 8000)]  # noqa: E731
    assert len(heard["party"]) and spectrum(heard["party"], 700) > 50 * spectrum(heard["party"], 1000)
    assert spectrum(heard["caller"], 1000) > 50 * spectrum(heard["caller"], 700)
    assert left == {}
    (rec,) = [p for p in rig.paths() if p["path"]]
    print("path:", rec["path"])
