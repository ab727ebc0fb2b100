"""SIGTERM/SIGINT on a real `trunkline run`: a drain (no new calls, calls up cleared with CDRs, every WAV header
final, the spool flushed); a second signal stops at once."""
import signal
import sqlite3
import time

from server_proc import cdrs, wav_is_final


def count_cdrs(var):
    db = sqlite3.connect(var / "trunkline.db")
    try:
        return db.execute("select count(*) from cdrs").fetchone()[0]
    finally:
        db.close()


def offered(srv):
    line = srv.wait_for("stopped: ", timeout=1)
    return int(line.split("stopped: ", 1)[1].split()[0])


def check_clean_stop(srv, var):
    """A CDR for every call offered, each with an end; every WAV final; nothing left in the spool."""
    out = srv.output
    n_offered = offered(srv)
    stored = cdrs(var)
    assert n_offered >= 6 and len(stored) == count_cdrs(var) == n_offered, (len(stored), n_offered, out[-3000:])
    assert all(end is not None for _, end in stored.values())
    wavs = list((var / "recordings").glob("*.wav"))
    open_wavs = [p.name for p in wavs if not wav_is_final(str(p))]
    assert wavs and not open_wavs, (open_wavs, out[-3000:])
    spool = var / "spool" / "records.jsonl"
    assert not spool.exists() or spool.stat().st_size == 0
    assert "records all in the database" in out
    assert not (var / "run" / "state.json").exists()      # a clean stop: nothing to repair at the next start


def test_sigterm_drains(busy_servers):
    """SIGTERM with a 2 s grace: no new calls, the calls still up after 2 s are cleared with their CDRs, every
    recording closed, the spool flushed, exit code 0."""
    srv, var = busy_servers["drain"]
    srv.signal(signal.SIGTERM)
    assert srv.wait(timeout=30) == 0
    assert "SIGTERM: draining: no new calls" in srv.output
    assert "calls still up were cleared" in srv.output    # 2 s were not enough for the demo calls
    check_clean_stop(srv, var)


def test_second_signal_stops_at_once(busy_servers):
    """SIGTERM with a 60 s grace, then SIGINT: the server stops within seconds, still with every CDR and WAV."""
    srv, var = busy_servers["urgent"]
    srv.signal(signal.SIGTERM)
    t0 = time.monotonic()
    srv.wait_for("draining")
    srv.signal(signal.SIGINT)
    assert srv.wait(timeout=20) == 0
    assert time.monotonic() - t0 < 12
    assert "SIGINT again: stopping now" in srv.output
    check_clean_stop(srv, var)
