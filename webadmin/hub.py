"""The running server's facade the web admin reads from; trunkline.app.server fills one in."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from trunkline.acd.service import ACD
from trunkline.data.spool import DurableWriter
from trunkline.media.call import Call
from trunkline.media.heaptrim import HeapTrim
from trunkline.media.overload import OverloadState
from trunkline.media.tickwatch import TickStats


class EngineLike(Protocol):
    """What the web admin needs from the media engine."""
    bus: Any  # .subscribe(callback(event: dict))
    channels: int                     # bearer channels of the board
    calls: dict[int, Call]            # channel -> call now
    stats: dict[str, int]             # call counters: offered, answered, completed, failed, congested
    accepting: bool                   # False once the server drains before stopping
    heap_trim: HeapTrim               # freed heap back to the system between ticks (media/heaptrim.py)

    @property
    def running(self) -> bool:
        """True while the engine ticks."""

    @property
    def tick_stats(self) -> TickStats:
        """The tick deadline watch (media/tickwatch.py)."""

    @property
    def overload_state(self) -> OverloadState:
        """Overload control: whether new calls are refused, the smoothed tick load (media/overload.py)."""

    def status(self) -> list[dict[str, Any]]:
        """One dict per channel: channel, span, kind, state, caller, called, since, call_id (+duration, alarms)."""


@dataclass
class Hub:
    """Everything the web admin reaches in the running server.

    engine: the media engine (or None when the web admin runs without one);
    acd: the ACD facade or None; session_factory: SQLAlchemy sessionmaker;
    writer: the trunkline.data.spool.DurableWriter (optional, shown on the status page);
    recordings_dir / prompts_dir / fax_dir: where files live (uploads go to prompts_dir);
    flows: the IVR flow registry (ivr.flows.FlowRegistry) the engine routes through, or None;
    prompts: the IVR prompt library the flows play from, or None (the editor opens prompts_dir);
    sms: the SMS service on the GSM modem (drivers.serial.sms_service.SmsService), or None;
    campaigns: name -> running ivr.campaign.Campaign; campaign_manager: ivr.campaign_store.CampaignManager;
    board_config: what the configuration file says about the board (board_url, trunk_signaling, browser_phones,
    sip_listen, sip_channels, sip_trunks without secrets); alarms: the span alarm watch (media.alarm_watch);
    test_calls: test calls from the admin's browser phone (ivr.testcall.TestCalls), or None.
    """
    session_factory: Callable[[], Session]
    engine: EngineLike | None = None
    acd: ACD | None = None
    writer: DurableWriter | None = None
    recordings_dir: str = "var/recordings"
    prompts_dir: str = "var/prompts"
    fax_dir: str = "var/fax"
    flows: Any = None
    prompts: Any = None
    sms: Any = None
    campaigns: dict[str, Any] = field(default_factory=dict)
    campaign_manager: Any = None
    board_config: dict[str, Any] = field(default_factory=dict)
    alarms: Any = None
    test_calls: Any = None
    dialplan: Any = None            # ivr.dialplan.DialPlan the engine dials through; reloaded on admin changes
    sip_trunks: Any = None          # app.sip_trunks.SipTrunkSet: file + admin SIP trunks; reload() on admin changes
