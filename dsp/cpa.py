"""Call progress analysis: what is a dialled line doing? Vectorised over channels, per tone zone.

    from trunkline.dsp.cpa import CallProgressDetector
    cpa = CallProgressDetector(channels, zone="cn")
    events = cpa.process(block)      # int16 (channels, n), any n -> [(ch, event), ...] in time order
    cpa.reset(ch)                    # when a channel starts a new call

Events: "dial_tone", "ringback", "busy", "congestion", "sit", "fax_cng", "fax_ced", "voice",
"silence". An event is reported when the line's state changes to it (a ringback that keeps
ringing is reported once). ``cpa.last_events`` holds (ch, event, sample_index) of the last call.

How: 40 ms DFT frames (320 samples, 25 Hz bins) every 10 ms give, per channel, the share of
frame power in each frequency set the zone uses (one matrix product for all channels). A frame
is a tone class when one set holds >= 70 % of the power (each component >= 15 %) above
-45 dBm0; otherwise "energy" (6 dB above the channel's noise floor, which follows the minimum
frame power and rises at most 10 dB/s, and above -45 dBm0) or "silence". A class change is accepted after
3 agreeing frames (30 ms), which bridges the phase reversals of ANS tones. Per channel Python
runs only at a class change (a segment ends): the history of (class, ms) segments is matched
against each zone tone's cadence (tolerance max(25 %, 80 ms)); a tone is reported when it is
the only consistent one after its minimum number of segments (busy/congestion: on-off-on;
ringback: one on segment). Ongoing-duration rules, checked for all channels at once each
frame: dial tone after 2 s of the dial frequencies (or 1.5x the longest cadence on-time with
the same frequencies), fax CNG 1100 Hz after 400 ms, CED/ANS 2100 Hz after 500 ms, voice after
250 ms of non-tonal energy, silence after ``silence_ms`` (default 5000) of silence. SIT is the
zone's three SIT frequencies in order.

Answering machine detection (extension point): pass ``amd=`` an object with
``segment(ch, kind, ms)`` (kind is "voice" or "silence"; called for every completed segment
after voice was first reported on that channel) returning None or an event string such as
"human" / "machine", which is then reported like any other event; and ``reset(ch)``.
"""
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from .goertzel import SlidingToneBank, ToneBank
from .level import dbm0_to_amplitude
from .tones import ToneZone

WIN = 320
HOP = 80
FRAME_MS = HOP / 8.0
DEBOUNCE = 3
MIN_DBM0 = -45.0
SET_SHARE = 0.70
COMPONENT_SHARE = 0.15
TOL_FRAC = 0.25
TOL_MS = 80.0
MIN_SEGMENTS = {"busy": 3, "congestion": 3, "ringback": 1}
CADENCE_TONES = ("ringback", "busy", "congestion")
SILENCE, ENERGY = 0, 1
GLITCH_MS = 60.0
FLOOR_RISE = 10 ** (0.1 / 10)   # noise floor may rise 0.1 dB per 10 ms frame
ENERGY_OVER_FLOOR = 4.0          # non-tonal frames 6 dB above the floor are 'energy'


class AnsweringMachineHook(Protocol):
    """The `amd=` extension point: sees completed voice/silence segments, may raise an event."""

    def segment(self, ch: int, kind: str, ms: float) -> str | None: ...
    def reset(self, ch: int) -> None: ...


class CallProgressDetector:
    """Classifies call progress on many channels; process(block) -> [(channel, event)]."""

    def __init__(self, channels: int, zone: str = "cn", silence_ms: float = 5000.0, voice_ms: float = 250.0,
                 amd: AnsweringMachineHook | None = None) -> None:
        self.channels = int(channels)
        self.zone = ToneZone.get(zone)
        self.amd = amd
        # classes: 0 silence, 1 energy, then one per frequency set
        self.class_names = ["silence", "energy"]
        self.class_sets: list[tuple[float, ...]] = [(), ()]
        sets: dict[tuple[float, ...], int] = {}

        def cls(freqs: tuple[float, ...], name: str) -> int:
            key = tuple(sorted(freqs))
            if key not in sets:
                sets[key] = len(self.class_names)
                self.class_names.append(name)
                self.class_sets.append(key)
            return sets[key]

        self.cadences: dict[str, list[tuple[int, float]]] = {}
        self.dial_class: int | None = None      # the zone's steady tone (dial), if it has one
        for tname in ("dial",) + CADENCE_TONES:
            if tname not in self.zone.specs:
                continue
            t = self.zone.tone(tname)
            if t.continuous:
                self.dial_class = cls(t.steps[0][0], "tone:" + tname)
            else:
                self.cadences[tname] = [(cls(fr, "tone:" + tname) if fr else SILENCE, d) for fr, d in t.steps
                                        if d is not None]
        sit = self.zone.tone("sit")
        self.sit_classes = [cls(fr, f"sit{i}") for i, (fr, _) in enumerate(s for s in sit.steps if s[0])]
        self.cng_class = cls((1100.0,), "fax_cng")
        self.ced_class = cls((2100.0,), "fax_ced")
        freqs = sorted({f for s in self.class_sets for f in s})
        self.bank = ToneBank(freqs, WIN)
        self.front = SlidingToneBank(self.channels, freqs, WIN, HOP)    # the bank's values, 1/4 of the products
        ncls = len(self.class_names)
        self.member = np.zeros((len(freqs), ncls), dtype=np.float32)
        for c, s in enumerate(self.class_sets):
            for f in s:
                self.member[freqs.index(f), c] = 1.0
        self.set_size = self.member.sum(axis=0)
        self.min_pow = float(dbm0_to_amplitude(MIN_DBM0)) ** 2 / 2
        # ongoing-duration thresholds per class (ms) and the event they raise
        longest = max([d for cad in self.cadences.values() for c, d in cad if c == self.dial_class]
                      or [0.0])
        self.thr_ms = np.full(ncls, np.inf)
        self.thr_event: list[str | None] = [None] * ncls
        if self.dial_class is not None:
            self.thr_ms[self.dial_class] = max(2000.0, 1.5 * longest)
            self.thr_event[self.dial_class] = "dial_tone"
        self.thr_ms[self.cng_class], self.thr_event[self.cng_class] = 400.0, "fax_cng"
        self.thr_ms[self.ced_class], self.thr_event[self.ced_class] = 500.0, "fax_ced"
        self.thr_ms[ENERGY], self.thr_event[ENERGY] = float(voice_ms), "voice"
        self.thr_ms[SILENCE], self.thr_event[SILENCE] = float(silence_ms), "silence"
        # vectorised per-channel state
        self.cur = np.zeros(self.channels, dtype=np.int64)      # accepted class
        self.cand = np.zeros(self.channels, dtype=np.int64)     # candidate class
        self.cand_n = np.zeros(self.channels, dtype=np.int64)   # frames the candidate has been seen
        self.seg_start = np.zeros(self.channels, dtype=np.int64)  # frame index the accepted segment began
        self.fired = np.zeros(self.channels, dtype=bool)        # ongoing rule already fired for this segment
        self.frame = 0
        self.samples = 0
        self.history: list[list[tuple[int, float]]] = [[] for _ in range(self.channels)]
        self.last_event: list[str | None] = [None] * self.channels
        self.voice_seen = np.zeros(self.channels, dtype=bool)
        self.last_events: list[tuple[int, str, int]] = []     # (ch, event, sample index) of the last process()
        self.floor = np.full(self.channels, self.min_pow)

    def grow(self, channels: int) -> None:
        """Take more channels (new ones start fresh, as after reset); existing channels keep their state."""
        extra = int(channels) - self.channels
        if extra <= 0:
            return
        self.front.grow(int(channels))
        self.channels = int(channels)
        z = np.zeros(extra, dtype=np.int64)
        self.cur = np.concatenate([self.cur, z + SILENCE])
        self.cand = np.concatenate([self.cand, z + SILENCE])
        self.cand_n = np.concatenate([self.cand_n, z])
        self.seg_start = np.concatenate([self.seg_start, z + self.frame])
        self.fired = np.concatenate([self.fired, np.zeros(extra, dtype=bool)])
        self.voice_seen = np.concatenate([self.voice_seen, np.zeros(extra, dtype=bool)])
        self.floor = np.concatenate([self.floor, np.full(extra, self.min_pow)])
        self.history.extend([] for _ in range(extra))
        self.last_event.extend([None] * extra)

    def reset(self, ch: int) -> None:
        """Start a fresh analysis on channel `ch` (new call)."""
        self.front.reset(ch)
        self.floor[ch] = self.min_pow
        self.cur[ch] = self.cand[ch] = SILENCE
        self.cand_n[ch] = 0
        self.seg_start[ch] = self.frame
        self.fired[ch] = False
        self.history[ch] = []
        self.last_event[ch] = None
        self.voice_seen[ch] = False
        if self.amd is not None:
            self.amd.reset(ch)

    def classify(self, frames: NDArray[np.float32]) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Per-frame tone class index (or -1 for no tone) and power, for frames (channels, k, WIN)."""
        return self._classes(self.bank.amplitudes(frames), ToneBank.power(frames))

    def _classes(self, amp: NDArray[np.float32], pwr: NDArray[np.float32]) -> tuple[NDArray[np.int64],
                                                                                   NDArray[np.float32]]:
        """classify() from the frames' tone amplitudes (C, k, F) and powers (C, k)."""
        share = (amp * amp / 2) / np.maximum(pwr, 1e-9)[..., None]          # (C, k, F)
        score = share @ self.member                                          # (C, k, classes)
        # every component of a set must carry a minimum share
        low = (share < COMPONENT_SHARE).astype(np.float32) @ self.member     # count of weak components
        score = np.where(low > 0, 0.0, score)
        score[..., :2] = 0.0
        best = np.argmax(score, axis=-1)
        ok = (np.take_along_axis(score, best[..., None], -1)[..., 0] >= SET_SHARE) & (pwr >= self.min_pow)
        return np.where(ok, best, -1), pwr

    def process(self, block: NDArray[np.int16]) -> list[tuple[int, str]]:
        """Feed int16 (channels, n); returns [(ch, event)] in time order."""
        amp, pwr, ends = self.front.push(block)
        events: list[tuple[int, str, int]] = []
        if amp.shape[1]:
            tone, pwr = self._classes(amp, pwr)
            for k in range(tone.shape[1]):
                at = self.samples + int(ends[k])
                p = pwr[:, k]
                # noise floor: follows the minimum frame power, rising at most FLOOR_RISE_DB per frame
                self.floor = np.maximum(np.minimum(self.floor * FLOOR_RISE, p), self.min_pow)
                r = np.where(tone[:, k] >= 0, tone[:, k],
                             np.where(p >= self.floor * ENERGY_OVER_FLOOR, ENERGY, SILENCE))
                self.cand_n = np.where(r == self.cand, self.cand_n + 1, 1)
                self.cand = r
                change = (self.cand_n >= DEBOUNCE) & (r != self.cur)
                if change.any():
                    old_cls, old_start = self.cur.copy(), self.seg_start.copy()
                    self.cur[change] = r[change]
                    self.seg_start[change] = self.frame - DEBOUNCE + 1
                    self.fired[change] = False
                    for ch in np.nonzero(change)[0]:
                        self._segment_end(int(ch), int(old_cls[ch]), int(old_start[ch]), int(r[ch]), at, events)
                # ongoing-duration rules, all channels at once
                dur = (self.frame + 1 - self.seg_start) * FRAME_MS
                hit = (~self.fired) & (dur >= self.thr_ms[self.cur])
                for ch in np.nonzero(hit)[0]:
                    self._emit(int(ch), self.thr_event[self.cur[ch]], at, events)
                    if self.cur[ch] == ENERGY:
                        self.voice_seen[ch] = True
                self.fired |= hit
                self.frame += 1
        self.samples += np.asarray(block).shape[1]
        self.last_events = events
        return [(ch, e) for ch, e, _ in events]

    def _emit(self, ch: int, event: str | None, at: int, events: list[tuple[int, str, int]]) -> None:
        if event is not None and event != self.last_event[ch]:
            self.last_event[ch] = event
            events.append((ch, event, at))

    def _segment_end(self, ch: int, old: int, start: int, new: int, at: int,
                     events: list[tuple[int, str, int]]) -> None:
        """Per-channel work when a segment of class `old` that began at frame `start` ends."""
        ms = (self.frame - DEBOUNCE + 1 - start) * FRAME_MS
        hist = self.history[ch]
        glitch = ms < GLITCH_MS and bool(hist)
        if glitch:
            # a transition artefact (window straddling two sounds): drop it; if the sound before
            # it continues, resume that segment
            if hist[-1][0] == new:
                c, pms = hist.pop()
                self.seg_start[ch] = start - int(round(pms / FRAME_MS))
                if self.last_event[ch] == self.thr_event[new]:
                    self.fired[ch] = True
                return
        else:
            hist.append((old, ms))
            del hist[:-12]
            if self.amd is not None and self.voice_seen[ch] and old in (ENERGY, SILENCE):
                ev = self.amd.segment(ch, "voice" if old == ENERGY else "silence", ms)
                if ev:
                    self._emit(ch, ev, at, events)
        # SIT: the three SIT frequencies in order
        s = self.sit_classes
        if len(s) >= 3 and new == s[2] and [c for c, _ in hist[-2:]] == s[:2]:
            self._emit(ch, "sit", at, events)
            return
        if glitch or old in (ENERGY, SILENCE):
            return  # cadences are judged when a tone segment ends
        matches = [(t, self._match(hist, cad)) for t, cad in self.cadences.items()]
        ok = [(t, k) for t, k in matches if k >= MIN_SEGMENTS.get(t, 3)]
        if len(ok) == 1:
            # unique only if no other candidate is still consistent over as many segments
            t, k = ok[0]
            if all(k2 < k or t2 == t for t2, k2 in matches):
                self._emit(ch, t, at, events)

    @staticmethod
    def _match(hist: list[tuple[int, float]], cad: list[tuple[int, float]]) -> int:
        """Longest run of the newest segments in `hist` consistent with some rotation of `cad`."""
        best = 0
        n = len(cad)
        for rot in range(n):
            k = 0
            for j in range(1, len(hist) + 1):
                c, ms = hist[-j]
                ec, ed = cad[(rot - j) % n]
                if c != ec or abs(ms - ed) > max(TOL_FRAC * ed, TOL_MS):
                    break
                k += 1
            best = max(best, k)
        return best
