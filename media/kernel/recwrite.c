/* The recording writer's file work (see recwrite.h): staging, interleaving, appends and header rewrites. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "recwrite.h"

#define RIFF_MAX_DATA (0xFFFFFFFFu - 36u)

static int write_all(int fd, const uint8_t *p, int64_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, (size_t)n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno ? errno : EIO;
        }
        if (w == 0)
            return ENOSPC;
        p += w;
        n -= w;
    }
    return 0;
}

/* one tick of one slot: its received (and sent) block, as the file wants it, at o */
static void put_tick(const uint8_t *rx, const uint8_t *tx, int64_t block, int tracks, int fmt, const int16_t *table,
                     uint8_t *o)
{
    if (fmt < 2) {
        if (tracks == 1) {
            memcpy(o, rx, (size_t)block);
            return;
        }
        for (int64_t j = 0; j < block; j++) {
            o[2 * j] = rx[j];
            o[2 * j + 1] = tx[j];
        }
        return;
    }
    const int16_t *t = table + (fmt == 3 ? 256 : 0);
    for (int64_t j = 0; j < block; j++) {       /* little-endian int16, as WAV stores it */
        uint16_t v = (uint16_t)t[rx[j]];
        o[0] = (uint8_t)v;
        o[1] = (uint8_t)(v >> 8);
        if (tracks == 2) {
            uint16_t w = (uint16_t)t[tx[j]];
            o[2] = (uint8_t)w;
            o[3] = (uint8_t)(w >> 8);
            o += 4;
        } else {
            o += 2;
        }
    }
}

int64_t tk_rec_write(const uint8_t *buf, int64_t ticks, int64_t block, int64_t n, const int64_t *slot,
                     const int64_t *a, const int64_t *b, const int32_t *fd, const int32_t *mode,
                     const int16_t *table, uint8_t *stage, int64_t stage_cap, int64_t *stage_len,
                     int64_t *data_bytes, int32_t *err, int32_t force)
{
    int64_t fails = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t s = slot[i];
        if (fd[s] < 0 || err[s])
            continue;
        int tracks = mode[s] & 15, fmt = (mode[s] >> 4) & 15;
        int64_t tick_bytes = block * tracks * (fmt >= 2 ? 2 : 1);
        uint8_t *st = stage + s * stage_cap;
        int64_t len = stage_len[s];
        int e = 0;
        for (int64_t t = a[i]; t < b[i] && !e; t++) {
            if (len + tick_bytes > stage_cap) {
                e = write_all(fd[s], st, len);
                if (!e)
                    data_bytes[s] += len;
                len = 0;
            }
            if (!e) {
                const uint8_t *rx = buf + ((s * ticks + t) * 2) * block;
                put_tick(rx, rx + block, block, tracks, fmt, table, st + len);
                len += tick_bytes;
            }
        }
        if (!e && len > 0 && (force || len + tick_bytes > stage_cap)) {
            e = write_all(fd[s], st, len);
            if (!e)
                data_bytes[s] += len;
            len = 0;
        }
        if (e) {
            err[s] = e;
            len = 0;
            fails++;
        }
        stage_len[s] = len;
    }
    return fails;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

int64_t tk_rec_headers(int64_t n, const int64_t *slot, const int32_t *fd, const int32_t *mode,
                       const int64_t *data_bytes, int64_t *committed, int32_t *err)
{
    int64_t fails = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t s = slot[i];
        if (fd[s] < 0 || err[s] || committed[s] == data_bytes[s])
            continue;
        int tracks = mode[s] & 15, fmt = (mode[s] >> 4) & 15;
        int width = fmt >= 2 ? 2 : 1;
        uint16_t tag = fmt >= 2 ? 1 : (fmt == 1 ? 7 : 6);          /* PCM, mu-law, A-law */
        uint32_t data = data_bytes[s] > (int64_t)RIFF_MAX_DATA ? RIFF_MAX_DATA : (uint32_t)data_bytes[s];
        uint8_t h[44];
        memcpy(h, "RIFF", 4);
        put32(h + 4, 36u + data);
        memcpy(h + 8, "WAVEfmt ", 8);
        put32(h + 16, 16);
        put16(h + 20, tag);
        put16(h + 22, (uint16_t)tracks);
        put32(h + 24, 8000);
        put32(h + 28, (uint32_t)(8000 * tracks * width));
        put16(h + 32, (uint16_t)(tracks * width));
        put16(h + 34, (uint16_t)(8 * width));
        memcpy(h + 36, "data", 4);
        put32(h + 40, data);
        ssize_t w;
        do {
            w = pwrite(fd[s], h, sizeof h, 0);
        } while (w < 0 && errno == EINTR);
        if (w != (ssize_t)sizeof h) {
            err[s] = w < 0 && errno ? errno : EIO;
            fails++;
            continue;
        }
        committed[s] = data_bytes[s];
    }
    return fails;
}
