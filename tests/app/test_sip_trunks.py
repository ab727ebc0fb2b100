"""SIP trunks set in the web admin reach the running SIP stack without a restart (#19), through the wiring
`trunkline run` uses (app.sip_trunks.wire_sip_trunks, Hub.sip_trunks): a trunk created on the admin page with
register on registers at kamailio (digest auth) and /hardware/sip shows it; kamailio then routes an INVITE for
its user to Trunkline, which challenges it (401: the trunk requires auth); edited with the password left empty
it still registers; deleted, it un-REGISTERs and kamailio no longer finds it (404). A trunk trusted by
address added through the JSON API takes INVITEs from its host without a challenge at once."""
import asyncio
import re
import socket
import threading
import time

from peers.sip_peers import Kamailio, free_port
from web_fixtures import csrf_of, login, make_app

from trunkline.app.sip_trunks import wire_sip_trunks
from trunkline.drivers.board import open_board
from trunkline.drivers.sip.config import SipSettings, SipTrunk
from trunkline.media import Engine


def _wait(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _invite_via(kam_port, user, call_id):
    """A bare INVITE for `user` sent to 127.0.0.1:`kam_port`; the first response other than 1xx-but-180."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    lport = udp.getsockname()[1]
    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
    udp.sendto((f"INVITE sip:{user}@127.0.0.1:{kam_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\n"
                f"From: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
                f"CSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:{lport}>\r\nContent-Type: application/sdp\r\n"
                f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode(), ("127.0.0.1", kam_port))
    try:
        while True:
            reply = udp.recv(65535).decode()
            if not reply.startswith("SIP/2.0 1") or reply.startswith("SIP/2.0 180"):
                return reply
    finally:
        udp.close()


def test_admin_sip_trunk_registers_at_once_and_unregisters_on_delete(tmp_path):
    kam = Kamailio(str(tmp_path / "kamailio"))
    settings = SipSettings(f"127.0.0.1:{free_port()}", channels=4,
                           trunks=[SipTrunk("carrier", host="192.0.2.7", outbound=False)])
    board = open_board("sip://admin-trunks", sip=settings)
    engine = Engine(board)
    sig = engine.signaling[0]

    async def keep_ringing(call):                 # the call (its leg with it) stays up for 2 s, then ends
        await call.wait(2)
    engine.route(keep_ringing)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=lambda: loop.run_until_complete(engine.run(realtime=True)), daemon=True)
    thread.start()
    try:
        app, hub = make_app(tmp_path)
        hub.engine = engine
        hub.sip_trunks = wire_sip_trunks(hub.session_factory, settings, engine)    # as `trunkline run` does
        c = app.test_client()
        login(c, "admin")
        tok = csrf_of(c.get("/config/table/sip_trunks").get_data(as_text=True))
        form = {"op": "create", "name": "kam", "host": "127.0.0.1", "port": str(kam.port), "transport": "UDP",
                "username": "4001", "password": kam.password, "register": "on", "register_expires": "60",
                "inbound_auth": "on", "outbound": "on", "codecs": "PCMA,PCMU", "enabled": "on", "csrf_token": tok}
        r = c.post("/config/table/sip_trunks", data=dict(form, name="carrier"))   # the config file's name
        assert r.status_code == 400 and "already defines" in r.get_data(as_text=True)
        assert c.post("/config/table/sip_trunks", data=form).status_code == 302
        _wait(lambda: [(g.trunk.name, g.state) for g in sig.registrations] == [("kam", "registered")],
              "the new trunk registered at kamailio")
        page = c.get("/hardware/sip").get_data(as_text=True)
        regs = re.search(r'<table id="sip-regs">(.*?)</table>', page, re.S).group(1)
        assert "kam" in regs and "registered" in regs and f"127.0.0.1:{kam.port}" in regs
        trunks = re.search(r'<table id="sip-trunks">(.*?)</table>', page, re.S).group(1)
        assert "carrier" in trunks and "the config file" in trunks and "the web admin" in trunks
        # kamailio finds the registered user and relays to Trunkline: the trunk requires auth -> 401, no call
        reply = _invite_via(kam.port, "4001", "via-kam-1")
        assert reply.startswith("SIP/2.0 401") and "WWW-Authenticate: Digest" in reply, reply
        assert not engine.calls and sig.stats["rejected_auth"] >= 1
        # edited with the password left empty: kept, so the refresh with the new expiry still succeeds
        reg = sig.registrations[0]
        before = reg.seq
        form.update(op="update", key="kam", password="", register_expires="90")
        assert c.post("/config/table/sip_trunks", data=form).status_code == 302
        _wait(lambda: reg.seq > before and reg.state == "registered" and reg.last_status == 200
              and reg.trunk.register_expires == 90, "the edited trunk re-registered")
        assert sig.registrations == [reg]
        # deleted: un-REGISTER (Expires: 0) answered 200, and kamailio no longer knows the user
        form.update(op="delete")
        assert c.post("/config/table/sip_trunks", data=form).status_code == 302
        _wait(lambda: reg.state == "unregistered" and reg.last_status == 200, "the un-REGISTER answered")
        assert sig.registrations == [] and [t.name for t in sig.settings.trunks] == ["carrier"]
        assert _invite_via(kam.port, "4001", "via-kam-2").startswith("SIP/2.0 404")
        assert "No registrations." in c.get("/hardware/sip").get_data(as_text=True)
        # a trunk trusted by address, added through the JSON API: its INVITEs ring without a challenge at once
        sip_port = settings.port
        assert _invite_via(sip_port, "4002", "direct-1").startswith("SIP/2.0 401")
        values = {"name": "gw", "host": "127.0.0.1", "port": 5060, "transport": "UDP", "register": False,
                  "register_expires": 300, "inbound_auth": False, "outbound": False, "codecs": "PCMA",
                  "enabled": True}
        r = c.post("/api/config/sip_trunks", json={"op": "create", "values": values}, headers={"X-CSRF-Token": tok})
        assert r.status_code == 200, r.get_json()
        _wait(lambda: "gw" in [t.name for t in sig.settings.trunks], "the trusted trunk applied")
        assert _invite_via(sip_port, "4002", "direct-2").startswith("SIP/2.0 180")
        _wait(lambda: any(leg.trunk == "gw" for leg in sig.legs.values()), "the call on the gw trunk")
        _wait(lambda: not engine.calls, "the test call's end")
    finally:
        engine.stop()
        thread.join(timeout=10)
        board.close()
        kam.stop()
