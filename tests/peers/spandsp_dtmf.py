"""spandsp's DTMF receiver/generator and power meter through cffi ABI mode (libspandsp.so.2).

(The per-channel C loop used for timing lives in bench/dtmf_density.py.)
"""
import numpy as np
from cffi import FFI

from peers import load

ffi = FFI()
ffi.cdef("""
typedef struct dtmf_rx_state_s dtmf_rx_state_t;
typedef struct dtmf_tx_state_s dtmf_tx_state_t;
typedef void (*digits_rx_callback_t)(void *user_data, const char *digits, int len);
dtmf_rx_state_t *dtmf_rx_init(dtmf_rx_state_t *s, digits_rx_callback_t callback, void *user_data);
void dtmf_rx_parms(dtmf_rx_state_t *s, int filter_dialtone, int twist, int reverse_twist, int threshold);
int dtmf_rx(dtmf_rx_state_t *s, const int16_t amp[], int samples);
size_t dtmf_rx_get(dtmf_rx_state_t *s, char *digits, int max);
int dtmf_rx_free(dtmf_rx_state_t *s);
dtmf_tx_state_t *dtmf_tx_init(dtmf_tx_state_t *s);
int dtmf_tx_put(dtmf_tx_state_t *s, const char *digits, int len);
void dtmf_tx_set_level(dtmf_tx_state_t *s, int level, int twist);
void dtmf_tx_set_timing(dtmf_tx_state_t *s, int on_time, int off_time);
int dtmf_tx(dtmf_tx_state_t *s, int16_t amp[], int max_samples);
int dtmf_tx_free(dtmf_tx_state_t *s);
typedef struct { int shift; int32_t reading; } power_meter_t;
power_meter_t *power_meter_init(power_meter_t *s, int shift);
int32_t power_meter_update(power_meter_t *s, int16_t amp);
int32_t power_meter_current(power_meter_t *s);
float power_meter_current_dbm0(power_meter_t *s);
float power_meter_current_dbov(power_meter_t *s);
int32_t power_meter_level_dbm0(float level);
""")
lib = load(ffi, "libspandsp.so.2")


class SpandspDTMFRx:
    """One spandsp dtmf_rx instance; feed() returns the digits recognised in the samples given."""

    def __init__(self):
        self.s = lib.dtmf_rx_init(ffi.NULL, ffi.NULL, ffi.NULL)
        self._buf = ffi.new("char[]", 130)

    def feed(self, samples, chunk=160):
        """Run int16 samples through the detector, chunk samples at a time; return the digits as a string."""
        x = np.ascontiguousarray(samples, dtype=np.int16)
        out = []
        for i in range(0, len(x), chunk):
            part = x[i:i + chunk]
            lib.dtmf_rx(self.s, ffi.cast("int16_t *", ffi.from_buffer(part)), len(part))
            n = lib.dtmf_rx_get(self.s, self._buf, 128)
            if n:
                out.append(ffi.string(self._buf, n).decode())
        return "".join(out)

    def close(self):
        lib.dtmf_rx_free(self.s)


def spandsp_detect(samples, chunk=160):
    """Digits spandsp's dtmf_rx (default settings) recognises in one int16 signal."""
    rx = SpandspDTMFRx()
    try:
        return rx.feed(samples, chunk)
    finally:
        rx.close()


def spandsp_generate(digits, level=-10, twist=0, on_ms=50, off_ms=55, tail=800):
    """int16 signal spandsp's dtmf_tx makes for digits (level dBm0 of the low tone, twist dB, timing ms)."""
    s = lib.dtmf_tx_init(ffi.NULL)
    try:
        lib.dtmf_tx_set_level(s, level, twist)
        lib.dtmf_tx_set_timing(s, on_ms, off_ms)
        lib.dtmf_tx_put(s, digits.encode(), -1)
        chunks = []
        buf = np.zeros(160, np.int16)
        p = ffi.cast("int16_t *", ffi.from_buffer(buf))
        while True:
            n = lib.dtmf_tx(s, p, 160)
            if n <= 0:
                break
            chunks.append(buf[:n].copy())
        chunks.append(np.zeros(tail, np.int16))
        return np.concatenate(chunks)
    finally:
        lib.dtmf_tx_free(s)


def spandsp_power_dbm0(samples, shift):
    """spandsp power_meter readings (dBm0) after every sample of an int16 signal, IIR damping 2**-shift."""
    pm = ffi.new("power_meter_t *")
    lib.power_meter_init(pm, shift)
    out = np.empty(len(samples), np.float32)
    for i, v in enumerate(np.asarray(samples, dtype=np.int16).tolist()):
        lib.power_meter_update(pm, v)
        out[i] = lib.power_meter_current_dbm0(pm)
    return out
