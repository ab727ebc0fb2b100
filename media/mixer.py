"""TDM switching: two-party bridges (one vectorised gather) and N-party conferences
(one small mix matrix per conference: who hears whom, for listen/whisper/barge)."""
import numpy as np


class BridgeTable:
    """Two-party bridges: each channel hears its peer."""

    def __init__(self, channels):
        self.peer = np.full(channels, -1, dtype=np.int64)
        self._rows = np.zeros(0, dtype=np.int64)

    def connect(self, a, b):
        """Bridge channels a and b both ways."""
        self.disconnect(a)
        self.disconnect(b)
        self.peer[a], self.peer[b] = b, a
        self._rows = np.flatnonzero(self.peer >= 0)

    def disconnect(self, a):
        """Undo the bridge channel a is in, if any."""
        b = self.peer[a]
        if b >= 0:
            self.peer[b] = -1
        self.peer[a] = -1
        self._rows = np.flatnonzero(self.peer >= 0)

    def mix(self, audio_in, acc):
        """Add each bridged channel's peer audio into acc."""
        rows = self._rows
        if rows.size:
            acc[rows] += audio_in[self.peer[rows]]


class Member:
    """A conference member: speak (others hear it), listen (it hears others), speak_to (only these hear it)."""

    def __init__(self, channel, speak=True, listen=True, speak_to=None):
        self.channel = channel
        self.speak = speak
        self.listen = listen
        self.speak_to = speak_to       # None: everyone; else a set of channels


class Conference:
    """An N-party bridge; members' audio is mixed by a (k x k) matrix rebuilt only on changes."""

    def __init__(self, table, name):
        self.table = table
        self.name = name
        self.members = {}              # channel -> Member
        self._rows = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, 0), dtype=np.int32)

    def add(self, channel, speak=True, listen=True, speak_to=None):
        """Add (or update) a member by board channel."""
        self.members[channel] = Member(channel, speak, listen, None if speak_to is None else set(speak_to))
        self._rebuild()

    def remove(self, channel):
        """Remove a member."""
        if self.members.pop(channel, None) is not None:
            self._rebuild()

    def hears(self, listener, speaker):
        """True if listener hears speaker in this conference (both board channels)."""
        rows = list(self._rows)
        if listener not in rows or speaker not in rows:
            return False
        return bool(self._matrix[rows.index(speaker), rows.index(listener)])

    def _rebuild(self):
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

    def mix(self, audio_in, acc):
        """Add what each member hears into acc."""
        if len(self._rows) < 2:
            return
        x = audio_in[self._rows].astype(np.int32)
        acc[self._rows] += self._matrix.T @ x

    def close(self):
        """Dissolve the conference."""
        self.members.clear()
        self._rebuild()
        self.table.conferences.discard(self)


class ConferenceTable:
    """All conferences of an engine."""

    def __init__(self):
        self.conferences = set()
        self._seq = 0

    def create(self, name=None):
        """A new empty conference."""
        self._seq += 1
        conf = Conference(self, name or f"conf-{self._seq}")
        self.conferences.add(conf)
        return conf

    def remove_channel(self, channel):
        """Take a channel out of every conference (its call ended)."""
        for conf in list(self.conferences):
            conf.remove(channel)

    def mix(self, audio_in, acc):
        """Mix every conference."""
        for conf in self.conferences:
            conf.mix(audio_in, acc)
