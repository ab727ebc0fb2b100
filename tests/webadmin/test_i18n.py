"""Bilingual web admin: the zh_CN catalogue covers every message in the source; a zh-CN browser gets Chinese
pages (login included) with local times; the language switch is kept per user; headless Chromium in zh-CN
finds no untranslated English on any page."""
import datetime as dt
import os
import re
import subprocess

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from chrome import CHROMEDRIVER, CHROMIUM, FLAGS, login_form
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from web_fixtures import FixtureEngine, login, make_app

from trunkline.acd.models import AcdQueue
from trunkline.data import db
from trunkline.data.models import Cdr, User
from trunkline.webadmin import serve

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PO = os.path.join(ROOT, "webadmin", "translations", "zh_CN", "LC_MESSAGES", "messages.po")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _source_messages():
    method_map = [("webadmin/**.py", "python"), ("webadmin/templates/**.html", "jinja2")]
    with open(os.path.join(ROOT, "babel.cfg")) as f:        # the extraction config is the one shipped
        cfg = f.read()
    assert "[python: webadmin/**.py]" in cfg and "[jinja2: webadmin/templates/**.html]" in cfg
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}
    out = {}
    for filename, lineno, message, _comments, _ctx in extract_from_dir(ROOT, method_map, keywords=keywords):
        msgs = message if isinstance(message, tuple) else (message,)
        for m in msgs:
            if m:
                out.setdefault(m, f"{filename}:{lineno}")
    return out


def test_catalogue_has_every_message_translated():
    msgs = _source_messages()
    assert len(msgs) > 300
    with open(PO, "rb") as f:
        cat = read_po(f)
    missing = [f"{where}: {m!r}" for m, where in msgs.items() if m not in cat]
    assert missing == [], "msgids missing from messages.po:\n" + "\n".join(missing)
    bad = []
    for m in cat:
        if not m.id:
            continue
        if not m.string or "fuzzy" in m.flags:
            bad.append(f"untranslated: {m.id!r}")
        elif set(PLACEHOLDER.findall(m.id)) != set(PLACEHOLDER.findall(m.string)):
            bad.append(f"placeholders differ: {m.id!r} -> {m.string!r}")
        elif (re.search(r"[A-Za-z]", PLACEHOLDER.sub("", m.id)) and CJK.search(m.string) is None
              and m.id not in ("ID", "IP", "URL", "PIN", "EWT", "SMS")):
            bad.append(f"not Chinese: {m.id!r} -> {m.string!r}")
    assert bad == [], "\n".join(bad)


def test_zh_browser_gets_chinese_login_and_the_switch_is_kept_per_user(tmp_path):
    app, hub = make_app(tmp_path)
    c = app.test_client()
    page = c.get("/login", headers=ZH).get_data(as_text=True)
    assert 'lang="zh-CN"' in page and "用户名" in page and "登录" in page
    assert "Username" in app.test_client().get("/login").get_data(as_text=True)     # no preference: English
    login(c, "viewer")
    assert c.get("/lang/en", headers=ZH).status_code == 302
    assert "Reports" in c.get("/reports", headers=ZH).get_data(as_text=True)
    with db.session_scope(hub.session_factory) as s:
        assert s.query(User).filter_by(username="viewer").one().language == "en"
    c2 = app.test_client()                          # a new session: the stored choice wins over the browser
    login(c2, "viewer")
    assert "Reports" in c2.get("/reports", headers=ZH).get_data(as_text=True)
    r = c2.get("/nowhere", headers=ZH)
    assert r.status_code == 404
    c2.get("/lang/zh_CN")
    r = c2.get("/nowhere")
    assert r.status_code == 404 and "此页面或文件不存在" in r.get_data(as_text=True)


#: words that stay as they are in a Chinese page: product and protocol names, units, user names, zone names
ALLOWED = {"Trunkline", "English", "CSV", "XLSX", "IVR", "GSM", "ECM", "CIDR", "FXS", "JSON", "TTS", "SMS", "PIN",
           "EWT", "URL", "IP", "Asia", "Shanghai", "admin", "super", "agent", "viewer", "billing", "bit", "YYYY", "HH",
           "MM", "DD", "SIP", "AIS", "RAI", "RTCP"}
PAGES = ["/live/channels", "/live/agents", "/live/wallboard", "/cdrs", "/recordings", "/voicemail", "/faxes",
         "/sms", "/campaigns", "/reports", "/config", "/config/flows", "/config/prompts", "/config/table/queues",
         "/config/table/agents", "/config/table/members", "/config/users", "/audit", "/errors", "/no-such-page",
         "/config/moh", "/hardware", "/hardware/alarms", "/hardware/sip", "/testcall"]


def test_chromium_in_zh_cn_shows_no_english_and_local_times(tmp_path, artifacts_dir):
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    assert fonts.strip(), "no CJK font: Chinese pages and charts would show boxes (Makefile SYSPKGS)"
    app, hub = make_app(tmp_path, engine=FixtureEngine(), LIVE_STREAM_SECONDS=5.0)
    with db.session_scope(hub.session_factory) as s:
        s.add(Cdr(call_id="z1", start=dt.datetime(2026, 11, 20, 1, 30, tzinfo=dt.timezone.utc), caller="13800138000",
                  called="95588", queue="billing", agent="1001", outcome="completed", wait=5.0, talk=60.0))
    stopper = serve(app, host="127.0.0.1", port=0, threads=8)
    base = f"http://127.0.0.1:{stopper.port}"
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("apt-get install -y chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS + ["--lang=zh-CN"]:
        opts.add_argument(f)
    opts.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    b = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        b.set_page_load_timeout(30)
        b.get(base + "/login")
        assert b.find_element(By.TAG_NAME, "h1").text == "登录"
        login_form(b, base, "admin")
        problems = {}
        for path in PAGES:
            b.get(base + path)
            if path.startswith("/live/"):           # filled in by live.js from the first SSE snapshot
                WebDriverWait(b, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#live table"))
            text = b.find_element(By.TAG_NAME, "body").text
            assert CJK.search(text), path
            english = sorted({w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ALLOWED})
            if english:
                problems[path] = english
        b.get(base + "/cdrs")
        b.save_screenshot(os.path.join(artifacts_dir, "web_zh_cdrs.png"))
        row = b.find_element(By.CSS_SELECTOR, "#cdr-table tbody tr").text
        assert "2026-11-20 09:30:00" in row and "已完成" in row        # 01:30 UTC shown in Asia/Shanghai
        assert problems == {}, problems
        # the flow diagram beside the editor follows the text as it is typed
        b.get(base + "/config/flows/edit")
        src = b.find_element(By.ID, "source")
        src.send_keys("name: demo\nnodes:\n  start: {type: play, prompt: hi, next: bye}\n  bye: {type: hangup}\n")
        WebDriverWait(b, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, '.flow-node[data-node="bye"]'))
        assert "next → bye" in b.find_element(By.CSS_SELECTOR, '.flow-node[data-node="start"]').text
        src.send_keys("  more: {type: play, prompt: hi, next: nowhere}\n")
        WebDriverWait(b, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, '.flow-node.has-error[data-node="more"]'))
        b.save_screenshot(os.path.join(artifacts_dir, "web_zh_flow_diagram.png"))
        # a queue with values the form would never offer: field errors in Chinese, nothing saved ...
        b.get(base + "/config/table/queues")
        b.execute_script("""
            var f = document.getElementById('add-form'); f.noValidate = true;
            f.querySelector('[name=name]').value = 'billing';
            var sel = f.querySelector('[name=strategy]'); var o = document.createElement('option');
            o.value = 'random-ish'; o.text = 'random-ish'; sel.appendChild(o); sel.value = 'random-ish';
            f.querySelector('[name=ring_timeout]').value = '-5';""")
        b.find_element(By.ID, "add").click()
        WebDriverWait(b, 10).until(lambda d: d.find_elements(By.ID, "error-strategy"))
        assert "请从列出的值中选择" in b.find_element(By.ID, "error-strategy").text
        assert "必须在 1 到 600 之间" in b.find_element(By.ID, "error-ring_timeout").text
        b.save_screenshot(os.path.join(artifacts_dir, "web_zh_queue_field_error.png"))
        # ... and the same values stored behind the form's back leave the wallboard live, the problem shown
        with db.session_scope(hub.session_factory) as s:
            assert s.get(AcdQueue, "billing") is None
            s.add(AcdQueue(name="billing", strategy="random-ish", options={"ring_timeout": -5}))
        b.get(base + "/live/wallboard")
        WebDriverWait(b, 15).until(lambda d: "配置问题" in d.find_element(By.ID, "queues").text)
        WebDriverWait(b, 15).until(lambda d: d.find_element(By.ID, "live-status").text.startswith("实时"))
        assert "random-ish" in b.find_element(By.ID, "queues").text
    finally:
        b.quit()
        stopper.stop()
