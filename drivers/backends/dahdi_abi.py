"""The DAHDI userspace ABI numbers the dahdi:// backend uses (from <dahdi/user.h>, DAHDI 2.x).

The ioctl request numbers and struct layouts live in the backend's C part (`_tldahdi`); the values
here are the plain numbers. tests/drivers/test_dahdi_abi.py checks both against the real header.
"""
ELAST = 500                      # read()/write() errno while an event is pending on the channel

# signaling types (DAHDI_SIG_*)
SIG_FXSLS = 0x2001              # FXS signalling, loop start: the port is an FXO (faces a central office)
SIG_FXSKS = 0x2004
SIG_FXOLS = 0x1008              # FXO signalling, loop start: the port is an FXS (feeds a station phone)
SIG_FXOKS = 0x1020
SIG_CLEAR = 0x0080              # clear channel (ISDN bearer)
SIG_HDLCFCS = 0x0380            # HDLC with FCS (ISDN D-channel, SS7 link)
SIG_CAS = 0x8000                # CAS bits only (China No.1 / R2 in user space)
SIG_FXS_MASK = 0x2000           # __DAHDI_SIG_FXS
SIG_FXO_MASK = 0x1000           # __DAHDI_SIG_FXO

LAW_DEFAULT, LAW_MULAW, LAW_ALAW = 0, 1, 2

ONHOOK, OFFHOOK, RING, RINGOFF = 0, 1, 5, 6
FLUSH_READ, FLUSH_WRITE, FLUSH_EVENT = 1, 2, 4

ALARM_YELLOW, ALARM_RED, ALARM_BLUE, ALARM_LOS = 1 << 2, 1 << 3, 1 << 4, 1 << 8

EVENT_ONHOOK = 1
EVENT_RINGOFFHOOK = 2
EVENT_WINKFLASH = 3
EVENT_ALARM = 4
EVENT_NOALARM = 5
EVENT_BADFCS = 8
EVENT_BITSCHANGED = 13
EVENT_POLARITY = 17
EVENT_RINGBEGIN = 18
EVENT_REMOVED = 20

#: every number above under its name in <dahdi/user.h> (the ABI test compiles these against the header)
HEADER_NAMES = {
    "ELAST": ELAST, "DAHDI_SIG_FXSLS": SIG_FXSLS, "DAHDI_SIG_FXSKS": SIG_FXSKS, "DAHDI_SIG_FXOLS": SIG_FXOLS,
    "DAHDI_SIG_FXOKS": SIG_FXOKS, "DAHDI_SIG_CLEAR": SIG_CLEAR, "DAHDI_SIG_HDLCFCS": SIG_HDLCFCS,
    "DAHDI_SIG_CAS": SIG_CAS, "__DAHDI_SIG_FXS": SIG_FXS_MASK, "__DAHDI_SIG_FXO": SIG_FXO_MASK,
    "DAHDI_LAW_DEFAULT": LAW_DEFAULT, "DAHDI_LAW_MULAW": LAW_MULAW, "DAHDI_LAW_ALAW": LAW_ALAW,
    "DAHDI_ONHOOK": ONHOOK, "DAHDI_OFFHOOK": OFFHOOK, "DAHDI_RING": RING, "DAHDI_RINGOFF": RINGOFF,
    "DAHDI_FLUSH_READ": FLUSH_READ, "DAHDI_FLUSH_WRITE": FLUSH_WRITE, "DAHDI_FLUSH_EVENT": FLUSH_EVENT,
    "DAHDI_ALARM_YELLOW": ALARM_YELLOW, "DAHDI_ALARM_RED": ALARM_RED, "DAHDI_ALARM_BLUE": ALARM_BLUE,
    "DAHDI_ALARM_LOS": ALARM_LOS,
    "DAHDI_EVENT_ONHOOK": EVENT_ONHOOK, "DAHDI_EVENT_RINGOFFHOOK": EVENT_RINGOFFHOOK,
    "DAHDI_EVENT_WINKFLASH": EVENT_WINKFLASH, "DAHDI_EVENT_ALARM": EVENT_ALARM,
    "DAHDI_EVENT_NOALARM": EVENT_NOALARM, "DAHDI_EVENT_BADFCS": EVENT_BADFCS,
    "DAHDI_EVENT_BITSCHANGED": EVENT_BITSCHANGED, "DAHDI_EVENT_POLARITY": EVENT_POLARITY,
    "DAHDI_EVENT_RINGBEGIN": EVENT_RINGBEGIN, "DAHDI_EVENT_REMOVED": EVENT_REMOVED,
}

#: ioctl request constants of the C part (name in _tldahdi -> name in <dahdi/user.h>)
IOCTLS = {
    "TLD_SET_BLOCKSIZE": "DAHDI_SET_BLOCKSIZE", "TLD_FLUSH": "DAHDI_FLUSH", "TLD_GET_PARAMS": "DAHDI_GET_PARAMS",
    "TLD_HOOK": "DAHDI_HOOK", "TLD_GETEVENT": "DAHDI_GETEVENT", "TLD_SPANSTAT": "DAHDI_SPANSTAT",
    "TLD_ECHOCANCEL_PARAMS": "DAHDI_ECHOCANCEL_PARAMS", "TLD_CHANNO": "DAHDI_CHANNO",
    "TLD_SPECIFY": "DAHDI_SPECIFY", "TLD_SETLAW": "DAHDI_SETLAW", "TLD_SETLINEAR": "DAHDI_SETLINEAR",
    "TLD_GETRXBITS": "DAHDI_GETRXBITS", "TLD_SETTXBITS": "DAHDI_SETTXBITS",
}

#: structs of the C part (name in _tldahdi -> name in <dahdi/user.h>) and the fields the backend uses
STRUCTS = {
    "struct tld_params": ("struct dahdi_params", (
        "channo", "spanno", "chanpos", "sigtype", "sigcap", "rxisoffhook", "rxbits", "txbits", "curlaw",
        "name", "chan_alarms")),
    "struct tld_spaninfo": ("struct dahdi_spaninfo", (
        "spanno", "name", "desc", "alarms", "bpvcount", "crc4count", "fecount", "cvcount", "becount",
        "errsec", "irqmisses", "numchans", "totalchans", "totalspans", "lineconfig", "manufacturer",
        "devicetype", "linecompat", "spantype")),
    "struct tld_echocanparams": ("struct dahdi_echocanparams", ("tap_length", "param_count")),
}
