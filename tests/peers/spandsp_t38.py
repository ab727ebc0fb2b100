"""libspandsp's T.38 terminal (t38_terminal_init / t38_core_rx_ifp_packet / t38_terminal_send_timeout) as the
fax peer over IFP packets; the UDPTL framing is ours (spandsp has none). ABI mode through cffi."""
from __future__ import annotations

from cffi import FFI

from peers import load

ffi = FFI()
ffi.cdef("""
typedef struct t38_terminal_state_s t38_terminal_state_t;
typedef struct t38_core_state_s t38_core_state_t;
typedef struct t30_state_s t30_state_t;
typedef struct logging_state_s logging_state_t;
typedef int (t38_tx_packet_handler_t)(t38_core_state_t *s, void *user_data, const uint8_t *buf, int len, int count);
typedef void (t30_phase_e_handler_t)(t30_state_t *s, void *user_data, int completion_code);
typedef struct {
    int bit_rate; int error_correcting_mode; int pages_tx; int pages_rx; int pages_in_file;
    int x_resolution; int y_resolution; int width; int length; int image_size; int encoding;
    int bad_rows; int longest_bad_row_run; int error_correcting_mode_retries; int current_status;
} t30_stats_t;
t38_terminal_state_t *t38_terminal_init(t38_terminal_state_t *s, int calling_party,
                                        t38_tx_packet_handler_t *tx_packet_handler, void *tx_packet_user_data);
int t38_terminal_send_timeout(t38_terminal_state_t *s, int samples);
void t38_terminal_set_config(t38_terminal_state_t *s, int config);
t30_state_t *t38_terminal_get_t30_state(t38_terminal_state_t *s);
t38_core_state_t *t38_terminal_get_t38_core_state(t38_terminal_state_t *s);
logging_state_t *t38_terminal_get_logging_state(t38_terminal_state_t *s);
int t38_terminal_free(t38_terminal_state_t *s);
int t38_core_rx_ifp_packet(t38_core_state_t *s, const uint8_t *buf, int len, uint16_t seq_no);
void t38_set_t38_version(t38_core_state_t *s, int t38_version);
logging_state_t *t38_core_get_logging_state(t38_core_state_t *s);
void t30_set_tx_file(t30_state_t *s, const char *file, int start_page, int stop_page);
void t30_set_rx_file(t30_state_t *s, const char *file, int stop_page);
int t30_set_ecm_capability(t30_state_t *s, int enabled);
int t30_set_supported_modems(t30_state_t *s, int supported_modems);
int t30_set_tx_ident(t30_state_t *s, const char *id);
const char *t30_get_rx_ident(t30_state_t *s);
void t30_set_phase_e_handler(t30_state_t *s, t30_phase_e_handler_t *handler, void *user_data);
void t30_get_transfer_statistics(t30_state_t *s, t30_stats_t *t);
const char *t30_completion_code_to_str(int result);
logging_state_t *t30_get_logging_state(t30_state_t *s);
int span_log_set_level(logging_state_t *s, int level);
""")

lib = None
MODEMS = {"v27ter": 1, "v29": 2, "v17": 4}


def spandsp():
    """The loaded libspandsp (fails the test run if missing)."""
    global lib
    if lib is None:
        lib = load(ffi, "libspandsp.so.2")
    return lib


class SpandspT38:
    """spandsp's T.38 terminal: `take_ifps()` gives the IFP packets it sent, `put_ifp(data, seq)` feeds one
    received (with its UDPTL sequence number), `advance(samples)` lets time pass."""

    def __init__(self, calling, send=None, receive=None, ecm=False, ident="SPANDSP T38",
                 modems=("v27ter", "v29", "v17"), log=False):
        L = spandsp()
        self.out = []
        self.phase_e = None

        @ffi.callback("int(t38_core_state_t *, void *, const uint8_t *, int, int)")
        def tx_packet(core, user, buf, length, count):
            self.out.append(bytes(ffi.buffer(buf, length)))
            return 0

        @ffi.callback("void(t30_state_t *, void *, int)")
        def phase_e(t, user, code):
            self.phase_e = code

        self._cbs = (tx_packet, phase_e)
        self.s = L.t38_terminal_init(ffi.NULL, 1 if calling else 0, tx_packet, ffi.NULL)
        self.core = L.t38_terminal_get_t38_core_state(self.s)
        L.t38_set_t38_version(self.core, 0)
        self.t30 = L.t38_terminal_get_t30_state(self.s)
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
        L.t30_set_tx_ident(self.t30, ident.encode())
        L.t30_set_phase_e_handler(self.t30, phase_e, ffi.NULL)
        if log:
            for st in (L.t30_get_logging_state(self.t30), L.t38_core_get_logging_state(self.core),
                       L.t38_terminal_get_logging_state(self.s)):
                L.span_log_set_level(st, 5 | 0x0200 | 0x0800)

    def put_ifp(self, data, seq):
        """One received IFP packet with its sequence number."""
        buf = ffi.new("uint8_t[]", data)
        return lib.t38_core_rx_ifp_packet(self.core, buf, len(data), seq & 0xFFFF)

    def take_ifps(self):
        """The IFP packets sent since the last call."""
        out, self.out = self.out, []
        return out

    def advance(self, samples):
        """Let `samples` (8 kHz) pass: timers and paced transmission."""
        lib.t38_terminal_send_timeout(self.s, samples)

    def stats(self):
        """spandsp's transfer statistics."""
        st = ffi.new("t30_stats_t *")
        lib.t30_get_transfer_statistics(self.t30, st)
        return {k: getattr(st, k) for k in ("bit_rate", "error_correcting_mode", "pages_tx", "pages_rx",
                                             "width", "length", "bad_rows")}

    def code_text(self):
        """spandsp's phase E completion code as text."""
        if self.phase_e is None:
            return "call not finished"
        return ffi.string(lib.t30_completion_code_to_str(self.phase_e)).decode()

    def remote_ident(self):
        """The far terminal's identity as spandsp received it."""
        p = lib.t30_get_rx_ident(self.t30)
        return ffi.string(p).decode() if p != ffi.NULL else ""

    def close(self):
        """Free the terminal."""
        lib.t38_terminal_free(self.s)
