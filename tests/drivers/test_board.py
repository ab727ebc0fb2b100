"""Board in-band I/O: all claimed channels are decoded and encoded in one step per tick; a group of
handlers (a span's R2 registers) gets one array, other handlers their own row; what each sends reaches
the line on its own channel, the rest of the channels carry the engine's audio."""
import numpy as np

from trunkline.drivers.board import InbandHandler, open_board
from trunkline.dsp.g711 import alaw_decode, alaw_encode
from trunkline.hw_sim import forget_card, open_card


class Group:
    def __init__(self):
        self.heard, self.calls = {}, 0

    def rx_rows(self, channels, audio):
        self.calls += 1
        for ch, row in zip(channels.tolist(), audio, strict=True):
            self.heard.setdefault(ch, []).append(row.copy())

    def tx_rows(self, channels, n):
        return np.stack([np.full(n, 1000 * (ch + 1), np.int16) for ch in channels.tolist()])


class Member(InbandHandler):
    def __init__(self, group):
        self.group = group


class Single(InbandHandler):
    def __init__(self):
        self.heard = []

    def rx(self, samples):
        self.heard.append(samples.copy())

    def tx(self, n):
        return np.full(n, -7000, np.int16)


def test_groups_and_single_handlers_share_one_decode_and_encode():
    name = "board-inband"
    forget_card(name)
    card = open_card(f"sim://{name}?fxo=6")
    board = open_board(f"sim://{name}?fxo=6")
    chans = board.spans[0].bearer_channels
    sig = {ch: (np.arange(1600) * (ch + 3) % 4000 - 2000).astype(np.int16) for ch in chans}
    for ch in chans:
        card.far_play(ch, sig[ch])
        card.far_capture(ch, True)
    group, single = Group(), Single()
    for ch in (chans[1], chans[3], chans[4]):
        board.claim_inband(ch, Member(group))
    board.claim_inband(chans[2], single)
    engine_out = np.full((board.channels, board.block), 300, np.int16)
    for _ in range(8):
        board.read()
        board.write(alaw_encode(engine_out))
        board.tick()
    board.release_inband(chans[4])
    for _ in range(2):
        board.read()
        board.write(alaw_encode(engine_out))
        board.tick()
    assert group.calls == 10 and len(group.heard[chans[4]]) == 8 and len(group.heard[chans[1]]) == 10
    for ch, got in [(c, group.heard[c]) for c in (chans[1], chans[3])] + [(chans[2], single.heard)]:
        heard = np.concatenate(got)
        want = alaw_decode(alaw_encode(sig[ch]))
        assert any(np.array_equal(heard[d:d + 800], want[:800]) for d in range(0, 640, 160))   # card latency
    sent = {ch: card.far_capture_take(ch) for ch in chans}
    lvl = alaw_decode(alaw_encode(np.array([300, 2000, 4000, 5000, -7000], np.int16)))
    assert set(sent[chans[0]][160:].tolist()) == {int(lvl[0])}
    assert set(sent[chans[2]][160:1600].tolist()) == {int(lvl[4])}
    assert set(sent[chans[1]][160:1600].tolist()) == {int(lvl[1])}
    assert set(sent[chans[3]][160:1600].tolist()) == {int(lvl[2])}
    assert set(sent[chans[4]][160:1280].tolist()) == {int(lvl[3])}     # released: the engine's audio again
    assert set(sent[chans[4]][1440:].tolist()) == {int(lvl[0])}
    forget_card(name)
