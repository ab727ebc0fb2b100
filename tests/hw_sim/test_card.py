"""The simulated card through the board API: layout, audio, hook/ring/flash, CAS, D-channel, alarms."""
import numpy as np
import pytest

from trunkline.drivers.board import open_board
from trunkline.dsp import g711
from trunkline.hw_sim import forget_card, open_card


@pytest.fixture
def fresh():
    names = []

    def make(query):
        name = f"card_test_{len(names)}"
        names.append(name)
        forget_card(name)
        url = f"sim://{name}?{query}"
        return open_card(url), open_board(url)
    yield make
    for n in names:
        forget_card(n)


def test_default_layout_4e1_24fxo_8fxs():
    forget_card("default")
    board = open_board("sim://default")
    kinds = [sp.kind for sp in board.spans]
    assert kinds == ["e1"] * 4 + ["fxo", "fxs"]
    assert [len(sp.bearer_channels) for sp in board.spans] == [30] * 4 + [24, 8]
    assert all(sp.dchannel == sp.channels[15] for sp in board.spans[:4])   # timeslot 16
    assert board.channels == 4 * 31 + 24 + 8
    forget_card("default")


def test_density_card_carries_10000_channels(fresh):
    card, board = fresh("channels=10000")
    assert board.channels == 10000
    block = np.full((10000, 160), 0x55, dtype=np.uint8)
    block[1234] = g711.alaw_encode(np.full(160, 1000, dtype=np.int16))
    board.write(block)
    board.tick()
    heard = np.empty_like(block)
    card.far_read(heard)
    assert (heard == block).all()


def test_audio_crosses_the_card_one_block_later(fresh):
    card, board = fresh("fxo=2")
    ramp = (np.arange(480) * 50 - 12000).astype(np.int16)
    card.far_play(0, ramp)
    got = []
    for _ in range(4):
        got.append(g711.alaw_decode(board.read()[0]).copy())
        board.tick()
    got = np.concatenate(got)
    expected = g711.alaw_decode(g711.alaw_encode(ramp))
    assert (got[:160] == g711.alaw_decode(np.full(160, 0xD5, np.uint8))).all()   # silence before
    assert (got[160:640] == expected).all()


def test_ulaw_t1_and_mixed_law_board(fresh):
    card, board = fresh("t1=1&fxo=1")
    assert board.laws[0] == "ulaw" and board.laws[-1] == "alaw"
    x = (np.sin(np.arange(160) / 5) * 8000).astype(np.int16)
    codes = board.codec.encode(np.stack([x] * board.channels))
    assert (codes[0] == g711.ulaw_encode(x)).all() and (codes[-1] == g711.alaw_encode(x)).all()


def test_fxo_ring_hook_loop_and_polarity_events(fresh):
    card, board = fresh("fxo=1")
    card.far_ring(0, True)
    card.far_ring(0, False)
    board.tick()
    assert [e.type for e in board.events()] == ["ring_on", "ring_off"]
    board.spans[0].hook(0, True)
    assert card.far_events()[0][0] == "offhook" and card.far_hook_state(0) == 1
    card.far_loop(0, False)
    card.far_reverse(0)
    assert [e.type for e in board.events()] == ["loop_drop", "polarity"]


def test_fxs_flash_versus_onhook(fresh):
    card, board = fresh("fxs=1")
    card.far_hook(0, True)
    board.tick()
    assert [e.type for e in board.events()] == ["offhook"]
    card.far_hook(0, False)
    for _ in range(15):           # 300 ms on hook: a flash
        board.tick()
    card.far_hook(0, True)
    ev = board.events()
    assert [e.type for e in ev] == ["flash"] and 280 <= ev[0].value <= 320
    card.far_hook(0, False)
    for _ in range(50):           # 1 s on hook: a real on-hook
        board.tick()
    assert [e.type for e in board.events()] == ["onhook"]


def test_cas_bits_dchannel_frames_and_alarms(fresh):
    card, board = fresh("e1=1")
    span = board.spans[0]
    b1 = span.bearer_channels[0]
    span.set_cas(b1, 0b1001)
    assert card.far_get_cas(b1) == 0b1001
    card.far_set_cas(b1, 0b0101)
    assert span.get_cas(b1) == 0b0101
    assert span.send_frame(b"\x00\x01\x7f")
    assert card.far_recv_frame(span.dchannel) == b"\x00\x01\x7f"
    card.far_send_frame(span.dchannel, b"\x02\x01\x01\x01")
    card.far_set_alarm(0, 1)
    types = [e.type for e in board.events()]
    assert types == ["cas", "dframe", "alarm"]
    assert span.recv_frame() == b"\x02\x01\x01\x01" and span.recv_frame() is None
    assert span.alarms == 1


def test_334_e1_spans_all_signal(fresh):
    """10,000 PRI channels need 334 E1 spans: the last span's D-channel and alarms work like the first's."""
    card, board = fresh("e1=334")
    assert len(board.spans) == 334 and board.channels == 334 * 31
    last = board.spans[-1]
    assert last.send_frame(b"\x00\x01\x7f") and card.far_recv_frame(last.dchannel) == b"\x00\x01\x7f"
    card.far_send_frame(last.dchannel, b"\x02\x01\x01\x01")
    card.far_set_alarm(333, 1)
    assert [e.type for e in board.events()] == ["dframe", "alarm"]
    assert last.recv_frame() == b"\x02\x01\x01\x01" and last.alarms == 1 and board.spans[0].alarms == 0


def test_bad_requests_are_clear_errors(fresh):
    card, board = fresh("fxo=1")
    with pytest.raises(ValueError):
        card.far_hook(0, True)           # an FXO port has no station phone
    with pytest.raises(ValueError):
        board.spans[0].send_frame(b"x")  # no D-channel on analog ports
    with pytest.raises(ValueError):
        open_board("sim://x?nothing=1")
    with pytest.raises(ValueError):
        open_board("carrier-pigeon://1")
