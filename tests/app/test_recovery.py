"""kill -9 of a real `trunkline run` with calls up and recording: the next start repairs every WAV header left
open and closes the CDRs of the calls that were up from their interim records."""
import datetime as dt
import json
import signal
import time

from server_proc import Server, cdrs, wav_is_final


def test_kill_9_then_restart_repairs_wavs_and_closes_cdrs(busy_servers):
    srv, var = busy_servers["crash"]
    time.sleep(1.5)                                       # an interim record of the calls up now
    deadline = time.monotonic() + 10.0                    # headers are rewritten every few batches: kill
    while time.monotonic() < deadline and all(wav_is_final(str(p)) for p in (var / "recordings").glob("*.wav")):
        time.sleep(0.05)                                  # between two rewrites, with audio past the header
    killed_at = time.time()
    srv.kill()                                            # SIGKILL: no handler runs
    wavs = list((var / "recordings").glob("*.wav"))
    open_before = [p for p in wavs if not wav_is_final(str(p))]
    assert open_before, "no recording was open at kill -9"
    interim = json.loads((var / "run" / "calls.json").read_text())
    up = {r["call_id"] for r in interim["calls"]}
    assert up and killed_at - interim["time"] < 3.0
    before = cdrs(var)
    lost = up - set(before)                               # up at the last interim record, no final CDR
    assert lost

    again = Server(var, realtime=0, demo_callers=0)
    try:
        line = again.wait_for("recovery: the last run", timeout=60)
        again.wait_for("web admin on", timeout=60)
        assert f"{len(open_before)} WAV headers repaired" in line or "WAV headers repaired" in line
        again.signal(signal.SIGTERM)
        assert again.wait(timeout=30) == 0
    finally:
        if again.proc.poll() is None:
            again.kill()
    assert all(wav_is_final(str(p)) for p in wavs)
    after = cdrs(var)
    assert up <= set(after)
    limit = dt.datetime.fromtimestamp(killed_at + 1, dt.timezone.utc).replace(tzinfo=None)
    for cid in lost:
        outcome, end = after[cid]
        assert outcome == "interrupted" and end is not None
        assert dt.datetime.fromisoformat(str(end)).replace(tzinfo=None) <= limit
    assert all(after[cid] == row for cid, row in before.items())   # final CDRs are never replaced
    assert not (var / "run" / "calls.json").exists()
