"""Fuzz targets of the decoders that take untrusted input (#16): one function per target taking raw bytes.

Each target feeds the bytes to a decoder and catches ONLY the error types the decoder documents (its
docstring names them); anything else escaping is a finding (fuzz_run.py turns it into a crash). The targets
import nothing from atheris, so a crash file can be replayed with plain Python:
    python tests/fuzz_run.py TARGET --replay crash-file
"""
import os
import tempfile
from collections.abc import Callable

import numpy as np

from trunkline.drivers.serial import pdu
from trunkline.drivers.signaling import q921, q931
from trunkline.drivers.signaling.r2_core import R2Core
from trunkline.fax import hdlc, t4, tiff
from trunkline.ivr import flowdoc
from trunkline.media import prompts

_TMP = tempfile.mkdtemp(prefix="tlfuzz-")


def _as_file(data: bytes, suffix: str) -> str:
    """Write the input to one reused temp file (uploads arrive as files); its path."""
    path = os.path.join(_TMP, "input" + suffix)
    with open(path, "wb") as f:
        f.write(data)
    return path


def fuzz_q921(data: bytes) -> None:
    """LAPD frame decoder: documented never to raise."""
    f = q921.decode_frame(data)
    assert isinstance(f.error, str)


def fuzz_q931(data: bytes) -> None:
    """Q.931 message decoder: documented never to raise; the mandatory-IE check must cope with any result."""
    m = q931.decode_message(data)
    if not m.error:
        q931.missing_mandatory(m)


def fuzz_r2(data: bytes) -> None:
    """China No.1 R2 line + register machines on 2 channels driven by received ABCD bits, audio and time."""
    t = [0.0]
    core = R2Core([1, 2], lambda ch, bits: None, lambda: t[0])
    i = 0
    while i < len(data):
        b = data[i]
        i += 1
        op, ch = b & 3, 1 + ((b >> 2) & 1)
        if op == 0:
            core.cas_in(ch, b >> 3)
        elif op == 1:       # 2 x 80 samples of received audio from the next 320 octets
            chunk = data[i:i + 320].ljust(320, b"\0")
            i += 320
            core.feed(np.frombuffer(chunk, dtype="<i2").reshape(2, 80).astype(np.int16))
        elif op == 2:
            t[0] += (b >> 3) * 0.25
            core.poll(t[0])
        elif core.free(ch):
            core.dial(ch, "12345", "8001")
        core.generate(80)


def fuzz_t4(data: bytes) -> None:
    """T.4 MH/MR and T.6 MMR page decoder (C, fax/kernel/t4decode.c) over bits, whole and streamed; T4Error
    (incl. T4PageTooLong) is documented. The page check (t4.check_page) calls a page clean only when the
    decoder finds every row good and the page ended, with as many rows."""
    if not data:
        return
    coding = ("mh", "mr", "mmr")[data[0] % 3]
    width = t4.WIDTHS[(data[0] >> 2) % 3]
    bits = t4.bytes_to_bits_msb(data[1:])
    rows = t4.check_page(data[1:], width, coding)
    whole = t4.T4Decoder(width, coding)
    try:
        image = whole.decode_all(bits)
        assert rows < 0 or (whole.page_ended and not whole.bad_rows and rows == len(image)), "page check"
    except t4.T4Error:
        assert rows < 0, "page check called a page clean that the decoder refuses"
    dec = t4.T4Decoder(width, coding, max_rows=64)   # fed as a line delivers it (the C decoder's resume path)
    step = 97 + 191 * (data[0] >> 4)
    try:
        for i in range(0, len(bits), step):
            dec.feed(bits[i:i + step])
        dec.finish()
    except t4.T4Error:
        pass


def fuzz_hdlc(data: bytes) -> None:
    """HDLC deframer (fax T.30 control/ECM) over bits; documented never to raise."""
    if not data:
        return
    dec = hdlc.HDLCDecoder(fcs32=bool(data[0] & 1), max_len=256 if data[0] & 2 else 400)
    bits = hdlc.bytes_to_bits(data[1:])
    half = len(bits) // 2
    for fr, ok in dec.put_bits(bits[:half]) + dec.put_bits(bits[half:]):
        assert isinstance(fr, bytes) and isinstance(ok, bool)


def fuzz_sms_pdu(data: bytes) -> None:
    """SMS PDUs from the modem (hex text, MT deliver/status report, MO submit); PduError is documented."""
    try:
        pdu.decode(data)
    except pdu.PduError:
        pass
    try:
        pdu.decode_submit(data)
    except pdu.PduError:
        pass
    try:
        pdu.from_hex(data.decode("latin-1"))
    except pdu.PduError:
        pass


def fuzz_audio(data: bytes) -> None:
    """Uploaded prompt audio (WAV/FLAC/anything libsndfile reads); PromptError is documented."""
    try:
        out = prompts.load_audio(_as_file(data, ".wav"))
    except prompts.PromptError:
        return
    assert out.dtype == np.int16 and out.ndim == 1


def fuzz_tiff(data: bytes) -> None:
    """Uploaded fax TIFF through both readers (Pillow's and our own T.4/T.6); TiffError is documented."""
    path = _as_file(data, ".tif")
    for reader in (tiff.read_tiff, tiff.read_tiff_own):
        try:
            reader(path)
        except tiff.TiffError:
            pass


def fuzz_yaml_flow(data: bytes) -> None:
    """IVR flow documents (YAML text from the web editor); FlowError is documented."""
    try:
        flowdoc.parse(data.decode("utf-8", "replace"), known_flows={"main"}, calendars={"office"},
                      lookups={"crm"})
    except flowdoc.FlowError:
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "q921": fuzz_q921, "q931": fuzz_q931, "r2": fuzz_r2, "t4": fuzz_t4, "hdlc": fuzz_hdlc,
    "sms_pdu": fuzz_sms_pdu, "audio": fuzz_audio, "tiff": fuzz_tiff, "yaml_flow": fuzz_yaml_flow,
}
