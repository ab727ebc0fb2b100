"""T.30 interop: our FaxEndpoint against libspandsp's fax terminal (fax_init/fax_rx/fax_tx), 160-sample blocks.

Both directions, V.27ter 4800 / V.29 9600 / V.17 14400, without and with ECM, 2-page documents; every
received page is compared pixel for pixel; spandsp's phase E code and transfer statistics are asserted.
Then line impairments (-30 dBm0, 30 dB SNR, +-10 Hz offset): success at some speed, printed.
"""
import numpy as np
import pytest
from fax_signals import Line
from peers.spandsp_fax import T30_SUPPORT_T4_1D, T30_SUPPORT_T4_2D, T30_SUPPORT_T6, SpandspFax

from trunkline.dsp.constants import BLOCK
from trunkline.fax import FaxEndpoint
from trunkline.fax.convert import synth_document
from trunkline.fax.tiff import read_tiff, write_tiff

MAX_SECONDS = 150


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    d = tmp_path_factory.mktemp("faxdoc")
    pages = synth_document(2, width=1728, fine=False, rows=220, seed=3)
    path = str(d / "send.tif")
    write_tiff(path, pages, "g4")
    return path, pages


def run_call(ours, peer, calling_ours, line_to_peer=None, line_to_ours=None):
    """Exchange 160-sample blocks until both ends reach phase E (bounded)."""
    line_to_peer = line_to_peer or (lambda x: x)
    line_to_ours = line_to_ours or (lambda x: x)
    for _ in range(MAX_SECONDS * 8000 // BLOCK):
        a = ours.tx(BLOCK)
        b = peer.tx(BLOCK)
        assert a.dtype == np.int16 and a.shape == (BLOCK,)
        peer.rx(line_to_peer(a))
        ours.rx(line_to_ours(b))
        if ours.done and peer.phase_e is not None:
            break
    return ours.done and peer.phase_e is not None


def _report(tag, ours, peer):
    st = peer.stats()
    print(f"\n{tag}: ours ok={ours.result.ok} pages={ours.result.pages} rate={ours.result.bit_rate} "
          f"ecm={ours.result.ecm} reason={ours.result.reason!r} | spandsp phase E {peer.phase_e} "
          f"({peer.code_text()}) rate={st['bit_rate']} ecm={st['error_correcting_mode']} "
          f"pages tx/rx={st['pages_tx']}/{st['pages_rx']} bad_rows={st['bad_rows']}")
    return st


def _same_pages(got, sent):
    assert len(got) == len(sent)
    for g, s in zip(got, sent):
        assert g.image.shape == s.image.shape, (g.image.shape, s.image.shape)
        assert np.array_equal(g.image, s.image), f"{int((g.image != s.image).sum())} pixels differ"


SPEEDS = [("v27ter", 4800), ("v29", 9600), ("v17", 14400)]


@pytest.mark.parametrize("ecm", [False, True], ids=["noecm", "ecm"])
@pytest.mark.parametrize("modem,rate", SPEEDS, ids=[m for m, _ in SPEEDS])
def test_our_sender_to_spandsp_receiver(tmp_path, document, modem, rate, ecm):
    path, pages = document
    rx_path = str(tmp_path / "spandsp_rx.tif")
    ours = FaxEndpoint(True, send=path, modems=(modem,), ecm=ecm, ident="+1 555 0100")
    peer = SpandspFax(False, receive=rx_path, modems=(modem,), ecm=ecm)
    assert run_call(ours, peer, True), "call did not finish"
    st = _report(f"ours->spandsp {modem} {rate} ecm={ecm}", ours, peer)
    assert peer.phase_e == 0, peer.code_text()
    assert st["bit_rate"] == rate and bool(st["error_correcting_mode"]) == ecm
    assert st["pages_rx"] == 2 and st["bad_rows"] == 0 and st["width"] == 1728
    assert peer.remote_ident().strip() == "+1 555 0100"
    r = ours.result
    assert r.ok and r.pages == 2 and r.bit_rate == rate and r.ecm == ecm and r.reason == "OK"
    assert r.remote_ident == "SPANDSP"
    _same_pages(read_tiff(rx_path), pages)
    peer.close()


@pytest.mark.parametrize("ecm", [False, True], ids=["noecm", "ecm"])
@pytest.mark.parametrize("modem,rate", SPEEDS, ids=[m for m, _ in SPEEDS])
def test_spandsp_sender_to_our_receiver(tmp_path, document, modem, rate, ecm):
    path, pages = document
    rx_path = str(tmp_path / "ours_rx.tif")
    peer = SpandspFax(True, send=path, modems=(modem,), ecm=ecm, ident="SPANDSP")
    ours = FaxEndpoint(False, receive=rx_path, modems=(modem,), ecm=ecm, ident="OURS")
    assert run_call(ours, peer, False), "call did not finish"
    st = _report(f"spandsp->ours {modem} {rate} ecm={ecm}", ours, peer)
    assert peer.phase_e == 0, peer.code_text()
    assert st["bit_rate"] == rate and bool(st["error_correcting_mode"]) == ecm and st["pages_tx"] == 2
    r = ours.result
    assert r.ok and r.pages == 2 and r.bit_rate == rate and r.ecm == ecm
    assert r.remote_ident == "SPANDSP"
    _same_pages(read_tiff(rx_path), pages)
    peer.close()


@pytest.mark.parametrize("direction", ["ours_send", "ours_receive"])
def test_ecm_t6_coding(tmp_path, document, direction):
    """ECM with T.6 (MMR) negotiated: spandsp offers T.6 in addition to T.4."""
    path, pages = document
    comp = T30_SUPPORT_T4_1D | T30_SUPPORT_T4_2D | T30_SUPPORT_T6
    rx_path = str(tmp_path / "rx.tif")
    if direction == "ours_send":
        ours = FaxEndpoint(True, send=path, ecm=True)
        peer = SpandspFax(False, receive=rx_path, ecm=True, compressions=comp)
    else:
        peer = SpandspFax(True, send=path, ecm=True, compressions=comp)
        ours = FaxEndpoint(False, receive=rx_path, ecm=True)
    assert run_call(ours, peer, direction == "ours_send")
    st = _report(f"T.6 ECM {direction}", ours, peer)
    assert peer.phase_e == 0 and ours.result.ok and ours.result.ecm and ours.result.pages == 2
    assert st["encoding"] == 3 if direction == "ours_send" else True  # T4_COMPRESSION_ITU_T6 = 3
    _same_pages(read_tiff(rx_path), pages)


IMPAIRMENTS = {
    "level-30dBm0": dict(gain_db=-18.0),  # our -12 dBm0 image modem arrives at -30 dBm0
    "snr30dB": dict(noise_dbm0=-12.0 - 30.0, gated=True),
    "offset+10Hz": dict(offset_hz=10.0),
    "offset-10Hz": dict(offset_hz=-10.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("imp", list(IMPAIRMENTS))
@pytest.mark.parametrize("direction", ["ours_send", "ours_receive"])
def test_impaired_line(tmp_path, document, imp, direction):
    path, pages = document
    rx_path = str(tmp_path / "rx.tif")
    kw = IMPAIRMENTS[imp]
    if direction == "ours_send":
        ours = FaxEndpoint(True, send=path)
        peer = SpandspFax(False, receive=rx_path)
    else:
        peer = SpandspFax(True, send=path)
        ours = FaxEndpoint(False, receive=rx_path)
    done = run_call(ours, peer, direction == "ours_send", Line(seed=1, **kw), Line(seed=2, **kw))
    st = _report(f"impairment {imp} {direction}", ours, peer)
    print(f"  -> succeeded at {st['bit_rate']} bit/s")
    assert done
    assert peer.phase_e == 0, peer.code_text()
    assert ours.result.ok and ours.result.pages == 2
    _same_pages(read_tiff(rx_path), pages)


class Burst:
    """A 50 ms burst of loud noise at t0 seconds (to corrupt a few ECM frames)."""

    def __init__(self, t0, seed=5):
        self.t, self.t0, self.t1 = 0, int(t0 * 8000), int((t0 + 0.05) * 8000)
        self.rng = np.random.default_rng(seed)

    def __call__(self, x):
        y = x.astype(np.float64)
        if self.t0 <= self.t < self.t1:
            y += self.rng.normal(0, 3000, len(x))
        self.t += len(x)
        return np.clip(np.round(y), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("direction", ["ours_send", "ours_receive"])
def test_ecm_partial_page_retransmission(tmp_path, document, direction, capsys):
    """A noise burst during the first ECM block: the receiver asks for the lost frames (PPR), they are resent."""
    path, pages = document
    rx_path = str(tmp_path / "rx.tif")
    log = []
    if direction == "ours_send":
        ours = FaxEndpoint(True, send=path, ecm=True, modems=("v29",), log=log.append)
        peer = SpandspFax(False, receive=rx_path, ecm=True, modems=("v29",))
        done = run_call(ours, peer, True, Burst(14.0), None)
    else:
        peer = SpandspFax(True, send=path, ecm=True, modems=("v29",))
        ours = FaxEndpoint(False, receive=rx_path, ecm=True, modems=("v29",), log=log.append)
        done = run_call(ours, peer, False, None, Burst(14.0))
    _report(f"ECM burst {direction}", ours, peer)
    ppr = [line for line in log if "PPR" in line]
    print("\n".join(ppr))
    assert done and peer.phase_e == 0 and ours.result.ok and ours.result.pages == 2
    assert ppr, "expected a partial page request"
    _same_pages(read_tiff(rx_path), pages)


@pytest.mark.parametrize("direction", ["ours_answer_send", "ours_call_receive"])
def test_polling_reverse_roles(tmp_path, document, direction):
    """The answering terminal sends: the caller (receiver) answers DIS (ready to transmit) with DTC."""
    path, pages = document
    rx_path = str(tmp_path / "rx.tif")
    if direction == "ours_answer_send":
        peer = SpandspFax(True, receive=rx_path)
        ours = FaxEndpoint(False, send=path)
    else:
        peer = SpandspFax(False, send=path)
        ours = FaxEndpoint(True, receive=rx_path)
    assert run_call(ours, peer, direction == "ours_call_receive")
    st = _report(f"polling {direction}", ours, peer)
    assert peer.phase_e == 0 and ours.result.ok and ours.result.pages == 2
    assert st["bit_rate"] == 14400 == ours.result.bit_rate
    _same_pages(read_tiff(rx_path), pages)


class LongBurst(Burst):
    """Loud noise for `dur` seconds from t0 (wipes out part of a non-ECM page)."""

    def __init__(self, t0, dur):
        super().__init__(t0)
        self.t1 = int((t0 + dur) * 8000)


def test_damaged_page_rejected_with_rtn_then_resent(tmp_path, document):
    """spandsp -> ours without ECM, 1 s of noise in page 1: we answer RTN, spandsp retrains and resends."""
    path, pages = document
    rx_path = str(tmp_path / "rx.tif")
    log = []
    peer = SpandspFax(True, send=path, modems=("v29",))
    ours = FaxEndpoint(False, receive=rx_path, modems=("v29",), log=log.append)
    assert run_call(ours, peer, False, None, LongBurst(12.0, 1.0))
    st = _report("RTN", ours, peer)
    print("\n".join(line for line in log if "RTN" in line or "page:" in line))
    assert any("tx RTN" in line for line in log)
    assert peer.phase_e == 0 and ours.result.ok and ours.result.pages == 2 and st["pages_tx"] == 2
    _same_pages(read_tiff(rx_path), pages)


def test_spandsp_quality_response_handled(tmp_path, document):
    """ours -> spandsp without ECM, 1 s of noise in page 1: spandsp answers RTP/RTN, we retrain and go on."""
    path, pages = document
    rx_path = str(tmp_path / "rx.tif")
    log = []
    ours = FaxEndpoint(True, send=path, modems=("v29",), log=log.append)
    peer = SpandspFax(False, receive=rx_path, modems=("v29",))
    assert run_call(ours, peer, True, LongBurst(12.0, 1.0), None)
    _report("RTP/RTN from spandsp", ours, peer)
    resp = [line for line in log if "rx RTP" in line or "rx RTN" in line]
    print("\n".join(resp))
    assert resp, "spandsp did not flag the damaged page"
    assert sum("tx DCS" in line for line in log) == 2  # retrained once
    assert peer.phase_e == 0 and ours.result.ok and ours.result.pages == 2
    got = read_tiff(rx_path)
    assert np.array_equal(got[-1].image, pages[-1].image)  # the page after the retrain is exact


@pytest.mark.parametrize("scan_ms", [10, 20, 40])
def test_minimum_scan_line_time_honoured(tmp_path, document, scan_ms):
    """spandsp asks for a minimum scan line time: we pad lines with fill bits and the page arrives intact."""
    path, pages = document
    rx_path = str(tmp_path / "rx.tif")
    log = []
    ours = FaxEndpoint(True, send=path, modems=("v27ter",), log=log.append)
    peer = SpandspFax(False, receive=rx_path, modems=("v27ter",), min_scan_ms=scan_ms)
    assert run_call(ours, peer, True)
    _report(f"min scan {scan_ms} ms", ours, peer)
    dcs = [line for line in log if "tx DCS" in line]
    print(dcs)
    assert peer.phase_e == 0 and ours.result.ok and ours.result.pages == 2
    _same_pages(read_tiff(rx_path), pages)
