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
   time held in registers across all taps (eight a vector); inlined into fbrx_fe_push's clones */
static inline void matched_filter(const float *h, int nh, const float *ere, const float *eim, float *restrict yre,
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

/* x mixed to baseband (twice the carrier table's value, rounded to float) into ere/eim: in runs up to the table's
   wrap, so that each run is a plain loop over pointers (vectorised: the build's -fwrapv keeps i + k from being one) */
static inline void fe_mix(fb_rx17_t *r, const int16_t *x, int n, float *restrict ere, float *restrict eim)
{
    int i = 0, k, ph = (int) (r->n % r->lo_period);
    while (i < n) {
        int m = r->lo_period - ph < n - i ? r->lo_period - ph : n - i;
        const double *lr = r->lo_re + ph, *li = r->lo_im + ph;
        const int16_t *xs = x + i;
        float *er = ere + i, *ei = eim + i;
        for (k = 0; k < m; k++) {
            double v = 2.0 * xs[k];
            er[k] = (float) (v * lr[k]);
            ei[k] = (float) (v * li[k]);
        }
        i += m;
        ph = 0;
    }
}

/* in-band power of n filtered samples, pz = a pz + e / 24 (a = 23 / 24), into p (double) and pw (float): the
   energies first (vectorised), then the recursion four samples a step, each of the four from the power before the
   step (one multiply-add on the recursion's path per four samples, not four) */
static inline void fe_power(fb_rx17_t *r, const float *yre, const float *yim, int n, double *restrict p,
                            float *restrict pw)
{
    const double a = 1.0 - 1.0 / 24, b = 1.0 / 24, a2 = a * a, a3 = a2 * a, a4 = a2 * a2;
    double pz = r->pz, u[FB_RXCHUNK];
    int i;
    for (i = 0; i < n; i++)
        u[i] = b * ((double) yre[i] * yre[i] + (double) yim[i] * yim[i]);
    for (i = 0; i + 4 <= n; i += 4) {
        double s1 = a * u[i] + u[i + 1], s2 = a * s1 + u[i + 2], s3 = a * s2 + u[i + 3];
        p[i] = a * pz + u[i];
        p[i + 1] = a2 * pz + s1;
        p[i + 2] = a3 * pz + s2;
        pz = p[i + 3] = a4 * pz + s3;
    }
    for (; i < n; i++)
        pz = p[i] = a * pz + u[i];
    for (i = 0; i < n; i++)
        pw[i] = (float) p[i];
    r->pz = pz;
}

/* mix to baseband, matched filter, in-band power; appended to the buffer (p gets the power of each) */
FB_SIMD_CLONES
void fbrx_fe_push(fb_rx17_t *r, const int16_t *x, int n, double *p)
{
    int j, nh = r->nh;
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
    memcpy(ere, r->zre, sizeof(float) * (size_t) (nh - 1));
    memcpy(eim, r->zim, sizeof(float) * (size_t) (nh - 1));
    for (j = 0; j < nh; j++)
        h[j] = (float) r->h[j];
    fe_mix(r, x, n, ere + nh - 1, eim + nh - 1);
    /* the matched filter tap by tap over the whole block (vectorised; each output sums its taps in
       the same order as a per-sample loop, so the result is the same to the bit) */
    yre = FE_RE(r) + r->len;
    yim = FE_IM(r) + r->len;
    matched_filter(h, nh, ere, eim, yre, yim, n);
    fe_power(r, yre, yim, n, p, FE_PW(r) + r->len);
    r->len += n;
    memcpy(r->zre, ere + n, sizeof(float) * (size_t) (nh - 1));
    memcpy(r->zim, eim + n, sizeof(float) * (size_t) (nh - 1));
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

typedef double fb_v4d __attribute__((vector_size(32), aligned(8)));

#define EQ_G 3   /* vectors of four symbols an equaliser pass holds in registers */
#define EQ_SPAN (4 * EQ_G)

/* equaliser outputs of nsym symbols at T/2 (y interleaved re, im; the equaliser's input of symbol i is
   x[2 i .. 2 i + FB_EQ - 1]) and each input's energy (nrms), vectorised across the symbols: the even and odd
   T/2 samples apart, so that tap j of every symbol is one contiguous run; twelve symbols a pass held in registers
   across all taps, each output summing its taps in order as a per-symbol loop would (the same result to the bit;
   an energy is the sum of its samples' energies, each computed once) */
FB_SIMD_CLONES
void fbrx_eq_block(const double *w_re, const double *w_im, const double *hre, const double *him, int nsym,
                   double *y, double *nrms)
{
    enum { H = HS_MAX / 2 + EQ_SPAN + FB_EQ };
    double er[H], ei[H], ee[H], od_r[H], od_i[H], oe[H], yre[HS_MAX / 2 + EQ_SPAN], yim[HS_MAX / 2 + EQ_SPAN];
    double yn[HS_MAX / 2 + EQ_SPAN];
    int i, j, g, half = nsym + FB_EQ / 2, end = (nsym + EQ_SPAN - 1) / EQ_SPAN * EQ_SPAN + FB_EQ / 2;
    for (i = 0; i < half; i++) {   /* x holds 2 nsym + FB_EQ - 2 samples: the last odd one is not there */
        er[i] = hre[2 * i];
        ei[i] = him[2 * i];
        ee[i] = er[i] * er[i] + ei[i] * ei[i];
    }
    for (i = 0; i < half - 1; i++) {
        od_r[i] = hre[2 * i + 1];
        od_i[i] = him[2 * i + 1];
        oe[i] = od_r[i] * od_r[i] + od_i[i] * od_i[i];
    }
    for (i = half; i < end; i++)   /* the last pass's unused symbols read zeros */
        er[i] = ei[i] = ee[i] = 0.0;
    for (i = half - 1; i < end; i++)
        od_r[i] = od_i[i] = oe[i] = 0.0;
    for (i = 0; i < nsym; i += EQ_SPAN) {
        fb_v4d ar[EQ_G], ai[EQ_G], an[EQ_G];
        for (g = 0; g < EQ_G; g++)
            ar[g] = ai[g] = an[g] = (fb_v4d) {0, 0, 0, 0};
        for (j = 0; j < FB_EQ; j++) {
            const int o = i + j / 2;
            const double *xr = (j & 1 ? od_r : er) + o, *xi = (j & 1 ? od_i : ei) + o, *xe = (j & 1 ? oe : ee) + o;
            const fb_v4d wr = {w_re[j], w_re[j], w_re[j], w_re[j]}, wi = {w_im[j], w_im[j], w_im[j], w_im[j]};
            for (g = 0; g < EQ_G; g++) {
                const fb_v4d vr = *(const fb_v4d *) (xr + 4 * g), vi = *(const fb_v4d *) (xi + 4 * g);
                ar[g] += wr * vr - wi * vi;
                ai[g] += wr * vi + wi * vr;
                an[g] += *(const fb_v4d *) (xe + 4 * g);
            }
        }
        for (g = 0; g < EQ_G; g++) {
            memcpy(yre + i + 4 * g, &ar[g], sizeof(ar[g]));
            memcpy(yim + i + 4 * g, &ai[g], sizeof(ai[g]));
            memcpy(yn + i + 4 * g, &an[g], sizeof(an[g]));
        }
    }
    for (i = 0; i < nsym; i++) {
        y[2 * i] = yre[i];
        y[2 * i + 1] = yim[i];
        nrms[i] = yn[i];
    }
}

/* block LMS sums: s[j] = sum over symbols i of errs[i] * conj(x_i[j]) (re in sre, im in sim), vectorised across
   the taps (the first sixteen in registers, four vectors; the last one apart), symbols summed in order */
FB_SIMD_CLONES
void fbrx_lms_block(const double *errs, const double *hre, const double *him, int nsym, double *sre, double *sim)
{
    fb_v4d sr[4], si[4];
    double lr = 0.0, li = 0.0;
    int i, g;
    for (g = 0; g < 4; g++)
        sr[g] = si[g] = (fb_v4d) {0, 0, 0, 0};
    for (i = 0; i < nsym; i++) {
        const double *xr = hre + 2 * i, *xi = him + 2 * i, a = errs[2 * i], b = errs[2 * i + 1];
        const fb_v4d er = {a, a, a, a}, ei = {b, b, b, b};
        for (g = 0; g < 4; g++) {
            const fb_v4d vr = *(const fb_v4d *) (xr + 4 * g), vi = *(const fb_v4d *) (xi + 4 * g);
            sr[g] += er * vr + ei * vi;
            si[g] += ei * vr - er * vi;
        }
        lr += a * xr[16] + b * xi[16];
        li += b * xr[16] - a * xi[16];
    }
    for (g = 0; g < 4; g++) {
        memcpy(sre + 4 * g, &sr[g], sizeof(sr[g]));
        memcpy(sim + 4 * g, &si[g], sizeof(si[g]));
    }
    sre[16] = lr;
    sim[16] = li;
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
