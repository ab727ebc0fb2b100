"""libpri 1.6 (Debian libpri-dev) as an ISDN PRI peer, through cffi ABI mode.

libpri runs over one end of a `socketpair(AF_UNIX, SOCK_SEQPACKET)` through
`pri_new_cb` read/write callbacks; our stack reads and writes raw Q.921 frames
(no flags, no FCS) on the other end. At the boundary we behave like DAHDI:
the read callback returns the frame length plus 2 (two FCS bytes), the write
callback's length includes 2 FCS bytes that are dropped.

Struct layouts are declared from /usr/include/libpri.h (only the event views
the tests read; every member before a read member is declared exactly).
"""
import select
import socket
import time

from cffi import FFI

from peers import load

CDEF = r"""
typedef struct q931_call q931_call;
struct pri;
struct pri_sr;
struct pri_subcommands;

struct pri_party_name { int valid; int presentation; int char_set; char str[64]; };
struct pri_party_number { int valid; int presentation; int plan; char str[64]; };
struct pri_party_subaddress { int valid; int type; int odd_even_indicator; int length; unsigned char data[32]; };
struct pri_party_id { struct pri_party_name name; struct pri_party_number number;
                      struct pri_party_subaddress subaddress; };

typedef struct { int e; } pri_event_generic;
typedef struct { int e; char err[256]; } pri_event_error;
typedef struct { int e; int channel; } pri_event_restart;
typedef struct { int e; int channel; int cref; int progress; int progressmask; q931_call *call;
                 char useruserinfo[260]; struct pri_subcommands *subcmds; } pri_event_ringing;
typedef struct { int e; int channel; int cref; int progress; int progressmask; q931_call *call;
                 char useruserinfo[260]; struct pri_subcommands *subcmds; } pri_event_answer;
typedef struct {
    int e; int channel; int callingpres; int callingplanani; int callingplan;
    char callingani[256]; char callingnum[256]; char callingname[256];
    int calledplan; int ani2; char callednum[256]; char redirectingnum[256]; char redirectingname[256];
    int redirectingreason; int callingplanrdnis; char useruserinfo[260];
    int flexible; int cref; int ctype; int layer1; int complete; q931_call *call;
    char callingsubaddr[256]; int progress; int progressmask;
    char origcalledname[256]; char origcallednum[256]; int callingplanorigcalled; int origredirectingreason;
    int reversecharge; struct pri_subcommands *subcmds; struct pri_party_id calling;
    struct pri_party_subaddress called_subaddress; char keypad_digits[64];
} pri_event_ring;
typedef struct { int e; int channel; int cause; int cref; q931_call *call; long aoc_units;
                 char useruserinfo[260]; struct pri_subcommands *subcmds;
                 q931_call *call_held; q931_call *call_active; } pri_event_hangup;
typedef struct { int e; int channel; } pri_event_restart_ack;
typedef struct { int e; int channel; int cref; int progress; int progressmask; int cause; q931_call *call;
                 struct pri_subcommands *subcmds; } pri_event_proceeding;
typedef struct { int e; int channel; q931_call *call; struct pri_subcommands *subcmds; int progressmask; }
    pri_event_setup_ack;
struct pri_event_connect_ack { int e; int channel; q931_call *call; struct pri_subcommands *subcmds; };

typedef union {
    int e;
    pri_event_generic gen;
    pri_event_restart restart;
    pri_event_error err;
    pri_event_ring ring;
    pri_event_hangup hangup;
    pri_event_ringing ringing;
    pri_event_answer answer;
    pri_event_restart_ack restartack;
    pri_event_proceeding proceeding;
    pri_event_setup_ack setup_ack;
    struct pri_event_connect_ack connect_ack;
    char _reserve[8192];
} pri_event;

typedef int (*pri_io_cb)(struct pri *pri, void *buf, int buflen);
struct pri *pri_new_cb(int fd, int nodetype, int switchtype, pri_io_cb io_read, pri_io_cb io_write, void *userdata);
void pri_set_debug(struct pri *pri, int debug);
pri_event *pri_check_event(struct pri *pri);
char *pri_event2str(int id);
char *pri_cause2str(int cause);
int pri_acknowledge(struct pri *pri, q931_call *call, int channel, int info);
int pri_answer(struct pri *pri, q931_call *call, int channel, int nonisdn);
int pri_proceeding(struct pri *pri, q931_call *c, int channel, int info);
int pri_progress(struct pri *pri, q931_call *c, int channel, int info);
int pri_hangup(struct pri *pri, q931_call *call, int cause);
void pri_hangup_fix_enable(struct pri *ctrl, int enable);
void pri_destroycall(struct pri *pri, q931_call *call);
int pri_restart(struct pri *pri);
int pri_reset(struct pri *pri, int channel);
q931_call *pri_new_call(struct pri *pri);
struct timeval { long tv_sec; long tv_usec; };
struct timeval *pri_schedule_next(struct pri *pri);
pri_event *pri_schedule_run(struct pri *pri);
struct pri_sr *pri_sr_new(void);
void pri_sr_free(struct pri_sr *sr);
int pri_sr_set_channel(struct pri_sr *sr, int channel, int exclusive, int nonisdn);
int pri_sr_set_bearer(struct pri_sr *sr, int transmode, int userl1);
int pri_sr_set_called(struct pri_sr *sr, char *called, int calledplan, int complete);
int pri_sr_set_caller(struct pri_sr *sr, char *caller, char *callername, int callerplan, int callerpres);
int pri_setup(struct pri *pri, q931_call *call, struct pri_sr *req);
void pri_set_message(void (*__pri_error)(struct pri *pri, char *));
void pri_set_error(void (*__pri_error)(struct pri *pri, char *));
int pri_set_timer(struct pri *pri, int timer, int value);
int pri_get_timer(struct pri *pri, int timer);
int pri_timer2idx(const char *timer_name);
const char *pri_get_version(void);
"""

PRI_NETWORK = 1
PRI_CPE = 2
PRI_SWITCH_NI2 = 1
PRI_SWITCH_EUROISDN_E1 = 5
PRI_DEBUG_Q921_STATE = 1 << 2
PRI_DEBUG_Q931_DUMP = 1 << 5
PRI_DEBUG_Q931_STATE = 1 << 6
PRI_DEBUG_Q931_ANOMALY = 1 << 7
PRI_TRANS_CAP_SPEECH = 0
PRI_LAYER_1_ULAW = 0x22
PRI_LAYER_1_ALAW = 0x23
PRI_PRES_ALLOWED_USER_NUMBER_NOT_SCREENED = 0x00

EVENT_NAMES = {
    1: "DCHAN_UP", 2: "DCHAN_DOWN", 3: "RESTART", 4: "CONFIG_ERR", 5: "RING", 6: "HANGUP",
    7: "RINGING", 8: "ANSWER", 9: "HANGUP_ACK", 10: "RESTART_ACK", 11: "FACILITY",
    12: "INFO_RECEIVED", 13: "PROCEEDING", 14: "SETUP_ACK", 15: "HANGUP_REQ", 16: "NOTIFY",
    17: "PROGRESS", 18: "KEYPAD_DIGIT", 19: "SERVICE", 20: "SERVICE_ACK", 27: "CONNECT_ACK",
}

ffi = FFI()
ffi.cdef(CDEF)
_lib = None
_messages = []          # libpri's own log lines (errors/debug), newest last


def lib():
    """The loaded libpri (dlopen once per process)."""
    global _lib
    if _lib is None:
        _lib = load(ffi, "libpri.so.1.4")
        _lib.pri_set_message(_on_message)
        _lib.pri_set_error(_on_message)
    return _lib


@ffi.callback("void(struct pri *, char *)")
def _on_message(pri, text):
    _messages.append(ffi.string(text).decode("latin-1", "replace"))


def messages():
    """libpri log lines collected so far (and clear them)."""
    out = list(_messages)
    _messages.clear()
    return out


def _addr(p):
    return int(ffi.cast("uintptr_t", p))


def _str(a):
    return ffi.string(a).decode("latin-1", "replace")


def decode_event(ev):
    """Copy one pri_event into a plain dict (the pointer is only valid until libpri runs again)."""
    e = ev.e
    d = {"e": EVENT_NAMES.get(e, str(e))}
    if e == 5:
        r = ev.ring
        d.update(channel=r.channel, callingnum=_str(r.callingnum), callingplan=r.callingplan,
                 callingpres=r.callingpres, callednum=_str(r.callednum), calledplan=r.calledplan,
                 callingname=_str(r.callingname), flexible=r.flexible, cref=r.cref, ctype=r.ctype,
                 layer1=r.layer1, complete=r.complete, call=_addr(r.call), callp=r.call)
    elif e in (6, 9, 15):
        h = ev.hangup
        d.update(channel=h.channel, cause=h.cause, cref=h.cref, call=_addr(h.call), callp=h.call)
    elif e == 7:
        d.update(channel=ev.ringing.channel, progress=ev.ringing.progress, call=_addr(ev.ringing.call))
    elif e == 8:
        d.update(channel=ev.answer.channel, call=_addr(ev.answer.call))
    elif e in (13, 17):
        p = ev.proceeding
        d.update(channel=p.channel, progress=p.progress, progressmask=p.progressmask, cause=p.cause,
                 call=_addr(p.call))
    elif e in (3, 10):
        d.update(channel=ev.restart.channel)
    elif e == 27:
        d.update(channel=ev.connect_ack.channel, call=_addr(ev.connect_ack.call))
    elif e == 4:
        d.update(err=_str(ev.err.err))
    return d


class LibPRI:
    """One libpri D-channel (network or CPE) whose frames come and go through `ours` (a socket)."""

    def __init__(self, node, switch, debug=0):
        """node: PRI_NETWORK/PRI_CPE; switch: PRI_SWITCH_*; debug: PRI_DEBUG_* mask."""
        self.lib = lib()
        self.sock_pri, self.ours = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock_pri.setblocking(False)
        self.ours.setblocking(False)
        self.events = []
        self.last_call = None
        self.frames_to_us = 0
        self.frames_from_us = 0
        self._read_cb = ffi.callback("int(struct pri *, void *, int)", self._read)
        self._write_cb = ffi.callback("int(struct pri *, void *, int)", self._write)
        self.pri = self.lib.pri_new_cb(self.sock_pri.fileno(), node, switch, self._read_cb,
                                       self._write_cb, ffi.NULL)
        assert self.pri != ffi.NULL, "pri_new_cb failed"
        if debug:
            self.lib.pri_set_debug(self.pri, debug)

    # --- libpri's I/O, the way DAHDI presents an HDLC channel
    def _read(self, pri, buf, buflen):
        try:
            n = self.sock_pri.recv_into(ffi.buffer(buf, buflen - 2))
        except BlockingIOError:
            return -1
        self.frames_from_us += 1
        ffi.buffer(buf, buflen)[n:n + 2] = b"\0\0"      # dummy FCS
        return n + 2

    def _write(self, pri, buf, buflen):
        data = bytes(ffi.buffer(buf, buflen))[:-2]     # drop the FCS
        self.frames_to_us += 1
        try:
            self.sock_pri.send(data)
        except OSError:
            return -1
        return buflen

    # --- our side of the link
    def send(self, frame):
        """Hand one raw Q.921 frame (octets, no FCS) from our stack to libpri."""
        self.ours.send(bytes(frame))

    def recv_frames(self):
        """Raw Q.921 frames libpri has written toward us (drained)."""
        out = []
        while True:
            try:
                out.append(self.ours.recv(4096))
            except BlockingIOError:
                return out

    # --- running libpri
    def next_timer(self):
        """Seconds until libpri's next scheduled timer (None if none)."""
        tv = self.lib.pri_schedule_next(self.pri)
        if tv == ffi.NULL:
            return None
        return max(0.0, tv.tv_sec + tv.tv_usec / 1e6 - time.time())

    def run(self):
        """Feed libpri every frame waiting for it and every due timer; returns new events."""
        new = []
        while True:
            r, _, _ = select.select([self.sock_pri], [], [], 0)
            if not r:
                break
            ev = self.lib.pri_check_event(self.pri)
            if ev != ffi.NULL:
                new.append(decode_event(ev))
        t = self.next_timer()
        if t is not None and t <= 0:
            ev = self.lib.pri_schedule_run(self.pri)
            if ev != ffi.NULL:
                new.append(decode_event(ev))
        self.events.extend(new)
        return new

    def fileno(self):
        """fd that becomes readable when libpri has something for us."""
        return self.ours.fileno()

    def wait_fds(self):
        """fds worth selecting on to run libpri and our side."""
        return [self.sock_pri, self.ours]

    # --- call control (libpri as the application would use it)
    def call(self, called, caller, channel, exclusive=True, called_plan=0x21, caller_plan=0x21,
             layer1=PRI_LAYER_1_ALAW, caller_name=""):
        """Place a call with pri_setup; returns the q931_call pointer."""
        c = self.lib.pri_new_call(self.pri)
        sr = self.lib.pri_sr_new()
        self.lib.pri_sr_set_channel(sr, channel, 1 if exclusive else 0, 0)
        self.lib.pri_sr_set_bearer(sr, PRI_TRANS_CAP_SPEECH, layer1)
        self._keep = [ffi.new("char[]", called.encode()), ffi.new("char[]", caller.encode()),
                      ffi.new("char[]", caller_name.encode())]
        self.lib.pri_sr_set_called(sr, self._keep[0], called_plan, 1)
        self.lib.pri_sr_set_caller(sr, self._keep[1], self._keep[2] if caller_name else ffi.NULL,
                                   caller_plan, PRI_PRES_ALLOWED_USER_NUMBER_NOT_SCREENED)
        rc = self.lib.pri_setup(self.pri, c, sr)
        self.lib.pri_sr_free(sr)
        assert rc == 0, "pri_setup failed"
        self.last_call = c
        return c

    def set_timer(self, name, ms):
        """Set a libpri timer by name ('T303', 'T310', 'T301', ...) in milliseconds."""
        idx = self.lib.pri_timer2idx(name.encode())
        assert idx >= 0, name
        assert self.lib.pri_set_timer(self.pri, idx, ms) == 0

    def close(self):
        """Close both socket ends (libpri's struct is leaked: libpri 1.6 has no pri_free)."""
        self.sock_pri.close()
        self.ours.close()


def event_names(events):
    """Just the event type names, in order."""
    return [e["e"] for e in events]


def cause_str(cause):
    """libpri's text for a Q.850 cause."""
    return ffi.string(lib().pri_cause2str(cause)).decode()


def wait(peer, pump, until, timeout=3.0):
    """Run peer and our side (`pump()`) until `until()` is true or `timeout` s passes; returns until()."""
    end = time.monotonic() + timeout
    while True:
        peer.run()
        pump()
        if until():
            return True
        left = end - time.monotonic()
        if left <= 0:
            return until()
        t = peer.next_timer()
        step = min(left, 0.02 if t is None else max(0.0, min(t, 0.02)))
        select.select(peer.wait_fds(), [], [], step)


__all__ = ["LibPRI", "PRI_NETWORK", "PRI_CPE", "PRI_SWITCH_NI2", "PRI_SWITCH_EUROISDN_E1", "decode_event",
           "event_names", "cause_str", "messages", "wait"]
