"""libspandsp's V.27ter / V.29 / V.17 modems through cffi (ABI mode): the reference peer for fax/modems."""
import numpy as np
from cffi import FFI

from peers import load

CDEF = """
typedef void (*put_bit_func_t)(void *user_data, int bit);
typedef int (*get_bit_func_t)(void *user_data);

void *v27ter_tx_init(void *s, int bit_rate, int tep, get_bit_func_t get_bit, void *user_data);
int v27ter_tx_restart(void *s, int bit_rate, int tep);
void v27ter_tx_power(void *s, float power);
int v27ter_tx(void *s, int16_t amp[], int len);
int v27ter_tx_free(void *s);
void *v27ter_rx_init(void *s, int bit_rate, put_bit_func_t put_bit, void *user_data);
int v27ter_rx_restart(void *s, int bit_rate, int old_train);
int v27ter_rx(void *s, const int16_t amp[], int len);
int v27ter_rx_free(void *s);
float v27ter_rx_carrier_frequency(void *s);
float v27ter_rx_signal_power(void *s);

void *v29_tx_init(void *s, int bit_rate, int tep, get_bit_func_t get_bit, void *user_data);
int v29_tx_restart(void *s, int bit_rate, int tep);
void v29_tx_power(void *s, float power);
int v29_tx(void *s, int16_t amp[], int len);
int v29_tx_free(void *s);
void *v29_rx_init(void *s, int bit_rate, put_bit_func_t put_bit, void *user_data);
int v29_rx_restart(void *s, int bit_rate, int old_train);
int v29_rx(void *s, const int16_t amp[], int len);
int v29_rx_free(void *s);
float v29_rx_carrier_frequency(void *s);
float v29_rx_signal_power(void *s);

void *v17_tx_init(void *s, int bit_rate, int tep, get_bit_func_t get_bit, void *user_data);
int v17_tx_restart(void *s, int bit_rate, int tep, int short_train);
void v17_tx_power(void *s, float power);
int v17_tx(void *s, int16_t amp[], int len);
int v17_tx_free(void *s);
void *v17_rx_init(void *s, int bit_rate, put_bit_func_t put_bit, void *user_data);
int v17_rx_restart(void *s, int bit_rate, int short_train);
int v17_rx(void *s, const int16_t amp[], int len);
int v17_rx_free(void *s);
float v17_rx_carrier_frequency(void *s);
float v17_rx_signal_power(void *s);
"""

SIG_STATUS = {
    -1: "CARRIER_DOWN", -2: "CARRIER_UP", -3: "TRAINING_IN_PROGRESS", -4: "TRAINING_SUCCEEDED",
    -5: "TRAINING_FAILED", -6: "FRAMING_OK", -7: "END_OF_DATA", -8: "ABORT", -9: "BREAK",
    -10: "SHUTDOWN_COMPLETE", -11: "OCTET_REPORT", -12: "POOR_SIGNAL_QUALITY", -13: "MODEM_RETRAIN_OCCURRED",
}
END_OF_DATA = -7
_PREFIX = {"v27ter": "v27ter", "v29": "v29", "v17": "v17"}

_ffi = None
_lib = None


def lib():
    """The loaded libspandsp (ffi, lib) pair, loaded once."""
    global _ffi, _lib
    if _lib is None:
        ffi = FFI()
        ffi.cdef(CDEF)
        _lib = load(ffi, "libspandsp.so.2")
        _ffi = ffi
    return _ffi, _lib


class SpandspTx:
    """A spandsp modem transmitter sending `bits` (0/1 array) after its training, then its shutdown."""

    def __init__(self, name, bit_rate, bits=(), level_dbm0=-12.0, tep=False, short_train=False):
        self.ffi, self.lib = lib()
        self.name = _PREFIX[name]
        self.bits = np.asarray(bits, dtype=np.uint8)
        self.pos = 0
        self.ended = False

        @self.ffi.callback("int(void *)")
        def get_bit(_user):
            if self.pos >= len(self.bits):
                self.ended = True
                return END_OF_DATA
            b = int(self.bits[self.pos])
            self.pos += 1
            return b

        self._cb = get_bit
        init = getattr(self.lib, f"{self.name}_tx_init")
        self.s = init(self.ffi.NULL, bit_rate, 1 if tep else 0, get_bit, self.ffi.NULL)
        if self.s == self.ffi.NULL:
            raise ValueError(f"spandsp {name} tx refused bit rate {bit_rate}")
        getattr(self.lib, f"{self.name}_tx_power")(self.s, float(level_dbm0))
        if name == "v17" and short_train:
            self.lib.v17_tx_restart(self.s, bit_rate, 1 if tep else 0, 1)
        self._tx = getattr(self.lib, f"{self.name}_tx")

    def tx(self, n):
        """n int16 samples of line signal (zeros once the modem has shut down)."""
        buf = self.ffi.new("int16_t[]", n)
        got = self._tx(self.s, buf, n)
        out = np.frombuffer(self.ffi.buffer(buf), dtype=np.int16).copy()
        if got < n:
            out[got:] = 0
        self.last_count = got
        return out

    def all(self, block=160, max_seconds=60):
        """The whole transmission (training, data, shutdown) as one int16 array."""
        parts = []
        for _ in range(int(max_seconds * 8000 / block)):
            x = self.tx(block)
            parts.append(x)
            if self.last_count < block:
                break
        return np.concatenate(parts)

    def close(self):
        getattr(self.lib, f"{self.name}_tx_free")(self.s)


class SpandspRx:
    """A spandsp modem receiver collecting data bits and status events."""

    def __init__(self, name, bit_rate):
        self.ffi, self.lib = lib()
        self.name = _PREFIX[name]
        self.bit_rate = bit_rate
        self.bits = []
        self.events = []
        self.bits_at_event = []

        @self.ffi.callback("void(void *, int)")
        def put_bit(_user, bit):
            if bit < 0:
                self.events.append(SIG_STATUS.get(bit, str(bit)))
                self.bits_at_event.append(len(self.bits))
            else:
                self.bits.append(bit & 1)

        self._cb = put_bit
        init = getattr(self.lib, f"{self.name}_rx_init")
        self.s = init(self.ffi.NULL, bit_rate, put_bit, self.ffi.NULL)
        if self.s == self.ffi.NULL:
            raise ValueError(f"spandsp {name} rx refused bit rate {bit_rate}")
        self._rx = getattr(self.lib, f"{self.name}_rx")

    def rx(self, samples, block=160):
        """Feed int16 samples, block by block."""
        samples = np.ascontiguousarray(samples, dtype=np.int16)
        for i in range(0, len(samples), block):
            chunk = samples[i:i + block]
            self._rx(self.s, self.ffi.cast("int16_t *", self.ffi.from_buffer(chunk)), len(chunk))

    def restart(self, short_train=False):
        """Restart for the next reception (V.17: short_train after a long train; others: old_train)."""
        getattr(self.lib, f"{self.name}_rx_restart")(self.s, self.bit_rate, 1 if short_train else 0)

    @property
    def trained(self):
        return "TRAINING_SUCCEEDED" in self.events

    def data_bits(self):
        """Bits put after the (last) TRAINING_SUCCEEDED event, as uint8 array."""
        if "TRAINING_SUCCEEDED" not in self.events:
            return np.zeros(0, dtype=np.uint8)
        idx = len(self.events) - 1 - self.events[::-1].index("TRAINING_SUCCEEDED")
        return np.array(self.bits[self.bits_at_event[idx]:], dtype=np.uint8)

    def carrier_frequency(self):
        return float(getattr(self.lib, f"{self.name}_rx_carrier_frequency")(self.s))

    def close(self):
        getattr(self.lib, f"{self.name}_rx_free")(self.s)
