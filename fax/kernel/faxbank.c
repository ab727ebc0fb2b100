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
