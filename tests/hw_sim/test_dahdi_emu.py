"""The emulated /dev/dahdi (LD_PRELOAD shim over the card simulator) answers like the DAHDI kernel driver:
plain os/fcntl/select calls here, as any DAHDI program would make them."""
import array
import errno
import fcntl
import os
import select
import struct

import numpy as np
import pytest

from trunkline.drivers.backends import dahdi_abi as abi
from trunkline.drivers.backends._tldahdi import ffi, lib
from trunkline.hw_sim import forget_card, open_card
from trunkline.hw_sim.dahdi_emu import EmulatedDahdi, shim_loaded


def _fcs(data: bytes) -> bytes:
    fcs = 0xFFFF
    for b in data:
        fcs ^= b
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return struct.pack("<H", ~fcs & 0xFFFF)


@pytest.fixture
def emu():
    assert shim_loaded(), "tests run with the shim preloaded (tests/conftest.py)"
    forget_card("emu")
    card = open_card("sim://emu?e1=1&fxo=1&fxs=1")
    e = EmulatedDahdi(card, "pri")
    yield card, e
    e.close()
    forget_card("emu")


def _chan(channo, nonblock=True):
    fd = os.open("/dev/dahdi/channel", os.O_RDWR | (os.O_NONBLOCK if nonblock else 0))
    fcntl.ioctl(fd, lib.TLD_SPECIFY, array.array("i", [channo]))
    fcntl.ioctl(fd, lib.TLD_SET_BLOCKSIZE, array.array("i", [160]))
    return fd


def _getevent(fd):
    v = array.array("i", [0])
    fcntl.ioctl(fd, lib.TLD_GETEVENT, v)
    return v[0]


def test_absent_device_and_channel_rules(emu):
    card, e = emu
    fd = os.open("/dev/dahdi/channel", os.O_RDWR)
    with pytest.raises(OSError) as exc:            # SPECIFY first
        os.read(fd, 160)
    assert exc.value.errno == errno.EINVAL
    fcntl.ioctl(fd, lib.TLD_SPECIFY, array.array("i", [1]))
    with pytest.raises(OSError) as exc:            # one opener per channel
        _chan(1)
    assert exc.value.errno == errno.EBUSY
    os.close(fd)
    os.close(_chan(1))                             # free again after close
    with pytest.raises(OSError) as exc:            # ts16 is the D-channel, 32 the FXO port, 34 does not exist
        _chan(34)
    assert exc.value.errno == errno.EINVAL
    e.close()
    with pytest.raises(FileNotFoundError):
        os.open("/dev/dahdi/ctl", os.O_RDWR)


def test_params_spanstat_and_audio_paced_by_the_card_clock(emu):
    card, _ = emu
    ctl = os.open("/dev/dahdi/ctl", os.O_RDWR)
    si = ffi.new("struct tld_spaninfo *")
    si.spanno = 1
    buf = bytearray(ffi.buffer(si))
    fcntl.ioctl(ctl, lib.TLD_SPANSTAT, buf)
    ffi.memmove(si, bytes(buf), len(buf))
    assert (si.totalchans, si.numchans, ffi.string(si.spantype)) == (31, 31, b"E1")
    p = ffi.new("struct tld_params *")
    for channo, sig in ((1, abi.SIG_CLEAR), (16, abi.SIG_HDLCFCS), (32, abi.SIG_FXSKS), (33, abi.SIG_FXOKS)):
        p.channo = channo
        pb = bytearray(ffi.buffer(p))
        fcntl.ioctl(ctl, lib.TLD_GET_PARAMS, pb)
        ffi.memmove(p, bytes(pb), len(pb))
        assert (p.sigtype, p.curlaw) == (sig, abi.LAW_ALAW)
    os.close(ctl)
    fd = _chan(1)
    t0 = card.now_samples
    assert len(os.read(fd, 160)) == 160
    with pytest.raises(BlockingIOError):           # the next block is not there yet
        os.read(fd, 160)
    card.far_play(0, (np.sin(np.arange(320) * 0.2) * 8000).astype(np.int16))
    pl = select.poll()
    pl.register(fd, select.POLLIN | select.POLLPRI)
    assert pl.poll(1000) == [(fd, select.POLLIN)]  # waiting moved the card one block
    assert card.now_samples == t0 + 160
    block = os.read(fd, 160)
    assert len(set(block)) > 10                    # the far end's audio
    assert os.write(fd, bytes([0x55]) * 160) == 160
    os.close(fd)
    fd = _chan(1, nonblock=False)                  # a blocking read waits for the card
    os.read(fd, 160)
    os.read(fd, 160)
    assert card.now_samples == t0 + 320
    os.close(fd)


def test_events_pollpri_elast_hook_and_alarms(emu):
    card, _ = emu
    fxo, fxs, b1 = _chan(32), _chan(33), _chan(1)
    for fd in (fxo, fxs, b1):
        os.read(fd, 160)
    card.far_ring(31, True)
    pl = select.poll()
    pl.register(fxo, select.POLLIN | select.POLLPRI)
    assert pl.poll(0)[0][1] & select.POLLPRI
    with pytest.raises(OSError) as exc:
        os.read(fxo, 160)
    assert exc.value.errno == abi.ELAST
    assert _getevent(fxo) == abi.EVENT_RINGBEGIN
    assert _getevent(fxo) == 0
    fcntl.ioctl(fxo, lib.TLD_HOOK, array.array("i", [abi.OFFHOOK]))
    assert card.far_hook_state(31) == 1
    fcntl.ioctl(fxs, lib.TLD_HOOK, array.array("i", [abi.RING]))
    assert ("ring_on", 32) in [(ev[0], ev[1]) for ev in card.far_events()]
    card.far_hook(32, True)
    assert _getevent(fxs) == abi.EVENT_RINGOFFHOOK
    card.far_set_alarm(0, 1)
    assert _getevent(b1) == abi.EVENT_ALARM
    card.far_set_alarm(0, 0)
    assert _getevent(b1) == abi.EVENT_NOALARM
    with pytest.raises(OSError):                   # hook on an E1 bearer channel
        fcntl.ioctl(b1, lib.TLD_HOOK, array.array("i", [abi.OFFHOOK]))
    for fd in (fxo, fxs, b1):
        os.close(fd)
    assert card.far_hook_state(31) == 0            # closing the line hung it up


def test_hdlc_frames_carry_fcs_and_bad_fcs_is_dropped(emu):
    card, e = emu
    d = _chan(16)
    card.far_send_frame(15, b"\x00\x01\x7f")
    assert os.read(d, 1024) == b"\x00\x01\x7f" + _fcs(b"\x00\x01\x7f")
    assert os.write(d, b"\x02\x01\x01\x01\x00\x00") == 6      # frame + 2 dummy FCS bytes
    assert card.far_recv_frame(15) == b"\x02\x01\x01\x01"
    e.corrupt_next_frame(16)
    card.far_send_frame(15, b"\x00\x01\x7f")
    card.far_send_frame(15, b"\x00\x01\x73")
    with pytest.raises(OSError) as exc:
        os.read(d, 1024)
    assert exc.value.errno == abi.ELAST
    assert _getevent(d) == abi.EVENT_BADFCS
    assert os.read(d, 1024)[:3] == b"\x00\x01\x73"
    assert e.counters(1)["badfcs"] == 1
    os.close(d)


def test_cas_bits_and_echo_canceller(emu):
    forget_card("emu_r2")
    card = open_card("sim://emu_r2?e1=1")
    e = EmulatedDahdi(card, "r2")
    try:
        with pytest.raises(OSError) as exc:         # ts16 carries the CAS: not a channel on an R2 span
            _chan(16)
        assert exc.value.errno == errno.ENXIO
        fd = _chan(1)
        fcntl.ioctl(fd, lib.TLD_SETTXBITS, array.array("i", [0x1]))
        assert card.far_get_cas(0) == 0x1
        card.far_set_cas(0, 0xD)
        assert _getevent(fd) == abi.EVENT_BITSCHANGED
        v = array.array("i", [0])
        fcntl.ioctl(fd, lib.TLD_GETRXBITS, v)
        assert v[0] == 0xD
        assert lib.tld_echocancel(fd, 128) == 0
        assert e.counters(1, 1)["ec_taps"] == 128
        assert lib.tld_echocancel(fd, 0) == 0
        assert e.counters(1, 1)["ec_taps"] == 0
        os.close(fd)
    finally:
        e.close()
        forget_card("emu_r2")
