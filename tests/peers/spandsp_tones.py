"""libspandsp tone generator, Goertzel and modem connect tones (tone_generate.h, tone_detect.h,
modem_connect_tones.h) through cffi ABI mode."""
import cffi
import numpy as np

from . import load

ffi = cffi.FFI()
ffi.cdef("""
typedef struct tone_gen_descriptor_s tone_gen_descriptor_t;
typedef struct tone_gen_state_s tone_gen_state_t;
tone_gen_descriptor_t *tone_gen_descriptor_init(tone_gen_descriptor_t *s, int f1, int l1, int f2, int l2,
                                                int d1, int d2, int d3, int d4, int repeat);
void tone_gen_descriptor_free(tone_gen_descriptor_t *s);
int tone_gen(tone_gen_state_t *s, int16_t amp[], int max_samples);
tone_gen_state_t *tone_gen_init(tone_gen_state_t *s, tone_gen_descriptor_t *t);
int tone_gen_free(tone_gen_state_t *s);

typedef struct { float fac; int samples; } goertzel_descriptor_t;
typedef struct goertzel_state_s goertzel_state_t;
void make_goertzel_descriptor(goertzel_descriptor_t *t, float freq, int samples);
goertzel_state_t *goertzel_init(goertzel_state_t *s, goertzel_descriptor_t *t);
int goertzel_free(goertzel_state_t *s);
int goertzel_update(goertzel_state_t *s, const int16_t amp[], int samples);
float goertzel_result(goertzel_state_t *s);

typedef struct modem_connect_tones_tx_state_s modem_connect_tones_tx_state_t;
typedef struct modem_connect_tones_rx_state_s modem_connect_tones_rx_state_t;
typedef void (*tone_report_func_t)(void *user_data, int code, int level, int delay);
modem_connect_tones_tx_state_t *modem_connect_tones_tx_init(modem_connect_tones_tx_state_t *s, int tone_type);
int modem_connect_tones_tx_free(modem_connect_tones_tx_state_t *s);
int modem_connect_tones_tx(modem_connect_tones_tx_state_t *s, int16_t amp[], int len);
modem_connect_tones_rx_state_t *modem_connect_tones_rx_init(modem_connect_tones_rx_state_t *s, int tone_type,
                                                            tone_report_func_t cb, void *user_data);
int modem_connect_tones_rx(modem_connect_tones_rx_state_t *s, const int16_t amp[], int len);
int modem_connect_tones_rx_get(modem_connect_tones_rx_state_t *s);
int modem_connect_tones_rx_free(modem_connect_tones_rx_state_t *s);
""")
lib = load(ffi, "libspandsp.so.2")

FAX_CNG, ANS, ANS_PR = 1, 2, 3
DBM0_MAX_SINE_POWER = 3.14


def tone_gen(f1, l1, f2, l2, cadence_ms, n, repeat=True):
    """spandsp cadenced tone: f1/f2 Hz at l1/l2 dBm0 (f2=0: single), cadence (on1, off1, on2, off2) ms; n samples."""
    d = list(cadence_ms) + [0] * (4 - len(cadence_ms))
    desc = lib.tone_gen_descriptor_init(ffi.NULL, int(f1), int(l1), int(f2), int(l2), *[int(x) for x in d], int(repeat))
    s = lib.tone_gen_init(ffi.NULL, desc)
    buf = ffi.new("int16_t[]", n)
    got = lib.tone_gen(s, buf, n)
    out = np.frombuffer(ffi.buffer(buf), dtype=np.int16).copy()
    out[got:] = 0
    lib.tone_gen_free(s)
    lib.tone_gen_descriptor_free(desc)
    return out


def goertzel_dbm0(samples, freq):
    """spandsp Goertzel over the whole array; returns the level at `freq` in dBm0 (from the header's formula)."""
    a = np.ascontiguousarray(samples, dtype=np.int16)
    desc = ffi.new("goertzel_descriptor_t *")
    lib.make_goertzel_descriptor(desc, float(freq), len(a))
    s = lib.goertzel_init(ffi.NULL, desc)
    lib.goertzel_update(s, ffi.cast("int16_t *", a.ctypes.data), len(a))
    r = lib.goertzel_result(s)
    lib.goertzel_free(s)
    # expected result for x dBm0: ((N*32768/1.4142)*10^((x - 3.14)/20))^2
    return 20 * np.log10(max(np.sqrt(r), 1e-9) / (len(a) * 32768.0 / 1.4142)) + DBM0_MAX_SINE_POWER


def connect_tone(tone_type, n):
    """spandsp modem_connect_tones_tx: n samples of CNG (1) or ANS/CED (2) or ANS with phase reversals (3)."""
    s = lib.modem_connect_tones_tx_init(ffi.NULL, tone_type)
    buf = ffi.new("int16_t[]", n)
    got = lib.modem_connect_tones_tx(s, buf, n)
    out = np.frombuffer(ffi.buffer(buf), dtype=np.int16).copy()
    out[got:] = 0
    lib.modem_connect_tones_tx_free(s)
    return out


class ConnectToneRx:
    """spandsp modem_connect_tones_rx for one tone type; run() returns the first detection time (samples) or None."""

    def __init__(self, tone_type):
        self.s = ffi.gc(lib.modem_connect_tones_rx_init(ffi.NULL, tone_type, ffi.NULL, ffi.NULL),
                        lib.modem_connect_tones_rx_free)

    def run(self, samples, step=160):
        a = np.ascontiguousarray(samples, dtype=np.int16)
        for i in range(0, len(a), step):
            c = a[i:i + step]
            lib.modem_connect_tones_rx(self.s, ffi.cast("int16_t *", c.ctypes.data), len(c))
            if lib.modem_connect_tones_rx_get(self.s):
                return i + len(c)
        return None
