"""Typed records of a call: its CDR fields (call.cdr) and how a recording ended (call.record())."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CallRecord:
    """CDR fields filled by the IVR and the ACD while a call runs (times in seconds).

    queue/agent: the ACD queue and the agent who took the call; outcome: how it ended for the
    caller (completed, abandoned, voicemail, ...; None: answered/unanswered from the call state);
    wait/talk: seconds queued before an agent answered (or the caller left) and seconds talking;
    recording: path of the call's recording; recording_policy: the recording policy that applied (none, ivr,
    agent, whole; "" = no policy decided it); survey_score: the caller's 1-5 rating;
    ivr_path: the IVR nodes taken ("a>b>sub:c"); digits: digits entered per node, masked on request;
    correlation_id / peer_node: on nodes linked over SIP, the caller's first call id (the same on every
    node's legs) and the node this leg went to or came from.
    """
    queue: str | None = None
    agent: str | None = None
    outcome: str | None = None
    wait: float | None = None
    talk: float | None = None
    recording: str | None = None
    recording_policy: str = ""
    survey_score: int | None = None
    ivr_path: str = ""
    digits: str = ""
    correlation_id: str | None = None
    peer_node: str | None = None


@dataclass
class RecordResult:
    """How a recording ended: path, seconds recorded, reason (terminator/max/silence/hangup/stopped/error),
    error text."""
    path: str
    seconds: float
    reason: str
    error: str | None = None
