"""sip:// backend: a span of N SIP channels whose audio is RTP (rtp_bank.py, one C call per tick).

The signaling (drivers/signaling/sip.py) opens and starts each channel's RTP stream; to the board the
channels are A-law like an E1's (PCMU streams are transcoded in the C core). `SipBackend.realtime` paces
the clock to the wall clock when the SIP span is the board's only backend."""
import time

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.backends import RawEvent, SpanSpec
from trunkline.drivers.backends.rtp_bank import RtpBank
from trunkline.drivers.sip.config import SipSettings
from trunkline.drivers.sip.transport import Transports

BLOCK = 160


class SipBackend:
    """Card-side view of a SIP span: RTP streams as channels, the SIP sockets for its signaling."""

    def __init__(self, settings: SipSettings) -> None:
        self.settings = settings
        self.block = BLOCK
        self.channels = settings.channels
        self.laws = ["alaw"] * self.channels
        self.kinds = ["sip"] * self.channels
        self.realtime = False
        self.transports = Transports(settings.host, settings.port)
        self.rtp = RtpBank(self.channels, settings.rtp_host or settings.host, settings.rtp_port_base,
                           settings.rtp_per_socket)
        self._t = 0
        self._t0 = time.monotonic()
        self._digits: list[tuple[int, str]] = []
        self.rx_packets = 0

    def span_specs(self) -> list[SpanSpec]:
        """One span of kind "sip" with every channel a bearer channel."""
        chans = list(range(self.channels))
        return [(0, "sip", "alaw", chans, chans, None)]

    def now_samples(self) -> int:
        """Span time in samples (ticks x 160)."""
        return self._t

    def set_realtime(self, on: bool) -> None:
        """Pace tick() to the wall clock (alone on a board) or not."""
        self.realtime = bool(on)
        self._t0 = time.monotonic() - self._t / 8000.0

    def read(self, out: NDArray[np.uint8]) -> None:
        """Send the previous block and receive this one for every stream (one C call)."""
        self._digits.extend(self.rtp.io(out, self._t))

    def write(self, codes: NDArray[np.uint8]) -> None:
        """The block to send at the next read()."""
        self.rtp.set_out(codes)

    def tick(self) -> None:
        """Advance one block (waiting for the wall clock in real time)."""
        self._t += BLOCK
        if self.realtime:
            delay = self._t0 + self._t / 8000.0 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:
                self._t0 = time.monotonic() - self._t / 8000.0

    def take_digits(self) -> list[tuple[int, str]]:
        """RFC 4733 digits received since the last call: (channel, digit)."""
        out, self._digits = self._digits, []
        return out

    def send_digits(self, ch: int, digits: str) -> bool:
        """Send digits as RFC 4733 events on `ch`; False when the call has no telephone-event."""
        return self.rtp.send_digits(ch, digits)

    def events(self) -> list[RawEvent]:
        """No line events: SIP signaling polls its own sockets."""
        return []

    def alarms(self, span: int) -> int:
        """No alarms."""
        return 0

    def send_frame(self, ch: int, data: bytes) -> bool:
        """No D-channel."""
        raise ValueError("a SIP span has no D-channel")

    def recv_frame(self, ch: int) -> bytes | None:
        """No D-channel."""
        return None

    def set_cas(self, ch: int, bits: int) -> None:
        """No CAS on SIP."""

    def get_cas(self, ch: int) -> int:
        """No CAS on SIP."""
        return 0

    def hook(self, ch: int, offhook: bool) -> None:
        """No hook on SIP."""

    def ring(self, ch: int, on: bool) -> None:
        """No ringing on SIP."""

    def close(self) -> None:
        """Close the RTP and SIP sockets."""
        self.rtp.close_all()
        self.transports.close()
