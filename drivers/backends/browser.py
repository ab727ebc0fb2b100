"""Browser phones as station ports: a composite backend that adds a span of "fxs" channels whose audio
comes from and goes to web browsers (WebRTC, drivers/webrtc.py) instead of a card.

The engine sees ordinary station channels (ring, off hook, on hook, block audio), so the ACD offers,
bridges, records and taps a browser agent exactly as it does a desk phone. Audio crosses threads through
bounded per-phone FIFOs of 8 kHz int16 samples: the engine tick reads/writes one block for the attached
phones only; the WebRTC thread pushes what the browser sent and pulls what to send it.
"""
import threading
from collections import deque

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.backends import Backend, RawEvent, SpanSpec
from trunkline.dsp.g711 import ulaw_decode, ulaw_encode

MAX_BUFFERED = 8000 // 2        #: samples (0.5 s) a FIFO holds at most; older audio is dropped
MAX_LAG = 160 * 4               #: samples (80 ms) of backlog beyond which a reader skips to the newest audio
ULAW_SILENCE = 0xFF


class BrowserPhone:
    """One browser station port: FIFOs of 8 kHz int16 samples both ways, hook and ring state."""

    def __init__(self, port: int, channel: int) -> None:
        self.port = port                  # station port number in the engine (index in engine.stations)
        self.channel = channel            # board channel
        self.owner: str | None = None     # agent id holding the phone
        self.attached = False             # a browser's media is connected
        self.ringing = False
        self.offhook = False
        self.lock = threading.Lock()
        self._from_browser: deque[NDArray[np.int16]] = deque()
        self._from_n = 0
        self._to_browser: deque[NDArray[np.int16]] = deque()
        self._to_n = 0
        self._tones = np.zeros(0, dtype=np.int16)   # keypad DTMF: sent instead of the microphone

    def send_tones(self, samples: NDArray[np.int16]) -> None:
        """Send these 8 kHz samples (keypad DTMF) instead of the browser's audio, after any still queued."""
        with self.lock:
            self._tones = np.concatenate([self._tones, np.asarray(samples, dtype=np.int16)])[:8000 * 10]

    def push_from_browser(self, samples: NDArray[np.int16]) -> None:
        """Queue 8 kHz int16 samples the browser sent (drops the oldest beyond MAX_BUFFERED)."""
        with self.lock:
            self._from_browser.append(np.asarray(samples, dtype=np.int16))
            self._from_n += len(samples)
            while self._from_n > MAX_BUFFERED and self._from_browser:
                self._from_n -= len(self._from_browser.popleft())

    def take_from_browser(self, n: int) -> NDArray[np.int16]:
        """n samples for the engine (zero-padded when the browser is late)."""
        out = np.zeros(n, dtype=np.int16)
        with self.lock:
            while self._from_browser and self._from_n - len(self._from_browser[0]) >= MAX_LAG:
                self._from_n -= len(self._from_browser.popleft())
            got = 0
            while got < n and self._from_browser:
                head = self._from_browser[0]
                k = min(n - got, len(head))
                out[got:got + k] = head[:k]
                got += k
                if k == len(head):
                    self._from_browser.popleft()
                else:
                    self._from_browser[0] = head[k:]
            self._from_n -= got
            if len(self._tones):
                k = min(n, len(self._tones))
                out[:k] = self._tones[:k]
                self._tones = self._tones[k:]
        return out

    def push_to_browser(self, samples: NDArray[np.int16]) -> None:
        """Queue engine audio for the browser (drops the oldest beyond MAX_BUFFERED)."""
        with self.lock:
            self._to_browser.append(samples)
            self._to_n += len(samples)
            while self._to_n > MAX_BUFFERED and self._to_browser:
                self._to_n -= len(self._to_browser.popleft())

    def take_to_browser(self, n: int) -> NDArray[np.int16]:
        """n samples to send the browser (silence when the engine has none)."""
        out = np.zeros(n, dtype=np.int16)
        with self.lock:
            while self._to_browser and self._to_n - len(self._to_browser[0]) >= MAX_LAG:
                self._to_n -= len(self._to_browser.popleft())
            got = 0
            while got < n and self._to_browser:
                head = self._to_browser[0]
                k = min(n - got, len(head))
                out[got:got + k] = head[:k]
                got += k
                if k == len(head):
                    self._to_browser.popleft()
                else:
                    self._to_browser[0] = head[k:]
            self._to_n -= got
        return out

    def reset_audio(self) -> None:
        """Drop buffered audio both ways."""
        with self.lock:
            self._from_browser.clear()
            self._to_browser.clear()
            self._from_n = self._to_n = 0


class BrowserPhones(Backend):
    """A backend: the inner card's channels, then `count` browser station channels on one extra fxs span."""

    def __init__(self, inner: Backend, count: int) -> None:
        if not 0 < count <= 256:
            raise ValueError(f"browser phones: count must be 1..256, not {count}")
        self.inner = inner
        self.base = inner.channels
        self.block = inner.block
        self.channels = inner.channels + count
        self.laws = list(inner.laws) + ["ulaw"] * count
        self.kinds = list(inner.kinds) + ["fxs"] * count
        self.realtime = inner.realtime
        specs = inner.span_specs()
        self.span_index = max((sp[0] for sp in specs), default=-1) + 1
        self._specs = specs
        chans = list(range(self.base, self.channels))
        self._specs.append((self.span_index, "fxs", "ulaw", chans, chans, None))
        first_port = sum(len(sp[4]) for sp in specs[:-1] if sp[1] == "fxs")
        self.phones = [BrowserPhone(first_port + i, ch) for i, ch in enumerate(chans)]
        self._events: deque[RawEvent] = deque(maxlen=1024)
        self._lock = threading.Lock()

    # -------------------------------------------------------------- the pool, for the web side
    def phone_for(self, agent_id: str) -> BrowserPhone | None:
        """The phone an agent holds, or None."""
        return next((p for p in self.phones if p.owner == agent_id), None)

    def claim(self, agent_id: str) -> BrowserPhone | None:
        """The agent's phone, or a free one now held by the agent; None when all are taken."""
        with self._lock:
            p = self.phone_for(agent_id)
            if p is None:
                p = next((q for q in self.phones if q.owner is None), None)
                if p is not None:
                    p.owner = agent_id
            return p

    def release(self, agent_id: str) -> None:
        """Give back the agent's phone (hangs it up)."""
        with self._lock:
            p = self.phone_for(agent_id)
            if p is not None:
                self.set_hook(p, False)
                p.owner, p.attached = None, False
                p.reset_audio()

    def set_hook(self, phone: BrowserPhone, offhook: bool) -> None:
        """The page's answer (off hook) or hang-up (on hook): a line event for the engine."""
        if phone.offhook == offhook:
            return
        phone.offhook = offhook
        self._events.append(("offhook" if offhook else "onhook", phone.channel, self.span_index, 0,
                             self.inner.now_samples()))

    # -------------------------------------------------------------- Backend
    def span_specs(self) -> list[SpanSpec]:
        """The inner card's spans plus the browser-phone span."""
        return list(self._specs)

    def now_samples(self) -> int:
        """Card time in samples."""
        return self.inner.now_samples()

    def set_realtime(self, on: bool) -> None:
        """Real-time pacing on/off (the inner card's clock)."""
        self.realtime = bool(on)
        self.inner.set_realtime(on)

    def read(self, out: NDArray[np.uint8]) -> None:
        """Inner channels from the card; browser channels from the attached browsers (silence otherwise)."""
        self.inner.read(out[:self.base])
        out[self.base:] = ULAW_SILENCE
        for p in self.phones:
            if p.attached and p.offhook:
                out[p.channel] = ulaw_encode(p.take_from_browser(self.block))

    def write(self, codes: NDArray[np.uint8]) -> None:
        """Inner channels to the card; browser channels to the attached browsers."""
        self.inner.write(np.ascontiguousarray(codes[:self.base]))
        for p in self.phones:
            if p.attached and p.offhook:
                p.push_to_browser(ulaw_decode(codes[p.channel]))

    def tick(self) -> None:
        """Advance the clock."""
        self.inner.tick()

    def events(self) -> list[RawEvent]:
        """The card's events, then the browser phones' hook events."""
        evs = self.inner.events()
        while self._events:
            evs.append(self._events.popleft())
        return evs

    def alarms(self, span: int) -> int:
        """Span alarm bits (none on the browser span)."""
        return 0 if span == self.span_index else self.inner.alarms(span)

    def send_frame(self, ch: int, data: bytes) -> bool:
        """D-channel transmit."""
        return self.inner.send_frame(ch, data)

    def recv_frame(self, ch: int) -> bytes | None:
        """D-channel receive."""
        return self.inner.recv_frame(ch)

    def set_cas(self, ch: int, bits: int) -> None:
        """CAS transmit (nothing on browser channels)."""
        if ch < self.base:
            self.inner.set_cas(ch, bits)

    def get_cas(self, ch: int) -> int:
        """CAS receive (0 on browser channels)."""
        return self.inner.get_cas(ch) if ch < self.base else 0

    def hook(self, ch: int, offhook: bool) -> None:
        """FXO hook."""
        if ch < self.base:
            self.inner.hook(ch, offhook)

    def ring(self, ch: int, on: bool) -> None:
        """Ring a station; a browser phone shows it in the page."""
        if ch < self.base:
            self.inner.ring(ch, on)
        else:
            self.phones[ch - self.base].ringing = on

    def close(self) -> None:
        """Release the inner card."""
        self.inner.close()
