"""trunkline.media: the tick loop, channel table, players, recorders, bridges and the call API."""
from trunkline.media.call import Call
from trunkline.media.engine import Engine
from trunkline.media.errors import CallError, ChannelError, Hangup, Timeout
from trunkline.media.prompts import PromptLibrary
from trunkline.media.record import CallRecord, RecordResult

__all__ = ["Engine", "Call", "CallRecord", "RecordResult", "CallError", "ChannelError", "Hangup", "Timeout",
           "PromptLibrary"]
