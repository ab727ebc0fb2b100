"""Voicemail retention (ivr.voicemail_retention): by age and by disk quota, oldest first and heard messages
before unheard ones; an unheard message younger than the grace period is never deleted (the quota is left
exceeded and reported); the periodic loop the server starts applies the policy."""
import asyncio
import datetime as dt

from trunkline.app import server
from trunkline.app.schema import migrate
from trunkline.data.config import load_config
from trunkline.data.db import make_session_factory, session_scope
from trunkline.ivr.models import IvrMailbox, IvrVoicemailMessage
from trunkline.ivr.voicemail_retention import (
    VoicemailRetention,
    apply_voicemail_retention,
    voicemail_retention_loop,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
#: caller -> (days old, folder); 1000-byte files
MESSAGES = {"m100": (100, "saved"), "m90": (90, "new"), "m40": (40, "saved"), "m20": (20, "new"),
            "m10": (10, "saved"), "m2": (2, "new")}


def _site(tmp_path):
    factory = make_session_factory(migrate(f"sqlite:///{tmp_path / 't.db'}"))
    with session_scope(factory) as s:
        box = IvrMailbox(box="8001", pin="1")
        s.add(box)
        for caller, (age, folder) in MESSAGES.items():
            path = tmp_path / f"{caller}.wav"
            path.write_bytes(bytes(1000))
            box.messages.append(IvrVoicemailMessage(caller=caller, path=str(path), folder=folder,
                                                    created_at=NOW - dt.timedelta(days=age)))
    return factory


def _left(factory, tmp_path):
    with session_scope(factory) as s:
        rows = sorted(m.caller for m in s.query(IvrVoicemailMessage))
    files = sorted(p.stem for p in tmp_path.glob("*.wav"))
    assert rows == files                      # a row goes with its file
    return rows


def test_age_keeps_unheard_messages_within_the_grace(tmp_path):
    factory = _site(tmp_path)
    r = apply_voicemail_retention(factory, VoicemailRetention(days=15, unheard_days=30), now=NOW)
    assert (r.messages, r.bytes_freed) == (3, 3000)
    assert _left(factory, tmp_path) == ["m10", "m2", "m20"]       # m20: unheard, 20 d < 30 d grace


def test_quota_deletes_heard_first_and_never_young_unheard(tmp_path):
    factory = _site(tmp_path)
    r = apply_voicemail_retention(factory, VoicemailRetention(quota_bytes=2500, unheard_days=30), now=NOW)
    # heard first, oldest first: m100, m40, m10; then unheard past the grace: m90 -> 2000 bytes left
    assert (r.messages, r.over_quota) == (4, 0) and _left(factory, tmp_path) == ["m2", "m20"]
    r = apply_voicemail_retention(factory, VoicemailRetention(quota_bytes=500, unheard_days=30), now=NOW)
    assert (r.messages, r.over_quota) == (0, 1500)                # both unheard and young: kept, reported
    assert _left(factory, tmp_path) == ["m2", "m20"]
    r = apply_voicemail_retention(factory, VoicemailRetention(quota_bytes=500, unheard_days=30),
                                  now=NOW + dt.timedelta(days=15))
    assert (r.messages, r.over_quota) == (1, 500) and _left(factory, tmp_path) == ["m2"]


def test_missing_file_and_inactive_policy(tmp_path):
    factory = _site(tmp_path)
    (tmp_path / "m100.wav").unlink()
    assert not VoicemailRetention().active
    r = apply_voicemail_retention(factory, VoicemailRetention(days=95), now=NOW)
    assert r.messages == 1 and r.bytes_freed == 0
    assert "m100" not in _left(factory, tmp_path)


def test_loop_applies_the_policy(tmp_path):
    factory = _site(tmp_path)

    async def main():
        task = asyncio.ensure_future(voicemail_retention_loop(factory, VoicemailRetention(days=1, unheard_days=0),
                                                              interval=0.05))
        for _ in range(100):
            await asyncio.sleep(0.05)
            with session_scope(factory) as s:
                if s.query(IvrVoicemailMessage).count() == 0:
                    break
        task.cancel()

    asyncio.run(main())
    assert _left(factory, tmp_path) == []


def test_server_policy_from_the_configuration():
    cfg = load_config(env={"TRUNKLINE_VOICEMAIL_RETENTION_DAYS": "60", "TRUNKLINE_VOICEMAIL_QUOTA_MB": "500",
                                  "TRUNKLINE_VOICEMAIL_UNHEARD_DAYS": "14"})
    summary = server.StartupSummary()
    policy = server.voicemail_retention(cfg, summary)
    assert (policy.days, policy.quota_bytes, policy.unheard_days, policy.active) == (60.0, 500_000_000, 14.0, True)
    assert any("voicemail retention" in line and "unheard kept 14 d" in line for line in summary.lines)
    off = server.StartupSummary()
    assert not server.voicemail_retention(load_config(env={}), off).active and off.lines == []
