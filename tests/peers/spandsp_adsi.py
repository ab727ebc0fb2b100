"""libspandsp ADSI / caller ID transmitter and receiver (adsi.h) through cffi ABI mode."""
import cffi
import numpy as np

from . import load

ffi = cffi.FFI()
ffi.cdef("""
typedef struct adsi_tx_state_s adsi_tx_state_t;
typedef struct adsi_rx_state_s adsi_rx_state_t;
typedef void (*put_msg_func_t)(void *user_data, const uint8_t *msg, int len);
adsi_rx_state_t *adsi_rx_init(adsi_rx_state_t *s, int standard, put_msg_func_t put_msg, void *user_data);
int adsi_rx_free(adsi_rx_state_t *s);
int adsi_rx(adsi_rx_state_t *s, const int16_t amp[], int len);
adsi_tx_state_t *adsi_tx_init(adsi_tx_state_t *s, int standard);
int adsi_tx_free(adsi_tx_state_t *s);
void adsi_tx_set_preamble(adsi_tx_state_t *s, int preamble_len, int preamble_ones_len, int postamble_ones_len,
                          int stop_bits);
int adsi_tx(adsi_tx_state_t *s, int16_t amp[], int max_len);
int adsi_tx_put_message(adsi_tx_state_t *s, const uint8_t *msg, int len);
int adsi_add_field(adsi_tx_state_t *s, uint8_t *msg, int len, uint8_t field_type, uint8_t const *field_body,
                   int field_len);
int adsi_next_field(adsi_rx_state_t *s, const uint8_t *msg, int msg_len, int pos, uint8_t *field_type,
                    uint8_t const **field_body, int *field_len);
""")
lib = load(ffi, "libspandsp.so.2")

CLASS, CLIP, ACLIP, JCLIP, CLIP_DTMF = 1, 2, 3, 4, 5


class AdsiTx:
    """spandsp adsi_tx for one standard; build a message with fields, then tx() the audio."""

    def __init__(self, standard):
        self.standard = standard
        self.s = ffi.gc(lib.adsi_tx_init(ffi.NULL, standard), lib.adsi_tx_free)

    def message(self, msg_type, fields):
        """Build a message: msg_type (0x80, 0x04; for CLIP_DTMF the terminator, ord('C') or ord('#')) then
        [(field_type, bytes)]."""
        buf = ffi.new("uint8_t[]", 256)
        n = lib.adsi_add_field(self.s, buf, 0, msg_type, ffi.NULL, 0)
        for ftype, body in fields:
            n = lib.adsi_add_field(self.s, buf, n, ftype, body, len(body))
            assert n > 0, n
        return bytes(ffi.buffer(buf, n))

    def send(self, msg, total=16000):
        """Queue msg and return `total` samples of audio (int16) including the idle tail."""
        rc = lib.adsi_tx_put_message(self.s, msg, len(msg))
        assert rc > 0, rc
        buf = ffi.new("int16_t[]", total)
        got = lib.adsi_tx(self.s, buf, total)
        out = np.frombuffer(ffi.buffer(buf), dtype=np.int16).copy()
        out[got:] = 0
        return out


class AdsiRx:
    """spandsp adsi_rx; collects every delivered message and decodes its fields."""

    def __init__(self, standard):
        self.standard = standard
        self.msgs = []

        @ffi.callback("void(void *, const uint8_t *, int)")
        def put_msg(user, msg, n):
            if n > 0:
                self.msgs.append(bytes(ffi.buffer(msg, n)))
        self._cb = put_msg
        self.s = ffi.gc(lib.adsi_rx_init(ffi.NULL, standard, put_msg, ffi.NULL), lib.adsi_rx_free)

    def rx(self, samples, step=160):
        """Feed int16 samples in steps."""
        a = np.ascontiguousarray(samples, dtype=np.int16)
        for i in range(0, len(a), step):
            chunk = a[i:i + step]
            lib.adsi_rx(self.s, ffi.cast("int16_t *", chunk.ctypes.data), len(chunk))
        return self.msgs

    def fields(self, msg):
        """[(field_type, bytes)] of a received message, via adsi_next_field (first entry is the message type)."""
        out = []
        pos = -1
        ftype = ffi.new("uint8_t *")
        body = ffi.new("uint8_t const **")
        flen = ffi.new("int *")
        for _ in range(64):
            prev = pos
            pos = lib.adsi_next_field(self.s, msg, len(msg), pos, ftype, body, flen)
            if flen[0] < 0 or (prev >= 0 and pos <= prev) or (out and pos > len(msg)):
                break
            out.append((ftype[0], bytes(ffi.buffer(body[0], flen[0])) if flen[0] else b""))
        return out
