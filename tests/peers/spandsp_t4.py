"""libspandsp's own T.4/T.6 codec as the reference (t4_rx decodes coded pages to rows, t4_tx encodes a TIFF's
pages), ABI mode: the independent check of our C codec (fax/kernel/t4codec.c, issue #21)."""
from __future__ import annotations

import numpy as np
from cffi import FFI

from peers import load

ffi = FFI()
ffi.cdef("""
typedef struct t4_rx_state_s t4_rx_state_t;
typedef struct t4_tx_state_s t4_tx_state_t;
typedef int (*t4_row_write_handler_t)(void *user_data, const uint8_t buf[], size_t len);
t4_rx_state_t *t4_rx_init(t4_rx_state_t *s, const char *file, int output_encoding);
int t4_rx_set_row_write_handler(t4_rx_state_t *s, t4_row_write_handler_t handler, void *user_data);
void t4_rx_set_rx_encoding(t4_rx_state_t *s, int encoding);
void t4_rx_set_image_width(t4_rx_state_t *s, int width);
void t4_rx_set_y_resolution(t4_rx_state_t *s, int resolution);
void t4_rx_set_x_resolution(t4_rx_state_t *s, int resolution);
int t4_rx_start_page(t4_rx_state_t *s);
int t4_rx_put_chunk(t4_rx_state_t *s, const uint8_t buf[], int len);
int t4_rx_end_page(t4_rx_state_t *s);
int t4_rx_free(t4_rx_state_t *s);
t4_tx_state_t *t4_tx_init(t4_tx_state_t *s, const char *file, int start_page, int stop_page);
void t4_tx_set_tx_encoding(t4_tx_state_t *s, int encoding);
void t4_tx_set_min_bits_per_row(t4_tx_state_t *s, int bits);
int t4_tx_start_page(t4_tx_state_t *s);
int t4_tx_get_chunk(t4_tx_state_t *s, uint8_t buf[], int max_len);
int t4_tx_end_page(t4_tx_state_t *s);
int t4_tx_free(t4_tx_state_t *s);
""")

#: our coding names to spandsp's T4_COMPRESSION_ITU_T4_1D / _T4_2D / _T6
ENCODING = {"mh": 1, "mr": 2, "mmr": 3}
X_R8, Y_STANDARD, Y_FINE = 8031, 3850, 7700

lib = None


def spandsp():
    """The loaded libspandsp (fails the test run if missing)."""
    global lib
    if lib is None:
        lib = load(ffi, "libspandsp.so.2")
    return lib


def t4_decode(data: bytes, width: int, coding: str, tiff_path: str, fine: bool = True) -> np.ndarray:
    """spandsp's t4_rx decodes one page of coded octets (first bit in the LSB, as on the line) to rows
    (rows, width) uint8, 1 = black (it also writes the page to tiff_path)."""
    L = spandsp()
    rows: list[np.ndarray] = []

    @ffi.callback("int(void *, const uint8_t *, size_t)")
    def put_row(user, buf, n):
        if n:
            rows.append(np.unpackbits(np.frombuffer(ffi.buffer(buf, n), np.uint8))[:width].copy())
        return 0

    s = L.t4_rx_init(ffi.NULL, tiff_path.encode(), ENCODING["mmr"])
    assert s != ffi.NULL, "t4_rx_init failed"
    try:
        L.t4_rx_set_row_write_handler(s, put_row, ffi.NULL)
        L.t4_rx_set_rx_encoding(s, ENCODING[coding])
        L.t4_rx_set_image_width(s, width)
        L.t4_rx_set_x_resolution(s, X_R8)
        L.t4_rx_set_y_resolution(s, Y_FINE if fine else Y_STANDARD)
        L.t4_rx_start_page(s)
        L.t4_rx_put_chunk(s, data, len(data))
        L.t4_rx_end_page(s)
    finally:
        L.t4_rx_free(s)
    return np.array(rows, np.uint8).reshape(-1, width)


def t4_encode(tiff_path: str, coding: str, min_bits: int = 0) -> bytes:
    """spandsp's t4_tx encodes the first page of a TIFF file as coded octets (first bit in the LSB), page end
    (RTC/EOFB) included."""
    L = spandsp()
    s = L.t4_tx_init(ffi.NULL, tiff_path.encode(), -1, -1)
    assert s != ffi.NULL, f"t4_tx_init({tiff_path}) failed"
    try:
        L.t4_tx_set_tx_encoding(s, ENCODING[coding])
        L.t4_tx_set_min_bits_per_row(s, min_bits)
        assert L.t4_tx_start_page(s) == 0, "t4_tx_start_page failed"
        out = bytearray()
        buf = ffi.new("uint8_t[]", 65536)
        while True:
            n = L.t4_tx_get_chunk(s, buf, 65536)
            if n <= 0:
                break
            out += ffi.buffer(buf, n)
        L.t4_tx_end_page(s)
    finally:
        L.t4_tx_free(s)
    return bytes(out)
