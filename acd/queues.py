"""Queue configuration: strategy, timers, overflow, announcements, VIP, penalty and skill widening rules."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from trunkline.ivr.routes import RECORD_POLICIES

from .models import AcdQueue
from .strategies import STRATEGIES

OVERFLOW_ACTIONS = ("queue", "voicemail", "flow", "hangup", "stay")


class QueueConfigError(ValueError):
    """A queue option is missing or out of range (message names the queue and option)."""


@dataclass
class QueueConfig:
    """Options of one queue; times in seconds (media time)."""
    name: str
    strategy: str = "longest-idle"
    wrapup: float = 0.0                 # agent wrap-up after each call of this queue
    ring_timeout: float = 15.0          # how long one agent (or ring-all group) rings
    max_wait: float | None = None       # overflow after this long waiting
    overflow: dict[str, Any] = field(default_factory=lambda: {"action": "stay"})       # at max_wait
    on_empty: dict[str, Any] = field(default_factory=lambda: {"action": "stay"})       # no agent logged in
    announce_interval: float = 0.0      # 0 = no periodic position/EWT announcements
    announce_first: float | None = None # first announcement after (default: announce_interval)
    announce_position: bool = True
    announce_ewt: bool = True
    moh: str = "default"                # music-on-hold class (media/moh.py; else a prompt name or file)
    vip_numbers: list[str] = field(default_factory=list)
    vip_var: str = "vip"                # IVR variable that marks a VIP caller
    vip_priority: int = 10
    penalty_rules: list[list[Any]] = field(default_factory=list)   # [[after_s, max_penalty], ...]
    skill_rules: list[list[Any]] = field(default_factory=list)     # [[after_s, relax_levels | "any"], ...]
    reject_delay: float = 5.0           # agent not offered again for this long after not answering
    busy_delay: float = 10.0            # ... after their line was busy
    max_no_answer: int = 3              # consecutive no-answers -> agent on break "no-answer"
    voicemail_key: str | None = None    # caller presses it to leave a voicemail
    voicemail_box: str | None = None
    callback_key: str | None = None     # caller presses it to be called back, keeping their place
    callback_ring_timeout: float = 30.0 # the dial-back to that caller rings this long before it fails
    service_level: float = 20.0         # answered within this many seconds counts as in service level
    default_aht: float = 180.0          # handle time assumed before history exists (EWT)
    record: bool = True                 # record every connected call (two tracks)
    recording: str = ""                 # recording policy: none | ivr | agent | whole ("" = whole call)

    def __post_init__(self) -> None:
        n = self.name
        if not n or not isinstance(n, str):
            raise QueueConfigError("queue needs a name")
        if self.strategy not in STRATEGIES:
            raise QueueConfigError(f"queue {n}: unknown strategy {self.strategy!r}; one of {', '.join(STRATEGIES)}")
        for opt in ("wrapup", "ring_timeout", "announce_interval", "reject_delay", "busy_delay",
                    "service_level", "default_aht", "callback_ring_timeout"):
            v = getattr(self, opt)
            if not isinstance(v, (int, float)) or v < 0:
                raise QueueConfigError(f"queue {n}: {opt} must be a number of seconds >= 0, got {v!r}")
            setattr(self, opt, float(v))
        for opt in ("ring_timeout", "callback_ring_timeout"):
            if getattr(self, opt) <= 0:
                raise QueueConfigError(f"queue {n}: {opt} must be > 0")
        if self.default_aht <= 0:
            raise QueueConfigError(f"queue {n}: default_aht must be > 0")
        if self.max_wait is not None and (not isinstance(self.max_wait, (int, float)) or self.max_wait <= 0):
            raise QueueConfigError(f"queue {n}: max_wait must be seconds > 0 or None")
        if not isinstance(self.max_no_answer, int) or self.max_no_answer < 1:
            raise QueueConfigError(f"queue {n}: max_no_answer must be an integer >= 1")
        for opt in ("overflow", "on_empty"):
            act = getattr(self, opt)
            if isinstance(act, str):
                act = {"action": act}
            if not isinstance(act, dict) or act.get("action") not in OVERFLOW_ACTIONS:
                raise QueueConfigError(f"queue {n}: {opt} needs action in {OVERFLOW_ACTIONS}, got {act!r}")
            if act["action"] in ("queue", "flow") and not act.get("target"):
                raise QueueConfigError(f"queue {n}: {opt} action {act['action']} needs a target")
            setattr(self, opt, dict(act))
        if self.recording not in ("", *RECORD_POLICIES):
            raise QueueConfigError(f"queue {n}: recording must be one of {', '.join(RECORD_POLICIES)}, "
                                   f"got {self.recording!r}")
        self.penalty_rules = _rules(n, "penalty_rules", self.penalty_rules, allow_any=False)
        self.skill_rules = _rules(n, "skill_rules", self.skill_rules, allow_any=True)
        for key in ("voicemail_key", "callback_key"):
            k = getattr(self, key)
            if k is not None and (len(str(k)) != 1 or str(k) not in "0123456789*#"):
                raise QueueConfigError(f"queue {n}: {key} must be one DTMF key, got {k!r}")
        self.vip_numbers = [str(x) for x in (self.vip_numbers or [])]

    def recording_policy(self) -> str:
        """The recording policy of this queue's calls: none when `record` is off, else `recording` (whole)."""
        return "none" if not self.record else (self.recording or "whole")

    def to_options(self) -> dict[str, Any]:
        """The options dict stored in acd_queues.options (everything but name and strategy)."""
        d = asdict(self)
        d.pop("name")
        d.pop("strategy")
        return d

    @classmethod
    def from_row(cls, row: AcdQueue) -> QueueConfig:
        """Build from an AcdQueue row."""
        known = set(cls.__dataclass_fields__)
        opts = {k: v for k, v in (row.options or {}).items() if k in known}
        return cls(name=row.name, strategy=row.strategy, **opts)

    def max_penalty(self, waited: float) -> int | None:
        """Highest member penalty allowed after `waited` seconds (None = no limit)."""
        if not self.penalty_rules:
            return None
        cur = None
        for after, maxp in self.penalty_rules:
            if waited >= after:
                cur = maxp
        return 0 if cur is None else cur

    def skill_relax(self, waited: float) -> int | str:
        """Skill widening after `waited` seconds: levels to relax (int) or "any"."""
        cur = 0
        for after, relax in self.skill_rules:
            if waited >= after:
                cur = relax
        return cur

    def next_rule_change(self, waited: float) -> float | None:
        """Seconds of waiting at which the next penalty/skill rule applies (None if none left)."""
        times = [a for a, _ in self.penalty_rules + self.skill_rules if a > waited]
        return min(times) if times else None


def _rules(n: str, opt: str, rules: list[Any] | None, allow_any: bool) -> list[list[Any]]:
    out: list[list[Any]] = []
    for r in rules or []:
        if not isinstance(r, (list, tuple)) or len(r) != 2:
            raise QueueConfigError(f"queue {n}: {opt} entries are [after_seconds, value], got {r!r}")
        after, val = r
        if not isinstance(after, (int, float)) or after < 0:
            raise QueueConfigError(f"queue {n}: {opt} time {after!r} must be seconds >= 0")
        if allow_any and val == "any":
            pass
        elif not isinstance(val, int) or val < 0:
            raise QueueConfigError(f"queue {n}: {opt} value {val!r} must be an integer >= 0"
                                   + (' or "any"' if allow_any else ""))
        out.append([float(after), val])
    out.sort(key=lambda x: x[0])
    return out
