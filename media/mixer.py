"""TDM switching: two-party bridges (one C gather-add over all bridged channels) and N-party conferences of calls
(one small mix matrix per conference: who hears whom, for listen/whisper/barge)."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from trunkline.media.call import Call
from trunkline.media.ports import Samples
from trunkline.media.tick_kernel import gather_add

#: the tick's int32 accumulator, shaped (channels, block)
Accumulator = NDArray[np.int32]


class BridgeTable:
    """Two-party bridges: each channel hears its peer."""

    def __init__(self, channels: int) -> None:
        self.peer = np.full(channels, -1, dtype=np.int64)
        self._rows = np.zeros(0, dtype=np.int64)
        self._from = np.zeros(0, dtype=np.int64)   # peer of each of _rows

    def connect(self, a: int, b: int) -> None:
        """Bridge channels a and b both ways."""
        self.disconnect(a)
        self.disconnect(b)
        self.peer[a], self.peer[b] = b, a
        self._plan()

    def disconnect(self, a: int) -> None:
        """Undo the bridge channel a is in, if any."""
        b = self.peer[a]
        if b >= 0:
            self.peer[b] = -1
        self.peer[a] = -1
        self._plan()

    def _plan(self) -> None:
        self._rows = np.flatnonzero(self.peer >= 0)
        self._from = self.peer[self._rows]

    def mix(self, audio_in: Samples, acc: Accumulator) -> None:
        """Add each bridged channel's peer audio into acc."""
        rows = self._rows
        if rows.size:                             # one C loop: acc[rows] += audio_in[peer[rows]]
            gather_add(acc, audio_in, rows, self._from)


class Member:
    """A conference member: speak (others hear it), listen (it hears others), speak_to (only these hear it)."""

    def __init__(self, channel: int, speak: bool = True, listen: bool = True,
                 speak_to: set[int] | None = None) -> None:
        self.channel = channel
        self.speak = speak
        self.listen = listen
        self.speak_to = speak_to       # None: everyone; else a set of board channels


class Conference:
    """An N-party conference of calls (engine.conference()); members' audio is mixed by a (k x k) matrix
    rebuilt only on changes. A member that hangs up leaves by itself."""

    def __init__(self, table: ConferenceTable, name: str) -> None:
        self.table = table
        self.name = name
        self.calls: dict[int, Call] = {}          # channel -> Call
        self.members: dict[int, Member] = {}      # channel -> Member
        self._rows = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, 0), dtype=np.int32)

    def add(self, call: Call, speak: bool = True, listen: bool = True,
            speak_to: Iterable[Call] | None = None) -> None:
        """Add (or update) a call; speak_to (calls) restricts who hears it (whisper)."""
        self.calls[call.channel] = call
        targets = None if speak_to is None else {c.channel for c in speak_to}
        self.members[call.channel] = Member(call.channel, speak, listen, targets)
        self._rebuild()
        call.on_hangup(self.remove)

    def remove(self, call: Call) -> None:
        """Take a call out."""
        self.calls.pop(call.channel, None)
        self.remove_channel(call.channel)

    def remove_channel(self, channel: int) -> None:
        """Take the member on a board channel out (its call ended)."""
        if self.members.pop(channel, None) is not None:
            self._rebuild()

    def hears(self, listener: Call, speaker: Call) -> bool:
        """True if call `listener` hears call `speaker` in this conference."""
        rows = self._rows.tolist()
        if listener.channel not in rows or speaker.channel not in rows:
            return False
        return bool(self._matrix[rows.index(speaker.channel), rows.index(listener.channel)])

    def _rebuild(self) -> None:
        chans = sorted(self.members)
        k = len(chans)
        m = np.zeros((k, k), dtype=np.int32)
        for i, ci in enumerate(chans):
            si = self.members[ci]
            if not si.speak:
                continue
            for j, cj in enumerate(chans):
                if i == j or not self.members[cj].listen:
                    continue
                if si.speak_to is None or cj in si.speak_to:
                    m[i, j] = 1
        self._rows = np.array(chans, dtype=np.int64)
        self._matrix = m

    def mix(self, audio_in: Samples, acc: Accumulator) -> None:
        """Add what each member hears into acc."""
        if len(self._rows) < 2:
            return
        x = audio_in[self._rows].astype(np.int32)
        acc[self._rows] += self._matrix.T @ x

    def close(self) -> None:
        """Dissolve the conference."""
        self.calls.clear()
        self.members.clear()
        self._rebuild()
        self.table.conferences.discard(self)


class ConferenceTable:
    """All conferences of an engine."""

    def __init__(self) -> None:
        self.conferences: set[Conference] = set()
        self._seq = 0

    def create(self, name: str | None = None) -> Conference:
        """A new empty conference."""
        self._seq += 1
        conf = Conference(self, name or f"conf-{self._seq}")
        self.conferences.add(conf)
        return conf

    def remove_channel(self, channel: int) -> None:
        """Take a channel out of every conference (its call ended)."""
        for conf in list(self.conferences):
            conf.remove_channel(channel)

    def mix(self, audio_in: Samples, acc: Accumulator) -> None:
        """Mix every conference."""
        for conf in self.conferences:
            conf.mix(audio_in, acc)
