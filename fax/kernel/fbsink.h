/* Where a fax bank transmitter's samples go (fbtx.c, fbtxfsk.c): k rows of int16, or added into the engine's
   int32 mix; and the two entry points each transmitter kind exports. */
#ifndef FBSINK_H
#define FBSINK_H
#include <stdint.h>
#include <string.h>
#include "fbmath.h"   /* and faxbank.h, included first by the includer */

/* where a kernel's samples go: k rows of n int16 (out), or added into row rows[s] of acc (stride int32 a row) */
typedef struct {
    int16_t *out;
    int32_t *acc;
    const int64_t *rows;
    int64_t stride;
    int n;
} fb_sink_t;

static inline int16_t *sink_out(const fb_sink_t *k, int s)
{
    return k->acc ? NULL : k->out + (int64_t) s * k->n;
}

static inline int32_t *sink_acc(const fb_sink_t *k, int s)
{
    return k->acc ? k->acc + k->rows[s] * k->stride : NULL;
}

/* sample j of a session: stored, or added to its channel's mix */
static inline void sink_put(int16_t *o, int32_t *a, int j, int16_t v)
{
    if (a)
        a[j] += v;
    else
        o[j] = v;
}

/* The two entry points of a transmitter kind: into output rows (out, k x n int16) or added into the engine's
   mix (rows of acc); each clears the k event flags first and returns how many it set. */
#define FB_TX_ENTRY_POINTS(write_fn, add_fn, type, all_fn)                                                   \
    int write_fn(type **tx, int k, int16_t *out, int n, uint8_t *events)                                     \
    {                                                                                                        \
        fb_sink_t sink = {out, NULL, NULL, 0, n};                                                            \
        if (events)                                                                                          \
            memset(events, 0, (size_t) (k > 0 ? k : 0));                                                     \
        all_fn(tx, k, &sink, events);                                                                        \
        return fb_count_events(events, k);                                                                   \
    }                                                                                                        \
    int add_fn(type **tx, int k, const int64_t *rows, int32_t *acc, int stride, int n, uint8_t *events)      \
    {                                                                                                        \
        fb_sink_t sink = {NULL, acc, rows, stride, n};                                                       \
        if (events)                                                                                          \
            memset(events, 0, (size_t) (k > 0 ? k : 0));                                                     \
        all_fn(tx, k, &sink, events);                                                                        \
        return fb_count_events(events, k);                                                                   \
    }

#endif
