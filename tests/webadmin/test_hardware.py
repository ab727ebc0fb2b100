"""The hardware pages read the running board: a span alarm raised on the simulated card's far end shows on
the Boards and spans page and the span's page at once, and is in the alarm history (raised, then cleared,
with local times) in the database; the same pages on the dahdi:// backend (the emulated /dev/dahdi, an
LD_PRELOAD shim over the card simulator) show the spans DAHDI reports; the SIP page lists the configured
trunks. Engine in virtual time; the page requests run between its ticks."""
import asyncio
import re

import numpy as np
from sqlalchemy import select
from web_fixtures import login, make_app

from trunkline.data.alarm_models import SpanAlarmEvent
from trunkline.data.db import session_scope
from trunkline.media.alarm_watch import AlarmWatch
from trunkline.pstn import SimRig


def _page(client, url, lang="en"):
    r = client.get(url, headers={"Accept-Language": lang})
    assert r.status_code == 200, (url, r.status_code, r.get_data(as_text=True)[:400])
    return r.get_data(as_text=True)


def _span_row(html, n):
    m = re.search(rf'<tr id="span-{n}">(.*?)</tr>', html, re.S)
    assert m, f"no row for span {n}"
    return m.group(1)


def test_alarm_raised_in_the_simulator_shows_and_is_in_history(tmp_path):
    rig = SimRig.with_query("e1=2&fxo=2", name="hw-page", trunk="pri")
    app, hub = make_app(tmp_path, engine=rig.engine)
    watch = AlarmWatch(rig.engine, hub.session_factory, interval=0.5)
    hub.alarms = watch
    hub.board_config = {"board_url": "sim://hw-page?e1=2&fxo=2", "trunk_signaling": "pri", "browser_phones": 0,
                        "sip_listen": "", "sip_channels": 0,
                        "sip_trunks": [{"name": "carrier", "host": "192.0.2.7", "port": 5060, "register": True}]}
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    seen = {}

    async def main():
        task = asyncio.ensure_future(watch.run())
        await rig.engine.sleep(1.0)
        seen["before"] = _page(client, "/hardware")
        rig.card.far_set_alarm(1, 1)                       # span 1 loses its signal: red alarm
        await rig.engine.sleep(1.5)
        seen["raised"] = _page(client, "/hardware")
        seen["span"] = _page(client, "/hardware/span/1", "zh-CN")
        rig.card.far_set_alarm(1, 0)
        await rig.engine.sleep(1.5)
        seen["cleared"] = _page(client, "/hardware")
        seen["history"] = _page(client, "/hardware/alarms?span=1", "zh-CN")
        task.cancel()

    rig.run(main, limit=60)
    assert "no alarm" in _span_row(seen["before"], 1) and "no alarm" in _span_row(seen["before"], 0)
    assert "red alarm" in _span_row(seen["raised"], 1) and "no alarm" in _span_row(seen["raised"], 0)
    assert "ISDN PRI" in _span_row(seen["raised"], 0) and "E1" in _span_row(seen["raised"], 0)
    assert "红色告警" in seen["span"] and seen["span"].count("<tr>") >= 30      # its 30 bearer channels
    assert "no alarm" in _span_row(seen["cleared"], 1)
    compare = re.search(r'<table id="hw-compare">(.*?)</table>', seen["raised"], re.S).group(1)
    assert "2 / 60" in compare and "1 / 2" in compare and "differs" not in compare, compare
    with session_scope(hub.session_factory) as s:
        rows = [(e.span, e.alarm, e.event) for e in s.scalars(select(SpanAlarmEvent).order_by(SpanAlarmEvent.id))]
    assert rows == [(1, "red", "raised"), (1, "red", "cleared")], rows
    times = re.findall(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?)</td>", seen["history"])
    assert len(times) == 2 and "已恢复" in seen["history"] and "出现" in seen["history"], seen["history"][-1500:]
    sip = _page(client, "/hardware/sip")
    assert "carrier" in sip and "192.0.2.7" in sip and "No SIP calls now." in sip


def test_dahdi_board_spans_read_through_the_emulated_device(tmp_path):
    rig = SimRig.with_query("e1=1&fxs=2", name="hw-dahdi", trunk="pri", board="dahdi")
    app, hub = make_app(tmp_path, engine=rig.engine)
    hub.board_config = {"board_url": "dahdi://", "trunk_signaling": "pri"}
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    seen = {}

    async def main():
        await rig.engine.sleep(0.5)
        rig.card.far_set_alarm(0, 2)                       # the far end sends AIS: blue alarm
        await rig.engine.sleep(0.5)
        seen["page"] = _page(client, "/hardware")

    rig.run(main, limit=30)
    page = seen["page"]
    assert "dahdi://" in page and re.search(r"<th>Backend</th><td>dahdi</td>", page), page[:2000]
    assert "blue alarm" in _span_row(page, 0) and "station ports" in _span_row(page, 1)
    assert "as DAHDI configured it" in page


def test_sip_page_shows_a_live_sip_call_with_its_rtp_figures(tmp_path):
    rig = SimRig.with_query("fxo=1&sip=2", name="hw-sip", trunk="sip")
    app, hub = make_app(tmp_path, engine=rig.engine)
    hub.board_config = {"board_url": "sim://hw-sip?fxo=1", "sip_listen": "127.0.0.1:0", "sip_channels": 2}
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    seen = {}

    async def flow(call):
        await call.answer()
        await call.play(np.zeros(8000 * 30, dtype=np.int16) + 1000)
    rig.engine.route(flow)

    async def main():
        phone = rig.sim.call("95588", from_="13800000001", trunk="sip")
        await phone.wait_answer(10)
        phone.play_nowait(np.full(8000 * 8, 500, dtype=np.int16))
        await rig.sim.sleep(7.0)                            # RTCP reports go both ways
        seen["sip"] = _page(client, "/hardware/sip")
        seen["spans"] = _page(client, "/hardware")
        await phone.hangup()
        await rig.sim.sleep(1.0)

    rig.run(main, limit=60)
    calls = re.search(r'<table id="sip-calls">(.*?)</table>', seen["sip"], re.S).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", calls)
    print("\nlive SIP call row:", cells)
    assert "PCMA" in cells or "PCMU" in cells, cells
    rx, tx = (int(x) for x in cells[5].split(" / "))
    assert rx > 200 and tx > 200                          # 20 ms packets for ~7 s both ways
    assert "SIP trunk span" in _span_row(seen["spans"], 1) and "1 / 2" in seen["spans"]


def test_r2_span_page_shows_the_line_signaling_bits(tmp_path):
    rig = SimRig.with_query("e1=1", name="hw-r2", trunk="r2")
    app, hub = make_app(tmp_path, engine=rig.engine)
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    seen = {}

    async def main():
        await rig.engine.sleep(1.0)
        seen["span"] = _page(client, "/hardware/span/0")
    rig.run(main, limit=30)
    page = seen["span"]
    assert "China No.1 (R2 MFC)" in page and "line signaling bits (ABCD)" in page
    bits = re.findall(r"<td>([01]{4})</td>", page)
    assert len(bits) == 30 and set(bits) == {"1001"}, bits       # idle China No.1 line: ab = 10, cd = 01
