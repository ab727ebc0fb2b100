"""libspandsp MFC/R2 tone generator and receiver (bell_r2_mf.h) through cffi ABI mode."""
import cffi
import numpy as np

from . import load

ffi = cffi.FFI()
ffi.cdef("""
typedef struct r2_mf_tx_state_s r2_mf_tx_state_t;
typedef struct r2_mf_rx_state_s r2_mf_rx_state_t;
typedef void (*tone_report_func_t)(void *user_data, int code, int level, int delay);
int r2_mf_tx(r2_mf_tx_state_t *s, int16_t amp[], int samples);
int r2_mf_tx_put(r2_mf_tx_state_t *s, char digit);
r2_mf_tx_state_t *r2_mf_tx_init(r2_mf_tx_state_t *s, int fwd);
int r2_mf_tx_free(r2_mf_tx_state_t *s);
int r2_mf_rx(r2_mf_rx_state_t *s, const int16_t amp[], int samples);
int r2_mf_rx_get(r2_mf_rx_state_t *s);
r2_mf_rx_state_t *r2_mf_rx_init(r2_mf_rx_state_t *s, int fwd, tone_report_func_t callback, void *user_data);
int r2_mf_rx_free(r2_mf_rx_state_t *s);
""")
lib = load(ffi, "libspandsp.so.2")

# spandsp names the 15 R2 signals by these characters (signal 1..15).
DIGITS = "1234567890BCDEF"


def digit_char(signal):
    """spandsp's character for R2 signal 1..15."""
    return DIGITS[signal - 1]


def char_signal(code):
    """R2 signal 1..15 for a spandsp digit code (int or char), 0 for none."""
    if not code:
        return 0
    ch = chr(code) if isinstance(code, int) else code
    return DIGITS.index(ch) + 1


class R2Tx:
    """spandsp r2_mf_tx: plays one signal continuously until changed (signal 0 = silence)."""

    def __init__(self, forward=True):
        self.s = ffi.gc(lib.r2_mf_tx_init(ffi.NULL, 1 if forward else 0), lib.r2_mf_tx_free)

    def put(self, signal):
        """Select signal 1..15, or 0 to stop."""
        rc = lib.r2_mf_tx_put(self.s, digit_char(signal).encode() if signal else b"\0")
        assert rc == 0, rc

    def tx(self, n):
        """n int16 samples."""
        buf = ffi.new("int16_t[]", n)
        got = lib.r2_mf_tx(self.s, buf, n)
        out = np.frombuffer(ffi.buffer(buf), dtype=np.int16).copy()
        out[got:] = 0
        return out


class R2Rx:
    """spandsp r2_mf_rx: current signal per call, and the time (samples) each change was seen."""

    def __init__(self, forward=True):
        self.s = ffi.gc(lib.r2_mf_rx_init(ffi.NULL, 1 if forward else 0, ffi.NULL, ffi.NULL), lib.r2_mf_rx_free)

    def rx(self, samples):
        """Feed int16 samples; returns the current signal 0..15 after them."""
        a = np.ascontiguousarray(samples, dtype=np.int16)
        lib.r2_mf_rx(self.s, ffi.cast("int16_t *", a.ctypes.data), len(a))
        return self.get()

    def get(self):
        """Current signal 0..15."""
        return char_signal(lib.r2_mf_rx_get(self.s))

    def run(self, samples, step=80):
        """Feed a signal in steps; returns the list of (sample_index, signal) changes."""
        changes, cur = [], 0
        for i in range(0, len(samples), step):
            sig = self.rx(samples[i:i + step])
            if sig != cur:
                changes.append((i + step, sig))
                cur = sig
        return changes
