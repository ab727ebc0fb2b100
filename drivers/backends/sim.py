"""sim:// backend: the board API over the simulated card (hw_sim, C through cffi)."""
from trunkline.hw_sim.card import open_card


class SimBackend:
    """Card-side view of a simulated card."""

    def __init__(self, url):
        self.card = open_card(url)
        self.block = self.card.block
        self.channels = self.card.channels
        self.laws = list(self.card.laws)
        self.kinds = list(self.card.kinds)
        self.realtime = False

    def span_specs(self):
        """(index, kind, law, channels, bearer, dchannel) for every span."""
        return [(sp.index, sp.kind, sp.law, sp.channels, sp.bearer, sp.dchannel) for sp in self.card.spans]

    def now_samples(self):
        """Card time in samples."""
        return self.card.now_samples

    def set_realtime(self, on):
        """Real-time pacing on/off."""
        self.realtime = bool(on)
        self.card.set_realtime(on)

    def read(self, out):
        """Read all channels into out."""
        self.card.card_read(out)

    def write(self, codes):
        """Write all channels."""
        self.card.card_write(codes)

    def tick(self):
        """Advance the clock."""
        self.card.tick()

    def events(self):
        """Card-side events."""
        return self.card.card_events()

    def alarms(self, span):
        """Span alarm bits."""
        return self.card.card_alarms(span)

    def send_frame(self, ch, data):
        """D-channel transmit."""
        return self.card.card_send_frame(ch, data)

    def recv_frame(self, ch):
        """D-channel receive."""
        return self.card.card_recv_frame(ch)

    def set_cas(self, ch, bits):
        """CAS transmit."""
        self.card.card_set_cas(ch, bits)

    def get_cas(self, ch):
        """CAS receive."""
        return self.card.card_get_cas(ch)

    def hook(self, ch, offhook):
        """FXO hook."""
        self.card.card_hook(ch, offhook)

    def ring(self, ch, on):
        """FXS ring."""
        self.card.card_ring(ch, on)

    def close(self):
        """Nothing to release: the card lives in the registry until forgotten."""
