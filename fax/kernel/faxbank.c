/* Fax bank kernels (see faxbank.h). Each function walks its sessions in one call, so the Python cost
   per tick does not grow with the number of sessions; the recursions follow fax/v17.py exactly. */
#include <math.h>
#include <string.h>
#include "faxbank.h"
#include "fbmath.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* a vector of four doubles (the trellis add-compare-select below) */
typedef double fb_v4d __attribute__((vector_size(32), aligned(8)));

/* ---------------------------------------------------------------- V.17 receiver, data mode */

/* the trellis's predecessors (the inverse of NEXT_STATE): state n is reached from state 2 i + (n >= 4) by subset
   PRED_C[n][i]. For the states 0..3 the subsets of the four columns i are the lanes {0, 6, 2, 4} with the lane
   index xor 0, 1, 2, 3; for 4..7 the lanes {1, 5, 7, 3} xor 0, 3, 2, 1: the add-compare-select below (ACS) takes
   them as those two vectors and their lane swaps */
static const uint8_t PRED_C[8][4] = {{0, 6, 2, 4}, {6, 0, 4, 2}, {2, 4, 0, 6}, {4, 2, 6, 0},
                                     {1, 3, 7, 5}, {5, 7, 3, 1}, {7, 5, 1, 3}, {3, 1, 5, 7}};

void fb_v17_reset(fb_v17rx_t *r)
{
    int i;
    for (i = 0; i < 8; i++)
        r->metric[i] = i ? 1e3 : 0.0;
    r->nhist = 0;
    r->head = 0;
    r->ntb = 0;
    r->y_prev = -1;
}

/* line bits of decided point idx (differential decoding of Y2 Y1) at out (8 octets written); returns the count */
static inline int point_bits(fb_v17rx_t *r, int idx, uint8_t *out)
{
    int y = (idx >> 1) & 3, q;
    uint64_t w;
    if (r->y_prev < 0)
        r->y_prev = (y - r->q0) & 3;
    q = ((idx >> 3) << 2) | ((y - r->y_prev) & 3);
    r->y_prev = y;
    w = fb_spread8((uint64_t) q);
    memcpy(out, &w, 8);
    return r->bps;
}

/* trace back from the best state, decide the oldest `n` symbols, drop them; bits into out. The survivors held do not
   change, so once the path meets the last traceback's state at some symbol it is that traceback from there on */
static int trace(fb_v17rx_t *r, int n, uint8_t *out)
{
    const int h = r->head, M = FB_VHIST - 1;
    int s = 0, t, i, cnt = 0;
    uint8_t tmp[FB_VHIST * 8 + 8];
    for (i = 1; i < 8; i++)
        if (r->metric[i] < r->metric[s])
            s = i;
    for (t = r->nhist - 1; t >= 0 && !(t < r->ntb && r->tbs[(h + t) & M] == s); t--) {
        r->tbs[(h + t) & M] = (uint8_t) s;
        s = 2 * ((r->dec[(h + t) & M] >> (2 * s)) & 3) + (s >> 2);
    }
    for (t = 0; t < n; t++) {
        int j = (h + t) & M, st = r->tbs[j], d = (r->dec[j] >> (2 * st)) & 3;
        cnt += point_bits(r, r->cand[j][PRED_C[st][d]], tmp + cnt);
    }
    memcpy(out, tmp, (size_t) cnt);
    r->head = (h + n) & M;
    r->nhist -= n;
    r->ntb = r->nhist;
    return cnt;
}

typedef int64_t fb_v4l __attribute__((vector_size(32), aligned(8)));

/* lanes of a where mask (-1) is set, else of b */
#define SEL(mask, a, b) (((mask) & (a)) | (~(mask) & (b)))
#define SELD(mask, a, b) ((fb_v4d) SEL(mask, (fb_v4l) (a), (fb_v4l) (b)))
#define BCAST(x) ((fb_v4d) {(x), (x), (x), (x)})

/* column i of the add-compare-select for all eight states: states 0..3 from state 2 i by the subsets in bl, 4..7 from
   2 i + 1 by bh; a candidate replaces the one held only when strictly smaller (the first of equals kept, as comparing
   in order); the survivors' columns gather in dl / dh (2 bits a state) */
#define ACS(i, bl, bh)                                                                            \
    do {                                                                                         \
        fb_v4d tl = BCAST(m[2 * i]) + (bl), th = BCAST(m[2 * i + 1]) + (bh);                     \
        fb_v4l ll = tl < al, lh = th < ah;                                                       \
        al = SELD(ll, tl, al);                                                                   \
        ah = SELD(lh, th, ah);                                                                   \
        dl = SEL(ll, ((fb_v4l) {i, i << 2, i << 4, i << 6}), dl);                                \
        dh = SEL(lh, ((fb_v4l) {i << 8, i << 10, i << 12, i << 14}), dh);                        \
    } while (0)

typedef double fb_v2d __attribute__((vector_size(16), aligned(8)));

/* the points a and b as (re, im, re, im) minus *z into o */
static inline void two_points(fb_v4d *o, const double *P, int a, int b, const fb_v4d *z)
{
    fb_v2d x, y;
    memcpy(&x, P + 2 * a, sizeof(x));
    memcpy(&y, P + 2 * b, sizeof(y));
    *o = __builtin_shufflevector(x, y, 0, 1, 2, 3) - *z;
}

/* one symbol into the trellis; returns the nearest point overall when want_near (else 0); decided bits appended at
   out. The add-compare-select runs on the eight states as two vectors of four
   (the same sums and choices as a state-by-state loop) */
static inline __attribute__((always_inline)) int viterbi_push(fb_v17rx_t *r, double zre, double zim, uint8_t *out,
                                                              int *nout, int want_near)
{
    const double *P = r->points;
    const int slot = (r->head + r->nhist) & (FB_VHIST - 1);
    uint8_t *bp = r->cand[slot];
    double mn;
    int c, i, n, near = 0;
    if (r->sgrid) {
        int gi = (int) ((zre + 11.0) * 4.0 + 0.5), gj = (int) ((zim + 11.0) * 4.0 + 0.5);
        gi = gi < 0 ? 0 : (gi > 88 ? 88 : gi);
        gj = gj < 0 ? 0 : (gj > 88 ? 88 : gj);
        memcpy(bp, r->sgrid + (gi * 89 + gj) * 8, 8);
    } else {
        for (c = 0; c < 8; c++) {
            double bd = 0.0;
            int bi = -1;
            for (i = c; i < r->npoints; i += 8) {
                double dx = P[2 * i] - zre, dy = P[2 * i + 1] - zim, d = dx * dx + dy * dy;
                if (bi < 0 || d < bd) {
                    bd = d;
                    bi = i;
                }
            }
            bp[c] = (uint8_t) bi;
        }
    }
    {
        const double *m = r->metric;
        fb_v4d z = {zre, zim, zre, zim};
        fb_v4d s1, s2, s3, s4, b0, h0;
        two_points(&s1, P, bp[0], bp[2], &z);
        two_points(&s2, P, bp[6], bp[4], &z);
        two_points(&s3, P, bp[1], bp[7], &z);
        two_points(&s4, P, bp[5], bp[3], &z);
        s1 *= s1, s2 *= s2, s3 *= s3, s4 *= s4;
        /* dx^2 + dy^2 of the subsets {0, 6, 2, 4} and {1, 5, 7, 3} */
        b0 = __builtin_shufflevector(s1, s2, 0, 4, 2, 6) + __builtin_shufflevector(s1, s2, 1, 5, 3, 7);
        h0 = __builtin_shufflevector(s3, s4, 0, 4, 2, 6) + __builtin_shufflevector(s3, s4, 1, 5, 3, 7);
        fb_v4d al = BCAST(m[0]) + b0, ah = BCAST(m[1]) + h0, lo;
        fb_v4l dl = {0, 0, 0, 0}, dh = {0, 0, 0, 0}, d;
        if (want_near) {
            const double bm[8] = {b0[0], h0[0], b0[2], h0[3], b0[3], h0[1], b0[1], h0[2]};
            double best_all = bm[0];
            near = bp[0];
            for (c = 1; c < 8; c++)
                if (bm[c] < best_all) {
                    best_all = bm[c];
                    near = bp[c];
                }
        }
        ACS(1, __builtin_shuffle(b0, ((fb_v4l) {1, 0, 3, 2})), __builtin_shuffle(h0, ((fb_v4l) {3, 2, 1, 0})));
        ACS(2, __builtin_shuffle(b0, ((fb_v4l) {2, 3, 0, 1})), __builtin_shuffle(h0, ((fb_v4l) {2, 3, 0, 1})));
        ACS(3, __builtin_shuffle(b0, ((fb_v4l) {3, 2, 1, 0})), __builtin_shuffle(h0, ((fb_v4l) {1, 0, 3, 2})));
        d = dl | dh;
        r->dec[slot] = (uint16_t) (d[0] | d[1] | d[2] | d[3]);
        lo = SELD(ah < al, ah, al);
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
