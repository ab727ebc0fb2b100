/* tldahdi: the dahdi:// backend's C part — the DAHDI userspace ABI it uses, and block I/O over every
 * channel fd in one call per tick.
 *
 * The numbers and layouts below are the backend's own copy of what it uses from <dahdi/user.h>
 * (DAHDI 2.x); tests/drivers/test_dahdi_abi.py compiles a check against the real header and compares
 * every number, size and offset.  Keeping a copy lets the backend build without dahdi-source installed.
 */
#ifndef TLDAHDI_H
#define TLDAHDI_H
#include <stdint.h>

struct tld_params {
    int channo, spanno, chanpos, sigtype, sigcap, rxisoffhook, rxbits, txbits, txhooksig, rxhooksig;
    int curlaw, idlebits;
    char name[40];
    int prewinktime, preflashtime, winktime, flashtime, starttime, rxwinktime, rxflashtime;
    int debouncetime, pulsebreaktime, pulsemaketime, pulseaftertime;
    uint32_t chan_alarms;
};

struct tld_spaninfo {
    int spanno;
    char name[20];
    char desc[40];
    int alarms, txlevel, rxlevel, bpvcount, crc4count, ebitcount, fascount;
    uint32_t fecount, cvcount, becount, prbs, errsec;
    int irqmisses, syncsrc, numchans, totalchans, totalspans, lbo, lineconfig;
    char lboname[40];
    char location[40];
    char manufacturer[40];
    char devicetype[40];
    int irq, linecompat;
    char spantype[6];
} __attribute__((packed));

struct tld_echocanparams {
    uint32_t tap_length;
    uint32_t param_count;
};

/* one event read from a channel: index in the fd table, DAHDI event code, value (rx bits for BITSCHANGED) */
typedef struct {
    int32_t index;
    int32_t event;
    int32_t value;
} tld_event_t;

extern const unsigned long TLD_SET_BLOCKSIZE, TLD_FLUSH, TLD_GET_PARAMS, TLD_HOOK, TLD_GETEVENT, TLD_SPANSTAT,
    TLD_ECHOCANCEL_PARAMS, TLD_CHANNO, TLD_SPECIFY, TLD_SETLAW, TLD_SETLINEAR, TLD_GETRXBITS, TLD_SETTXBITS;

int tld_open(const char *path);
int tld_open_channel(int channo, int blocksize, int law);
int tld_close(int fd);
int tld_ioctl_int(int fd, unsigned long request, int *value);
int tld_get_params(int fd, int channo, struct tld_params *out);
int tld_spanstat(int fd, int spanno, struct tld_spaninfo *out);
int tld_echocancel(int fd, int taps);
int tld_drain_events(int fd, int index, tld_event_t *ev, int maxev, int *nev);
int tld_read_frame(int fd, int index, uint8_t *buf, int max, tld_event_t *ev, int maxev, int *nev);
int tld_write_frame(int fd, const uint8_t *data, int len);
int tld_io(int n, const int *fds, const int *rows, const uint8_t *audio, const uint8_t *tx, uint8_t *rx,
           int block, int timeout_ms, tld_event_t *ev, int maxev, int *nev, uint8_t *dready, int64_t *counters);

#endif
