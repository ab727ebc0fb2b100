"""Lookup backends: a real local HTTP server, a server that is down or too slow, SQL against the DB."""
import asyncio
import http.server
import json
import socket
import threading
import time

import pytest
from sqlalchemy import text

from trunkline.data.db import make_engine, make_session_factory
from trunkline.ivr.lookup import HttpLookup, LookupFailed, SqlLookup


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(2.0)
        if self.path.startswith("/balance"):
            acct = self.path.split("acct=")[1]
            body = json.dumps({"data": {"account": acct, "balance": "12.50", "nested": {"x": 1}}}).encode()
            self.send_response(200)
        elif self.path.startswith("/html"):
            body = b"<html>oops</html>"
            self.send_response(200)
        else:
            body = b"{}"
            self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_http_lookup_answers(server):
    lk = HttpLookup("bal", server + "/balance?acct={account}", timeout=2.0, field="data")
    assert asyncio.run(lk.query({"account": "12 34"})) == {"account": "12%2034", "balance": "12.50"}
    assert lk.fetch({"account": "1"})["balance"] == "12.50"


def test_http_lookup_failures_are_clear(server):
    down = HttpLookup("bal", f"http://127.0.0.1:{_closed_port()}/balance?acct={{account}}", timeout=1.0)
    with pytest.raises(LookupFailed, match="unreachable"):
        asyncio.run(down.query({"account": "1"}))
    with pytest.raises(LookupFailed, match="HTTP 500"):
        HttpLookup("e", server + "/error").fetch({})
    with pytest.raises(LookupFailed, match="did not answer JSON"):
        HttpLookup("h", server + "/html").fetch({})
    with pytest.raises(LookupFailed, match="field 'data.zzz' missing"):
        HttpLookup("f", server + "/balance?acct=1", field="data.zzz").fetch({})
    slow = HttpLookup("slow", server + "/slow", timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(LookupFailed):
        asyncio.run(slow.query({}))
    assert time.monotonic() - t0 < 1.5


def test_sql_lookup(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path}/l.db")
    with eng.begin() as c:
        c.execute(text("CREATE TABLE accounts (no TEXT, balance NUMERIC)"))
        c.execute(text("INSERT INTO accounts VALUES ('12345678', 88.5)"))
    sf = make_session_factory(eng)
    lk = SqlLookup("bal", "SELECT balance FROM accounts WHERE no = :account", sf)
    assert asyncio.run(lk.query({"account": "12345678"})) == {"balance": "88.5"}
    with pytest.raises(LookupFailed, match="nothing found"):
        lk.fetch({"account": "0"})
    broken = SqlLookup("bal", "SELECT balance FROM no_such_table WHERE no = :account", sf)
    with pytest.raises(LookupFailed, match="database error"):
        broken.fetch({"account": "1"})
