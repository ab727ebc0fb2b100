"""Headless Chromium in Chinese: the supervisor console's schedule-adherence section is filled by its script
and highlights the agent out of adherence; the staffing calculator and the shift form show no untranslated
English (screenshots in the artifacts directory)."""
import datetime as dt
import os
import re
import time
from zoneinfo import ZoneInfo

from chrome import login_form, start_chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from web_fixtures import make_app

from trunkline.acd.core import ACDCore
from trunkline.acd.models import AcdShift
from trunkline.acd.queues import QueueConfig
from trunkline.data.db import session_scope
from trunkline.webadmin import serve

CJK = re.compile(r"[\u4e00-\u9fff]")
#: Latin words a Chinese page may show: product/format names, agent and queue data, times, day names
ALLOWED = {"Trunkline", "English", "CSV", "XLSX", "HH", "MM", "YYYY", "DD", "Asia", "Shanghai", "admin", "super",
           "Agent", "billing", "day", "mon", "sun", "fri", "wed", "PIN"}


def test_adherence_highlight_and_chinese_pages(tmp_path, artifacts_dir):
    app, hub = make_app(tmp_path)
    core = ACDCore(hub.session_factory, instance="t", clock=time.time)
    core.define_queue(QueueConfig(name="billing"))
    for a in ("1001", "1002"):
        core.define_agent({"id": a, "name": f"Agent {a}", "number": "5"})
        core.add_member("billing", a)
    now = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    with session_scope(hub.session_factory) as s:
        s.add(AcdShift(name="day", group="billing", agent="", weekdays="mon-sun",
                       start=(now - dt.timedelta(hours=1)).strftime("%H:%M"),
                       end=(now + dt.timedelta(hours=2)).strftime("%H:%M"), breaks="", calendar="", enabled=1))
    core.login("1001")                              # 1002 is scheduled but signed out
    stopper = serve(app, host="127.0.0.1", port=0, threads=8)
    base = f"http://127.0.0.1:{stopper.port}"
    b = start_chrome()
    try:
        b.set_page_load_timeout(30)
        login_form(b, base, "admin")
        b.get(base + "/lang/zh_CN")
        b.get(base + "/supervisor")
        WebDriverWait(b, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#adherence-agents tbody tr")) == 2)
        bad = b.find_element(By.CSS_SELECTOR, '#adherence-agents tr[data-agent="1002"]')
        good = b.find_element(By.CSS_SELECTOR, '#adherence-agents tr[data-agent="1001"]')
        assert "out-of-adherence" in bad.get_attribute("class") and "未遵守排班" in bad.text and "上班" in bad.text
        assert "out-of-adherence" not in good.get_attribute("class") and "符合排班" in good.text
        assert bad.value_of_css_property("background-color") != good.value_of_css_property("background-color")
        summary = b.find_element(By.ID, "adherence-summary").text
        assert "应在岗 2" in summary and "未遵守排班 1" in summary, summary
        b.save_screenshot(os.path.join(artifacts_dir, "supervisor_adherence_zh.png"))
        problems = {}
        for path in ("/reports/staffing", "/config/table/shifts", "/reports"):
            b.get(base + path)
            text = b.find_element(By.TAG_NAME, "body").text
            assert CJK.search(text), path
            english = sorted({w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ALLOWED})
            if english:
                problems[path] = english
        b.get(base + "/reports/staffing")
        b.save_screenshot(os.path.join(artifacts_dir, "staffing_zh.png"))
        assert problems == {}, problems
    finally:
        b.quit()
        stopper.stop()
