/* tldahdi: the dahdi:// backend's C part.  See tldahdi.h. */
#include "tldahdi.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define TLD_CODE 0xDA
#define TLD_ELAST 500
#define TLD_EVENT_BITSCHANGED 13

const unsigned long TLD_SET_BLOCKSIZE = _IOW(TLD_CODE, 1, int);
const unsigned long TLD_FLUSH = _IOW(TLD_CODE, 3, int);
const unsigned long TLD_GET_PARAMS = _IOWR(TLD_CODE, 5, struct tld_params);
const unsigned long TLD_HOOK = _IOW(TLD_CODE, 7, int);
const unsigned long TLD_GETEVENT = _IOR(TLD_CODE, 8, int);
const unsigned long TLD_SPANSTAT = _IOWR(TLD_CODE, 10, struct tld_spaninfo);
const unsigned long TLD_ECHOCANCEL_PARAMS = _IOW(TLD_CODE, 33, struct tld_echocanparams);
const unsigned long TLD_CHANNO = _IOR(TLD_CODE, 34, int);
const unsigned long TLD_SPECIFY = _IOW(TLD_CODE, 38, int);
const unsigned long TLD_SETLAW = _IOW(TLD_CODE, 39, int);
const unsigned long TLD_SETLINEAR = _IOW(TLD_CODE, 40, int);
const unsigned long TLD_GETRXBITS = _IOR(TLD_CODE, 43, int);
const unsigned long TLD_SETTXBITS = _IOW(TLD_CODE, 43, int);

int tld_open(const char *path)
{
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int tld_open_channel(int channo, int blocksize, int law)
{
    int fd = open("/dev/dahdi/channel", O_RDWR | O_NONBLOCK | O_CLOEXEC), v, err;
    if (fd < 0) return -errno;
    v = channo;
    if (ioctl(fd, TLD_SPECIFY, &v) < 0) goto fail;     /* must be the first ioctl on the fd */
    v = blocksize;
    if (ioctl(fd, TLD_SET_BLOCKSIZE, &v) < 0) goto fail;
    if (law >= 0) {
        v = law;
        if (ioctl(fd, TLD_SETLAW, &v) < 0) goto fail;
        v = 0;
        if (ioctl(fd, TLD_SETLINEAR, &v) < 0) goto fail;
    }
    return fd;
fail:
    err = errno;
    close(fd);
    return -err;
}

int tld_close(int fd)
{
    return close(fd) < 0 ? -errno : 0;
}

int tld_ioctl_int(int fd, unsigned long request, int *value)
{
    return ioctl(fd, request, value) < 0 ? -errno : 0;
}

int tld_get_params(int fd, int channo, struct tld_params *out)
{
    memset(out, 0, sizeof(*out));
    out->channo = channo;
    return ioctl(fd, TLD_GET_PARAMS, out) < 0 ? -errno : 0;
}

int tld_spanstat(int fd, int spanno, struct tld_spaninfo *out)
{
    memset(out, 0, sizeof(*out));
    out->spanno = spanno;
    return ioctl(fd, TLD_SPANSTAT, out) < 0 ? -errno : 0;
}

int tld_echocancel(int fd, int taps)
{
    struct tld_echocanparams p;
    memset(&p, 0, sizeof(p));
    p.tap_length = taps > 0 ? (uint32_t) taps : 0;
    return ioctl(fd, TLD_ECHOCANCEL_PARAMS, &p) < 0 ? -errno : 0;
}

/* read every pending event of a channel (DAHDI_GETEVENT until NONE); bit changes carry the rx bits */
int tld_drain_events(int fd, int index, tld_event_t *ev, int maxev, int *nev)
{
    int k, got = 0;
    for (k = 0; k < 256; k++) {
        int e = 0, v = 0;
        if (ioctl(fd, TLD_GETEVENT, &e) < 0 || e == 0) break;
        if (e == TLD_EVENT_BITSCHANGED) ioctl(fd, TLD_GETRXBITS, &v);
        if (*nev < maxev) {
            ev[*nev].index = index;
            ev[*nev].event = e;
            ev[*nev].value = v;
            (*nev)++;
        }
        got++;
    }
    return got;
}

/* one HDLC frame from a D-channel (HDLCFCS: the read carries 2 FCS bytes, dropped here); -EAGAIN if none */
int tld_read_frame(int fd, int index, uint8_t *buf, int max, tld_event_t *ev, int maxev, int *nev)
{
    int k;
    for (k = 0; k < 8; k++) {
        ssize_t r = read(fd, buf, (size_t) max);
        if (r >= 0) return r >= 2 ? (int) r - 2 : 0;
        if (errno != TLD_ELAST) return -errno;
        tld_drain_events(fd, index, ev, maxev, nev);   /* e.g. BADFCS: the bad frame is gone */
    }
    return -EAGAIN;
}

/* one HDLC frame to a D-channel: the write carries 2 FCS bytes the card fills in */
int tld_write_frame(int fd, const uint8_t *data, int len)
{
    uint8_t buf[1024];
    ssize_t r;
    if (len < 0 || len > (int) sizeof(buf) - 2) return -EINVAL;
    memcpy(buf, data, (size_t) len);
    buf[len] = buf[len + 1] = 0;
    r = write(fd, buf, (size_t) len + 2);
    return r < 0 ? -errno : (int) r - 2;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* One tick of I/O over every open channel: write each audio channel's block of tx, then poll until every
 * audio channel has its next block (the cards' clock) or timeout_ms passes, reading each into rx; events
 * (POLLPRI, or ELAST on a read) are drained into ev; dready[i] is set for D-channels with a frame waiting.
 * counters: [0] write overruns, [1] blocks missed (timeout), [2] ELAST reads, [3] fd errors.
 * Returns the number of audio blocks read. */
int tld_io(int n, const int *fds, const int *rows, const uint8_t *audio, const uint8_t *tx, uint8_t *rx,
           int block, int timeout_ms, tld_event_t *ev, int maxev, int *nev, uint8_t *dready, int64_t *counters)
{
    static __thread struct pollfd *pfd = NULL;
    static __thread int cap = 0;
    int i, pending = 0, got = 0;
    int64_t deadline;
    *nev = 0;
    if (n > cap) {
        struct pollfd *np = realloc(pfd, sizeof(struct pollfd) * (size_t) n);
        if (!np) return -ENOMEM;
        pfd = np;
        cap = n;
    }
    for (i = 0; i < n; i++) {
        dready[i] = 0;
        pfd[i].fd = fds[i];
        pfd[i].events = POLLIN | POLLPRI;
        pfd[i].revents = 0;
        if (fds[i] < 0 || !audio[i]) continue;
        pending++;
        if (tx) {
            ssize_t r = write(fds[i], tx + (size_t) rows[i] * block, (size_t) block);
            if (r < 0 && errno == TLD_ELAST) {
                tld_drain_events(fds[i], i, ev, maxev, nev);
                r = write(fds[i], tx + (size_t) rows[i] * block, (size_t) block);
            }
            if (r < 0) counters[errno == EAGAIN ? 0 : 3]++;
        }
    }
    deadline = now_ms() + timeout_ms;
    do {
        int64_t rem = pending ? deadline - now_ms() : 0;
        int r = poll(pfd, (nfds_t) n, rem > 0 ? (int) rem : 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            counters[3]++;
            break;
        }
        if (r == 0) break;
        for (i = 0; i < n; i++) {
            short re = pfd[i].revents;
            if (!re || pfd[i].fd < 0) continue;
            if (re & POLLPRI) tld_drain_events(fds[i], i, ev, maxev, nev);
            if (re & (POLLERR | POLLHUP | POLLNVAL)) {
                counters[3]++;
                pfd[i].fd = -1;
                if (audio[i]) pending--;
                continue;
            }
            if (!(re & POLLIN)) continue;
            if (!audio[i]) {
                dready[i] = 1;
                pfd[i].fd = -1;
                continue;
            }
            {
                ssize_t k = read(fds[i], rx + (size_t) rows[i] * block, (size_t) block);
                if (k == block) {
                    got++;
                    pending--;
                    pfd[i].fd = -1;
                } else if (k < 0 && errno == TLD_ELAST) {
                    counters[2]++;
                    tld_drain_events(fds[i], i, ev, maxev, nev);   /* the block is read on the next pass */
                } else if (k < 0 && errno == EAGAIN) {
                    /* not there yet */
                } else {
                    counters[3]++;
                    pending--;
                    pfd[i].fd = -1;
                }
            }
        }
    } while (pending > 0);
    if (pending > 0) counters[1] += pending;
    return got;
}
