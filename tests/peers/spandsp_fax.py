"""libspandsp as the fax peer: HDLC, CRC, V.21 FSK and the full T.30 terminal (fax_init/fax_rx/fax_tx), ABI mode."""
from __future__ import annotations

import numpy as np
from cffi import FFI

from peers import load

ffi = FFI()
ffi.cdef("""
typedef struct hdlc_rx_state_s hdlc_rx_state_t;
typedef struct hdlc_tx_state_s hdlc_tx_state_t;
typedef void (*hdlc_frame_handler_t)(void *user_data, const uint8_t *pkt, int len, int ok);
typedef void (*hdlc_underflow_handler_t)(void *user_data);
typedef void (*modem_status_func_t)(void *user_data, int status);
typedef void (*put_bit_func_t)(void *user_data, int bit);
typedef int (*get_bit_func_t)(void *user_data);
hdlc_rx_state_t *hdlc_rx_init(hdlc_rx_state_t *s, int crc32, int report_bad_frames, int framing_ok_threshold,
                              hdlc_frame_handler_t handler, void *user_data);
void hdlc_rx_put_bit(hdlc_rx_state_t *s, int new_bit);
int hdlc_rx_free(hdlc_rx_state_t *s);
hdlc_tx_state_t *hdlc_tx_init(hdlc_tx_state_t *s, int crc32, int inter_frame_flags, int progressive,
                              hdlc_underflow_handler_t handler, void *user_data);
int hdlc_tx_frame(hdlc_tx_state_t *s, const uint8_t *frame, size_t len);
int hdlc_tx_flags(hdlc_tx_state_t *s, int len);
int hdlc_tx_get_bit(hdlc_tx_state_t *s);
int hdlc_tx_free(hdlc_tx_state_t *s);

uint32_t crc_itu32_calc(const uint8_t *buf, int len, uint32_t crc);
int crc_itu32_append(uint8_t *buf, int len);
int crc_itu32_check(const uint8_t *buf, int len);
uint16_t crc_itu16_calc(const uint8_t *buf, int len, uint16_t crc);
int crc_itu16_append(uint8_t *buf, int len);
int crc_itu16_check(const uint8_t *buf, int len);

typedef struct { const char *name; int freq_zero; int freq_one; int tx_level; int min_level; int baud_rate; }
    fsk_spec_t;
extern const fsk_spec_t preset_fsk_specs[];
typedef struct fsk_tx_state_s fsk_tx_state_t;
typedef struct fsk_rx_state_s fsk_rx_state_t;
fsk_tx_state_t *fsk_tx_init(fsk_tx_state_t *s, const fsk_spec_t *spec, get_bit_func_t get_bit, void *user_data);
void fsk_tx_power(fsk_tx_state_t *s, float power);
int fsk_tx(fsk_tx_state_t *s, int16_t amp[], int len);
int fsk_tx_free(fsk_tx_state_t *s);
fsk_rx_state_t *fsk_rx_init(fsk_rx_state_t *s, const fsk_spec_t *spec, int framing_mode, put_bit_func_t put_bit,
                            void *user_data);
int fsk_rx(fsk_rx_state_t *s, const int16_t *amp, int len);
int fsk_rx_free(fsk_rx_state_t *s);

typedef struct fax_state_s fax_state_t;
typedef struct t30_state_s t30_state_t;
typedef struct logging_state_s logging_state_t;
typedef void (t30_phase_e_handler_t)(t30_state_t *s, void *user_data, int completion_code);
typedef struct {
    int bit_rate; int error_correcting_mode; int pages_tx; int pages_rx; int pages_in_file;
    int x_resolution; int y_resolution; int width; int length; int image_size; int encoding;
    int bad_rows; int longest_bad_row_run; int error_correcting_mode_retries; int current_status;
} t30_stats_t;
fax_state_t *fax_init(fax_state_t *s, int calling_party);
int fax_rx(fax_state_t *s, int16_t *amp, int len);
int fax_tx(fax_state_t *s, int16_t *amp, int max_len);
void fax_set_transmit_on_idle(fax_state_t *s, int transmit_on_idle);
t30_state_t *fax_get_t30_state(fax_state_t *s);
logging_state_t *fax_get_logging_state(fax_state_t *s);
int fax_free(fax_state_t *s);
void t30_set_tx_file(t30_state_t *s, const char *file, int start_page, int stop_page);
void t30_set_rx_file(t30_state_t *s, const char *file, int stop_page);
int t30_set_ecm_capability(t30_state_t *s, int enabled);
int t30_set_supported_modems(t30_state_t *s, int supported_modems);
int t30_set_supported_compressions(t30_state_t *s, int supported_compressions);
int t30_set_minimum_scan_line_time(t30_state_t *s, int min_time);
int t30_set_tx_ident(t30_state_t *s, const char *id);
const char *t30_get_rx_ident(t30_state_t *s);
void t30_set_phase_e_handler(t30_state_t *s, t30_phase_e_handler_t *handler, void *user_data);
void t30_get_transfer_statistics(t30_state_t *s, t30_stats_t *t);
const char *t30_completion_code_to_str(int result);
logging_state_t *t30_get_logging_state(t30_state_t *s);
int span_log_set_level(logging_state_t *s, int level);
""")

lib = None


def spandsp():
    """The loaded libspandsp (fails the test run if missing)."""
    global lib
    if lib is None:
        lib = load(ffi, "libspandsp.so.2")
    return lib


FSK_V21CH2 = 1
MODEMS = {"v27ter": 1, "v29": 2, "v17": 4}
T30_SUPPORT_T4_1D = 0x02
T30_SUPPORT_T4_2D = 0x04
T30_SUPPORT_T6 = 0x08


class SpandspHDLCRx:
    """spandsp HDLC receiver fed bit by bit; collects (frame, ok)."""

    def __init__(self, crc32=False):
        L = spandsp()
        self.frames = []

        @ffi.callback("void(void *, const uint8_t *, int, int)")
        def handler(user, pkt, length, ok):
            if length >= 0:
                self.frames.append((bytes(ffi.buffer(pkt, length)), bool(ok)))

        self._cb = handler
        self.s = L.hdlc_rx_init(ffi.NULL, 1 if crc32 else 0, 1, 1, handler, ffi.NULL)

    def put_bits(self, bits):
        for b in np.asarray(bits).tolist():
            lib.hdlc_rx_put_bit(self.s, int(b))

    def close(self):
        lib.hdlc_rx_free(self.s)


class SpandspHDLCTx:
    """spandsp HDLC transmitter; bits(n) pulls n bits."""

    def __init__(self, crc32=False):
        L = spandsp()
        self.s = L.hdlc_tx_init(ffi.NULL, 1 if crc32 else 0, 1, 0, ffi.NULL, ffi.NULL)

    def frame(self, data: bytes):
        buf = ffi.new("uint8_t[]", data)
        return lib.hdlc_tx_frame(self.s, buf, len(data))

    def flags(self, n):
        return lib.hdlc_tx_flags(self.s, n)

    def bits(self, n):
        return np.array([lib.hdlc_tx_get_bit(self.s) for _ in range(n)], dtype=np.int32)

    def close(self):
        lib.hdlc_tx_free(self.s)


class SpandspFSKTx:
    """spandsp V.21 ch2 transmitter sending a given bit sequence, then marks."""

    def __init__(self, bits, power_dbm0=-14.0):
        L = spandsp()
        self._bits = list(np.asarray(bits).tolist())
        self._i = 0

        @ffi.callback("int(void *)")
        def get_bit(user):
            if self._i < len(self._bits):
                self._i += 1
                return self._bits[self._i - 1]
            return 1

        self._cb = get_bit
        self.s = L.fsk_tx_init(ffi.NULL, ffi.addressof(L.preset_fsk_specs, FSK_V21CH2), get_bit, ffi.NULL)
        L.fsk_tx_power(self.s, power_dbm0)

    def tx(self, n):
        buf = ffi.new("int16_t[]", n)
        k = lib.fsk_tx(self.s, buf, n)
        return np.frombuffer(ffi.buffer(buf, 2 * k), dtype=np.int16).copy()

    def close(self):
        lib.fsk_tx_free(self.s)


class SpandspFSKRx:
    """spandsp V.21 ch2 receiver in synchronous mode; collects bits (status codes ignored)."""

    def __init__(self):
        L = spandsp()
        self.bits = []

        @ffi.callback("void(void *, int)")
        def put_bit(user, bit):
            if bit in (0, 1):
                self.bits.append(bit)

        self._cb = put_bit
        self.s = L.fsk_rx_init(ffi.NULL, ffi.addressof(L.preset_fsk_specs, FSK_V21CH2), 1, put_bit, ffi.NULL)

    def rx(self, samples):
        a = np.ascontiguousarray(samples, dtype=np.int16)
        lib.fsk_rx(self.s, ffi.cast("int16_t *", ffi.from_buffer(a)), len(a))

    def close(self):
        lib.fsk_rx_free(self.s)


class SpandspFax:
    """A complete spandsp fax terminal (audio side), calling or answering, sending or receiving a TIFF."""

    def __init__(self, calling, send=None, receive=None, modems=("v27ter", "v29", "v17"), ecm=False,
                 ident="SPANDSP", log=False, compressions=None, min_scan_ms=None):
        L = spandsp()
        self.s = L.fax_init(ffi.NULL, 1 if calling else 0)
        L.fax_set_transmit_on_idle(self.s, 1)
        self.t30 = L.fax_get_t30_state(self.s)
        self.phase_e = None
        self._keep = []
        if send:
            p = ffi.new("char[]", send.encode())
            self._keep.append(p)
            L.t30_set_tx_file(self.t30, p, -1, -1)
        if receive:
            p = ffi.new("char[]", receive.encode())
            self._keep.append(p)
            L.t30_set_rx_file(self.t30, p, -1)
        mask = 0
        for m in modems:
            mask |= MODEMS[m]
        L.t30_set_supported_modems(self.t30, mask)
        L.t30_set_ecm_capability(self.t30, 1 if ecm else 0)
        if min_scan_ms is not None:
            L.t30_set_minimum_scan_line_time(self.t30, min_scan_ms)
        if compressions is not None:
            L.t30_set_supported_compressions(self.t30, compressions)
        L.t30_set_tx_ident(self.t30, ident.encode())

        @ffi.callback("void(t30_state_t *, void *, int)")
        def phase_e(t, user, code):
            self.phase_e = code

        self._cb = phase_e
        L.t30_set_phase_e_handler(self.t30, phase_e, ffi.NULL)
        if log:
            L.span_log_set_level(L.t30_get_logging_state(self.t30), 5 | 0x0200 | 0x0800)
            L.span_log_set_level(L.fax_get_logging_state(self.s), 5 | 0x0200 | 0x0800)
        self._out = ffi.new("int16_t[]", 4000)

    def rx(self, samples):
        a = np.ascontiguousarray(samples, dtype=np.int16)
        lib.fax_rx(self.s, ffi.cast("int16_t *", ffi.from_buffer(a)), len(a))

    def tx(self, n):
        k = lib.fax_tx(self.s, self._out, n)
        out = np.zeros(n, dtype=np.int16)
        out[:k] = np.frombuffer(ffi.buffer(self._out, 2 * k), dtype=np.int16)
        return out

    def stats(self):
        st = ffi.new("t30_stats_t *")
        lib.t30_get_transfer_statistics(self.t30, st)
        return {k: getattr(st, k) for k in ("bit_rate", "error_correcting_mode", "pages_tx", "pages_rx",
                                             "pages_in_file", "width", "length", "bad_rows", "encoding",
                                             "error_correcting_mode_retries")}

    def code_text(self, code=None):
        c = self.phase_e if code is None else code
        if c is None:
            return "call not finished"
        return ffi.string(lib.t30_completion_code_to_str(c)).decode()

    def remote_ident(self):
        p = lib.t30_get_rx_ident(self.t30)
        return ffi.string(p).decode() if p != ffi.NULL else ""

    def close(self):
        lib.fax_free(self.s)
