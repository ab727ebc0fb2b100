/* Fax bank kernels (see faxbank.h). Each function walks its sessions in one call, so the Python cost
   per tick does not grow with the number of sessions; the recursions follow fax/v17.py exactly. */
#include <math.h>
#include <string.h>
#include "faxbank.h"
#include "fbmath.h"
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
    scr_ready = 1;
}

/* The next V.17 symbol (training, ones, data, trailer, silence); mirrors V17Tx._next_symbol. */
static inline __attribute__((always_inline)) void v17_symbol(fb_tx_t *t, double *re, double *im)
{
    int64_t s = t->nsym;
    int i, data, q = 0;
    *re = 0.0;
    *im = 0.0;
    if (t->last_symbol >= 0)
        return;
    if (s < t->ntrain) {
        *re = t->train[2 * s];
        *im = t->train[2 * s + 1];
    } else {
        s -= t->ntrain;
        if (t->trailer_left >= 0 && t->trailer_left <= TRAILER_SILENCE) {
            t->trailer_left--;
        } else {
            data = 0;
            if (s >= SEG_ONES) {
                if (t->trailer_left < 0 && !(t->finished && t->bitpos >= t->nbits)) {
                    data = 1;
                } else {
                    if (t->trailer_left < 0)
                        t->trailer_left = TRAILER_ONES + TRAILER_SILENCE;
                    t->trailer_left--;
                }
            }
            {   /* the scrambler over the symbol's bits: with at most 17 bits per symbol every output takes
                   its taps from the register as it was (bits 17 - i and 22 - i), so no bit waits for another */
                uint32_t reg = t->scr, in = 0, fresh = 0;
                int bps = t->bps;
                if (!data) {
                    in = (1u << bps) - 1;
                } else {
                    const uint8_t *bp = t->bits;
                    int64_t pos = t->bitpos, nb = t->nbits;
                    if (pos + 8 <= nb) {   /* eight 0/1 octets packed at once: bit i of the product's top octet is octet i */
                        uint64_t w;
                        memcpy(&w, bp + pos, 8);
                        in = (uint32_t) (((w & 0x0101010101010101ull) * 0x0102040810204080ull) >> 56) & ((1u << bps) - 1);
                        pos += bps;
                    } else {
                        for (i = 0; i < bps; i++, pos++)
                            in |= (uint32_t) (pos < nb ? bp[pos] & 1 : 1) << i;
                    }
                    t->bitpos = pos < nb ? pos : nb;
                }
                if (bps <= 6) {   /* the taps of all bits from a table of register bits 12..22, the reversal from another */
                    if (!scr_ready)
                        scr_tables();
                    q = (int) ((in ^ SCR_TAPS[(reg >> 12) & 0x7FF]) & ((1u << bps) - 1));
                    fresh = (uint32_t) REV6[q] >> (6 - bps);
                } else {
                    for (i = 0; i < bps; i++) {
                        uint32_t o = ((in >> i) ^ (reg >> (17 - i)) ^ (reg >> (22 - i))) & 1;
                        q |= (int) o << i;
                        fresh |= o << (bps - 1 - i);
                    }
                }
                t->scr = ((reg << bps) | fresh) & 0x7FFFFF;
            }
            t->diff = (t->diff + (q & 3)) & 3;
            t->conv = NEXT_STATE[t->conv][t->diff];
            i = ((q << 1) & 0x78) | (t->diff << 1) | ((t->conv >> 2) & 1);
            *re = t->points[2 * i];
            *im = t->points[2 * i + 1];
        }
    }
    if (t->trailer_left >= 0 && t->trailer_left <= 0) {
        t->last_symbol = t->nsym;
        t->end_sample = (int64_t) ceil((double) (t->last_symbol + t->ntaps) * t->sps_up / t->up);
    }
}

/* one output sample: the real dot product of a coefficient row with the symbol history (2 * FB_TXNT
   numbers), in four independent partial sums (one vector of four lanes) */
typedef double fb_v4d __attribute__((vector_size(32), aligned(8)));

static inline double tx_dot(const double *restrict c, const double *restrict x)
{
    fb_v4d acc = {0.0, 0.0, 0.0, 0.0};
    int i;
    for (i = 0; i < 2 * FB_TXNT; i += 4)
        acc += *(const fb_v4d *) (c + i) * *(const fb_v4d *) (x + i);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* one period of P samples (P a multiple of 8) from the window w of symbol numbers: out[i] = sum over columns c of
   bt[c * P + i] * w[c], in float, eight samples per vector (the whole period's samples at once, so no sample
   waits for its own sum) */
typedef float fb_v8f __attribute__((vector_size(32), aligned(4)));

FB_SIMD_CLONES
static void tx_period(const float *restrict bt, int P, int cols, const double *restrict w, double *restrict out)
{
    fb_v8f acc[FB_TXBPMAX / 8];
    int c, i, nv = P / 8;
    for (i = 0; i < nv; i++)
        acc[i] = (fb_v8f) {0, 0, 0, 0, 0, 0, 0, 0};
    if (nv == 5) {   /* V.17: 40 samples, the accumulators held in registers */
        fb_v8f a0 = acc[0], a1 = a0, a2 = a0, a3 = a0, a4 = a0;
        for (c = 0; c < cols; c++) {
            const float x = (float) w[c];
            const fb_v8f *col = (const fb_v8f *) (bt + c * 40);
            a0 += col[0] * x;
            a1 += col[1] * x;
            a2 += col[2] * x;
            a3 += col[3] * x;
            a4 += col[4] * x;
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        acc[4] = a4;
    } else {
        for (c = 0; c < cols; c++) {
            const float x = (float) w[c];
            const fb_v8f *col = (const fb_v8f *) (bt + c * P);
            for (i = 0; i < nv; i++)
                acc[i] += col[i] * x;
        }
    }
    for (i = 0; i < nv; i++) {
        int l;
        for (l = 0; l < 8; l++)
            out[8 * i + l] = acc[i][l];
    }
}

#define TX_PASS 256   /* samples per pass: the symbols they need fit the history buffer */

/* n samples rounded to the nearest integer (ties to even) and saturated to int16 */
static void to_int16(const double *v, int16_t *o, int n)
{
    int j = 0;
#ifdef __SSE2__
    /* cvtpd2dq rounds in the current mode (to nearest, ties to even), packssdw saturates; the clamp first
       keeps values beyond the int32 range right */
    const __m128d lo = _mm_set1_pd(-32768.0), hi = _mm_set1_pd(32767.0);
    for (; j + 8 <= n; j += 8) {
        __m128i a = _mm_cvtpd_epi32(_mm_min_pd(_mm_max_pd(_mm_loadu_pd(v + j), lo), hi));
        __m128i b = _mm_cvtpd_epi32(_mm_min_pd(_mm_max_pd(_mm_loadu_pd(v + j + 2), lo), hi));
        __m128i c = _mm_cvtpd_epi32(_mm_min_pd(_mm_max_pd(_mm_loadu_pd(v + j + 4), lo), hi));
        __m128i d = _mm_cvtpd_epi32(_mm_min_pd(_mm_max_pd(_mm_loadu_pd(v + j + 6), lo), hi));
        __m128i ab = _mm_unpacklo_epi64(a, b), cd = _mm_unpacklo_epi64(c, d);
        _mm_storeu_si128((__m128i *) (o + j), _mm_packs_epi32(ab, cd));
    }
#endif
    for (; j < n; j++) {
        double x = rne(v[j]);
        o[j] = (int16_t) (x > 32767.0 ? 32767 : (x < -32768.0 ? -32768 : x));
    }
}

FB_SIMD_CLONES
static void v17_tx_all(fb_tx_t **tx, int k, int16_t *out, int n, uint8_t *events)
{
    int s, j;
    for (s = 0; s < k; s++) {
        fb_tx_t *t = tx[s];
        int16_t *o = out + (int64_t) s * n;
        int up = t->up, sps_up = t->sps_up, ph, q, done_n = 0;
        if (s + 1 < k) {   /* the next transmitter's state and data bits on their way into the cache meanwhile */
            const fb_tx_t *u = tx[s + 1];
            __builtin_prefetch(u);
            __builtin_prefetch((const char *) u + 64);
            __builtin_prefetch((const char *) u + 128);
            if (u->bits && u->bitpos < u->nbits) {
                __builtin_prefetch(u->bits + u->bitpos);
                __builtin_prefetch(u->bits + u->bitpos + 64);
                __builtin_prefetch(u->bits + u->bitpos + 128);
                __builtin_prefetch(u->bits + u->bitpos + 192);
                __builtin_prefetch(u->bits + u->bitpos + 256);
            }
        }
        int64_t m = t->m, k0;
        double v[TX_PASS];
        if (t->done || n <= 0) {   /* trailer out: silence */
            if (n > 0)
                memset(o, 0, sizeof(int16_t) * (size_t) n);
            t->m += n > 0 ? n : 0;
            continue;
        }
        k0 = m * up / sps_up;
        ph = (int) (m * up % sps_up);
        q = (int) (m % t->ctab_period);
        while (done_n < n) {
            int c = n - done_n > TX_PASS ? TX_PASS : n - done_n;
            int64_t klast = (m + c - 1) * up / sps_up;
            if (klast + 1 - t->sbase > FB_TXBUF) {   /* keep the last FB_TXNT symbols, at the front */
                int64_t nb = t->nsym - FB_TXNT;
                memmove(t->sym, t->sym + 2 * (nb - t->sbase), sizeof(double) * 2 * FB_TXNT);
                t->sbase = nb;
            }
            while (t->nsym <= klast) {
                double re, im;
                v17_symbol(t, &re, &im);
                t->sym[2 * (t->nsym - t->sbase)] = re;
                t->sym[2 * (t->nsym - t->sbase) + 1] = im;
                t->nsym++;
            }
            for (j = 0; j < c; j++, m++) {
                if (q == 0 && t->btab && c - j >= t->ctab_period) {   /* a whole period as one matrix product */
                    int P = t->ctab_period, i;
                    tx_period(t->btab, P, t->bcols, t->sym + 2 * (k0 - (FB_TXNT - 1) - t->sbase), v + j);
                    for (i = 0; i < P; i++)
                        if (t->last_symbol >= 0 && m + i >= t->end_sample)
                            v[j + i] = 0.0;
                    j += P - 1;
                    m += P - 1;
                    k0 += (int64_t) P * up / sps_up;
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
            }
            to_int16(v, o + done_n, c);
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

int fb_v17_tx(fb_tx_t **tx, int k, int16_t *out, int n, uint8_t *events)
{
    if (events)
        memset(events, 0, (size_t) (k > 0 ? k : 0));
    v17_tx_all(tx, k, out, n, events);
    return fb_count_events(events, k);
}

/* ---------------------------------------------------------------- V.21 transmitter */

static double V21SIN[160];
static int v21sin_ready;

static void v21_tx_all(fb_v21tx_t **tx, int k, int16_t *out, int n, uint8_t *events)
{
    int s, j;
    if (!v21sin_ready) {
        for (j = 0; j < 160; j++)
            V21SIN[j] = sin(2.0 * 3.14159265358979323846 * j / 160.0);
        v21sin_ready = 1;
    }
    for (s = 0; s < k; s++) {
        fb_v21tx_t *t = tx[s];
        int16_t *o = out + (int64_t) s * n;
        int64_t end = t->nbits * 80, pos = t->pos;
        int ph = t->phase;
        for (j = 0; j < n && pos < end; j++, pos += 3) {
            o[j] = (int16_t) rne(t->amp * V21SIN[ph]);
            ph += t->bits[pos / 80] ? 33 : 37;
            if (ph >= 160)
                ph -= 160;
        }
        if (j < n)
            memset(o + j, 0, sizeof(int16_t) * (size_t) (n - j));
        t->phase = ph;
        if (pos >= end) {
            t->nbits = 0;
            t->pos = 0;
            if (!t->done && events)
                events[s] = 1;
            t->done = 1;
        } else {
            t->pos = pos;
        }
    }
}

int fb_v21_tx(fb_v21tx_t **tx, int k, int16_t *out, int n, uint8_t *events)
{
    if (events)
        memset(events, 0, (size_t) (k > 0 ? k : 0));
    v21_tx_all(tx, k, out, n, events);
    return fb_count_events(events, k);
}

/* ---------------------------------------------------------------- tones */

static void tone_tx_all(fb_tone_t **tx, int k, int16_t *out, int n, uint8_t *events)
{
    int s, j;
    for (s = 0; s < k; s++) {
        fb_tone_t *t = tx[s];
        int16_t *o = out + (int64_t) s * n;
        double c = 2 * 3.14159265358979323846 * t->freq;
        int64_t period = (int64_t) t->on + t->off;
        for (j = 0; j < n; j++) {
            int64_t tt = t->pos + j;
            int gate = t->off ? (period > 0 && tt % period < t->on) : 1;
            if (t->total >= 0 && tt >= t->total)
                gate = 0;
            o[j] = gate ? (int16_t) (t->amp * sin(c * (double) tt / 8000.0)) : 0;
        }
        if (t->total >= 0 && t->pos + n >= t->total && !t->done) {
            t->done = 1;
            if (events)
                events[s] = 1;
        }
        t->pos += n;
    }
}

int fb_tone_tx(fb_tone_t **tx, int k, int16_t *out, int n, uint8_t *events)
{
    if (events)
        memset(events, 0, (size_t) (k > 0 ? k : 0));
    tone_tx_all(tx, k, out, n, events);
    return fb_count_events(events, k);
}

/* ---------------------------------------------------------------- V.17 receiver, data mode */

/* the trellis's predecessors (the inverse of NEXT_STATE): state n is reached from PRED_S[n][i] by subset
   PRED_C[n][i] with PRED_S = {0, 2, 4, 6} for n < 4, {1, 3, 5, 7} for n >= 4 and
   PRED_C = {{0, 6, 2, 4}, {6, 0, 4, 2}, {2, 4, 0, 6}, {4, 2, 6, 0}, {1, 3, 7, 5}, {5, 7, 3, 1}, {7, 5, 1, 3}, {3, 1, 5, 7}};
   the add-compare-select below (ACS) takes them column by column as constants */

void fb_v17_reset(fb_v17rx_t *r)
{
    int i;
    for (i = 0; i < 8; i++)
        r->metric[i] = i ? 1e3 : 0.0;
    r->nhist = 0;
    r->y_prev = -1;
}

/* line bits of decided point idx (differential decoding of Y2 Y1); returns the count written */
static int point_bits(fb_v17rx_t *r, int idx, uint8_t *out)
{
    int y = (idx >> 1) & 3, q, i;
    if (r->y_prev < 0)
        r->y_prev = (y - r->q0) & 3;
    q = ((idx >> 3) << 2) | ((y - r->y_prev) & 3);
    r->y_prev = y;
    for (i = 0; i < r->bps; i++)
        out[i] = (uint8_t) ((q >> i) & 1);
    return r->bps;
}

/* trace back from the best state, decide the oldest `n` symbols, drop them; bits into out */
static int trace(fb_v17rx_t *r, int n, uint8_t *out)
{
    int s = 0, t, i, cnt = 0;
    int16_t path[FB_VHIST];
    for (i = 1; i < 8; i++)
        if (r->metric[i] < r->metric[s])
            s = i;
    for (t = r->nhist - 1; t >= 0; t--) {
        if (t < n)
            path[t] = r->pt[t][s];
        s = r->prev[t][s];
    }
    for (t = 0; t < n; t++)
        cnt += point_bits(r, path[t], out + cnt);
    memmove(r->prev, r->prev + n, sizeof(r->prev[0]) * (size_t) (r->nhist - n));
    memmove(r->pt, r->pt + n, sizeof(r->pt[0]) * (size_t) (r->nhist - n));
    r->nhist -= n;
    return cnt;
}

typedef int64_t fb_v4l __attribute__((vector_size(32), aligned(8)));

/* lanes of a where mask (-1) is set, else of b */
#define SEL(mask, a, b) (((mask) & (a)) | (~(mask) & (b)))

/* one candidate of the add-compare-select for all eight states: states 0..3 come from state 2 i, 4..7 from 2 i + 1,
   by the subsets l0..l3 / h0..h3 (column i of the predecessor tables); a candidate replaces the one held only when
   strictly smaller (the first of equals kept, as comparing in order) */
#define ACS(i, l0, l1, l2, l3, h0, h1, h2, h3)                                                    \
    do {                                                                                         \
        fb_v4d tl = (fb_v4d) {m[2 * i], m[2 * i], m[2 * i], m[2 * i]} + (fb_v4d) {bm[l0], bm[l1], bm[l2], bm[l3]}; \
        fb_v4d th = (fb_v4d) {m[2 * i + 1], m[2 * i + 1], m[2 * i + 1], m[2 * i + 1]}             \
                    + (fb_v4d) {bm[h0], bm[h1], bm[h2], bm[h3]};                                 \
        fb_v4l ll = tl < al, lh = th < ah;                                                        \
        al = (fb_v4d) SEL(ll, (fb_v4l) tl, (fb_v4l) al);                                         \
        ah = (fb_v4d) SEL(lh, (fb_v4l) th, (fb_v4l) ah);                                         \
        sl = SEL(ll, ((fb_v4l) {2 * i, 2 * i, 2 * i, 2 * i}), sl);                               \
        sh = SEL(lh, ((fb_v4l) {2 * i + 1, 2 * i + 1, 2 * i + 1, 2 * i + 1}), sh);               \
        cl = SEL(ll, ((fb_v4l) {l0, l1, l2, l3}), cl);                                           \
        ch = SEL(lh, ((fb_v4l) {h0, h1, h2, h3}), ch);                                           \
    } while (0)

/* one symbol into the trellis; returns the nearest point overall when want_near (else 0); decided bits appended at
   out. The add-compare-select runs on the eight states as two vectors of four (the same sums and choices as a
   state-by-state loop) */
static inline __attribute__((always_inline)) int viterbi_push(fb_v17rx_t *r, double zre, double zim, uint8_t *out,
                                                              int *nout, int want_near)
{
    double bm[8], mn;
    int bpt[8], c, i, n, near = 0;
    if (r->sgrid) {
        int gi = (int) ((zre + 11.0) * 4.0 + 0.5), gj = (int) ((zim + 11.0) * 4.0 + 0.5);
        const uint8_t *cell;
        gi = gi < 0 ? 0 : (gi > 88 ? 88 : gi);
        gj = gj < 0 ? 0 : (gj > 88 ? 88 : gj);
        cell = r->sgrid + (gi * 89 + gj) * 8;
        for (c = 0; c < 8; c++) {
            int p = cell[c];
            double dx = r->points[2 * p] - zre, dy = r->points[2 * p + 1] - zim;
            bm[c] = dx * dx + dy * dy;
            bpt[c] = p;
        }
    } else {
        for (c = 0; c < 8; c++) {
            double bd = 0.0;
            int bi = -1;
            for (i = c; i < r->npoints; i += 8) {
                double dx = r->points[2 * i] - zre, dy = r->points[2 * i + 1] - zim, d = dx * dx + dy * dy;
                if (bi < 0 || d < bd) {
                    bd = d;
                    bi = i;
                }
            }
            bm[c] = bd;
            bpt[c] = bi;
        }
    }
    if (want_near) {
        double best_all = bm[0];
        near = bpt[0];
        for (c = 1; c < 8; c++)
            if (bm[c] < best_all) {
                best_all = bm[c];
                near = bpt[c];
            }
    }
    {
        const double *m = r->metric;
        uint8_t *prev = r->prev[r->nhist];
        int16_t *pt = r->pt[r->nhist];
        fb_v4d al = (fb_v4d) {m[0], m[0], m[0], m[0]} + (fb_v4d) {bm[0], bm[6], bm[2], bm[4]};
        fb_v4d ah = (fb_v4d) {m[1], m[1], m[1], m[1]} + (fb_v4d) {bm[1], bm[5], bm[7], bm[3]};
        fb_v4l sl = {0, 0, 0, 0}, sh = {1, 1, 1, 1}, cl = {0, 6, 2, 4}, ch = {1, 5, 7, 3};
        fb_v4d lo;
        ACS(1, 6, 0, 4, 2, 3, 7, 5, 1);
        ACS(2, 2, 4, 0, 6, 7, 3, 1, 5);
        ACS(3, 4, 2, 6, 0, 5, 1, 3, 7);
        for (n = 0; n < 4; n++) {
            prev[n] = (uint8_t) sl[n];
            prev[n + 4] = (uint8_t) sh[n];
            pt[n] = (int16_t) bpt[cl[n]];
            pt[n + 4] = (int16_t) bpt[ch[n]];
        }
        lo = (fb_v4d) SEL((fb_v4l) (ah < al), (fb_v4l) ah, (fb_v4l) al);
        mn = lo[0] < lo[1] ? lo[0] : lo[1];
        mn = lo[2] < mn ? lo[2] : mn;
        mn = lo[3] < mn ? lo[3] : mn;
        al -= mn;
        ah -= mn;
        for (n = 0; n < 4; n++) {
            r->metric[n] = al[n];
            r->metric[n + 4] = ah[n];
        }
    }
    r->nhist++;
    if (r->nhist >= FB_VDEPTH + FB_VCHUNK)
        *nout += trace(r, FB_VCHUNK, out + *nout);
    return near;
}

int fb_v17_push(fb_v17rx_t *r, double zre, double zim, uint8_t *bits, int *nbits)
{
    *nbits = 0;
    return viterbi_push(r, zre, zim, bits, nbits, 1);
}

int fb_v17_flush(fb_v17rx_t *r, uint8_t *bits)
{
    if (r->nhist == 0)
        return 0;
    return trace(r, r->nhist, bits);
}

FB_SIMD_CLONES
void fb_v17_rx(fb_v17rx_t **rx, int k, const double *y, const int *m, int mmax, double *errs,
               uint8_t *bits, int *nbits, int bits_stride, int flush)
{
    int s, i;
    fb_sc_init();
    for (s = 0; s < k; s++) {
        fb_v17rx_t *r = rx[s];
        const double *ys = y + 2 * (int64_t) s * mmax;
        double *es = errs + 2 * (int64_t) s * mmax;
        uint8_t *bo = bits + (int64_t) s * bits_stride;
        double phase = r->phase, freq = r->freq, kp = r->kp, ki = r->ki;
        int nb = 0;
        for (i = 0; i < m[s]; i++) {
            double c, sn;
            int gi, gj, p;
            double pre, pim, ere, eim, pe, zre, zim;
            fb_sincos(phase, &sn, &c);
            /* rot = c - j sn; z = y * rot */
            zre = ys[2 * i] * c + ys[2 * i + 1] * sn;
            zim = ys[2 * i + 1] * c - ys[2 * i] * sn;
            gi = (int) ((zre + 11.0) * 4.0 + 0.5);
            gj = (int) ((zim + 11.0) * 4.0 + 0.5);
            gi = gi < 0 ? 0 : (gi > 88 ? 88 : gi);
            gj = gj < 0 ? 0 : (gj > 88 ? 88 : gj);
            p = r->grid[gi * 89 + gj];
            pre = r->points[2 * p];
            pim = r->points[2 * p + 1];
            ere = pre - zre;
            eim = pim - zim;
            /* err * conj(rot) = err * (c + j sn) */
            es[2 * i] = ere * c - eim * sn;
            es[2 * i + 1] = ere * sn + eim * c;
            pe = (zim * pre - zre * pim) * (r->inv_mag ? r->inv_mag[p] : 1.0 / (pre * pre + pim * pim));
            pe = pe > 0.5 ? 0.5 : (pe < -0.5 ? -0.5 : pe);
            freq += ki * pe;
            phase += freq + kp * pe;
            viterbi_push(r, zre, zim, bo, &nb, 0);
        }
        if (flush)
            nb += fb_v17_flush(r, bo + nb);
        r->phase = phase;
        r->freq = freq;
        nbits[s] = nb;
    }
}
