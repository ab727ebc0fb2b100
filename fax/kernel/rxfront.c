/* The V.17 receiver's front end (mixing, matched filter, in-band power, timing phasor, interpolation), its
   block helpers (equaliser outputs and block LMS sums vectorised across a block's symbols) and the sine table
   of fbmath.h; the reception state machine that uses them is faxrx.c. */
#include <math.h>
#include <string.h>
#include "fbmath.h"
#include "rxfront.h"

double fb_sc_tab[2 * FB_SC_N];
static int sc_ready;

void fb_sc_init(void)
{
    int i;
    if (sc_ready)
        return;
    for (i = 0; i < FB_SC_N; i++) {
        fb_sc_tab[2 * i] = sin(2.0 * PI * i / FB_SC_N);
        fb_sc_tab[2 * i + 1] = cos(2.0 * PI * i / FB_SC_N);
    }
    sc_ready = 1;
}

/* ---------------------------------------------------------------- front end */

typedef float fb_v8f __attribute__((vector_size(32), aligned(4)));

/* y[i] = sum over j of h[j] * e[i + nh - 1 - j] (re and im) in float, taps summed in order: sixteen outputs at a
   time held in registers across all taps (eight a vector) */
FB_SIMD_CLONES
static void matched_filter(const float *h, int nh, const float *ere, const float *eim, float *restrict yre,
                           float *restrict yim, int n)
{
    int i = 0, j;
    for (; i + 16 <= n; i += 16) {
        fb_v8f r0 = {0, 0, 0, 0, 0, 0, 0, 0}, r1 = r0, m0 = r0, m1 = r0;
        for (j = 0; j < nh; j++) {
            const float hj = h[j], *are = ere + nh - 1 - j + i, *aim = eim + nh - 1 - j + i;
            r0 += hj * *(const fb_v8f *) are;
            r1 += hj * *(const fb_v8f *) (are + 8);
            m0 += hj * *(const fb_v8f *) aim;
            m1 += hj * *(const fb_v8f *) (aim + 8);
        }
        memcpy(yre + i, &r0, sizeof(r0));
        memcpy(yre + i + 8, &r1, sizeof(r1));
        memcpy(yim + i, &m0, sizeof(m0));
        memcpy(yim + i + 8, &m1, sizeof(m1));
    }
    for (; i < n; i++) {
        float sr = 0.0f, si = 0.0f;
        for (j = 0; j < nh; j++) {
            sr += h[j] * ere[nh - 1 - j + i];
            si += h[j] * eim[nh - 1 - j + i];
        }
        yre[i] = sr;
        yim[i] = si;
    }
}

/* mix to baseband, matched filter, in-band power; appended to the buffer (p gets the power of each) */
void fbrx_fe_push(fb_rx17_t *r, const int16_t *x, int n, double *p)
{
    int i, j, nh = r->nh, ph;
    float ere[FB_RXH + FB_RXCHUNK], eim[FB_RXH + FB_RXCHUNK], h[FB_RXH], *restrict yre, *restrict yim;
    if (r->len + n > FB_RXBUF) {  /* never expected: keep the newest samples */
        int drop = r->len + n - FB_RXBUF;
        r->off += drop;
        r->len -= drop;
        r->base += drop;
    }
    if (r->off + r->len + n > FB_RXBUF) {   /* no room behind the held samples: move them to the start */
        memmove(r->bre, FE_RE(r), sizeof(float) * (size_t) r->len);
        memmove(r->bim, FE_IM(r), sizeof(float) * (size_t) r->len);
        memmove(r->pwr, FE_PW(r), sizeof(float) * (size_t) r->len);
        r->off = 0;
    }
    /* ext: the last nh - 1 mixed inputs (zre/zim, oldest first) then this block's */
    for (j = 0; j < nh - 1; j++) {
        ere[j] = r->zre[j];
        eim[j] = r->zim[j];
    }
    for (j = 0; j < nh; j++)
        h[j] = (float) r->h[j];
    ph = (int) (r->n % r->lo_period);
    for (i = 0; i < n; i++) {
        double v = 2.0 * x[i];
        ere[nh - 1 + i] = (float) (v * r->lo_re[ph]);
        eim[nh - 1 + i] = (float) (v * r->lo_im[ph]);
        if (++ph == r->lo_period)
            ph = 0;
    }
    /* the matched filter tap by tap over the whole block (vectorised; each output sums its taps in
       the same order as a per-sample loop, so the result is the same to the bit) */
    yre = FE_RE(r) + r->len;
    yim = FE_IM(r) + r->len;
    matched_filter(h, nh, ere, eim, yre, yim, n);
    {   /* in-band power, pz = a pz + e / 24 (a = 23 / 24), four samples a step: each of the four from the power
           before the step (one multiply-add on the recursion's path per four samples, not four) */
        const double a = 1.0 - 1.0 / 24, b = 1.0 / 24, a2 = a * a, a3 = a2 * a, a4 = a2 * a2;
        double pz = r->pz;
        float *pw = FE_PW(r) + r->len;
        for (i = 0; i + 4 <= n; i += 4) {
            double u0 = b * ((double) yre[i] * yre[i] + (double) yim[i] * yim[i]);
            double u1 = b * ((double) yre[i + 1] * yre[i + 1] + (double) yim[i + 1] * yim[i + 1]);
            double u2 = b * ((double) yre[i + 2] * yre[i + 2] + (double) yim[i + 2] * yim[i + 2]);
            double u3 = b * ((double) yre[i + 3] * yre[i + 3] + (double) yim[i + 3] * yim[i + 3]);
            double s1 = a * u0 + u1, s2 = a * s1 + u2, s3 = a * s2 + u3;
            p[i] = a * pz + u0;
            p[i + 1] = a2 * pz + s1;
            p[i + 2] = a3 * pz + s2;
            pz = p[i + 3] = a4 * pz + s3;
        }
        for (; i < n; i++)
            pz = p[i] = a * pz + b * ((double) yre[i] * yre[i] + (double) yim[i] * yim[i]);
        for (i = 0; i < n; i++)
            pw[i] = (float) p[i];
        r->pz = pz;
    }
    r->len += n;
    for (j = 0; j < nh - 1; j++) {
        r->zre[j] = ere[n + j];
        r->zim[j] = eim[n + j];
    }
    r->n += n;
}

void fbrx_fe_trim(fb_rx17_t *r, int64_t keep)
{
    int64_t drop = keep - r->base;
    if (drop > 0) {
        if (drop > r->len)
            drop = r->len;
        r->off += (int) drop;
        r->len -= (int) drop;
        r->base += drop;
        if (!r->len)
            r->off = 0;
    }
}

void fbrx_timing_phasor(const fb_rx17_t *r, int64_t start, int64_t stop, double *cre, double *cim)
{
    int64_t a = (start > r->base ? start : r->base) - r->base;
    int64_t b = (stop < fbrx_fe_end(r) ? stop : fbrx_fe_end(r)) - r->base, i;
    double sre = 0.0, sim = 0.0;
    const float *bre = FE_RE(r), *bim = FE_IM(r);
    int k = (int) (((a + r->base) % r->tp_period + r->tp_period) % r->tp_period);
    for (i = a; i < b; i++) {
        double e = (double) bre[i] * bre[i] + (double) bim[i] * bim[i];
        sre += e * r->tp_re[k];
        sim += e * r->tp_im[k];
        if (++k == r->tp_period)
            k = 0;
    }
    *cre = sre;
    *cim = sim;
}

double fbrx_centre_from_phasor(const fb_rx17_t *r, double cre, double cim)
{
    return pymod(-atan2(cim, cre) / (2 * PI) * r->sps, r->sps);
}

/* interpolated baseband at absolute fractional time t (at the buffer's ends its first or last sample repeated) */
void fbrx_fe_sample(const fb_rx17_t *r, double t, double *ore, double *oim)
{
    double fl = floor(t), sre = 0.0, sim = 0.0;
    int ph = (int) rne((t - fl) * PHASES), j;
    const float *w = r->itab + ph * FB_ITW;
    int64_t i0 = (int64_t) fl - r->base - INTERP / 2 + 1;
    if (r->len == 0) {
        *ore = *oim = 0.0;
        return;
    }
    for (j = 0; j < INTERP; j++) {
        int64_t i = i0 + j;
        i = i < 0 ? 0 : (i > r->len - 1 ? r->len - 1 : i);
        sre += (double) (FE_RE(r)[i] * w[j]);
        sim += (double) (FE_IM(r)[i] * w[j]);
    }
    *ore = sre;
    *oim = sim;
}


typedef int fb_v8i __attribute__((vector_size(32)));

/* the eight lane sums of a..d (re) and e..h (im) as two vectors of four lanes: pairs of lanes added across the four
   (a transpose), not one vector at a time */
#define PAIRS(x, y) (__builtin_shuffle(x, y, (fb_v8i) {0, 8, 1, 9, 2, 10, 3, 11}) \
                     + __builtin_shuffle(x, y, (fb_v8i) {4, 12, 5, 13, 6, 14, 7, 15}))
#define QUADS(x, y) (__builtin_shuffle(x, y, (fb_v8i) {0, 1, 8, 9, 4, 5, 12, 13}) \
                     + __builtin_shuffle(x, y, (fb_v8i) {2, 3, 10, 11, 6, 7, 14, 15}))

/* nt interpolated samples at t0 + i * dt: in float, a whole weight row (two vectors of eight) against the
   samples, four outputs at a time when their taps lie inside the buffer, else one by one with the ends repeated */
FB_SIMD_CLONES
void fbrx_fe_samples(const fb_rx17_t *r, double t0, double dt, int nt, double *restrict ore, double *restrict oim)
{
    const float *bre = FE_RE(r), *bim = FE_IM(r);
    int i = 0, l;
    for (; i + 4 <= nt; i += 4) {
        fb_v8f ar[4], ai[4], tr, ti;
        int inside = r->len > 0;
        for (l = 0; l < 4 && inside; l++) {
            double t = t0 + (i + l) * dt, fl = floor(t);
            int64_t i0 = (int64_t) fl - r->base - INTERP / 2 + 1;
            const float *w;
            fb_v8f w0, w1, x0, x1, y0, y1;
            if (i0 < 0 || i0 + INTERP > r->len) {
                inside = 0;
                break;
            }
            w = r->itab + (int) rne((t - fl) * PHASES) * FB_ITW;
            memcpy(&w0, w, sizeof(w0));
            memcpy(&w1, w + 8, sizeof(w1));
            memcpy(&x0, bre + i0, sizeof(x0));
            memcpy(&x1, bre + i0 + 8, sizeof(x1));
            memcpy(&y0, bim + i0, sizeof(y0));
            memcpy(&y1, bim + i0 + 8, sizeof(y1));
            ar[l] = x0 * w0 + x1 * w1;
            ai[l] = y0 * w0 + y1 * w1;
        }
        if (!inside) {
            for (l = 0; l < 4; l++)
                fbrx_fe_sample(r, t0 + (i + l) * dt, &ore[i + l], &oim[i + l]);
            continue;
        }
        tr = QUADS(PAIRS(ar[0], ar[1]), PAIRS(ar[2], ar[3]));
        ti = QUADS(PAIRS(ai[0], ai[1]), PAIRS(ai[2], ai[3]));
        for (l = 0; l < 4; l++) {
            ore[i + l] = tr[l] + tr[l + 4];
            oim[i + l] = ti[l] + ti[l + 4];
        }
    }
    for (; i < nt; i++)
        fbrx_fe_sample(r, t0 + i * dt, &ore[i], &oim[i]);
}

/* equaliser outputs of nsym symbols at T/2 (y interleaved re, im; the equaliser's input of symbol i is
   x[2 i .. 2 i + FB_EQ - 1]) and each input's energy (nrms), vectorised across the symbols: the even and odd
   T/2 samples apart, so that tap j of every symbol is one contiguous run; each output sums its taps in order
   as a per-symbol loop would (the same result to the bit) */
FB_SIMD_CLONES
void fbrx_eq_block(const double *w_re, const double *w_im, const double *hre, const double *him, int nsym,
                     double *y, double *nrms)
{
    double ere[HS_MAX / 2 + 1], eim[HS_MAX / 2 + 1], ore[HS_MAX / 2 + 1], oim[HS_MAX / 2 + 1];
    double yre[HS_MAX / 2], yim[HS_MAX / 2];
    int i, j, half = nsym + FB_EQ / 2;
    for (i = 0; i < half; i++) {   /* x holds 2 nsym + FB_EQ - 2 samples: the last odd one is not there */
        ere[i] = hre[2 * i];
        eim[i] = him[2 * i];
    }
    for (i = 0; i < half - 1; i++) {
        ore[i] = hre[2 * i + 1];
        oim[i] = him[2 * i + 1];
    }
    for (i = 0; i < nsym; i++)
        yre[i] = yim[i] = nrms[i] = 0.0;
    for (j = 0; j < FB_EQ; j++) {
        const double *xr = (j & 1 ? ore : ere) + j / 2, *xi = (j & 1 ? oim : eim) + j / 2;
        const double wr = w_re[j], wi = w_im[j];
        for (i = 0; i < nsym; i++) {
            yre[i] += wr * xr[i] - wi * xi[i];
            yim[i] += wr * xi[i] + wi * xr[i];
            nrms[i] += xr[i] * xr[i] + xi[i] * xi[i];
        }
    }
    for (i = 0; i < nsym; i++) {
        y[2 * i] = yre[i];
        y[2 * i + 1] = yim[i];
    }
}

/* block LMS sums: s[j] = sum over symbols i of errs[i] * conj(x_i[j]) (re in sre, im in sim), vectorised across
   the taps, symbols summed in order */
FB_SIMD_CLONES
void fbrx_lms_block(const double *errs, const double *hre, const double *him, int nsym, double *sre, double *sim)
{
    int i, j;
    for (j = 0; j < FB_EQ; j++)
        sre[j] = sim[j] = 0.0;
    for (i = 0; i < nsym; i++) {
        const double er = errs[2 * i], ei = errs[2 * i + 1], *xr = hre + 2 * i, *xi = him + 2 * i;
        for (j = 0; j < FB_EQ; j++) {
            sre[j] += er * xr[j] + ei * xi[j];
            sim[j] += ei * xr[j] - er * xi[j];
        }
    }
}

/* follow the symbol timing over absolute samples a .. b (a leaky Oerder-Meyr phasor, a 5 % step) */
void fbrx_track_timing(fb_rx17_t *r, int64_t a, int64_t b)
{
    double cre, cim, lam, centre, e, sps = r->sps, tre;
    if (b <= a)
        return;
    fbrx_timing_phasor(r, a, b, &cre, &cim);
    lam = pow(0.995, (double) (b - a) / sps);
    tre = r->tm_re * lam + cre;
    r->tm_im = r->tm_im * lam + cim;
    r->tm_re = tre;
    centre = fbrx_centre_from_phasor(r, r->tm_re, r->tm_im);
    e = pymod(centre - r->t_next + sps / 2, sps) - sps / 2;
    r->t_next += 0.05 * e;
}

/* the state a block of r touches (its fields up to the buffers, the buffers' held samples, its input) on its way
   into the cache while the session before it runs: with many sessions it comes from memory otherwise */
void fbrx_prefetch(const fb_rx17_t *r, const int16_t *x, int n)
{
    const char *p = (const char *) r, *e = (const char *) r->bre;
    int64_t b = (int64_t) sizeof(float) * (r->len + n), o;
    for (; p < e; p += 64)
        __builtin_prefetch(p);
    for (o = 0; o < b; o += 64) {
        __builtin_prefetch((const char *) FE_RE(r) + o);
        __builtin_prefetch((const char *) FE_IM(r) + o);
        __builtin_prefetch((const char *) FE_PW(r) + o);
    }
    for (o = 0; o < (int64_t) sizeof(int16_t) * n; o += 64)
        __builtin_prefetch((const char *) x + o);
}
