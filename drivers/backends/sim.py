"""sim:// backend: the board API over the simulated card (hw_sim, C through cffi)."""
import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.backends import RawEvent, SpanSpec
from trunkline.hw_sim.card import open_card


class SimBackend:
    """Card-side view of a simulated card."""

    def __init__(self, url: str) -> None:
        self.card = open_card(url)
        self.block: int = self.card.block
        self.channels: int = self.card.channels
        self.laws: list[str] = list(self.card.laws)
        self.kinds: list[str] = list(self.card.kinds)
        self.realtime = False

    def span_specs(self) -> list[SpanSpec]:
        """(index, kind, law, channels, bearer, dchannel) for every span."""
        return [(sp.index, sp.kind, sp.law, sp.channels, sp.bearer, sp.dchannel) for sp in self.card.spans]

    def now_samples(self) -> int:
        """Card time in samples."""
        return self.card.now_samples

    def set_realtime(self, on: bool) -> None:
        """Real-time pacing on/off."""
        self.realtime = bool(on)
        self.card.set_realtime(on)

    def read(self, out: NDArray[np.uint8]) -> None:
        """Read all channels into out."""
        self.card.card_read(out)

    def write(self, codes: NDArray[np.uint8]) -> None:
        """Write all channels."""
        self.card.card_write(codes)

    def tick(self) -> None:
        """Advance the clock."""
        self.card.tick()

    def events(self) -> list[RawEvent]:
        """Card-side events."""
        return self.card.card_events()

    def alarms(self, span: int) -> int:
        """Span alarm bits."""
        return self.card.card_alarms(span)

    def send_frame(self, ch: int, data: bytes) -> bool:
        """D-channel transmit."""
        return self.card.card_send_frame(ch, data)

    def recv_frame(self, ch: int) -> bytes | None:
        """D-channel receive."""
        return self.card.card_recv_frame(ch)

    def set_cas(self, ch: int, bits: int) -> None:
        """CAS transmit."""
        self.card.card_set_cas(ch, bits)

    def get_cas(self, ch: int) -> int:
        """CAS receive."""
        return self.card.card_get_cas(ch)

    def hook(self, ch: int, offhook: bool) -> None:
        """FXO hook."""
        self.card.card_hook(ch, offhook)

    def ring(self, ch: int, on: bool) -> None:
        """FXS ring."""
        self.card.card_ring(ch, on)

    def close(self) -> None:
        """Nothing to release: the card lives in the registry until forgotten."""
