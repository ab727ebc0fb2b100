/* dahdi_shim: an emulated /dev/dahdi for one process, over the software card (tlsim).
 *
 * LD_PRELOAD it; then tlshim_attach() (called from Python, hw_sim/dahdi_emu.py) puts the card behind
 * /dev/dahdi/ctl, /dev/dahdi/channel and /dev/dahdi/N.  It answers open/ioctl/read/write/poll/close the
 * way the DAHDI kernel driver documents (dahdi/user.h, dahdi-base.c):
 *  - a channel fd from /dev/dahdi/channel must get DAHDI_SPECIFY first; a channel opened twice is EBUSY;
 *  - audio reads return one block per card tick; non-blocking reads return EAGAIN until the next block,
 *    blocking reads and poll() wait for it: waiting is what advances the card clock (the advance
 *    callback runs the card's tick and its far end);
 *  - events queue per channel; poll() reports POLLPRI while one is queued and read() fails with ELAST;
 *  - HDLCFCS channels read whole frames + 2 FCS bytes (CRC-16/X.25) and write frames + 2 dummy FCS bytes;
 *    a frame received with a bad FCS is dropped and DAHDI_EVENT_BADFCS queued;
 *  - CAS bits (SETTXBITS/GETRXBITS, BITSCHANGED), hook and ring (DAHDI_HOOK), span alarms
 *    (DAHDI_EVENT_ALARM/NOALARM on every open channel of the span, SPANSTAT alarms);
 *  - tlshim_set_present(0) removes the device: opens fail with ENOENT, open channels get
 *    DAHDI_EVENT_REMOVED and then ENODEV.
 * It is built from the real <dahdi/user.h> (make dahdi-header).
 */
#define _GNU_SOURCE
#include <dahdi/user.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <unistd.h>

#define MAXFD 65536
#define EVQ 64
#define FRAME_MAX 1024
#define SPANS 128

/* the card's C API (hw_sim/tlsim.h), resolved from the loaded _tlsim module */
typedef struct { int32_t type, channel, span, value; int64_t time; } sim_event_t;
static struct {
    void (*tick)(void *);
    int64_t (*now)(void *);
    int (*block)(void *);
    void (*read_rows)(void *, const int32_t *, int, uint8_t *);
    void (*write_rows)(void *, const int32_t *, int, const uint8_t *);
    int (*hook)(void *, int, int);
    int (*ring)(void *, int, int);
    int (*set_cas)(void *, int, int);
    int (*get_cas)(void *, int);
    int (*send_frame)(void *, int, const uint8_t *, int);
    int (*recv_frame)(void *, int, uint8_t *, int);
    int (*events)(void *, sim_event_t *, int);
    int (*alarms)(void *, int);
} sim;

typedef struct {
    int sigtype, spanno, chanpos, law;   /* law: DAHDI_LAW_ALAW / DAHDI_LAW_MULAW of the card */
    int fd;                              /* the fd that holds the channel open, or -1 */
    int64_t rd_tick;                     /* card tick whose block this channel has read */
    int ev[EVQ], evhead, evcount;
    int ec_taps, blocksize, linear;
    int framelen;                        /* a received frame waiting to be read, or -1 */
    uint8_t frame[FRAME_MAX];
    int corrupt_next;                    /* the next received frame arrives with a bad FCS */
} chan_t;

typedef struct {
    int type;                            /* 0 analog, 1 E1, 2 T1 */
    int alarms;                          /* DAHDI_ALARM_* bits */
    int basechan, totalchans, numchans;
    uint32_t badfcs, frames_rx, frames_tx;
} span_t;

typedef struct { int used, channo, ctl, nonblock; } sfd_t;

static void *card;
static void (*advance_cb)(void);
static int nchan, nspans, present = 1, block = 160;
static chan_t *chans;                    /* indexed by channo - 1 */
static span_t spans[SPANS];              /* indexed by spanno - 1 */
static sfd_t *fdtab;
static uint64_t advances;

/* ------------------------------------------------------------------ real libc */
#define REAL(name) static __typeof__(name) *real_##name
REAL(open); REAL(open64); REAL(openat); REAL(openat64); REAL(close); REAL(read); REAL(write);
REAL(ioctl); REAL(poll);

static void resolve(void)
{
    if (real_read) return;
    real_open = dlsym(RTLD_NEXT, "open");
    real_open64 = dlsym(RTLD_NEXT, "open64");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_openat64 = dlsym(RTLD_NEXT, "openat64");
    real_close = dlsym(RTLD_NEXT, "close");
    real_write = dlsym(RTLD_NEXT, "write");
    real_ioctl = dlsym(RTLD_NEXT, "ioctl");
    real_poll = dlsym(RTLD_NEXT, "poll");
    real_read = dlsym(RTLD_NEXT, "read");
}

static sfd_t *shim_fd(int fd)
{
    if (!fdtab || fd < 0 || fd >= MAXFD || !fdtab[fd].used) return NULL;
    return &fdtab[fd];
}

/* ------------------------------------------------------------------ G.711 and FCS */
static int16_t alaw_lin(uint8_t a)
{
    int t, seg;
    a ^= 0x55;
    t = (a & 0x0F) << 4;
    seg = (a & 0x70) >> 4;
    if (seg == 0) t += 8; else if (seg == 1) t += 0x108; else t = (t + 0x108) << (seg - 1);
    return (int16_t) ((a & 0x80) ? t : -t);
}

static int16_t ulaw_lin(uint8_t u)
{
    int t;
    u = ~u;
    t = ((u & 0x0F) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    return (int16_t) ((u & 0x80) ? (0x84 - t) : (t - 0x84));
}

static uint8_t lin_alaw(int16_t pcm)
{
    int mask, seg, v = pcm;
    static const int end[8] = {0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF};
    if (v >= 0) mask = 0xD5; else { mask = 0x55; v = -v - 1; }
    v >>= 3;
    for (seg = 0; seg < 8 && v > end[seg] >> 3; seg++) ;
    if (seg >= 8) return (uint8_t) (0x7F ^ mask);
    return (uint8_t) ((((seg << 4) | ((seg < 2 ? v >> 1 : v >> seg) & 0x0F))) ^ mask);
}

static uint8_t lin_ulaw(int16_t pcm)
{
    int mask, seg, v = pcm;
    if (v < 0) { v = 0x84 - v; mask = 0x7F; } else { v += 0x84; mask = 0xFF; }
    if (v > 0x7FFF) v = 0x7FFF;
    for (seg = 0; seg < 8 && (v >> (seg + 8)) != 0; seg++) ;
    if (seg >= 8) return (uint8_t) (0x7F ^ mask);
    return (uint8_t) (((seg << 4) | ((v >> (seg + 3)) & 0x0F)) ^ mask);
}

static uint16_t fcs16(const uint8_t *p, int n)
{
    uint16_t fcs = 0xFFFF;
    int i, k;
    for (i = 0; i < n; i++) {
        fcs ^= p[i];
        for (k = 0; k < 8; k++) fcs = (fcs & 1) ? (uint16_t) ((fcs >> 1) ^ 0x8408) : (uint16_t) (fcs >> 1);
    }
    return (uint16_t) ~fcs;
}

/* ------------------------------------------------------------------ events */
static int is_hdlc(const chan_t *c) { return (c->sigtype & DAHDI_SIG_HDLCRAW) == DAHDI_SIG_HDLCRAW; }
static int is_fxs_sig(const chan_t *c) { return (c->sigtype & __DAHDI_SIG_FXS) != 0; }   /* an FXO port */
static int is_fxo_sig(const chan_t *c) { return (c->sigtype & __DAHDI_SIG_FXO) != 0; }   /* an FXS port */

static void qevent(chan_t *c, int e)
{
    if (c->fd < 0) return;               /* events of a closed channel are not kept */
    if (c->evcount == EVQ) return;       /* full: dropped, as the kernel's queue does */
    c->ev[(c->evhead + c->evcount) % EVQ] = e;
    c->evcount++;
}

/* take the card's events into the channels' DAHDI event queues */
static void pump(void)
{
    sim_event_t ev[256];
    int n, i, k;
    if (!card) return;
    do {
        n = sim.events(card, ev, 256);
        for (i = 0; i < n; i++) {
            int t = ev[i].type;
            if (t == 11) {               /* span alarm bits: 1 red, 2 blue, 4 yellow */
                int sp = ev[i].span, bits = ev[i].value, a = 0;
                span_t *s;
                if (sp < 0 || sp >= nspans) continue;
                s = &spans[sp];
                if (bits & 1) a |= DAHDI_ALARM_RED | DAHDI_ALARM_LOS;
                if (bits & 2) a |= DAHDI_ALARM_BLUE;
                if (bits & 4) a |= DAHDI_ALARM_YELLOW;
                s->alarms = a;
                for (k = 0; k < s->totalchans; k++)
                    qevent(&chans[s->basechan - 1 + k], a ? DAHDI_EVENT_ALARM : DAHDI_EVENT_NOALARM);
                continue;
            }
            if (ev[i].channel < 0 || ev[i].channel >= nchan) continue;
            {
                chan_t *c = &chans[ev[i].channel];
                switch (t) {
                case 1: if (is_fxs_sig(c)) qevent(c, DAHDI_EVENT_RINGBEGIN); break;          /* ring on */
                case 2: if (is_fxs_sig(c)) qevent(c, DAHDI_EVENT_RINGOFFHOOK); break;        /* ring off */
                case 3: if (is_fxo_sig(c)) qevent(c, DAHDI_EVENT_RINGOFFHOOK); break;        /* station off hook */
                case 4: if (is_fxo_sig(c)) qevent(c, DAHDI_EVENT_ONHOOK); break;             /* station on hook */
                case 5: if (is_fxo_sig(c)) qevent(c, DAHDI_EVENT_WINKFLASH); break;          /* hook flash */
                case 6: if (is_fxs_sig(c)) qevent(c, DAHDI_EVENT_ONHOOK); break;             /* loop current lost */
                case 8: if (is_fxs_sig(c)) qevent(c, DAHDI_EVENT_POLARITY); break;
                case 9: if (c->sigtype == DAHDI_SIG_CAS) qevent(c, DAHDI_EVENT_BITSCHANGED); break;
                default: break;                /* 7 loop restored: no DAHDI event; 10 frames: by read/poll */
                }
            }
        }
    } while (n == 256);
}

static int pop_event(chan_t *c)
{
    int e;
    if (!c->evcount) return DAHDI_EVENT_NONE;
    e = c->ev[c->evhead];
    c->evhead = (c->evhead + 1) % EVQ;
    c->evcount--;
    return e;
}

static int64_t cur_tick(void) { return sim.now(card) / block; }

/* the wait for the next block: the card's clock moves (its tick and far end run in the callback) */
static void advance(void)
{
    advances++;
    if (advance_cb) advance_cb();
    else sim.tick(card);
    pump();
}

/* a received frame waiting on an HDLC channel (frames with a bad FCS are dropped here, as the card does) */
static int frame_ready(chan_t *c, int channo)
{
    span_t *s = &spans[c->spanno - 1];
    while (c->framelen < 0) {
        int n = sim.recv_frame(card, channo - 1, c->frame, FRAME_MAX - 2);
        if (n < 0) return 0;
        if (c->corrupt_next) {
            c->corrupt_next = 0;
            s->badfcs++;
            qevent(c, DAHDI_EVENT_BADFCS);
            continue;
        }
        {
            uint16_t f = fcs16(c->frame, n);
            c->frame[n] = (uint8_t) (f & 0xFF);
            c->frame[n + 1] = (uint8_t) (f >> 8);
        }
        c->framelen = n + 2;
        s->frames_rx++;
    }
    return 1;
}

static short revents_of(sfd_t *f, short want)
{
    chan_t *c;
    short re = 0;
    if (f->ctl || !f->channo) return want & POLLOUT;
    if (!present) return POLLERR | (want & POLLPRI);
    c = &chans[f->channo - 1];
    if (c->evcount) re |= POLLPRI;
    if (is_hdlc(c)) {
        if (frame_ready(c, f->channo)) re |= POLLIN;
    } else if (c->rd_tick != cur_tick()) {
        re |= POLLIN;
    }
    re |= POLLOUT;
    return re & (want | POLLERR | POLLHUP);
}

/* ------------------------------------------------------------------ attach (from Python) */
int tlshim_attach(const char *sim_so, void *s, int n, const int *sigtype, const int *spanof, const int *law,
                  int ns, const int *spantype, void (*advance_fn)(void))
{
    void *h;
    int i;
    resolve();
    h = dlopen(sim_so, RTLD_NOW | RTLD_NOLOAD);
    if (!h) return -1;
#define SYM(field, name) if (!(*(void **) &sim.field = dlsym(h, name))) return -2
    SYM(tick, "tlsim_tick"); SYM(now, "tlsim_now"); SYM(block, "tlsim_block");
    SYM(read_rows, "tlsim_card_read_rows"); SYM(write_rows, "tlsim_card_write_rows");
    SYM(hook, "tlsim_card_hook"); SYM(ring, "tlsim_card_ring"); SYM(set_cas, "tlsim_card_set_cas");
    SYM(get_cas, "tlsim_card_get_cas"); SYM(send_frame, "tlsim_card_send_frame");
    SYM(recv_frame, "tlsim_card_recv_frame"); SYM(events, "tlsim_card_events"); SYM(alarms, "tlsim_card_alarms");
    if (n <= 0 || ns <= 0 || ns > SPANS) return -3;
    if (!fdtab && !(fdtab = calloc(MAXFD, sizeof(sfd_t)))) return -4;
    free(chans);
    if (!(chans = calloc((size_t) n, sizeof(chan_t)))) return -4;
    card = s;
    nchan = n;
    nspans = ns;
    block = sim.block(s);
    advance_cb = advance_fn;
    present = 1;
    memset(spans, 0, sizeof(spans));
    for (i = 0; i < ns; i++) spans[i].type = spantype[i];
    for (i = 0; i < n; i++) {
        chan_t *c = &chans[i];
        span_t *sp;
        if (spanof[i] < 0 || spanof[i] >= ns) return -5;
        sp = &spans[spanof[i]];
        c->sigtype = sigtype[i];
        c->spanno = spanof[i] + 1;
        c->law = law[i] ? DAHDI_LAW_MULAW : DAHDI_LAW_ALAW;
        c->fd = -1;
        c->framelen = -1;
        c->rd_tick = -1;
        if (!sp->totalchans) sp->basechan = i + 1;
        c->chanpos = i + 2 - sp->basechan;
        sp->totalchans++;
        if (c->sigtype) sp->numchans++;
    }
    return 0;
}

/* release the card: every open channel fd then reads as a removed device */
void tlshim_detach(void)
{
    card = NULL;
    present = 0;
    nchan = 0;
}

void tlshim_set_present(int on)
{
    int i;
    present = on ? 1 : 0;
    if (!present)
        for (i = 0; i < nchan; i++) qevent(&chans[i], DAHDI_EVENT_REMOVED);
}

/* line errors: the next frame the far end sends on this channel arrives with a bad FCS */
int tlshim_corrupt_next_frame(int channo)
{
    if (channo < 1 || channo > nchan) return -1;
    chans[channo - 1].corrupt_next = 1;
    return 0;
}

/* counters for tests: [advances, badfcs of span, frames rx of span, frames tx of span, ec taps of chan] */
void tlshim_counters(int spanno, int channo, uint64_t *out)
{
    out[0] = advances;
    out[1] = spanno >= 1 && spanno <= nspans ? spans[spanno - 1].badfcs : 0;
    out[2] = spanno >= 1 && spanno <= nspans ? spans[spanno - 1].frames_rx : 0;
    out[3] = spanno >= 1 && spanno <= nspans ? spans[spanno - 1].frames_tx : 0;
    out[4] = channo >= 1 && channo <= nchan ? (uint64_t) chans[channo - 1].ec_taps : 0;
}

int tlshim_loaded(void) { return 1; }

/* ------------------------------------------------------------------ open / close */
static int shim_open(const char *path, int flags)
{
    int fd, channo = 0, ctl = 0;
    const char *rest = path + strlen("/dev/dahdi");
    if (!card || !present) { errno = ENOENT; return -1; }
    if (strcmp(rest, "/ctl") == 0) ctl = 1;
    else if (strcmp(rest, "/channel") == 0) channo = 0;
    else if (rest[0] == '/' && rest[1] >= '1' && rest[1] <= '9') {
        char *end;
        long v = strtol(rest + 1, &end, 10);
        if (*end || v < 1 || v > nchan) { errno = ENXIO; return -1; }
        channo = (int) v;
    } else { errno = ENOENT; return -1; }
    if (channo) {
        chan_t *c = &chans[channo - 1];
        if (!c->sigtype) { errno = ENXIO; return -1; }
        if (c->fd >= 0) { errno = EBUSY; return -1; }
    }
    fd = real_open("/dev/null", O_RDWR | (flags & O_CLOEXEC));
    if (fd < 0) return -1;
    if (fd >= MAXFD) { real_close(fd); errno = EMFILE; return -1; }
    fdtab[fd].used = 1;
    fdtab[fd].ctl = ctl;
    fdtab[fd].channo = 0;
    fdtab[fd].nonblock = (flags & O_NONBLOCK) != 0;
    if (channo) {
        chan_t *c = &chans[channo - 1];
        fdtab[fd].channo = channo;
        c->fd = fd;
        c->evcount = 0;
        c->blocksize = block;
        c->rd_tick = -1;
    }
    return fd;
}

static int is_dahdi_path(const char *p)
{
    return p && strncmp(p, "/dev/dahdi", 10) == 0 && (p[10] == '/' || p[10] == 0);
}

static int get_mode(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, int) : 0;
}

/* The four open entry points: a /dev/dahdi path opens an emulated fd, anything else goes to libc with
 * the mode argument (present only with O_CREAT or O_TMPFILE). */
#define OPEN_DAHDI_OR_REAL(real_call)                                   \
    do {                                                                \
        va_list ap;                                                     \
        int mode;                                                       \
        resolve();                                                      \
        if (is_dahdi_path(path)) return shim_open(path, flags);         \
        va_start(ap, flags);                                            \
        mode = get_mode(flags, ap);                                     \
        va_end(ap);                                                     \
        return real_call;                                               \
    } while (0)

int open(const char *path, int flags, ...) { OPEN_DAHDI_OR_REAL(real_open(path, flags, mode)); }
int open64(const char *path, int flags, ...) { OPEN_DAHDI_OR_REAL(real_open64(path, flags, mode)); }
int openat(int dirfd, const char *path, int flags, ...) { OPEN_DAHDI_OR_REAL(real_openat(dirfd, path, flags, mode)); }
int openat64(int dirfd, const char *path, int flags, ...)
{
    OPEN_DAHDI_OR_REAL(real_openat64(dirfd, path, flags, mode));
}

int __open_2(const char *path, int flags) { return open(path, flags); }
int __open64_2(const char *path, int flags) { return open64(path, flags); }

static void release(sfd_t *f, int fd)
{
    if (f->channo && chans && f->channo <= nchan && chans[f->channo - 1].fd == fd) {
        chan_t *c = &chans[f->channo - 1];
        c->fd = -1;
        c->evcount = 0;
        c->ec_taps = 0;
        c->linear = 0;
        if (card && is_fxs_sig(c)) sim.hook(card, f->channo - 1, 0);   /* closing a line hangs it up */
        if (card && is_fxo_sig(c)) sim.ring(card, f->channo - 1, 0);
    }
    memset(f, 0, sizeof(*f));
}

int close(int fd)
{
    sfd_t *f;
    resolve();
    f = shim_fd(fd);
    if (f) release(f, fd);
    return real_close(fd);
}

/* ------------------------------------------------------------------ read / write */
static ssize_t shim_read(sfd_t *f, void *buf, size_t count)
{
    chan_t *c;
    int32_t row;
    if (f->ctl || !f->channo) { errno = EINVAL; return -1; }
    if (!present || !card) { errno = ENODEV; return -1; }
    c = &chans[f->channo - 1];
    pump();
    if (c->evcount) { errno = ELAST; return -1; }
    if (is_hdlc(c)) {
        int n;
        while (!frame_ready(c, f->channo)) {
            if (c->evcount) { errno = ELAST; return -1; }
            if (f->nonblock) { errno = EAGAIN; return -1; }
            advance();
        }
        if (c->evcount) { errno = ELAST; return -1; }
        n = c->framelen < (int) count ? c->framelen : (int) count;
        memcpy(buf, c->frame, (size_t) n);
        c->framelen = -1;
        return n;
    }
    while (c->rd_tick == cur_tick()) {
        if (f->nonblock) { errno = EAGAIN; return -1; }
        advance();
        if (c->evcount) { errno = ELAST; return -1; }
    }
    {
        uint8_t codes[2048];
        int n = block, i;
        row = f->channo - 1;
        sim.read_rows(card, &row, 1, codes);
        c->rd_tick = cur_tick();
        if (c->linear) {
            int16_t *out = buf;
            if ((int) count < 2 * n) n = (int) count / 2;
            for (i = 0; i < n; i++) out[i] = c->law == DAHDI_LAW_MULAW ? ulaw_lin(codes[i]) : alaw_lin(codes[i]);
            return 2 * n;
        }
        if ((int) count < n) n = (int) count;
        memcpy(buf, codes, (size_t) n);
        return n;
    }
}

static ssize_t shim_write(sfd_t *f, const void *buf, size_t count)
{
    chan_t *c;
    int32_t row;
    if (f->ctl || !f->channo) { errno = EINVAL; return -1; }
    if (!present || !card) { errno = ENODEV; return -1; }
    c = &chans[f->channo - 1];
    row = f->channo - 1;
    if (is_hdlc(c)) {
        if (count < 3 || count > FRAME_MAX) { errno = EINVAL; return -1; }
        if (sim.send_frame(card, row, buf, (int) count - 2) < 0) { errno = EAGAIN; return -1; }
        spans[c->spanno - 1].frames_tx++;
        return (ssize_t) count;
    }
    {
        uint8_t codes[2048];
        int n = block, i;
        if (c->linear) {
            const int16_t *in = buf;
            if ((int) count / 2 < n) { errno = EINVAL; return -1; }
            for (i = 0; i < n; i++) codes[i] = c->law == DAHDI_LAW_MULAW ? lin_ulaw(in[i]) : lin_alaw(in[i]);
            sim.write_rows(card, &row, 1, codes);
            return 2 * n;
        }
        if ((int) count < n) { errno = EINVAL; return -1; }
        sim.write_rows(card, &row, 1, buf);
        return n;
    }
}

ssize_t read(int fd, void *buf, size_t count)
{
    sfd_t *f;
    resolve();
    f = shim_fd(fd);
    return f ? shim_read(f, buf, count) : real_read(fd, buf, count);
}

ssize_t __read_chk(int fd, void *buf, size_t count, size_t buflen)
{
    (void) buflen;
    return read(fd, buf, count);
}

ssize_t write(int fd, const void *buf, size_t count)
{
    sfd_t *f;
    resolve();
    f = shim_fd(fd);
    return f ? shim_write(f, buf, count) : real_write(fd, buf, count);
}

/* ------------------------------------------------------------------ ioctl */
static int fill_spaninfo(struct dahdi_spaninfo *si)
{
    span_t *s;
    int sp = si->spanno;
    if (sp < 1 || sp > nspans) { errno = EINVAL; return -1; }
    s = &spans[sp - 1];
    memset(si, 0, sizeof(*si));
    si->spanno = sp;
    snprintf(si->name, sizeof(si->name), "TLSIM/%d", sp);
    snprintf(si->desc, sizeof(si->desc), "TLSIM %s span %d",
             s->type == 1 ? "E1" : s->type == 2 ? "T1" : "analog", sp);
    si->alarms = s->alarms;
    si->numchans = s->numchans;
    si->totalchans = s->totalchans;
    si->totalspans = nspans;
    si->syncsrc = 1;
    snprintf(si->manufacturer, sizeof(si->manufacturer), "Trunkline");
    snprintf(si->devicetype, sizeof(si->devicetype), "emulated card (hw_sim)");
    si->linecompat = s->type ? (s->type == 1 ? (DAHDI_CONFIG_HDB3 | DAHDI_CONFIG_CCS | DAHDI_CONFIG_CRC4)
                                             : (DAHDI_CONFIG_B8ZS | DAHDI_CONFIG_ESF)) : 0;
    snprintf(si->spantype, sizeof(si->spantype), "%s", s->type == 1 ? "E1" : s->type == 2 ? "T1" : "");
    return 0;
}

static int fill_params(int channo, struct dahdi_params *p)
{
    chan_t *c;
    if (channo < 1 || channo > nchan) { errno = EINVAL; return -1; }
    c = &chans[channo - 1];
    memset(p, 0, sizeof(*p));
    p->channo = channo;
    p->spanno = c->spanno;
    p->chanpos = c->chanpos;
    p->sigtype = c->sigtype;
    p->sigcap = c->sigtype;
    p->curlaw = c->law;
    if (c->sigtype == DAHDI_SIG_CAS) {
        p->rxbits = sim.get_cas(card, channo - 1);
    }
    p->chan_alarms = (uint32_t) spans[c->spanno - 1].alarms;
    snprintf(p->name, sizeof(p->name), "TLSIM/%d/%d", c->spanno, c->chanpos);
    return 0;
}

static int shim_ioctl(sfd_t *f, int fd, unsigned long req, void *arg)
{
    chan_t *c = f->channo ? &chans[f->channo - 1] : NULL;
    int *iv = arg;
    if (!card) { errno = ENODEV; return -1; }
    pump();
    if (req == DAHDI_SPANSTAT) {
        struct dahdi_spaninfo *si = arg;
        if (si->spanno == 0 && c) si->spanno = c->spanno;
        return fill_spaninfo(si);
    }
    if (req == DAHDI_GET_PARAMS) {
        struct dahdi_params *p = arg;
        int ch = c ? f->channo : p->channo & ~DAHDI_GET_PARAMS_RETURN_MASTER;
        return fill_params(ch, p);
    }
    if (req == DAHDI_SPECIFY) {
        int ch = *iv;
        if (f->ctl || f->channo) { errno = EINVAL; return -1; }
        if (ch < 1 || ch > nchan) { errno = EINVAL; return -1; }
        if (!chans[ch - 1].sigtype) { errno = ENXIO; return -1; }
        if (chans[ch - 1].fd >= 0) { errno = EBUSY; return -1; }
        f->channo = ch;
        c = &chans[ch - 1];
        c->fd = fd;
        c->evcount = 0;
        c->blocksize = block;
        c->rd_tick = -1;
        return 0;
    }
    if (!c) { errno = EINVAL; return -1; }      /* the rest act on a channel */
    if (!present) { errno = ENODEV; return -1; }
    switch (req) {
    case DAHDI_CHANNO: *iv = f->channo; return 0;
    case DAHDI_SET_BLOCKSIZE:
        if (*iv < 16 || *iv > 8192) { errno = EINVAL; return -1; }
        if (*iv != block && !is_hdlc(c)) { errno = EINVAL; return -1; }   /* the emulated card moves 1 block/tick */
        c->blocksize = *iv;
        return 0;
    case DAHDI_SETLAW:
        if (*iv != DAHDI_LAW_DEFAULT && *iv != c->law) { errno = EINVAL; return -1; }  /* no law conversion */
        return 0;
    case DAHDI_SETLINEAR: c->linear = *iv ? 1 : 0; return 0;
    case DAHDI_GETEVENT: *iv = pop_event(c); return 0;
    case DAHDI_FLUSH:
        if (*iv & DAHDI_FLUSH_EVENT) c->evcount = 0;
        if (*iv & DAHDI_FLUSH_READ) { c->rd_tick = cur_tick(); c->framelen = -1; }
        return 0;
    case DAHDI_HOOK:
        if (is_fxs_sig(c)) {
            if (*iv == DAHDI_OFFHOOK || *iv == DAHDI_ONHOOK) return sim.hook(card, f->channo - 1, *iv == DAHDI_OFFHOOK);
        } else if (is_fxo_sig(c)) {
            if (*iv == DAHDI_RING) return sim.ring(card, f->channo - 1, 1);
            if (*iv == DAHDI_RINGOFF || *iv == DAHDI_ONHOOK || *iv == DAHDI_OFFHOOK) return sim.ring(card, f->channo - 1, 0);
        }
        errno = EINVAL;
        return -1;
    case DAHDI_SETTXBITS:
        if (c->sigtype != DAHDI_SIG_CAS) { errno = EINVAL; return -1; }
        return sim.set_cas(card, f->channo - 1, *iv & DAHDI_BITS_ABCD);
    case DAHDI_GETRXBITS:
        if (c->sigtype != DAHDI_SIG_CAS) { errno = EINVAL; return -1; }
        *iv = sim.get_cas(card, f->channo - 1);
        return 0;
    case DAHDI_ECHOCANCEL_PARAMS: {
        struct dahdi_echocanparams *ep = arg;
        if (is_hdlc(c)) { errno = EINVAL; return -1; }
        if (ep->tap_length > 1024) { errno = EINVAL; return -1; }
        c->ec_taps = (int) ep->tap_length;
        return 0;
    }
    default:
        errno = ENOTTY;
        return -1;
    }
}

int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    void *arg;
    sfd_t *f;
    resolve();
    va_start(ap, req);
    arg = va_arg(ap, void *);
    va_end(ap);
    f = shim_fd(fd);
    return f ? shim_ioctl(f, fd, req, arg) : real_ioctl(fd, req, arg);
}

/* ------------------------------------------------------------------ poll */
int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    nfds_t i, mine = 0;
    int ready = 0, pass;
    resolve();
    if (fdtab)
        for (i = 0; i < n; i++) if (shim_fd(fds[i].fd)) mine++;
    if (!mine) return real_poll(fds, n, timeout);
    for (pass = 0; pass < 2; pass++) {
        int others;
        pump();
        ready = 0;
        for (i = 0; i < n; i++) {
            sfd_t *f = shim_fd(fds[i].fd);
            fds[i].revents = 0;
            if (f) {
                fds[i].revents = revents_of(f, fds[i].events);
                if (fds[i].revents) ready++;
            }
        }
        if (mine < n) {                   /* other fds in the set: look at them without waiting */
            struct pollfd *rest = calloc(n, sizeof(*rest));
            if (!rest) { errno = ENOMEM; return -1; }
            for (i = 0; i < n; i++) {
                rest[i] = fds[i];
                if (shim_fd(fds[i].fd)) rest[i].fd = -1;
            }
            others = real_poll(rest, n, 0);
            for (i = 0; i < n && others > 0; i++)
                if (!shim_fd(fds[i].fd) && rest[i].revents) { fds[i].revents = rest[i].revents; ready++; }
            free(rest);
        }
        if (ready || timeout == 0 || !card || !present) break;
        advance();                         /* nothing yet: the card's next block is what we wait for */
    }
    return ready;
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    (void) fdslen;
    return poll(fds, n, timeout);
}
