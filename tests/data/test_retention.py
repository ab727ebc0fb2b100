"""Retention by age and by disk quota, oldest first; a recording with an open complaint (and its CDR) is
kept; the server's periodic loop applies the policy."""
import asyncio
import datetime as dt

from trunkline.app.schema import migrate
from trunkline.data.db import make_session_factory, session_scope
from trunkline.data.models import Cdr, Recording
from trunkline.data.retention import RetentionPolicy, apply_retention, retention_loop

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def _site(tmp_path):
    factory = make_session_factory(migrate(f"sqlite:///{tmp_path / 't.db'}"))
    with session_scope(factory) as s:
        for i, age in enumerate([100, 60, 40, 20, 5, 1]):       # days old; 1000 bytes each
            path = tmp_path / f"r{i}.wav"
            path.write_bytes(bytes(1000))
            start = NOW - dt.timedelta(days=age)
            s.add(Recording(call_id=f"c{i}", path=str(path), started_at=start, bytes=1000,
                            complaint_open=(i == 1)))
            s.add(Cdr(call_id=f"c{i}", start=start))
    return factory


def _left(factory):
    with session_scope(factory) as s:
        return (sorted(r.call_id for r in s.query(Recording)), sorted(c.call_id for c in s.query(Cdr)))


def test_age_then_quota_oldest_first_and_complaints_kept(tmp_path):
    factory = _site(tmp_path)
    r = apply_retention(factory, RetentionPolicy(recording_days=30, cdr_days=50), now=NOW)
    assert (r.recordings, r.bytes_freed, r.cdrs) == (2, 2000, 1)    # c0, c2 recordings; c0's CDR (c1 flagged)
    recs, cdrs = _left(factory)
    assert recs == ["c1", "c3", "c4", "c5"] and cdrs == ["c1", "c2", "c3", "c4", "c5"]
    assert not (tmp_path / "r0.wav").exists() and (tmp_path / "r1.wav").exists()
    r = apply_retention(factory, RetentionPolicy(quota_bytes=2500), now=NOW)
    assert r.recordings == 2 and _left(factory)[0] == ["c1", "c5"]   # c3, c4 oldest unflagged; c1 flagged stays
    assert sum(p.stat().st_size for p in tmp_path.glob("r*.wav")) <= 2500


def test_server_loop_applies_the_policy_periodically(tmp_path):
    factory = _site(tmp_path)

    async def run():
        task = asyncio.ensure_future(retention_loop(factory, RetentionPolicy(quota_bytes=1000), 0.05))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if len(_left(factory)[0]) <= 1:
                break
        task.cancel()

    asyncio.run(run())
    assert _left(factory)[0] == ["c1"]         # down to the quota, oldest first; the flagged one stays
