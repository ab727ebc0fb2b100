"""The SIP trunks page (#19): admin-only typed form and JSON API with field errors (host, port range,
transport, credentials a registering trunk needs, a name the config file already uses), the password kept
secret (never shown back, kept when left empty on edit), config-file trunks listed read-only, zh-CN page."""
from web_fixtures import csrf_of, login, make_app

from trunkline.app.sip_trunks import SipTrunkSet
from trunkline.data import db
from trunkline.drivers.sip.config import SipTrunk
from trunkline.drivers.sip.trunk_models import SipTrunkRow

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
GOOD = {"name": "carrier2", "host": "sip.example.net", "port": 5062, "transport": "TCP", "username": "4001",
        "password": "s3cret-pw", "register": True, "register_expires": 600, "inbound_auth": True,
        "outbound": True, "codecs": "PCMU,PCMA", "enabled": True}


def _client(app, user):
    c = app.test_client()
    login(c, user)
    return c, csrf_of(c.get("/").get_data(as_text=True))


def _stored(hub, name):
    with db.session_scope(hub.session_factory) as s:
        row = s.get(SipTrunkRow, name)
        return None if row is None else (row.password, row.port, row.codecs)


def test_sip_trunk_form_checks_fields_and_keeps_the_secret(tmp_path):
    app, hub = make_app(tmp_path)
    hub.sip_trunks = trunks = SipTrunkSet(hub.session_factory, [SipTrunk("carrier", host="192.0.2.7")])
    c, tok = _client(app, "admin")
    h = {"X-CSRF-Token": tok}
    bad = dict(GOOD, host="bad host!", port=70000, transport="SCTP", register_expires=5)
    r = c.post("/api/config/sip_trunks", json={"op": "create", "values": bad}, headers=h)
    assert r.status_code == 400
    assert set(r.get_json()["errors"]) == {"host", "port", "transport", "register_expires"}
    r = c.post("/api/config/sip_trunks", json={"op": "create", "values": dict(GOOD, name="carrier")}, headers=h)
    assert r.status_code == 400 and "config file" in r.get_json()["errors"]["name"]
    r = c.post("/api/config/sip_trunks", json={"op": "create", "values": dict(GOOD, username="", password="",
                                                                              host="")}, headers=h)
    assert r.status_code == 400 and set(r.get_json()["errors"]) == {"host", "username", "password"}
    r = c.post("/api/config/sip_trunks", json={"op": "create", "values": GOOD}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert _stored(hub, "carrier2") == ("s3cret-pw", 5062, "PCMU,PCMA")
    assert [(t.name, t.password, t.transport, t.codecs) for t in trunks.db_trunks] == [
        ("carrier2", "s3cret-pw", "TCP", ["PCMU", "PCMA"])]      # reloaded on save
    got = c.get("/api/config/sip_trunks").get_json()
    assert got["rows"][0]["values"]["password"] == "" and "s3cret" not in str(got)
    assert [r["name"] for r in got["read_only"]] == ["carrier"]
    # edit on the page with the password left empty: kept; the port changes
    form = {k: ("on" if v is True else str(v)) for k, v in GOOD.items()} | {"port": "5070", "password": ""}
    r = c.post("/config/table/sip_trunks", data=form | {"op": "update", "key": "carrier2", "csrf_token": tok})
    assert r.status_code == 302
    assert _stored(hub, "carrier2") == ("s3cret-pw", 5070, "PCMU,PCMA")
    r = c.post("/config/table/sip_trunks", data=form | {"op": "update", "key": "carrier2", "port": "0",
                                                        "csrf_token": tok})
    assert r.status_code == 400 and 'id="error-port"' in r.get_data(as_text=True)
    # renamed with the password left empty: the stored one goes with it
    r = c.post("/config/table/sip_trunks", data=form | {"op": "update", "key": "carrier2", "name": "carrier3",
                                                        "csrf_token": tok})
    assert r.status_code == 302 and _stored(hub, "carrier3") == ("s3cret-pw", 5070, "PCMU,PCMA")
    r = c.post("/config/table/sip_trunks", data=form | {"op": "update", "key": "carrier3", "name": "carrier2",
                                                        "csrf_token": tok})
    assert r.status_code == 302 and _stored(hub, "carrier3") is None
    page = c.get("/config/table/sip_trunks").get_data(as_text=True)
    assert "From the config file (read-only)" in page and "192.0.2.7" in page and "s3cret" not in page
    zh = c.get("/config/table/sip_trunks", headers=ZH).get_data(as_text=True)
    assert "SIP 中继" in zh and "来自配置文件（只读）" in zh
    assert "sip_trunks" in c.get("/config").get_data(as_text=True)
    # supervisors may neither read nor change carrier credentials
    s, stok = _client(app, "super")
    assert s.get("/api/config/sip_trunks").status_code == 403
    assert s.post("/api/config/sip_trunks", json={"op": "delete", "key": ["carrier2"]},
                  headers={"X-CSRF-Token": stok}).status_code == 403
    r = c.post("/api/config/sip_trunks", json={"op": "update", "key": ["carrier2"],
                                               "values": dict(GOOD, password="", enabled=False)}, headers=h)
    assert r.status_code == 200 and trunks.db_trunks == [] and _stored(hub, "carrier2")[0] == "s3cret-pw"
    r = c.post("/api/config/sip_trunks", json={"op": "delete", "key": ["carrier2"]}, headers=h)
    assert r.status_code == 200 and _stored(hub, "carrier2") is None and trunks.db_trunks == []
