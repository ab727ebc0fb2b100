"""The fax bank: sessions at different phases, speeds and ECM modes stepped together; a session whose line
drops mid-page, whose peer sends garbage or whose code raises ends with a clear result and never disturbs
the others."""
import numpy as np

from trunkline.fax import FaxBank, FaxEndpoint
from trunkline.fax.convert import synth_document
from trunkline.fax.tiff import read_tiff, write_tiff
from trunkline.fax.v17 import V17Tx
from trunkline.fax.v17_kernel import run_tx

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
