"""spandsp's G.711 codec (static inline in spandsp/g711.h), exported through a tiny cffi API-mode module."""
import importlib.util
import sys

from cffi import FFI

_CDEF = """
uint8_t peer_linear_to_alaw(int linear);
int16_t peer_alaw_to_linear(uint8_t alaw);
uint8_t peer_linear_to_ulaw(int linear);
int16_t peer_ulaw_to_linear(uint8_t ulaw);
void peer_alaw_encode_all(uint8_t *out);   /* out[65536], index = linear + 32768 */
void peer_ulaw_encode_all(uint8_t *out);
void peer_alaw_decode_all(int16_t *out);   /* out[256] */
void peer_ulaw_decode_all(int16_t *out);
"""

_SOURCE = """
#include <stdint.h>
#include <spandsp/telephony.h>
#include <spandsp/bit_operations.h>
#include <spandsp/g711.h>
uint8_t peer_linear_to_alaw(int linear) { return linear_to_alaw(linear); }
int16_t peer_alaw_to_linear(uint8_t alaw) { return alaw_to_linear(alaw); }
uint8_t peer_linear_to_ulaw(int linear) { return linear_to_ulaw(linear); }
int16_t peer_ulaw_to_linear(uint8_t ulaw) { return ulaw_to_linear(ulaw); }
void peer_alaw_encode_all(uint8_t *out) { for (int i = 0; i < 65536; i++) out[i] = linear_to_alaw(i - 32768); }
void peer_ulaw_encode_all(uint8_t *out) { for (int i = 0; i < 65536; i++) out[i] = linear_to_ulaw(i - 32768); }
void peer_alaw_decode_all(int16_t *out) { for (int i = 0; i < 256; i++) out[i] = alaw_to_linear((uint8_t) i); }
void peer_ulaw_decode_all(int16_t *out) { for (int i = 0; i < 256; i++) out[i] = ulaw_to_linear((uint8_t) i); }
"""


def build(tmpdir, modname="_peer_spandsp_g711"):
    """Compile the exporter into tmpdir and return (ffi, lib)."""
    ffi = FFI()
    ffi.cdef(_CDEF)
    ffi.set_source(modname, _SOURCE, libraries=["spandsp"], extra_compile_args=["-O2", "-std=gnu99"])
    path = ffi.compile(tmpdir=str(tmpdir))
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod.ffi, mod.lib
