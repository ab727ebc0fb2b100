/* The media engine's per-sample tick work (see tick.h): plain loops the compiler vectorises. */
#include <string.h>
#include "tick.h"

void tk_decode(const uint8_t *codes, int64_t rows, int64_t block, const int16_t *table, const int32_t *off,
               int16_t *out)
{
    for (int64_t r = 0; r < rows; r++) {
        const int16_t *t = table + off[r];
        const uint8_t *c = codes + r * block;
        int16_t *o = out + r * block;
        for (int64_t j = 0; j < block; j++)
            o[j] = t[c[j]];
    }
}

void tk_encode(const int32_t *acc, int64_t rows, int64_t block, const uint8_t *table, const int32_t *off,
               int16_t *out, uint8_t *codes)
{
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *t = table + off[r] + 32768;
        const int32_t *a = acc + r * block;
        int16_t *o = out + r * block;
        uint8_t *c = codes + r * block;
        for (int64_t j = 0; j < block; j++) {
            int32_t x = a[j];
            x = x < -32768 ? -32768 : (x > 32767 ? 32767 : x);
            o[j] = (int16_t)x;
            c[j] = t[x];
        }
    }
}

void tk_gather_add(int32_t *acc, const int16_t *src, const int64_t *dst, const int64_t *from, int64_t n,
                   int64_t block)
{
    for (int64_t i = 0; i < n; i++) {
        int32_t *a = acc + dst[i] * block;
        const int16_t *s = src + from[i] * block;
        for (int64_t j = 0; j < block; j++)
            a[j] += s[j];
    }
}

void tk_play(int32_t *acc, const int16_t *data, const int64_t *rows, int64_t n, const int64_t *start,
             const int64_t *pos, const int64_t *length, const uint8_t *loop, int64_t block)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t ch = rows[i], p = pos[ch], len = length[ch];
        int32_t *a = acc + ch * block;
        const int16_t *d = data + start[ch];
        if (p + block <= len) {                 /* the whole block inside the clip */
            const int16_t *s = d + p;
            for (int64_t j = 0; j < block; j++)
                a[j] += s[j];
        } else if (len > 0) {                   /* the clip ends or wraps inside this block */
            for (int64_t j = 0; j < block; j++) {
                int64_t rel = p + j;
                if (loop[ch])
                    rel %= len;
                if (rel < len)
                    a[j] += d[rel];
            }
        }
    }
}

void tk_capture(uint8_t *buf, int64_t slots, int64_t ticks, int64_t t, int64_t block, const int64_t *ch,
                const uint8_t *codes_in, const uint8_t *codes_out)
{
    for (int64_t s = 0; s < slots; s++) {
        uint8_t *b = buf + ((s * ticks + t) * 2) * block;
        memcpy(b, codes_in + ch[s] * block, (size_t)block);
        memcpy(b + block, codes_out + ch[s] * block, (size_t)block);
    }
}

void tk_interleave(const uint8_t *buf, int64_t ticks, int64_t block, int64_t s, int64_t a, int64_t b, uint8_t *out)
{
    for (int64_t t = a; t < b; t++) {
        const uint8_t *rx = buf + ((s * ticks + t) * 2) * block;
        const uint8_t *tx = rx + block;
        uint8_t *o = out + (t - a) * block * 2;
        for (int64_t j = 0; j < block; j++) {
            o[2 * j] = rx[j];
            o[2 * j + 1] = tx[j];
        }
    }
}
