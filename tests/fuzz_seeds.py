"""Write the seed corpora tests/fuzz/corpus/<target>/ (a few valid inputs each, made by our own encoders).

    python tests/fuzz_seeds.py        (re-run after an encoder changes; the files are committed)
"""
import datetime as dt
import io
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from trunkline.drivers.serial import pdu
from trunkline.drivers.signaling import q921, q931
from trunkline.dsp.r2mf import R2MFGenerator
from trunkline.fax import hdlc, t4, tiff

CORPUS = Path(__file__).resolve().parent / "fuzz" / "corpus"


def _q931_messages() -> list[bytes]:
    setup = q931.Q931Message(q931.SETUP, cref=5, bearer=q931.Bearer(), channel=q931.ChannelId([3]),
                             calling=q931.Number("8001", presentation=0), called=q931.Number("12345"),
                             sending_complete=True)
    disc = q931.Q931Message(q931.DISCONNECT, cref=5, flag=1, cause=q931.Cause(16))
    return [q931.encode_message(setup), q931.encode_message(q931.Q931Message(q931.CONNECT, cref=5, flag=1)),
            q931.encode_message(disc), q931.encode_message(q931.Q931Message(q931.RESTART, cref=0,
                                                                            restart_class=7))]


def _r2_inputs() -> list[bytes]:
    def audio(sig: int, forward: bool) -> bytes:
        g = R2MFGenerator(2, forward=forward)
        g.set(0, sig)
        g.set(1, sig)
        return b"".join(bytes([1]) + g.generate(80).astype("<i2").tobytes() for _ in range(6))
    seize_in = bytes([0 << 3 | 0])                 # cas_in(ch 1, ABCD 0x0..): seize
    digits = b"".join(audio(s, True) + audio(0, True) for s in (1, 2, 3, 15))
    dial = bytes([3, (0xD << 3) | 0])              # dial on ch 1, then seize acknowledge (ab=11)
    backs = b"".join(audio(s, False) + audio(0, False) for s in (1, 1, 3, 1))
    answer = bytes([(0x5 << 3) | 0, (0xD << 3) | 0, (0x9 << 3) | 0])
    return [seize_in + digits + bytes([2 | (8 << 3)]), dial + backs + answer, bytes([3, 2 | (12 << 3)] * 4)]


def _audio_files() -> list[bytes]:
    t = np.arange(400) / 8000.0
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = []
    for rate, ch, fmt, sub in ((8000, 1, "WAV", "PCM_16"), (16000, 2, "WAV", "PCM_U8"),
                               (8000, 1, "FLAC", "PCM_16"), (22050, 1, "WAV", "FLOAT")):
        data = np.repeat(tone[:, None], ch, axis=1) if ch > 1 else tone
        buf = io.BytesIO()
        sf.write(buf, data, rate, format=fmt, subtype=sub)
        out.append(buf.getvalue())
    return out


def _tiffs(tmp: Path) -> list[bytes]:
    img = np.zeros((24, 1728), dtype=np.uint8)
    img[4:20, 100:400] = 1
    img[10, :] = 1
    out = []
    for comp in ("g3", "g3-2d", "g4"):
        p = tmp / f"seed-{comp}.tif"
        tiff.write_tiff(str(p), [tiff.FaxPage(img)], compression=comp)
        out.append(p.read_bytes())
    return out


FLOWS = [
    "name: hotline\nlanguage: zh\nprompts:\n  welcome: {zh: 欢迎致电, en: Welcome}\nnodes:\n"
    "  welcome: {type: play, prompt: welcome, next: main}\n"
    "  main:\n    type: menu\n    greeting: welcome\n    choices: {\"1\": acct, \"2\": bye}\n    on_fail: bye\n"
    "  acct: {type: get_digits, var: account, digits: 8, mask: true, next: bye}\n  bye: {type: hangup}\n",
    "name: t\nnodes:\n  a: {type: branch, on: time, calendar: office, open: b, closed: c}\n"
    "  b: {type: lookup, source: crm, next: c}\n  c: {type: subflow, flow: main}\n",
    "name: x\nstart: a\nvars: {n: 1}\nnodes:\n  a: {type: hangup}\n",
]


def seeds(tmp: Path) -> dict[str, list[bytes]]:
    """{target: [seed inputs]}."""
    msgs = _q931_messages()
    page = np.zeros((8, 1728), dtype=np.uint8)
    page[2:6, 40:90] = 1
    t4_seeds = [bytes([sel]) + t4.bits_to_bytes_msb(t4.encode_page(page, coding))
                for sel, coding in ((0, "mh"), (1, "mr"), (2, "mmr"))]
    frames = [b"\xff\x13\x80" + bytes(range(10)), b"\xff\x03\x41\x00\x01", b"\xff\x13\xfb"]
    when = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return {
        "q921": [q921.encode_u(0, 1, 0, 0x6F, 1), q921.encode_s(0, 0, 0, "RR", 3, 1)]
        + [q921.encode_i(0, 0, 0, 1, 2, 0, m) for m in msgs[:2]],
        "q931": msgs,
        "r2": _r2_inputs(),
        "t4": t4_seeds,
        "hdlc": [bytes([0]) + hdlc.bits_to_bytes(hdlc.HDLCEncoder().encode(frames)),
                 bytes([1]) + hdlc.bits_to_bytes(hdlc.HDLCEncoder(fcs32=True).encode(frames[:1], 2, 1, 2)),
                 bytes([2]) + hdlc.bits_to_bytes(np.concatenate([hdlc.frame_bits(frames[0])[:40], np.ones(9, np.uint8),
                                                                  hdlc.HDLCEncoder().encode(frames[1:], 3)]))],
        "sms_pdu": [pdu.encode_deliver("+8613800138000", "hello", when),
                    pdu.encode_deliver("10086", "你好，世界", when),
                    pdu.encode_status_report(7, "13800138000", 0, when, when)]
        + pdu.submit_pdus("13800138000", "x" * 200, ref=9),
        "audio": _audio_files(),
        "tiff": _tiffs(tmp),
        "yaml_flow": [f.encode() for f in FLOWS],
    }


def main() -> None:
    """Rewrite every corpus folder."""
    tmp = CORPUS.parent / "_seedtmp"
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        for name, items in seeds(tmp).items():
            d = CORPUS / name
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            for i, data in enumerate(items):
                (d / f"seed-{i}").write_bytes(data)
            print(f"{name}: {len(items)} seeds")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
