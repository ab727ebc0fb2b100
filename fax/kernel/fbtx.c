/* Fax bank kernels: the V.17 transmitter (see faxbank.h) - training, scrambler, trellis encoder, RRC shaping,
   carrier. It walks its sessions in one call and either writes k rows of int16 or adds each session's int16
   samples into its channel's row of the caller's int32 mix (the fax bank: no output buffers, no gather or
   scatter in numpy). The V.21 transmitter and the tones are in fbtxfsk.c. */
#include <math.h>
#include <stddef.h>
#include <string.h>
#include "faxbank.h"
#include "fbmath.h"
#include "fbsink.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static const int NEXT_STATE[8][4] = {{0, 2, 3, 1}, {4, 7, 5, 6}, {1, 3, 2, 0}, {7, 4, 6, 5},
                                     {2, 0, 1, 3}, {6, 5, 7, 4}, {3, 1, 0, 2}, {5, 6, 4, 7}};

#define SEG_ONES 48
#define TRAILER_ONES 32
#define TRAILER_SILENCE 48

/* the scrambler's taps for up to 6 bits at once: bit i of SCR_TAPS[v] = register bits 17 - i and 22 - i xored,
   v holding register bits 12..22; REV6 reverses 6 bits */
static uint8_t SCR_TAPS[2048], REV6[64];
/* SCR_TAPS indexed by the register held mirrored (bit j = bit 22 - j of the scrambler's): its low 11 bits, so that
   the next register is (R >> bps) | (q << (23 - bps)) with no reversal lookup in the chain from symbol to symbol */
static uint8_t SCR_TAPS_M[2048];
/* the differential and trellis encoders as one machine over s = conv << 4 | diff << 2 and the input's two low
   bits: TRELLIS[s | (q & 3)] = the next s | (the point's three low index bits) << 7 */
static uint16_t TRELLIS[128];
static int scr_ready;

static void scr_tables(void)
{
    int v, i;
    for (v = 0; v < 2048; v++) {
        uint32_t reg = (uint32_t) v << 12, m = 0;
        for (i = 0; i < 6; i++)
            m |= (((reg >> (17 - i)) ^ (reg >> (22 - i))) & 1) << i;
        SCR_TAPS[v] = (uint8_t) m;
    }
    for (v = 0; v < 64; v++) {
        int r = 0;
        for (i = 0; i < 6; i++)
            r |= ((v >> i) & 1) << (5 - i);
        REV6[v] = (uint8_t) r;
    }
    for (v = 0; v < 2048; v++) {   /* u's bit b is register bit 22 - b, i.e. bit 10 - b of SCR_TAPS's index */
        int t = 0;
        for (i = 0; i < 11; i++)
            t |= ((v >> i) & 1) << (10 - i);
        SCR_TAPS_M[v] = SCR_TAPS[t];
    }
    for (v = 0; v < 128; v++) {
        int conv = v >> 4, diff = ((v >> 2) + v) & 3, next = NEXT_STATE[conv][diff];
        TRELLIS[v] = (uint16_t) ((next << 4 | diff << 2) | ((diff << 1 | ((next >> 2) & 1)) << 7));
    }
    scr_ready = 1;
}

/* the symbol source's running state, held in registers while a pass makes its symbols (in the transmitter's
   struct each field would go through memory from one symbol to the next) */
typedef struct {
    int64_t nsym;
    int64_t last_symbol;
    int64_t end_sample;
    int64_t bitpos;
    uint32_t scr;
    int diff;
    int conv;
    int trailer_left;
} v17s_t;

/* The next V.17 symbol (training, ones, data, trailer, silence); mirrors V17Tx._next_symbol. */
static inline __attribute__((always_inline)) void v17_symbol(const fb_tx_t *t, v17s_t *st, double *re, double *im)
{
    int64_t s = st->nsym;
    int i, data, q = 0;
    *re = 0.0;
    *im = 0.0;
    if (st->last_symbol >= 0)
        return;
    if (s < t->ntrain) {
        *re = t->train[2 * s];
        *im = t->train[2 * s + 1];
    } else {
        s -= t->ntrain;
        if (st->trailer_left >= 0 && st->trailer_left <= TRAILER_SILENCE) {
            st->trailer_left--;
        } else {
            data = 0;
            if (s >= SEG_ONES) {
                if (st->trailer_left < 0 && !(t->finished && st->bitpos >= t->nbits)) {
                    data = 1;
                } else {
                    if (st->trailer_left < 0)
                        st->trailer_left = TRAILER_ONES + TRAILER_SILENCE;
                    st->trailer_left--;
                }
            }
            {   /* the scrambler over the symbol's bits: with at most 17 bits per symbol every output takes
                   its taps from the register as it was (bits 17 - i and 22 - i), so no bit waits for another.
                   st->scr holds the register mirrored (fb_rev23) */
                uint32_t in = 0;
                int bps = t->bps;
                if (!data) {
                    in = (1u << bps) - 1;
                } else {
                    const uint8_t *bp = t->bits;
                    int64_t pos = st->bitpos, nb = t->nbits;
                    if (pos + bps <= nb) {   /* the symbol's bits from one unaligned load of the packed bits */
                        uint64_t w;
                        memcpy(&w, bp + (pos >> 3), 8);
                        in = (uint32_t) (w >> (pos & 7)) & ((1u << bps) - 1);
                        pos += bps;
                    } else {   /* the last bits, ones after them */
                        for (i = 0; i < bps; i++, pos++)
                            in |= (uint32_t) (pos < nb ? (bp[pos >> 3] >> (pos & 7)) & 1 : 1) << i;
                    }
                    st->bitpos = pos < nb ? pos : nb;
                }
                if (bps <= 6) {   /* the taps of all bits from a table of register bits 12..22 (scr_tables() called by
                                     the caller); the new bits enter the mirrored register at the top, unreversed */
                    q = (int) ((in ^ SCR_TAPS_M[st->scr & 0x7FF]) & ((1u << bps) - 1));
                    st->scr = (st->scr >> bps) | ((uint32_t) q << (23 - bps));
                } else {
                    uint32_t reg = fb_rev23(st->scr), fresh = 0;
                    for (i = 0; i < bps; i++) {
                        uint32_t o = ((in >> i) ^ (reg >> (17 - i)) ^ (reg >> (22 - i))) & 1;
                        q |= (int) o << i;
                        fresh |= o << (bps - 1 - i);
                    }
                    st->scr = fb_rev23(((reg << bps) | fresh) & 0x7FFFFF);
                }
            }
            st->diff = (st->diff + (q & 3)) & 3;
            st->conv = NEXT_STATE[st->conv][st->diff];
            i = ((q << 1) & 0x78) | (st->diff << 1) | ((st->conv >> 2) & 1);
            *re = t->points[2 * i];
            *im = t->points[2 * i + 1];
        }
    }
    if (st->trailer_left >= 0 && st->trailer_left <= 0) {
        st->last_symbol = st->nsym;
        st->end_sample = (int64_t) ceil((double) (st->last_symbol + t->ntaps) * t->sps_up / t->up);
    }
}

/* How many of the next symbols (at most want) are data symbols whose bits are all queued (0 unless the source
   is past its training and ones and before its trailer): v17_data_symbols makes those. */
static inline int v17_fast_count(const fb_tx_t *t, const v17s_t *st, int64_t want)
{
    int64_t n;
    if (st->last_symbol >= 0 || st->trailer_left >= 0 || t->bps > 6 || st->nsym - t->ntrain < SEG_ONES)
        return 0;
    n = (t->nbits - st->bitpos) / t->bps;
    return (int) (n < want ? n : want);
}

/* cnt data symbols into sym (re, im pairs): v17_symbol's data branch alone, the scrambler's taps from the
   mirrored register itself (bit i of SCR_TAPS_M[v] is bit i ^ bit 5 + i of v), the encoders from TRELLIS, the
   points from fpts (t->points in float); inlined for each bit rate, so that its shifts are constants */
static inline __attribute__((always_inline)) void v17_data_run(const fb_tx_t *t, v17s_t *st, int cnt, float *sym,
                                                               const float *fpts, const int bps)
{
    const uint8_t *bp = t->bits;
    const uint32_t mask = (1u << bps) - 1;
    uint32_t scr = st->scr, s7 = (uint32_t) (st->conv << 4 | st->diff << 2);
    int k;
    int64_t pos = st->bitpos;
    for (k = 0; k < cnt; k++) {
        uint64_t w;
        uint32_t q, e, i;
        memcpy(&w, bp + (pos >> 3), 8);   /* the symbol's bits from one unaligned load of the packed bits */
        q = ((uint32_t) (w >> (pos & 7)) ^ scr ^ (scr >> 5)) & mask;
        pos += bps;
        scr = (scr >> bps) | (q << (23 - bps));
        e = TRELLIS[s7 | (q & 3)];
        s7 = e & 0x7C;
        i = ((q << 1) & 0x78) | (e >> 7);
        memcpy(sym + 2 * k, fpts + 2 * i, 2 * sizeof(float));
    }
    st->scr = scr, st->diff = (int) (s7 >> 2) & 3, st->conv = (int) (s7 >> 4), st->bitpos = pos;
    st->nsym += cnt;
}

static void v17_data_symbols(const fb_tx_t *t, v17s_t *st, int cnt, float *sym, const float *fpts)
{
    switch (t->bps) {
    case 6:
        v17_data_run(t, st, cnt, sym, fpts, 6);
        break;
    case 5:
        v17_data_run(t, st, cnt, sym, fpts, 5);
        break;
    case 4:
        v17_data_run(t, st, cnt, sym, fpts, 4);
        break;
    default:
        v17_data_run(t, st, cnt, sym, fpts, t->bps);
        break;
    }
}

/* t->points in float (2^(bps + 1) points: every index a data symbol makes), converted again only when a
   transmitter has other points than the last one */
typedef struct {
    const double *of;
    int bps;
    float p[2 * 128];
} tx_fpts_t;

static const float *tx_fpts(tx_fpts_t *f, const fb_tx_t *t)
{
    if (f->of != t->points || f->bps != t->bps) {
        int i, n = 2 << t->bps;
        for (i = 0; i < 2 * n; i++)
            f->p[i] = (float) t->points[i];
        f->of = t->points;
        f->bps = t->bps;
    }
    return f->p;
}

/* one output sample: the real dot product of a coefficient row with the symbol history (2 * FB_TXNT
   numbers), in four independent partial sums (one vector of four lanes) */
typedef double fb_v4d __attribute__((vector_size(32), aligned(8)));
typedef float fb_v4f __attribute__((vector_size(16), aligned(4)));

static inline double tx_dot(const double *restrict c, const float *restrict x)
{
    fb_v4d acc = {0.0, 0.0, 0.0, 0.0};
    int i;
    for (i = 0; i < 2 * FB_TXNT; i += 4)
        acc += *(const fb_v4d *) (c + i) * __builtin_convertvector(*(const fb_v4f *) (x + i), fb_v4d);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

typedef float fb_v8f __attribute__((vector_size(32), aligned(4)));
typedef int32_t fb_v8i __attribute__((vector_size(32), aligned(4)));
typedef int16_t fb_v8h __attribute__((vector_size(16), aligned(2)));

/* The columns of a period's table that each vector of 8 samples reads: a sample weighs only the ntaps symbols
   k0 - ntaps + 1 .. k0 (k0 = its symbol), so its other columns hold zeros, and a vector reads len columns from
   lo[v] (skipping zeros leaves every sum as it was: adding 0 changes no float sum). */
typedef struct {
    int up, sps_up, ntaps, P, cols;
    int len;
    int lo[FB_TXBPMAX / 8];
} tx_cols_t;

static int tx_cols_same(const tx_cols_t *tc, const fb_tx_t *t)
{
    return tc->P == t->ctab_period && tc->up == t->up && tc->sps_up == t->sps_up && tc->ntaps == t->ntaps &&
           tc->cols == t->bcols;
}

static void tx_cols_init(tx_cols_t *tc, const fb_tx_t *t)
{
    int v, nv = t->ctab_period / 8, len = 0;
    tc->P = t->ctab_period, tc->up = t->up, tc->sps_up = t->sps_up, tc->ntaps = t->ntaps, tc->cols = t->bcols;
    for (v = 0; v < nv; v++) {
        int lo = 2 * ((8 * v * t->up) / t->sps_up + FB_TXNT - t->ntaps);
        int hi = 2 * (((8 * v + 7) * t->up) / t->sps_up + FB_TXNT);
        lo = lo < 0 ? 0 : lo;
        hi = hi > t->bcols ? t->bcols : hi;
        lo = lo > hi ? hi : lo;
        tc->lo[v] = lo;
        len = hi - lo > len ? hi - lo : len;
    }
    for (v = 0; v < nv; v++)   /* all vectors len columns (the earlier ones zeros too) */
        tc->lo[v] = tc->lo[v] > t->bcols - len ? t->bcols - len : tc->lo[v];
    tc->len = len;
}

/* a vector of samples rounded to the nearest integer (ties to even) and saturated to int16, as int32 into *r:
   the values as emit_samples makes them (a float is exact in double); by pointer (no vector passed by value) */
static inline void round_sat8(const fb_v8f *xp, fb_v8i *r)
{
    fb_v8f x = *xp;
    const fb_v8f hi = {32767.0f, 32767.0f, 32767.0f, 32767.0f, 32767.0f, 32767.0f, 32767.0f, 32767.0f};
    const fb_v8f lo = {-32768.0f, -32768.0f, -32768.0f, -32768.0f, -32768.0f, -32768.0f, -32768.0f, -32768.0f};
    /* 1.5 * 2^23: a sum with it (of a value within int16) has units as its last place, so is rounded to one */
    const fb_v8f magic = {12582912.0f, 12582912.0f, 12582912.0f, 12582912.0f, 12582912.0f, 12582912.0f,
                          12582912.0f, 12582912.0f};
    fb_v8i over = x > hi, under = x < lo;
    x = (fb_v8f) (((fb_v8i) x & ~over) | ((fb_v8i) hi & over));
    x = (fb_v8f) (((fb_v8i) x & ~under) | ((fb_v8i) lo & under));
    *r = __builtin_convertvector((x + magic) - magic, fb_v8i);
}

/* One period of P samples (P a multiple of 8) from the window w of symbol numbers: sample i is the sum over
   columns c of bt[c * P + i] * w[c], in float, eight samples per vector (the whole period's samples at once, so
   no sample waits for its own sum), each vector over its tc->len columns. The samples go as doubles into dout,
   or (dout NULL) rounded into o or added into a. */
FB_SIMD_CLONES
static void tx_period(const float *restrict bt, const tx_cols_t *tc, const float *restrict w, int16_t *o,
                      int32_t *a, double *dout)
{
    fb_v8f acc[FB_TXBPMAX / 8];
    const int P = tc->P, nv = P / 8, len = tc->len;
    int c, v;
    if (nv == 5) {   /* V.17: 40 samples, the five sums interleaved in registers (one moving pointer into the
                        table and one into the window, the other vectors' columns at fixed distances from them) */
        const float *bp = bt + tc->lo[0] * 40, *wp = w + tc->lo[0], *end = wp + len;
        const ptrdiff_t e1 = tc->lo[1] - tc->lo[0], e2 = tc->lo[2] - tc->lo[0], e3 = tc->lo[3] - tc->lo[0];
        const ptrdiff_t e4 = tc->lo[4] - tc->lo[0];
        const ptrdiff_t d1 = e1 * 40 + 8, d2 = e2 * 40 + 16, d3 = e3 * 40 + 24, d4 = e4 * 40 + 32;
        fb_v8f a0 = {0, 0, 0, 0, 0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0, a4 = a0;
        for (; wp < end; wp++, bp += 40) {
            a0 += *(const fb_v8f *) bp * wp[0];
            a1 += *(const fb_v8f *) (bp + d1) * wp[e1];
            a2 += *(const fb_v8f *) (bp + d2) * wp[e2];
            a3 += *(const fb_v8f *) (bp + d3) * wp[e3];
            a4 += *(const fb_v8f *) (bp + d4) * wp[e4];
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        acc[4] = a4;
    } else {
        for (v = 0; v < nv; v++) {
            const float *b = bt + tc->lo[v] * P + 8 * v, *wv = w + tc->lo[v];
            fb_v8f s = {0, 0, 0, 0, 0, 0, 0, 0};
            for (c = 0; c < len; c++)
                s += *(const fb_v8f *) (b + c * P) * wv[c];
            acc[v] = s;
        }
    }
    for (v = 0; v < nv; v++) {
        int l;
        fb_v8i r;
        if (dout) {
            for (l = 0; l < 8; l++)
                dout[8 * v + l] = acc[v][l];
            continue;
        }
        round_sat8(acc + v, &r);
        if (a)
            *(fb_v8i *) (a + 8 * v) += r;
        else
            *(fb_v8h *) (o + 8 * v) = __builtin_convertvector(r, fb_v8h);
    }
}


#define TX_PASS 256   /* samples per pass at most (fewer when the symbols they need would overflow the history) */

/* the two lanes of v rounded to the nearest integer (ties to even) and saturated to int16, as int32 */
#ifdef __SSE2__
static inline __m128i round_sat2(const double *v)
{
    /* cvtpd2dq rounds in the current mode (to nearest, ties to even); the clamp first saturates (and keeps
       values beyond the int32 range right) */
    const __m128d lo = _mm_set1_pd(-32768.0), hi = _mm_set1_pd(32767.0);
    return _mm_cvtpd_epi32(_mm_min_pd(_mm_max_pd(_mm_loadu_pd(v), lo), hi));
}
#endif

static inline int32_t round_sat(double v)
{
    double x = rne(v);
    return (int32_t) (x > 32767.0 ? 32767 : (x < -32768.0 ? -32768 : x));
}

/* n samples rounded to the nearest integer (ties to even) and saturated to int16: into o, or added into a */
static void emit_samples(const double *v, int16_t *o, int32_t *a, int n)
{
    int j = 0;
    if (n <= 0)
        return;
#ifdef __SSE2__
    if (a) {
        for (; j + 4 <= n; j += 4) {
            __m128i x = _mm_unpacklo_epi64(round_sat2(v + j), round_sat2(v + j + 2));
            __m128i *p = (__m128i *) (a + j);
            _mm_storeu_si128(p, _mm_add_epi32(_mm_loadu_si128(p), x));
        }
    } else {
        for (; j + 8 <= n; j += 8) {
            __m128i ab = _mm_unpacklo_epi64(round_sat2(v + j), round_sat2(v + j + 2));
            __m128i cd = _mm_unpacklo_epi64(round_sat2(v + j + 4), round_sat2(v + j + 6));
            _mm_storeu_si128((__m128i *) (o + j), _mm_packs_epi32(ab, cd));
        }
    }
#endif
    for (; j < n; j++)
        sink_put(o, a, j, (int16_t) round_sat(v[j]));
}

/* the symbols of the history up to klast (data symbols in runs by v17_data_symbols) */
static void v17_make_symbols(fb_tx_t *t, int64_t klast, tx_fpts_t *fp)
{
    v17s_t st = {t->nsym, t->last_symbol, t->end_sample, t->bitpos, fb_rev23(t->scr), t->diff, t->conv,
                 t->trailer_left};
    const int64_t base = t->sbase;
    while (st.nsym <= klast) {
        double re, im;
        int f = v17_fast_count(t, &st, klast - st.nsym + 1);
        if (f > 0) {
            v17_data_symbols(t, &st, f, t->sym + 2 * (st.nsym - base), tx_fpts(fp, t));
            continue;
        }
        v17_symbol(t, &st, &re, &im);
        t->sym[2 * (st.nsym - base)] = (float) re;
        t->sym[2 * (st.nsym - base) + 1] = (float) im;
        st.nsym++;
    }
    t->nsym = st.nsym, t->last_symbol = st.last_symbol, t->end_sample = st.end_sample;
    t->bitpos = st.bitpos, t->scr = fb_rev23(st.scr), t->diff = st.diff, t->conv = st.conv;
    t->trailer_left = st.trailer_left;
}

FB_SIMD_CLONES
static void v17_tx_all(fb_tx_t **tx, int k, const fb_sink_t *sink, uint8_t *events)
{
    int s, j, n = sink->n;
    tx_cols_t tc = {0, 0, 0, 0, 0, 0, {0}};
    tx_fpts_t fp = {NULL, 0, {0}};
    if (!scr_ready)
        scr_tables();
    for (s = 0; s < k; s++) {
        fb_tx_t *t = tx[s];
        int16_t *o = sink_out(sink, s);
        int32_t *a = sink_acc(sink, s);
        int up = t->up, sps_up = t->sps_up, ph, q, done_n = 0;
        /* on their way into the cache meanwhile (at 1,000 sessions they come from L3 or memory): the state and
           symbol history of the transmitter after next, the data bits and mix row of the next one (whose state came
           in during the last round, so that reading where its bits are does not wait) */
        if (s + 2 < k) {
            const char *h = (const char *) tx[s + 2];
            int l, nl = (int) ((offsetof(fb_tx_t, sym) + sizeof(float) * 2 * (FB_TXNT + 64)) / 64);
            for (l = 0; l <= nl; l++)
                __builtin_prefetch(h + 64 * l);
        }
        if (s + 1 < k) {
            const fb_tx_t *u = tx[s + 1];
            int l;
            if (u->bits && u->bitpos < u->nbits) {   /* a block's bits: 36 octets at 14,400 bit/s */
                __builtin_prefetch(u->bits + (u->bitpos >> 3));
                __builtin_prefetch(u->bits + (u->bitpos >> 3) + 64);
            }
            if (a) {
                const char *r = (const char *) sink_acc(sink, s + 1);
                for (l = 0; l < (int) (n * sizeof(int32_t)); l += 64)
                    __builtin_prefetch(r + l, 1);
            }
        }
        int64_t m = t->m, k0;
        double v[TX_PASS];
        if (t->done || n <= 0) {   /* trailer out: silence */
            if (n > 0 && o)
                memset(o, 0, sizeof(int16_t) * (size_t) n);
            t->m += n > 0 ? n : 0;
            continue;
        }
        if (t->btab && !tx_cols_same(&tc, t))
            tx_cols_init(&tc, t);
        k0 = m * up / sps_up;
        ph = (int) (m * up % sps_up);
        q = (int) (m % t->ctab_period);
        while (done_n < n) {
            int c = n - done_n > TX_PASS ? TX_PASS : n - done_n, pend = 0;
            int16_t *oc = o ? o + done_n : NULL;
            int32_t *ac = a ? a + done_n : NULL;
            int64_t klast, cmax;
            if (t->nsym - FB_TXNT > t->sbase) {   /* the last FB_TXNT symbols to the front: the history stays in the
                                                    same few cache lines from block to block */
                int64_t nb = t->nsym - FB_TXNT;
                memmove(t->sym, t->sym + 2 * (nb - t->sbase), sizeof(float) * 2 * FB_TXNT);
                t->sbase = nb;
            }
            /* the samples whose symbols fit the history: symbol (m + c - 1) * up / sps_up < sbase + FB_TXBUF */
            cmax = ((t->sbase + FB_TXBUF) * sps_up - 1) / up - m + 1;
            if (c > cmax)
                c = (int) cmax;
            klast = (m + c - 1) * up / sps_up;
            if (t->nsym <= klast)
                v17_make_symbols(t, klast, &fp);
            /* v[pend .. j): made, not yet out */
            for (j = 0; j < c;) {
                if (q == 0 && t->btab && c - j >= t->ctab_period) {   /* a whole period as one matrix product */
                    int P = t->ctab_period, i;
                    const float *win = t->sym + 2 * (k0 - (FB_TXNT - 1) - t->sbase);
                    if (j > pend)
                        emit_samples(v + pend, oc ? oc + pend : NULL, ac ? ac + pend : NULL, j - pend);
                    if (t->last_symbol >= 0 && m + P > t->end_sample) {   /* the end: zeros after it */
                        tx_period(t->btab, &tc, win, NULL, NULL, v + j);
                        for (i = 0; i < P; i++)
                            if (m + i >= t->end_sample)
                                v[j + i] = 0.0;
                        emit_samples(v + j, oc ? oc + j : NULL, ac ? ac + j : NULL, P);
                    } else {
                        tx_period(t->btab, &tc, win, oc ? oc + j : NULL, ac ? ac + j : NULL, NULL);
                    }
                    j += P;
                    m += P;
                    k0 += (int64_t) P * up / sps_up;
                    pend = j;
                    continue;
                }
                if (t->last_symbol >= 0 && m >= t->end_sample)
                    v[j] = 0.0;
                else
                    v[j] = tx_dot(t->ctab + q * 2 * FB_TXNT, t->sym + 2 * (k0 - (FB_TXNT - 1) - t->sbase));
                ph += up;
                while (ph >= sps_up) {
                    ph -= sps_up;
                    k0++;
                }
                if (++q == t->ctab_period)
                    q = 0;
                j++;
                m++;
            }
            if (c > pend)
                emit_samples(v + pend, oc ? oc + pend : NULL, ac ? ac + pend : NULL, c - pend);
            done_n += c;
        }
        t->m = m;
        if (t->last_symbol >= 0 && t->m >= t->end_sample) {
            t->done = 1;
            if (events)
                events[s] = 1;
        }
    }
}

FB_TX_ENTRY_POINTS(fb_v17_tx, fb_v17_tx_add, fb_tx_t, v17_tx_all)
