"""G.711 tables (dsp/g711.py) and the simulator's C codec, bit-exact against spandsp for every input."""
import numpy as np
import pytest
from peers.spandsp_g711 import build

from trunkline.dsp import g711
from trunkline.hw_sim._tlsim import lib as tlsim

LINEAR = np.arange(-32768, 32768, dtype=np.int16)
CODES = np.arange(256, dtype=np.uint8)


@pytest.fixture(scope="session")
def peer(tmp_path_factory):
    """spandsp's static-inline G.711 functions compiled into a tiny module: full encode/decode tables."""
    ffi, lib = build(tmp_path_factory.mktemp("g711peer"))
    tables = {}
    for law in ("alaw", "ulaw"):
        enc = np.zeros(65536, np.uint8)
        dec = np.zeros(256, np.int16)
        getattr(lib, f"peer_{law}_encode_all")(ffi.cast("uint8_t *", ffi.from_buffer(enc)))
        getattr(lib, f"peer_{law}_decode_all")(ffi.cast("int16_t *", ffi.from_buffer(dec)))
        tables[law] = (enc, dec)
    # the bulk exporters must agree with the per-value inline functions they wrap
    assert lib.peer_linear_to_alaw(-1) == tables["alaw"][0][32767]
    assert lib.peer_ulaw_to_linear(0x00) == tables["ulaw"][1][0]
    return tables


def _report(name, ours, theirs):
    bad = np.count_nonzero(ours != theirs)
    print(f"\n{name:28s} inputs={ours.size:6d}  mismatches ours-vs-spandsp={bad}")
    return bad


@pytest.mark.parametrize("law", ["alaw", "ulaw"])
def test_encode_all_65536_inputs(peer, law):
    theirs = peer[law][0]
    ours = g711.encode(LINEAR, law)
    assert _report(f"{law} encode (numpy)", ours, theirs) == 0
    fn = g711.alaw_encode if law == "alaw" else g711.ulaw_encode
    assert np.array_equal(fn(LINEAR), theirs)


@pytest.mark.parametrize("law", ["alaw", "ulaw"])
def test_decode_all_256_codes(peer, law):
    theirs = peer[law][1]
    ours = g711.decode(CODES, law)
    assert _report(f"{law} decode (numpy)", ours, theirs) == 0
    fn = g711.alaw_decode if law == "alaw" else g711.ulaw_decode
    assert np.array_equal(fn(CODES), theirs)


@pytest.mark.parametrize("law", ["alaw", "ulaw"])
def test_simulator_c_codec_equals_spandsp(peer, law):
    enc_c = getattr(tlsim, f"tlsim_linear_to_{law}")
    dec_c = getattr(tlsim, f"tlsim_{law}_to_linear")
    sim_enc = np.fromiter((enc_c(int(x)) for x in LINEAR), np.uint8, 65536)
    sim_dec = np.fromiter((dec_c(int(c)) for c in CODES), np.int16, 256)
    assert _report(f"{law} encode (simulator C)", sim_enc, peer[law][0]) == 0
    assert _report(f"{law} decode (simulator C)", sim_dec, peer[law][1]) == 0


@pytest.mark.parametrize("law", ["alaw", "ulaw"])
def test_round_trip_is_idempotent_on_codes(law):
    """decode then encode returns every code except the law's duplicate zero codes."""
    back = g711.encode(g711.decode(CODES, law), law)
    same = back == CODES
    # mu-law has two zeros (0x7F, 0xFF) that both decode to 0; A-law has none
    assert np.count_nonzero(~same) == (1 if law == "ulaw" else 0)


def test_mixed_law_codec_rows():
    rng = np.random.default_rng(1)
    x = rng.integers(-32768, 32768, size=(4, 160)).astype(np.int16)
    codec = g711.MixedLawCodec(["alaw", "ulaw", "ulaw", "alaw"])
    codes = codec.encode(x)
    assert np.array_equal(codes[0], g711.alaw_encode(x[0]))
    assert np.array_equal(codes[1], g711.ulaw_encode(x[1]))
    dec = codec.decode(codes)
    assert np.array_equal(dec[2], g711.ulaw_decode(codes[2]))
    assert np.array_equal(dec[3], g711.alaw_decode(codes[3]))
    assert np.array_equal(codec.decode(codes[[1, 3]], rows=[1, 3])[1], g711.alaw_decode(codes[3]))
