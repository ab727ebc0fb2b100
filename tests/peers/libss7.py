"""libss7 2.0 (Debian libss7-dev) as an SS7 MTP2/MTP3/ISUP peer, through cffi ABI mode.

libss7 runs MTP2 in user space over one end of a `socketpair(AF_UNIX, SOCK_SEQPACKET)` as
`SS7_TRANSPORT_DAHDIDCHAN`: what it reads must end in 2 FCS octets and what it writes carries
2 FCS octets, as on a DAHDI HDLC channel. Our stack sees raw SUs on the other end; this module
adds and drops the FCS octets at the boundary. libss7 writes one SU per `ss7_write` call (a
socketpair is always writable), so `LibSS7.run()` paces the writes.

Struct layouts are copied from /usr/include/libss7.h (only the event views the tests read).
"""
import select
import socket
import time

from cffi import FFI

from peers import load

CDEF = r"""
struct ss7;
struct isup_call;
struct mtp2;
typedef struct {
    int e; int cic; int transcap; int cot_check_required; int cot_performed_on_previous_cic;
    char called_party_num[50]; unsigned char called_nai;
    char calling_party_num[50]; unsigned char calling_party_cat; unsigned char calling_nai;
    unsigned char presentation_ind; unsigned char screening_ind;
    char charge_number[50]; unsigned char charge_nai; unsigned char charge_num_plan;
    unsigned char gen_add_num_plan; unsigned char gen_add_nai; char gen_add_number[50];
    unsigned char gen_add_pres_ind; unsigned char gen_add_type;
    char gen_dig_number[50]; unsigned char gen_dig_type; unsigned char gen_dig_scheme;
    char jip_number[50];
    unsigned char lspi_type; unsigned char lspi_scheme; unsigned char lspi_context; unsigned char lspi_spare;
    char lspi_ident[50];
    char orig_called_num[50]; unsigned char orig_called_nai; unsigned char orig_called_pres_ind;
    unsigned char orig_called_screening_ind;
    char redirecting_num[50]; unsigned char redirecting_num_nai; unsigned char redirecting_num_presentation_ind;
    unsigned char redirecting_num_screening_ind; unsigned char redirect_counter; unsigned char redirect_info;
    unsigned char redirect_info_ind; unsigned char redirect_info_orig_reas; unsigned char redirect_info_reas;
    unsigned char redirect_info_counter; unsigned char generic_name_typeofname; unsigned char generic_name_avail;
    unsigned char generic_name_presentation; unsigned char echocontrol_ind; char generic_name[50];
    int oli_ani2; unsigned char cug_indicator; char cug_interlock_ni[5]; unsigned short cug_interlock_code;
    unsigned int opc; unsigned long got_sent_msg; struct isup_call *call;
} ss7_event_iam;
typedef struct { int e; int cic; int cause; unsigned int opc; unsigned long got_sent_msg;
                 struct isup_call *call; } ss7_event_rel;
typedef struct { int e; int cic; unsigned int opc; unsigned long got_sent_msg; struct isup_call *call; } ss7_event_cic;
typedef struct { int e; int startcic; int endcic; int sent_endcic; int type; int sent_type; unsigned int opc;
                 unsigned char status[255]; unsigned int sent_status[255]; unsigned long got_sent_msg;
                 struct isup_call *call; } ss7_event_cicrange;
typedef struct { int e; int cic; unsigned int opc; unsigned char event; unsigned long got_sent_msg;
                 unsigned char echocontrol_ind; unsigned char connected_nai;
                 unsigned char connected_presentation_ind; unsigned char connected_screening_ind;
                 char connected_num[50]; struct isup_call *call; } ss7_event_cpg;
typedef struct { int e; int cic; unsigned int call_ref_ident; unsigned int call_ref_pc; unsigned int opc;
                 unsigned long got_sent_msg; struct isup_call *call; unsigned char called_party_status_ind;
                 unsigned char echocontrol_ind; } ss7_event_acm;
typedef struct { int e; int cic; int network_isdn_indicator; unsigned int opc; unsigned long got_sent_msg;
                 struct isup_call *call; } ss7_event_sus_res;
typedef struct { int e; int cic; unsigned int opc; char called_party_num[50]; unsigned char called_nai;
                 int cot_check_required; int cot_check_passed; int cot_performed_on_previous_cic;
                 unsigned long got_sent_msg; struct isup_call *call; } ss7_event_sam;
typedef struct { int e; int data; } ss7_event_generic;
typedef union {
    int e;
    ss7_event_generic gen;
    ss7_event_iam iam;
    ss7_event_cicrange cicrange;
    ss7_event_rel rel;
    ss7_event_cic cic;
    ss7_event_acm acm;
    ss7_event_cpg cpg;
    ss7_event_sus_res sus;
    ss7_event_sam sam;
    char _reserve[8192];
} ss7_event;

void ss7_set_message(void (*func)(struct ss7 *ss7, char *message));
void ss7_set_error(void (*func)(struct ss7 *ss7, char *message));
void ss7_set_debug(struct ss7 *ss7, unsigned int flags);
void ss7_set_notinservice(void (*func)(struct ss7 *ss7, int cic, unsigned int dpc));
void ss7_set_hangup(int (*func)(struct ss7 *ss7, int cic, unsigned int dpc, int cause, int do_hangup));
void ss7_set_call_null(void (*func)(struct ss7 *ss7, struct isup_call *c, int lock));
int ss7_schedule_run(struct ss7 *ss7);
struct timeval { long tv_sec; long tv_usec; };
struct timeval *ss7_schedule_next(struct ss7 *ss7);
int ss7_add_link(struct ss7 *ss7, int transport, int fd, int slc, unsigned int adjpc);
int ss7_set_network_ind(struct ss7 *ss7, int ni);
int ss7_set_pc(struct ss7 *ss7, unsigned int pc);
struct ss7 *ss7_new(int switchtype);
void ss7_destroy(struct ss7 *ss7);
ss7_event *ss7_check_event(struct ss7 *ss7);
int ss7_start(struct ss7 *ss7);
int ss7_read(struct ss7 *ss7, int fd);
int ss7_write(struct ss7 *ss7, int fd);
void ss7_link_alarm(struct ss7 *ss7, int fd);
void ss7_link_noalarm(struct ss7 *ss7, int fd);
char *ss7_event2str(int event);
int ss7_set_isup_timer(struct ss7 *ss7, char *name, int ms);
int isup_iam(struct ss7 *ss7, struct isup_call *c);
int isup_anm(struct ss7 *ss7, struct isup_call *c);
int isup_con(struct ss7 *ss7, struct isup_call *c);
struct isup_call *isup_new_call(struct ss7 *ss7, int cic, unsigned int dpc, int outgoing);
int isup_acm(struct ss7 *ss7, struct isup_call *c);
int isup_rel(struct ss7 *ss7, struct isup_call *c, int cause);
int isup_rlc(struct ss7 *ss7, struct isup_call *c);
int isup_sus(struct ss7 *ss7, struct isup_call *c, unsigned char indicator);
int isup_res(struct ss7 *ss7, struct isup_call *c, unsigned char indicator);
int isup_cpg(struct ss7 *ss7, struct isup_call *c, int event);
int isup_gra(struct ss7 *ss7, struct isup_call *c, int endcic, unsigned char state[]);
int isup_grs(struct ss7 *ss7, struct isup_call *c, int endcic);
int isup_cgb(struct ss7 *ss7, struct isup_call *c, int endcic, unsigned char state[], int type);
int isup_cgu(struct ss7 *ss7, struct isup_call *c, int endcic, unsigned char state[], int type);
int isup_cgba(struct ss7 *ss7, struct isup_call *c, int endcic, unsigned char state[]);
int isup_cgua(struct ss7 *ss7, struct isup_call *c, int endcic, unsigned char state[]);
int isup_blo(struct ss7 *ss7, struct isup_call *c);
int isup_ubl(struct ss7 *ss7, struct isup_call *c);
int isup_bla(struct ss7 *ss7, struct isup_call *c);
int isup_uba(struct ss7 *ss7, struct isup_call *c);
int isup_rsc(struct ss7 *ss7, struct isup_call *c);
void isup_free_call(struct ss7 *ss7, struct isup_call *c);
struct isup_call *isup_free_call_if_clear(struct ss7 *ss7, struct isup_call *c);
void isup_set_called(struct isup_call *c, const char *called, unsigned char called_nai, const struct ss7 *ss7);
void isup_set_calling(struct isup_call *c, const char *calling, unsigned char calling_nai,
                      unsigned char presentation_ind, unsigned char screening_ind);
void isup_set_calling_party_category(struct isup_call *c, unsigned int category);
"""

SS7_ITU = 1
SS7_TRANSPORT_DAHDIDCHAN = 0
SS7_NI_NAT = 2
SS7_DEBUG_MTP2, SS7_DEBUG_MTP3, SS7_DEBUG_ISUP = 1, 2, 4

EVENT_NAMES = {
    1: "UP", 2: "DOWN", 3: "MTP2_LINK_UP", 4: "MTP2_LINK_DOWN", 5: "IAM", 6: "ACM", 7: "ANM", 8: "REL",
    9: "RLC", 10: "GRS", 11: "GRA", 12: "CON", 13: "COT", 14: "CCR", 15: "BLO", 16: "UBL", 17: "BLA",
    18: "UBA", 19: "CGB", 20: "CGU", 21: "RSC", 22: "CPG", 23: "UCIC", 24: "LPA", 25: "CQM", 26: "FAR",
    27: "FAA", 28: "CVT", 29: "CVR", 30: "SUS", 31: "RES", 32: "CGBA", 33: "CGUA", 34: "SAM",
    35: "DIGITTIMEOUT", 36: "FRJ",
}

ffi = FFI()
ffi.cdef(CDEF)
_lib = None
_messages: list[str] = []
_hangups: list[tuple[int, int, int]] = []


def lib():
    """The loaded libss7 (dlopen once per process)."""
    global _lib
    if _lib is None:
        _lib = load(ffi, "libss7.so.2.0")
        _lib.ss7_set_message(_on_message)
        _lib.ss7_set_error(_on_message)
        _lib.ss7_set_hangup(_on_hangup)
        _lib.ss7_set_notinservice(_on_notinservice)
        _lib.ss7_set_call_null(_on_call_null)
    return _lib


@ffi.callback("void(struct ss7 *, char *)")
def _on_message(ss7, text):
    _messages.append(ffi.string(text).decode("latin-1", "replace"))


@ffi.callback("int(struct ss7 *, int, unsigned int, int, int)")
def _on_hangup(ss7, cic, dpc, cause, do_hangup):
    _hangups.append((cic, cause, do_hangup))
    return 2          # SS7_CIC_IDLE: the application has nothing on this CIC any more


@ffi.callback("void(struct ss7 *, int, unsigned int)")
def _on_notinservice(ss7, cic, dpc):
    _messages.append(f"not in service cic {cic}")


@ffi.callback("void(struct ss7 *, struct isup_call *, int)")
def _on_call_null(ss7, c, lock):
    return None


def messages():
    """libss7 log lines so far (cleared)."""
    out = list(_messages)
    _messages.clear()
    return out


def _str(a):
    return ffi.string(a).decode("latin-1", "replace")


def decode_event(ev):
    """Copy one ss7_event into a plain dict (the pointer is only valid until libss7 runs again)."""
    e = ev.e
    d = {"e": EVENT_NAMES.get(e, str(e))}
    if e == 5:
        i = ev.iam
        d.update(cic=i.cic, called=_str(i.called_party_num), called_nai=i.called_nai,
                 calling=_str(i.calling_party_num), calling_nai=i.calling_nai, category=i.calling_party_cat,
                 presentation=i.presentation_ind, screening=i.screening_ind, opc=i.opc, callp=i.call,
                 cot=i.cot_check_required)
    elif e == 8:
        d.update(cic=ev.rel.cic, cause=ev.rel.cause, opc=ev.rel.opc, callp=ev.rel.call)
    elif e in (10, 11, 19, 20, 25, 32, 33):
        r = ev.cicrange
        d.update(startcic=r.startcic, endcic=r.endcic, type=r.type, opc=r.opc, callp=r.call,
                 status=[r.status[i] for i in range(max(0, r.endcic - r.startcic + 1))])
    elif e == 6:
        d.update(cic=ev.acm.cic, status=ev.acm.called_party_status_ind, callp=ev.acm.call)
    elif e == 22:
        d.update(cic=ev.cpg.cic, event=ev.cpg.event, callp=ev.cpg.call)
    elif e in (30, 31):
        d.update(cic=ev.sus.cic, indicator=ev.sus.network_isdn_indicator, callp=ev.sus.call)
    elif e == 34:
        d.update(cic=ev.sam.cic, called=_str(ev.sam.called_party_num), callp=ev.sam.call)
    elif e > 4:
        d.update(cic=ev.cic.cic, opc=ev.cic.opc, callp=ev.cic.call)
    return d


class LibSS7:
    """One libss7 signaling point with one link whose SUs come and go through `ours` (a socket)."""

    def __init__(self, pc, adjpc, slc=0, ni=SS7_NI_NAT, debug=0):
        """pc: libss7's point code (ITU 14-bit), adjpc: ours; slc: the link's code."""
        self.lib = lib()
        self.sock, self.ours = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.setblocking(False)
        self.ours.setblocking(False)
        self.pc, self.adjpc = pc, adjpc
        self.ss7 = self.lib.ss7_new(SS7_ITU)
        assert self.ss7 != ffi.NULL
        self.lib.ss7_set_network_ind(self.ss7, ni)
        self.lib.ss7_set_pc(self.ss7, pc)
        if debug:
            self.lib.ss7_set_debug(self.ss7, debug)
        assert self.lib.ss7_add_link(self.ss7, SS7_TRANSPORT_DAHDIDCHAN, self.sock.fileno(), slc, adjpc) >= 0
        self.events = []
        self.su_to_us = 0
        self.su_from_us = 0
        self.cut = False                     # True: SUs are dropped both ways (a broken link)
        self._last_write = 0.0
        self.write_interval = 0.004

    def start(self):
        """Start the link (MTP2 alignment)."""
        assert self.lib.ss7_start(self.ss7) == 0

    def set_timer(self, name, ms):
        """Set an ISUP timer (e.g. "t7") in ms."""
        self.lib.ss7_set_isup_timer(self.ss7, name.encode(), ms)

    # --- our side of the link
    def send(self, su):
        """Hand one raw SU (no FCS) from our stack to libss7."""
        if self.cut:
            return
        try:
            self.ours.send(bytes(su) + b"\0\0")
        except BlockingIOError:
            return
        self.su_from_us += 1

    def recv(self):
        """Raw SUs libss7 wrote toward us (FCS dropped)."""
        out = []
        while True:
            try:
                data = self.ours.recv(4096)
            except BlockingIOError:
                return out
            if not self.cut:
                out.append(data[:-2])

    # --- running libss7
    def run(self):
        """One round: feed libss7 what waits for it, run its timers, pace one write; returns new events."""
        new = []
        while select.select([self.sock], [], [], 0)[0]:
            self.lib.ss7_read(self.ss7, self.sock.fileno())
        now = time.monotonic()
        if now - self._last_write >= self.write_interval:
            self._last_write = now
            self.lib.ss7_write(self.ss7, self.sock.fileno())
            self.su_to_us += 1
        tv = self.lib.ss7_schedule_next(self.ss7)
        if tv != ffi.NULL and tv.tv_sec + tv.tv_usec / 1e6 <= time.time():
            self.lib.ss7_schedule_run(self.ss7)
        while True:
            ev = self.lib.ss7_check_event(self.ss7)
            if ev == ffi.NULL:
                break
            new.append(decode_event(ev))
        self.events.extend(new)
        return new

    def close(self):
        """Free libss7 and close the sockets."""
        if self.ss7 is not None:
            self.lib.ss7_destroy(self.ss7)
            self.ss7 = None
        self.sock.close()
        self.ours.close()
