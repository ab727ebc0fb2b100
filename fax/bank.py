"""The fax bank: every active fax session of an engine stepped together once per tick.

Each tick the bank runs the modems of all its sessions as a few kernel calls over the bank: every V.17
receiver (fax/v17_kernel), every listening V.21 receiver with its HDLC deframing (fax/v21), and on the
way out every V.17 and every V.21 transmitter. T.30 and T.4/T.6 stay per session and run on events:
a session's Python is stepped only when one of its kernels reports something (a frame received, bits
or a state change of its image receiver, its transmitter done) or when its phase's timer is due
(`T30Link.sleep_until`); a session with nothing to do costs no Python on the tick. Sessions whose
signal is made in Python (CNG/CED tones, the V.27ter/V.29 modems) and sessions of another kind are
stepped every tick. Sessions may be at different phases, speeds and ECM modes; a session switching
modem changes only which kernel group it is in. A session that raises (garbage its decoders cannot
handle) ends with a clear result and is never allowed to stop the others."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trunkline.fax._faxbank import ffi, lib

from .endpoint import FaxEndpoint
from .result import FaxResult
from .t30_link import CadencedTone, T30Link
from .v17 import V17Rx, V17Tx
from .v17_kernel import CHUNK
from .v21 import V21Rx, V21Tx

__all__ = ["FaxBank"]

_log = logging.getLogger("trunkline.fax.bank")

#: called once with the channel when its session has ended (result final)
OnDone = Callable[[int], object]

_NEVER = np.iinfo(np.int64).max


class _Group:
    """The sessions of one kernel (channel -> its C state), with the pointer array, rows and the event and output
    buffers of the last membership cached: rebuilt only on a tick after a session joined or left."""

    def __init__(self, ctype: str) -> None:
        self.ctype = ctype
        self.members: dict[int, Any] = {}
        self._addr = np.zeros(0, dtype=np.uintp)    # each channel's member state address (0: none), by channel
        self._paddr = np.zeros(0, dtype=np.uintp)   # the members' addresses in channel order (the pointer array)
        self._ptrs: Any = None
        self._rows: NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self.rows64 = np.zeros(0, dtype=np.int64)    # the same as int64, for the kernels that add into the mix
        self.rowsp: Any = None
        self._dirty = False
        self.ev = np.zeros(0, dtype=np.uint8)       # the kernel's event flags, one per row
        self.evp: Any = None
        self._out = np.zeros((0, 0), dtype=np.int16)
        self._outp: Any = None
        self.span: slice | None = None               # the rows as a slice when they are consecutive channels
        self._x = np.zeros((0, 0), dtype=np.int16)   # gathered input rows (when not a slice)

    def set(self, ch: int, state: Any) -> None:
        """`state` (a cdata pointer, or None to leave) for channel ch."""
        old = self.members.get(ch)
        if state is None:
            if old is not None:
                del self.members[ch]
                self._addr[ch] = 0
                self._dirty = True
        elif old is not state:
            self.members[ch] = state   # keeps the state alive while its address is in the pointer array
            if ch >= len(self._addr):
                self._addr = np.concatenate([self._addr, np.zeros(max(ch + 1, 2 * len(self._addr), 16)
                                                                  - len(self._addr), np.uintp)])
            self._addr[ch] = int(ffi.cast("uintptr_t", state))
            self._dirty = True

    def arrays(self) -> tuple[Any, NDArray[np.intp]]:
        """(the C pointer array, the channel of each row); rebuilt by array operations (no Python per member)."""
        if self._dirty or self._ptrs is None:
            chans = np.flatnonzero(self._addr)   # channel order: consecutive channels are one slice of the arrays
            self._paddr = self._addr[chans]
            self._ptrs = ffi.cast(f"{self.ctype} **", ffi.from_buffer("uintptr_t[]", self._paddr))
            self._rows = chans.astype(np.intp)
            self.rows64 = chans.astype(np.int64)
            self.rowsp = ffi.from_buffer("int64_t[]", self.rows64)
            n = len(chans)
            self.span = slice(int(chans[0]), int(chans[-1]) + 1) if n and chans[-1] - chans[0] + 1 == n else None
            self.ev = np.zeros(n, dtype=np.uint8)
            self.evp = ffi.from_buffer("uint8_t[]", self.ev)
            self._dirty = False
        return self._ptrs, self._rows

    def gather(self, audio_in: NDArray[np.int16]) -> tuple[Any, int]:
        """The group's input rows of audio_in (channels, block) int16 for a kernel: (C pointer, row stride)."""
        if self.span is not None and audio_in.flags.c_contiguous:
            x = audio_in[self.span]
        else:
            if self._x.shape != (len(self._rows), audio_in.shape[1]):
                self._x = np.empty((len(self._rows), audio_in.shape[1]), dtype=np.int16)
            x = np.take(audio_in, self._rows, axis=0, out=self._x)
        return ffi.from_buffer("int16_t[]", x), audio_in.shape[1]

    def add_into(self, acc: NDArray[np.int32]) -> None:
        """Add the group's output rows into acc (channels, block)."""
        if self.span is not None:
            acc[self.span] += self._out
        else:
            acc[self._rows] += self._out

    def out(self, block: int) -> tuple[NDArray[np.int16], Any]:
        """An int16 (rows, block) output buffer and its C pointer (kept while membership and block stay)."""
        if self._out.shape != (len(self._rows), block):
            self._out = np.empty((len(self._rows), block), dtype=np.int16)
            self._outp = ffi.from_buffer("int16_t[]", self._out)
        return self._out, self._outp


class FaxBank:
    """The fax sessions of one engine, by channel; `step` runs them all for one block (int16 audio)."""

    def __init__(self) -> None:
        self._sessions: dict[int, tuple[Any, OnDone | None, T30Link | None]] = {}   # (session, on_done, its link)
        self._kinds: dict[int, tuple[Any, Any, Any]] = {}   # the (image receiver, V.21 receiver, source) last grouped
        self.ticks = 0
        self._rx17 = _Group("fb_rx17_t")
        self._rx21 = _Group("fb_v21rx_t")
        self._tx17 = _Group("fb_tx_t")
        self._tx21 = _Group("fb_v21tx_t")
        self._tone = _Group("fb_tone_t")
        self._pytx: dict[int, Any] = {}      # sessions whose signal is made in Python (tones, V.27ter/V.29)
        self._awake: set[int] = set()        # sessions stepped every tick
        self._now = np.zeros(0, dtype=np.int64)      # each banked session's link.now as of the last tick
        self._wake = np.zeros(0, dtype=np.int64)     # its sleep_until (_NEVER: only on an event)
        self._due = np.zeros(0, dtype=bool)          # an event for it since its last step
        self.steps = 0                       # session steps run (for profiling: steps / ticks / sessions)

    def __len__(self) -> int:
        return len(self._sessions)

    def attach(self, channel: int, session: Any, on_done: OnDone | None = None) -> None:
        """Run `session` on `channel` from the next tick; on_done(channel) once it has ended. A FaxEndpoint's
        modems run in the bank's kernels; any other session (rx/tx/done/result) runs as it is every tick."""
        if channel in self._sessions:
            raise ValueError(f"channel {channel} already has a fax session")
        if channel < 0:
            raise ValueError("channel must be >= 0")
        link = self._link(session)
        self._sessions[channel] = (session, on_done, link)
        if channel >= len(self._now):
            grow = max(channel + 1, 2 * len(self._now), 16) - len(self._now)
            self._now = np.concatenate([self._now, np.zeros(grow, np.int64)])
            self._wake = np.concatenate([self._wake, np.full(grow, _NEVER, np.int64)])
            self._due = np.concatenate([self._due, np.zeros(grow, bool)])
        if link is not None:
            link.bank_fed = True
            self._now[channel] = link.now
            self._due[channel] = True
        self._regroup(channel, session, link)

    def detach(self, channel: int) -> None:
        """Stop running the channel's session (no-op if none)."""
        item = self._sessions.pop(channel, None)
        if item is None:
            return
        self._leave(channel)
        link = item[2]
        if link is not None:   # the session may go on by itself (rx/tx) outside the bank
            link.bank_fed = False
            link.now = int(self._now[channel])

    def session(self, channel: int) -> Any:
        """The session on `channel`, if any."""
        item = self._sessions.get(channel)
        return item[0] if item else None

    @staticmethod
    def _link(session: Any) -> T30Link | None:
        """The session's T30Link if the bank runs its modems (a FaxEndpoint on an audio line)."""
        if isinstance(session, FaxEndpoint) and type(session.session.link) is T30Link:
            return session.session.link
        return None

    def _leave(self, ch: int) -> None:
        for g in (self._rx17, self._rx21, self._tx17, self._tx21, self._tone):
            g.set(ch, None)
        self._pytx.pop(ch, None)
        self._kinds.pop(ch, None)
        self._awake.discard(ch)
        self._wake[ch] = _NEVER
        self._due[ch] = False

    def _regroup(self, ch: int, ep: Any, link: T30Link | None) -> None:
        """Put the session in the kernel groups its current state needs (after it was stepped; link: its T30Link
        if the bank runs its modems). The groups are touched only when its receivers or source changed."""
        if link is None:   # another kind of session: stepped every tick until done, asked for audio always
            self._pytx[ch] = ep
            if ep.done:
                self._awake.discard(ch)
            else:
                self._awake.add(ch)
            return
        if ep.done:
            self._leave(ch)
            return
        hs = link.hsrx
        v21 = link.v21_listening()
        src = link.src
        last = self._kinds.get(ch)
        if last is None or last[0] is not hs or last[1] is not v21 or last[2] is not src:
            self._kinds[ch] = (hs, v21, src)
            self._rx17.set(ch, hs.kernel.r if isinstance(hs, V17Rx) else None)
            self._rx21.set(ch, v21.r if isinstance(v21, V21Rx) else None)
            self._tx17.set(ch, src.kernel.s if isinstance(src, V17Tx) else None)
            self._tx21.set(ch, src.s if isinstance(src, V21Tx) else None)
            self._tone.set(ch, src.s if isinstance(src, CadencedTone) else None)
        py_tx = src is not None and not isinstance(src, (V17Tx, V21Tx, CadencedTone))
        if py_tx:
            self._pytx[ch] = ep
        else:
            self._pytx.pop(ch, None)
            if src is None:
                link._transmitting = False    # what link.tx() does for a session sending nothing
        sleep = link.sleep_until
        if py_tx or (hs is not None and not isinstance(hs, V17Rx)) or sleep is None:
            self._awake.add(ch)
        else:
            self._awake.discard(ch)
        self._wake[ch] = _NEVER if sleep is None else sleep

    def step(self, audio_in: NDArray[np.int16], acc: NDArray[np.int32]) -> list[int]:
        """One tick: audio_in (channels, block) int16 heard on every channel; each session's transmitted
        block is added into acc (channels, block). Returns the channels whose session ended this tick."""
        block = audio_in.shape[1]
        ended: list[int] = []
        self._now += block
        self._run_rx(self._rx17, lib.fb_rx17_run, audio_in)
        self._run_rx(self._rx21, lib.fb_v21_run, audio_in)
        due = self._due | (self._now >= self._wake)
        if self._awake:
            due[list(self._awake)] = True
        chans = due.nonzero()[0]
        if len(chans):
            self._due[chans] = False
            self._step_sessions(chans.tolist(), (self._now[chans] - block).tolist(), audio_in, ended)
        # the transmitters add into the mix in place when it is one C-contiguous int32 array (the engine's is)
        accp = (ffi.from_buffer("int32_t[]", acc) if acc.dtype == np.int32 and acc.ndim == 2
                and acc.flags.c_contiguous and acc.shape[1] == block else None)
        self._run_tx(self._tx17, lib.fb_v17_tx, lib.fb_v17_tx_add, acc, accp, block)
        self._run_tx(self._tx21, lib.fb_v21_tx, lib.fb_v21_tx_add, acc, accp, block)
        self._run_tx(self._tone, lib.fb_tone_tx, lib.fb_tone_tx_add, acc, accp, block)
        for ch, ep in list(self._pytx.items()):
            try:
                acc[ch] += ep.tx(block)
            except Exception as exc:  # noqa: BLE001 - as above
                self._fail(ep, exc)
                if ch not in ended:
                    ended.append(ch)
                self._regroup(ch, ep, self._sessions[ch][2])
        self.ticks += 1
        for ch in ended:
            item = self._sessions.get(ch)
            if item is not None and item[1] is not None:
                item[1](ch)
        return ended

    def _step_sessions(self, chans: list[int], nows: list[int], audio_in: NDArray[np.int16], ended: list[int]) -> None:
        """Step the T.30 of each due channel's session on its block (nows: its link's time at the block's start);
        the channels whose session ended are added to `ended`."""
        sessions = self._sessions
        for ch, now in zip(chans, nows):
            item = sessions.get(ch)
            if item is None:
                continue
            ep, _, link = item
            if link is not None:
                link.now = now
            if not ep.done:
                self.steps += 1
                try:
                    ep.rx(audio_in[ch])
                except Exception as exc:  # noqa: BLE001 - one session's failure must not stop the bank
                    self._fail(ep, exc)
                if ep.done:
                    ended.append(ch)
            self._regroup(ch, ep, link)

    def _run_rx(self, group: _Group, kernel: Any, audio_in: NDArray[np.int16]) -> None:
        """Every receiver of the group hears its channel's block (one kernel call per chunk); the sessions
        whose receiver has output or changed state are due."""
        if not group.members:
            return
        ptrs, rows = group.arrays()
        ev = group.ev   # the kernels clear the flags and return how many they set
        n = audio_in.shape[1]
        if n <= CHUNK and audio_in.dtype == np.int16:
            xp, stride = group.gather(audio_in)
            if kernel(ptrs, len(rows), xp, stride, n, group.evp):
                self._due[rows[ev.view(bool)]] = True
        else:
            x = np.ascontiguousarray(audio_in[rows], dtype=np.int16)
            for a in range(0, n, CHUNK):
                part = np.ascontiguousarray(x[:, a:a + CHUNK])
                if kernel(ptrs, len(rows), ffi.from_buffer("int16_t[]", part), part.shape[1], part.shape[1],
                          group.evp):
                    self._due[rows[ev.view(bool)]] = True

    def _run_tx(self, group: _Group, kernel: Any, kernel_add: Any, acc: NDArray[np.int32], accp: Any,
                block: int) -> None:
        """Every transmitter of the group makes its channel's block, added into acc (one kernel call: in place
        when accp points at acc, else through an output buffer); the sessions whose transmitter finished are due
        on the next tick."""
        if not group.members:
            return
        ptrs, rows = group.arrays()
        if accp is not None:   # the flags cleared, the count returned
            hit = kernel_add(ptrs, len(rows), group.rowsp, accp, block, block, group.evp)
        else:
            out, outp = group.out(block)
            hit = kernel(ptrs, len(rows), outp, block, group.evp)
            group.add_into(acc)
        if hit:
            self._due[rows[group.ev.view(bool)]] = True

    @staticmethod
    def _fail(ep: Any, exc: Exception) -> None:
        """End a session that raised: a clear result, nothing more sent (a FaxEndpoint; another kind of session
        is only logged: it ends by its own rules or its call's fax timeout)."""
        _log.warning("fax session failed: %r", exc, exc_info=True)
        if not isinstance(ep, FaxEndpoint):
            return
        ep.session.link.src = None
        ep.session.done = True
        ep.result = FaxResult(ok=False, pages=ep.session.out.pages, bit_rate=ep.session.out.bit_rate,
                              ecm=ep.session.out.ecm,
                              reason=f"fax session error: {type(exc).__name__}: {exc}")
