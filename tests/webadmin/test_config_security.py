"""Security settings in the configuration pages: who may change role/user allowlists, no self lock-out."""
import io

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select
from web_fixtures import csrf_of, login, make_app

from trunkline.data import db
from trunkline.data.models import RoleAllowlist, User
from trunkline.webadmin.config import TABLES

# who may log in from where, and the dial plan (what agents and supervisors may dial): admins only
SECURITY_TABLES = {"role_allowlist", "outbound_routes", "dial_rules", "dial_caps", "sip_trunks"}


@pytest.fixture
def app(tmp_path):
    app, _ = make_app(tmp_path)
    return app


def _rules(app):
    with db.session_scope(app.config["SESSION_FACTORY"]) as s:
        return sorted((r.role, r.cidr) for r in s.scalars(select(RoleAllowlist)))


def _client(app, user):
    c = app.test_client()
    assert login(c, user).status_code == 302
    return c, csrf_of(c.get("/").get_data(as_text=True))


@pytest.mark.parametrize("user,edits,edits_security", [
    ("admin", True, True), ("super", True, False), ("agent", False, False), ("viewer", False, False)])
def test_every_config_table_as_every_role(app, user, edits, edits_security):
    c, tok = _client(app, user)
    index = c.get("/config").get_data(as_text=True)
    for page in TABLES:
        may = edits_security if page in SECURITY_TABLES else edits
        assert (c.get(f"/config/table/{page}").status_code == 200) == may, (user, page)
        assert (f"/config/table/{page}" in index) == may, (user, page)
        r = c.post(f"/config/table/{page}", data={"op": "delete", "csrf_token": tok})
        # allowed: saved (302) or refused for bad input (400); not allowed: 403 before anything is looked at
        assert (r.status_code == 403) == (not may), (user, page, r.status_code)
    for role in ("admin", "supervisor", "agent", "viewer"):
        r = c.post("/config/table/role_allowlist", data={"op": "create", "role": role, "cidr": "127.0.0.0/8",
                                                          "csrf_token": tok})
        assert r.status_code == (302 if edits_security else 403), (user, role)
    assert _rules(app) == ([(r, "127.0.0.0/8") for r in ("admin", "agent", "supervisor", "viewer")]
                           if edits_security else [])
    assert (c.get("/config/users").status_code == 200) == edits_security


def test_supervisor_cannot_lock_out_admins_or_lift_own_limits(app):
    f = app.config["SESSION_FACTORY"]
    with db.session_scope(f) as s:
        s.add(RoleAllowlist(role="supervisor", cidr="127.0.0.0/8"))
    c, tok = _client(app, "super")
    r = c.post("/config/table/role_allowlist", data={"op": "create", "role": "admin", "cidr": "10.9.9.9/32",
                                                      "csrf_token": tok})
    assert r.status_code == 403
    with db.session_scope(f) as s:
        rid = s.scalars(select(RoleAllowlist.id)).one()
    for op in ("delete", "update"):
        r = c.post("/config/table/role_allowlist", data={"op": op, "pk_id": str(rid), "role": "supervisor",
                                                          "cidr": "0.0.0.0/0", "csrf_token": tok})
        assert r.status_code == 403, op
    assert _rules(app) == [("supervisor", "127.0.0.0/8")]
    assert login(app.test_client(), "admin").status_code == 302


def test_admin_cannot_lock_themselves_out(app):
    c, tok = _client(app, "admin")
    url = "/config/table/role_allowlist"
    r = c.post(url, data={"op": "create", "role": "admin", "cidr": "10.0.0.0/8", "csrf_token": tok})
    assert r.status_code == 400 and b"lock you out" in r.data
    assert _rules(app) == []
    # a rule that keeps the admin's own address is fine; then another one beside it
    assert c.post(url, data={"op": "create", "role": "admin", "cidr": "127.0.0.0/8",
                             "csrf_token": tok}).status_code == 302
    assert c.post(url, data={"op": "create", "role": "admin", "cidr": "10.0.0.0/8",
                             "csrf_token": tok}).status_code == 302
    with db.session_scope(app.config["SESSION_FACTORY"]) as s:
        own = s.scalars(select(RoleAllowlist.id).where(RoleAllowlist.cidr == "127.0.0.0/8")).one()
        me = s.scalars(select(User).where(User.username == "admin")).one()
        my_id, my_role = me.id, me.role
    # removing or narrowing the rule that lets the admin in is refused
    r = c.post(url, data={"op": "delete", "pk_id": str(own), "csrf_token": tok})
    assert r.status_code == 400 and b"lock you out" in r.data
    r = c.post(url, data={"op": "update", "pk_id": str(own), "role": "admin", "cidr": "10.1.0.0/16",
                          "csrf_token": tok})
    assert r.status_code == 400 and b"lock you out" in r.data
    assert _rules(app) == [("admin", "10.0.0.0/8"), ("admin", "127.0.0.0/8")]
    # the per-user allowlist too
    r = c.post("/config/users", data={"op": "update", "id": str(my_id), "role": my_role, "active": "on",
                                      "allow_cidrs": "192.168.0.0/16", "csrf_token": tok})
    assert r.status_code == 400 and b"lock you out" in r.data
    assert c.get("/config").status_code == 200
    assert login(app.test_client(), "admin").status_code == 302


def _files_outside(root, inside):
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and inside not in p.parents
                  and not p.name.startswith("web.db"))


def test_prompt_upload_refuses_path_traversal_in_every_field(app, tmp_path):
    wav = io.BytesIO()
    sf.write(wav, np.full(800, 0.1), 8000, format="WAV")
    c, tok = _client(app, "admin")
    before = _files_outside(tmp_path, tmp_path / "prompts")
    outside = tmp_path / "outside"
    bad = ["../outside", "../../outside", str(outside), "en/../../outside", "en\x00", "..", "en\\..\\..",
           "/etc"]
    cases = [{"name": "ok", "lang": b} for b in bad + ["en/x", "EN"]] + \
        [{"name": b + "/evil", "lang": "en"} for b in bad] + \
        [{"name": b, "lang": "en"} for b in ("../evil", "../../outside/evil", str(outside / "evil"), "ok\x00",
                                             "a/../../evil", "./evil", "a//b", "a\\..\\evil", "-evil")]
    for fields in cases:
        for how in ("file", "text"):
            data = dict(fields, csrf_token=tok)
            if how == "file":
                data["file"] = (io.BytesIO(wav.getvalue()), "../../outside/x\x00.wav")
            else:
                data["text"] = "hello"
            r = c.post("/config/prompts", data=data, content_type="multipart/form-data")
            assert r.status_code == 400 and b"bad " in r.data, (fields, how, r.status_code)
    assert _files_outside(tmp_path, tmp_path / "prompts") == before
    assert not outside.exists()
    # a good upload still works (a hostile client file name only loses its extension)
    r = c.post("/config/prompts", data={"name": "menu/main", "lang": "pt_BR", "csrf_token": tok,
                                        "file": (io.BytesIO(wav.getvalue()), "../x/y.wav")},
               content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert (tmp_path / "prompts" / "pt_BR" / "menu" / "main.wav").exists()
    assert _files_outside(tmp_path, tmp_path / "prompts") == before
