"""`trunkline run` end to end with a campaign: the admin creates it over HTTP on the web admin of a real server
process (simulator, virtual time), the process is killed mid-campaign, a second process on the same var dir
(same SQLite database) restores it and finishes it; every number is attempted exactly once."""
import http.cookiejar
import re
import sqlite3
import time
import urllib.parse
import urllib.request

from server_proc import Server, free_port

NUMBERS = [f"1360000{i:04d}" for i in range(6)]


def numbers_in(db_path):
    con = sqlite3.connect(db_path)
    try:
        state = con.execute("select state from ivr_campaigns where name='nightly'").fetchone()
        rows = con.execute("select n.number, n.state, n.outcome, n.attempts, n.history from ivr_campaign_numbers n "
                           "join ivr_campaigns c on c.id = n.campaign_id where c.name='nightly' "
                           "order by n.position").fetchall()
    except sqlite3.OperationalError:          # database busy/locked for a moment
        return None, {}
    finally:
        con.close()
    return (state[0] if state else None), {r[0]: r[1:] for r in rows}


def test_campaign_created_over_http_survives_a_killed_server(tmp_path):
    var = tmp_path / "var"
    db_path = var / "trunkline.db"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv = Server(var, port)
    try:
        pw = re.search(r"password '([^']+)'", srv.wait_for("first-run admin account created")).group(1)
        srv.wait_for("web admin on")
        web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

        def csrf(path):
            html = web.open(base + path, timeout=10).read().decode()
            return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1), html

        tok, _ = csrf("/login")
        web.open(base + "/login", urllib.parse.urlencode({"username": "admin", "password": pw,
                                                          "csrf_token": tok}).encode(), timeout=10).read()
        tok, page = csrf("/campaigns")
        assert 'id="campaign-create"' in page and '<option value="hotline"' in page
        form = {"csrf_token": tok, "name": "nightly", "flow": "hotline", "caller_id": "95588",
                "numbers": "\n".join(NUMBERS) + "\nbogus\n", "max_channels": "1", "calls_per_second": "0.05",
                "max_attempts": "1", "retry_delay": "60", "amd": "1", "start": "now"}
        r = web.open(base + "/campaigns", urllib.parse.urlencode(form).encode(), timeout=10)
        html = r.read().decode()
        assert r.status == 201 and "Campaign nightly created with 6 numbers" in html
        assert "line 7: &#39;bogus&#39; is not a phone number" in html
        # kill the server once some numbers are finished and some are not yet dialled
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state, rows = numbers_in(db_path)
            done = [n for n, r in rows.items() if r[0] == "done"]
            if len(done) >= 2:
                break
            time.sleep(0.02)
        srv.kill()
    finally:
        if srv.proc.poll() is None:
            srv.kill()
    state, before = numbers_in(db_path)
    assert state == "running", (state, before)
    done_before = {n: r for n, r in before.items() if r[0] == "done"}
    cut = {n for n, r in before.items() if r[0] == "dialing"}
    left = {n for n, r in before.items() if r[0] == "pending"}
    assert len(done_before) >= 2 and left, before
    assert all(r[2] == 0 for n, r in before.items() if n in left)

    srv2 = Server(var, free_port())
    try:
        srv2.wait_for("campaigns restored: nightly")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state, after = numbers_in(db_path)
            if state == "done":
                break
            time.sleep(0.1)
    finally:
        srv2.kill()
    print("\nbefore the kill:", {n: r[:3] for n, r in before.items()}, "\nafter the restart:",
          {n: r[:3] for n, r in after.items()})
    assert state == "done", (state, after, "".join(srv2.lines[-30:]))
    assert set(after) == set(NUMBERS)
    for n, (st, outcome, attempts, _hist) in after.items():
        assert st == "done" and attempts == 1, (n, after[n])      # each number dialled exactly once
        if n in done_before:
            assert (st, outcome, attempts) == done_before[n][:3]
        elif n in cut:
            assert outcome == "interrupted"
        else:                                                       # dialled by the second server only
            assert outcome in ("silence", "human", "machine", "answered", "noanswer"), (n, after[n])
