"""The emulated /dev/dahdi: the LD_PRELOAD shim (dahdi_shim.c, built from the real <dahdi/user.h>)
put in front of a simulated card, so that the dahdi:// backend's real-card code path runs on it.

    card = open_card("sim://x?e1=2")
    emu = EmulatedDahdi(card, signaling="pri")   # /dev/dahdi/* now answer from this card
    board = open_board("dahdi://")               # in a process started with LD_PRELOAD=SHIM_PATH

Waiting for the next block (poll, a blocking read) is what moves the card's clock: the shim calls
back into `card.tick()`, which also runs the far end. One card per process at a time.
"""
import os
from typing import Any

from cffi import FFI

from trunkline.hw_sim import _tlsim
from trunkline.hw_sim.card import SimCard

#: where `make` builds the shim (LD_PRELOAD it to get an emulated /dev/dahdi)
SHIM_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libtldahdi_shim.so")

# DAHDI signalling types (dahdi/user.h; checked by tests/drivers/test_dahdi_abi.py through the backend's copy)
_SIG = {"clear": 0x0080, "hdlcfcs": 0x0380, "cas": 0x8000, "fxsks": 0x2004, "fxoks": 0x1020, "none": 0}

_ffi = FFI()
_ffi.cdef("""
int tlshim_attach(const char *sim_so, void *card, int n, const int *sigtype, const int *span, const int *law,
                  int nspans, const int *spantype, void (*advance)(void));
void tlshim_detach(void);
void tlshim_set_present(int on);
int tlshim_corrupt_next_frame(int channo);
void tlshim_counters(int spanno, int channo, uint64_t *out);
int tlshim_loaded(void);
""")
_lib: Any = _ffi.dlopen(None)


class ShimNotLoaded(RuntimeError):
    """The process was not started with the emulated-DAHDI shim preloaded."""


def shim_loaded() -> bool:
    """True when this process runs with the emulated-DAHDI shim (LD_PRELOAD=SHIM_PATH)."""
    try:
        return bool(_lib.tlshim_loaded())
    except AttributeError:
        return False


def preload_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of env (default os.environ) that preloads the shim in a child process."""
    env = dict(os.environ if env is None else env)
    if not os.path.exists(SHIM_PATH):
        raise ShimNotLoaded(f"{SHIM_PATH} is missing: build it with `make` (it needs the DAHDI header)")
    parts = [p for p in env.get("LD_PRELOAD", "").split(":") if p and p != SHIM_PATH]
    env["LD_PRELOAD"] = ":".join([SHIM_PATH] + parts)
    return env


def sigtypes_for(card: SimCard, signaling: str) -> list[int]:
    """DAHDI signalling per card channel, as /etc/dahdi/system.conf would set it for this trunk type."""
    out = []
    for kind in card.kinds:
        if kind == "fxo":
            out.append(_SIG["fxsks"])            # an FXO port uses FXS signalling
        elif kind == "fxs":
            out.append(_SIG["fxoks"])
        elif kind == "dchan":                   # ts16: the D-channel, or unused on a CAS span
            out.append(_SIG["none"] if signaling == "r2" else _SIG["hdlcfcs"])
        else:
            out.append(_SIG["cas"] if signaling == "r2" else _SIG["clear"])
    return out


class EmulatedDahdi:
    """A simulated card behind /dev/dahdi (DAHDI channel N = card channel N-1, span N = card span N-1)."""

    def __init__(self, card: SimCard, signaling: str = "pri", unconfigured_spans: tuple[int, ...] = ()) -> None:
        """signaling: "pri" (clear bearers + HDLCFCS D-channel) or "r2" (CAS bearers, ts16 unused);
        unconfigured_spans: card span indexes left out of the configuration (as without dahdi_cfg)."""
        if not shim_loaded():
            raise ShimNotLoaded("the emulated /dev/dahdi needs this process started with "
                                f"LD_PRELOAD={SHIM_PATH}")
        self.card = card
        self.signaling = signaling
        sig = sigtypes_for(card, signaling)
        spanof = [int(card.span_of[ch]) for ch in range(card.channels)]
        sig = [0 if spanof[ch] in unconfigured_spans else sig[ch] for ch in range(card.channels)]
        laws = [1 if law == "ulaw" else 0 for law in card.laws]
        spantype = [{"e1": 1, "t1": 2}.get(sp.kind, 0) for sp in card.spans]
        self._cb = _ffi.callback("void(void)", card.tick)    # kept alive as long as the attachment
        ptr = _ffi.cast("void *", int(_tlsim.ffi.cast("uintptr_t", card._s)))
        rc = _lib.tlshim_attach(_tlsim.__file__.encode(), ptr, card.channels, _ffi.new("int[]", sig),
                                _ffi.new("int[]", spanof), _ffi.new("int[]", laws), len(card.spans),
                                _ffi.new("int[]", spantype), self._cb)
        if rc < 0:
            raise RuntimeError(f"emulated /dev/dahdi: attach failed ({rc})")

    def set_present(self, on: bool) -> None:
        """Make /dev/dahdi disappear (open channels get DAHDI_EVENT_REMOVED, then ENODEV) or come back."""
        _lib.tlshim_set_present(1 if on else 0)

    def corrupt_next_frame(self, channo: int) -> None:
        """Line errors: the next frame toward the card on DAHDI channel `channo` arrives with a bad FCS."""
        if _lib.tlshim_corrupt_next_frame(channo) < 0:
            raise ValueError(f"no DAHDI channel {channo}")

    def counters(self, spanno: int = 1, channo: int = 1) -> dict[str, int]:
        """Device-side counters: clock advances, bad-FCS frames, frames rx/tx on a span, EC taps on a channel."""
        out = _ffi.new("uint64_t[5]")
        _lib.tlshim_counters(spanno, channo, out)
        return {"advances": out[0], "badfcs": out[1], "frames_rx": out[2], "frames_tx": out[3], "ec_taps": out[4]}

    def close(self) -> None:
        """Take the card away from /dev/dahdi."""
        _lib.tlshim_detach()
