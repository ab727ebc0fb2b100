"""Several backends as one board (a card and a SIP span side by side): channels and spans are numbered
one backend after the other; the first backend is the clock."""
import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.backends import Backend, RawEvent, SpanSpec


class CompositeBackend:
    """Backends concatenated: board channel = part offset + part channel; the first part paces ticks."""

    def __init__(self, parts: list[Backend]) -> None:
        if not parts:
            raise ValueError("a composite board needs at least one backend")
        self.parts = parts
        self.block = parts[0].block
        if any(p.block != self.block for p in parts):
            raise ValueError("all backends of a board must use the same block size")
        self.offsets: list[int] = []
        self.span_offsets: list[int] = []
        n = nspans = 0
        self._specs: list[SpanSpec] = []
        for p in parts:
            self.offsets.append(n)
            self.span_offsets.append(nspans)
            for idx, kind, law, chans, bearer, dch in p.span_specs():
                self._specs.append((idx + nspans, kind, law, [c + n for c in chans], [c + n for c in bearer],
                                    None if dch is None else dch + n))
            nspans += len(p.span_specs())
            n += p.channels
        self.channels = n
        self.laws = [law for p in parts for law in p.laws]
        self.kinds = [k for p in parts for k in p.kinds]
        self.realtime = False

    def part_of(self, ch: int) -> tuple[Backend, int]:
        """(backend, its own channel number) of a board channel."""
        for p, off in zip(reversed(self.parts), reversed(self.offsets), strict=True):
            if ch >= off:
                return p, ch - off
        raise IndexError(ch)

    def part_of_span(self, span: int) -> tuple[Backend, int]:
        """(backend, channel offset) of a board span."""
        for p, soff, off in zip(reversed(self.parts), reversed(self.span_offsets), reversed(self.offsets),
                                strict=True):
            if span >= soff:
                return p, off
        raise IndexError(span)

    def span_specs(self) -> list[SpanSpec]:
        """Every part's spans, renumbered."""
        return list(self._specs)

    def now_samples(self) -> int:
        """The clock part's time."""
        return self.parts[0].now_samples()

    def set_realtime(self, on: bool) -> None:
        """Only the clock part paces."""
        self.realtime = bool(on)
        self.parts[0].set_realtime(on)

    def read(self, out: NDArray[np.uint8]) -> None:
        """Each part reads its rows."""
        for p, off in zip(self.parts, self.offsets, strict=True):
            view = out[off:off + p.channels]
            p.read(view)

    def write(self, codes: NDArray[np.uint8]) -> None:
        """Each part writes its rows."""
        for p, off in zip(self.parts, self.offsets, strict=True):
            p.write(np.ascontiguousarray(codes[off:off + p.channels]))

    def tick(self) -> None:
        """Tick the other parts, then the clock part (which may wait for the wall clock)."""
        for p in self.parts[1:]:
            p.tick()
        self.parts[0].tick()

    def events(self) -> list[RawEvent]:
        """Every part's events, renumbered."""
        out: list[RawEvent] = []
        for p, off, soff in zip(self.parts, self.offsets, self.span_offsets, strict=True):
            for name, ch, span, value, t in p.events():
                out.append((name, ch + off if ch >= 0 else ch, span + soff, value, t))
        return out

    def alarms(self, span: int) -> int:
        """Alarm bits of a span."""
        p, _ = self.part_of_span(span)
        return p.alarms(span - self.span_offsets[self.parts.index(p)])

    def send_frame(self, ch: int, data: bytes) -> bool:
        """D-channel transmit."""
        p, c = self.part_of(ch)
        return p.send_frame(c, data)

    def recv_frame(self, ch: int) -> bytes | None:
        """D-channel receive."""
        p, c = self.part_of(ch)
        return p.recv_frame(c)

    def set_cas(self, ch: int, bits: int) -> None:
        """CAS transmit."""
        p, c = self.part_of(ch)
        p.set_cas(c, bits)

    def get_cas(self, ch: int) -> int:
        """CAS receive."""
        p, c = self.part_of(ch)
        return p.get_cas(c)

    def hook(self, ch: int, offhook: bool) -> None:
        """FXO hook."""
        p, c = self.part_of(ch)
        p.hook(c, offhook)

    def ring(self, ch: int, on: bool) -> None:
        """FXS ring."""
        p, c = self.part_of(ch)
        p.ring(c, on)

    def close(self) -> None:
        """Close every part."""
        for p in self.parts:
            p.close()
