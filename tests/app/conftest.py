"""Real `trunkline run` processes shared by the stop-signal and crash tests (started together: one start-up
and warm-up for all of them)."""
import json
import time
import urllib.request

import pytest
from server_proc import Server
from sqlalchemy import update

from trunkline.app.schema import migrate
from trunkline.ivr.models import IvrInboundRoute


def record_demo_calls(var):
    """Give `var`'s database the demo route for any called number with recording policy "whole", so every demo
    call is recorded from its answer to its end (without a policy an IVR-only call keeps no file)."""
    var.mkdir(parents=True, exist_ok=True)
    engine = migrate(f"sqlite:///{var / 'trunkline.db'}")
    try:
        with engine.begin() as conn:
            done = conn.execute(update(IvrInboundRoute).where(IvrInboundRoute.name == "demo-95588")
                                .values(number="", record="whole"))   # any called number: analog lines too
            assert done.rowcount == 1
    finally:
        engine.dispose()


def calls_active(srv):
    """Calls up on the server now (from GET /healthz)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/healthz", timeout=10) as r:
        return json.load(r)["engine"]["calls_active"]


def wait_busy(srv, var, calls, timeout=120.0):
    """Until `calls` calls are up and at least one is recording (its WAV open)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert srv.proc.poll() is None, srv.output[-3000:]
        try:
            if calls_active(srv) >= calls and list((var / "recordings").glob("*.wav")):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"fewer than {calls} calls up or nothing recording:\n{srv.output[-3000:]}")


@pytest.fixture(scope="session")
def busy_servers(tmp_path_factory):
    """Three servers with demo callers in real time, each with calls up and recording: "drain" (2 s grace),
    "urgent" (60 s grace, for the second signal) and "crash" (interim records every second, for kill -9).
    Maps name -> (Server, var dir); whatever a test leaves running is killed at the end."""
    base = tmp_path_factory.mktemp("servers")
    grace = {"drain": 2, "urgent": 60, "crash": 30}
    for name in grace:
        record_demo_calls(base / name)
    servers = {name: (Server(base / name, realtime=1, demo_interval=0.4, drain_seconds=g, interim_seconds=1,
                             overload_load=0),   # a shared test machine is often late: no refusals here
                      base / name) for name, g in grace.items()}
    try:
        for srv, var in servers.values():
            wait_busy(srv, var, 6)
        yield servers
    finally:
        for srv, _ in servers.values():
            if srv.proc.poll() is None:
                srv.kill()
