"""The fax bank: sessions at different phases, speeds and ECM modes stepped together; a session whose line
drops mid-page, whose peer sends garbage or whose code raises ends with a clear result and never disturbs
the others."""
import numpy as np
import pytest
from fax_signals import our_tx_signal

from trunkline.fax import FaxBank, FaxEndpoint, hdlc
from trunkline.fax.convert import synth_document
from trunkline.fax.tiff import read_tiff, write_tiff
from trunkline.fax.v17 import V17Rx, V17Tx
from trunkline.fax.v17_kernel import run_rx, run_tx
from trunkline.fax.v21 import V21Rx, V21Tx, run_v21

BLOCK = 160


def _image_started(ep):
    return isinstance(ep.session.link.src, V17Tx)


def test_bank_isolates_dropped_garbage_and_failing_sessions(tmp_path):
    doc = str(tmp_path / "doc.tif")
    write_tiff(doc, synth_document(1, rows=80, seed=3), "g4")
    # (modems, ecm, start tick, fault): callers on even channels, answerers on the next odd one
    pairs = [(("v17",), True, 0, None), (("v29",), False, 37, None), (("v17",), False, 5, "drop"),
             (("v17",), True, 11, "garbage"), (("v27ter", "v29", "v17"), False, 0, "raise")]
    bank = FaxBank()
    eps, ended = {}, []
    for i, (modems, ecm, _, _) in enumerate(pairs):
        eps[2 * i] = FaxEndpoint(True, send=doc, modems=modems, ecm=ecm, ident=f"S{i}")
        eps[2 * i + 1] = FaxEndpoint(False, receive=str(tmp_path / f"r{i}.tif"), modems=modems, ecm=ecm)
    raiser = eps[9].session

    def boom(samples):
        raise ValueError("decoder confused")

    chans = 2 * len(pairs)
    out = np.zeros((chans, BLOCK), np.int32)
    rng = np.random.default_rng(21)
    faulted = {}
    for tick in range(90 * 50):
        for i, (_, _, start, _) in enumerate(pairs):
            if tick == start:
                bank.attach(2 * i, eps[2 * i], ended.append)
                bank.attach(2 * i + 1, eps[2 * i + 1], ended.append)
        if tick == 300:
            raiser.rx = boom
        heard = out.reshape(-1, 2, BLOCK)[:, ::-1].reshape(chans, BLOCK)   # each end hears the other
        audio_in = np.clip(heard, -32768, 32767).astype(np.int16)
        for i, (_, _, _, fault) in enumerate(pairs):
            if fault in ("drop", "garbage") and (i in faulted or _image_started(eps[2 * i])):
                faulted.setdefault(i, tick)
                if tick - faulted[i] > 25:                      # half a second into the page
                    if fault == "drop":
                        audio_in[2 * i:2 * i + 2] = 0
                    else:
                        audio_in[2 * i + 1] = rng.integers(-12000, 12000, BLOCK)
        out = np.zeros((chans, BLOCK), np.int32)
        bank.step(audio_in, out)
        if all(ep.done for ep in eps.values()):
            break
    assert all(ep.done for ep in eps.values()), {ch: ep.result for ch, ep in eps.items() if not ep.done}
    assert sorted(ended) == list(range(chans))                  # on_done once per session
    for ch in (0, 1, 2, 3):                                     # the healthy pairs got their page through
        assert eps[ch].result.ok and eps[ch].result.pages == 1, eps[ch].result
    assert eps[0].result.ecm and eps[0].result.bit_rate == 14400
    assert not eps[2].result.ecm and eps[2].result.bit_rate == 9600
    assert len(read_tiff(str(tmp_path / "r0.tif"))) == 1 and len(read_tiff(str(tmp_path / "r1.tif"))) == 1
    assert set(faulted) == {2, 3}
    for ch in (4, 5, 6, 7):                                     # dropped line, garbage: failed, with a reason
        r = eps[ch].result
        assert not r.ok and r.reason not in ("", "in progress", "OK"), (ch, r)
    assert eps[9].result.reason == "fax session error: ValueError: decoder confused"
    assert not eps[9].result.ok
    assert not eps[8].result.ok and eps[8].result.reason not in ("", "in progress", "OK")


def test_run_tx_is_the_single_transmitter_signal():
    """Many V.17 transmitters in one kernel call give exactly what each gives on its own."""
    rng = np.random.default_rng(5)
    alone = [V17Tx(r, short_train=s) for r, s in ((14400, False), (9600, True), (7200, False))]
    banked = [V17Tx(r, short_train=s) for r, s in ((14400, False), (9600, True), (7200, False))]
    for a, b in zip(alone, banked):
        bits = rng.integers(0, 2, 3000).astype(np.uint8)
        a.send_bits(bits)
        b.send_bits(bits)
        a.finish()
        b.finish()
    for _ in range(200):
        got = run_tx([b.kernel for b in banked], BLOCK)
        for row, a in zip(got, alone):
            assert np.array_equal(row, a.tx(BLOCK))
    assert all(a.done for a in alone) and all(b.done for b in banked)


def test_run_rx_and_run_v21_are_the_single_receivers():
    """The bank's receive kernels (every session's V.17 receiver in one call, every V.21 receiver with its HDLC
    deframing in another) give exactly what each receiver gives on its own, sessions at different speeds and
    phases (one still silent, one short-trained, one long-trained) side by side."""
    rng = np.random.default_rng(8)
    cases = ((14400, False, 0), (9600, True, 3), (7200, False, 7))
    sigs = []
    for rate, short, delay in cases:
        bits = rng.integers(0, 2, 2000).astype(np.uint8)
        sigs.append((np.concatenate([np.zeros(delay * BLOCK, np.int16),
                                     our_tx_signal("v17", rate, bits, short_train=short)]), bits))
    n = max(len(s) for s, _ in sigs)
    audio = np.zeros((len(sigs), n), np.int16)
    for i, (s, _) in enumerate(sigs):
        audio[i, :len(s)] = s
    alone = [V17Rx(r) for r, _, _ in cases]
    banked = [V17Rx(r) for r, _, _ in cases]
    got_a = [[] for _ in cases]
    got_b = [[] for _ in cases]
    for t in range(0, n - BLOCK + 1, BLOCK):
        run_rx([b.kernel for b in banked], audio[:, t:t + BLOCK])
        for i, (a, b) in enumerate(zip(alone, banked)):
            a.rx(audio[i, t:t + BLOCK])
            got_a[i].append(a.take_bits())
            got_b[i].append(b.take_bits())
    for i, (_, bits) in enumerate(sigs):
        ga, gb = np.concatenate(got_a[i]), np.concatenate(got_b[i])
        assert np.array_equal(ga, gb) and np.array_equal(gb[:len(bits)], bits), i
        assert banked[i].signal_lost and not banked[i].carrier
    # V.21: two sessions' frames, one quiet line; the bank's call deframes in the kernel
    frames = [bytes([0xFF, 0x13, 0x80, i]) for i in range(2)]
    lines = np.zeros((3, 40 * BLOCK), np.int16)
    for i, fr in enumerate(frames):
        tx = V21Tx()
        tx.send_bits(hdlc.HDLCEncoder().encode([fr], preamble_flags=10, closing_flags=2))
        lines[i, (5 + 3 * i) * BLOCK:] = np.concatenate([tx.tx(BLOCK) for _ in range(35 - 3 * i)])
    rxs = [V21Rx() for _ in range(3)]
    decs = [hdlc.HDLCDecoder() for _ in range(3)]
    for r, d in zip(rxs, decs):
        r.attach_hdlc(d)
    single, single_dec = V21Rx(), hdlc.HDLCDecoder()
    heard: list[list[tuple[bytes, bool]]] = [[] for _ in range(3)]
    alone_heard = []
    for t in range(0, lines.shape[1], BLOCK):
        run_v21(rxs, lines[:, t:t + BLOCK])
        for i, r in enumerate(rxs):
            heard[i] += r.take_frames()
        single.rx(lines[0, t:t + BLOCK])
        alone_heard += single_dec.put_bits(single.take_bits())
    assert heard == [[(frames[0], True)], [(frames[1], True)], []]
    assert alone_heard == heard[0]


def test_receivers_keep_every_bit_of_one_long_rx_call():
    """A bank of one fed seconds of audio in one rx() call (the kernel runs it chunk by chunk) loses no bits."""
    rng = np.random.default_rng(9)
    bits = rng.integers(0, 2, 14400 * 3).astype(np.uint8)
    rx = V17Rx(14400)
    rx.rx(our_tx_signal("v17", 14400, bits))
    assert np.array_equal(rx.take_bits()[:len(bits)], bits) and rx.trained
    v21_bits = rng.integers(0, 2, 1500).astype(np.uint8)
    tx = V21Tx()
    tx.send_bits(v21_bits)
    v21 = V21Rx()
    v21.rx(np.concatenate([np.zeros(800, np.int16), tx.tx(int(1500 * 80 / 3) + 200)]))
    assert np.array_equal(v21.take_bits()[:1500], v21_bits)


def _pair_run(tmp_path, tag, banked, in_place=True):
    """An ECM V.17 call ours -> ours, both ends in a bank or both stepped by hand (rx then tx per block);
    returns (every block both ends sent, the results, the bank). in_place False: the bank mixes into a strided
    view (its transmitters then go through output buffers, not straight into the mix)."""
    doc = str(tmp_path / "doc1.tif")
    write_tiff(doc, synth_document(1, rows=60, seed=5), "g4")
    eps = [FaxEndpoint(True, send=doc, modems=("v17",), ecm=True),
           FaxEndpoint(False, receive=str(tmp_path / f"r_{tag}.tif"), modems=("v17",), ecm=True)]
    bank = FaxBank()
    if banked:
        for ch, ep in enumerate(eps):
            bank.attach(ch, ep)
    out = np.zeros((2, BLOCK), np.int32)
    sent = []
    for _ in range(40 * 50):
        heard = out[::-1].astype(np.int16)
        out = np.zeros((2, BLOCK), np.int32) if in_place else np.zeros((2, 2 * BLOCK), np.int32)[:, ::2]
        if banked:
            bank.step(heard, out)
        else:
            for ch, ep in enumerate(eps):
                ep.rx(heard[ch])
                out[ch] += ep.tx(BLOCK)
        sent.append(out.copy())
        if all(ep.done for ep in eps):
            break
    return np.concatenate(sent, axis=1), [ep.result for ep in eps], bank


@pytest.mark.parametrize("in_place", [True, False])
def test_bank_steps_sessions_only_on_events_and_sends_what_they_send_alone(tmp_path, in_place):
    """The bank steps a session's T.30 only on its events and timers, and the line signal (every modem, tone and
    frame, sample for sample) and the outcome are exactly those of the same sessions stepped every block alone
    (the transmitters adding straight into the mix, or through output buffers when the mix is a strided view)."""
    alone, res_a, _ = _pair_run(tmp_path, "a", False)
    banked, res_b, bank = _pair_run(tmp_path, "b", True, in_place)
    assert res_a[0].ok and res_a[1].ok and res_a[1].pages == 1, res_a
    assert [(r.ok, r.pages, r.bit_rate, r.ecm, r.reason) for r in res_a] == \
           [(r.ok, r.pages, r.bit_rate, r.ecm, r.reason) for r in res_b]
    assert banked.shape == alone.shape and np.array_equal(banked, alone)
    print(f"{bank.ticks} ticks, {bank.steps} session steps for 2 sessions")
    assert bank.steps < bank.ticks     # most ticks step neither session's Python
