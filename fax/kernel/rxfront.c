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
typedef double fb_v4d __attribute__((vector_size(32), aligned(8)));
typedef int64_t fb_v4l __attribute__((vector_size(32)));
typedef int32_t fb_v4i __attribute__((vector_size(16)));
typedef float fb_v4f __attribute__((vector_size(16), aligned(4)));

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

/* in-band power of n filtered samples, pz = a pz + e / 24 (a = 23 / 24), into p: the
   energies first (vectorised), then the recursion four samples a step, each of the four from the power before the
   step (one multiply-add on the recursion's path per four samples, not four) */
static inline void fe_power(fb_rx17_t *r, const float *yre, const float *yim, int n, double *restrict p)
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
    r->pz = pz;
}

void fbrx_fe_keep_power(fb_rx17_t *r, int64_t start, const double *p, int n)
{
    float *pw = FE_PW(r) + (start - r->base);
    int i;
    for (i = 0; i < n; i++)
        pw[i] = (float) p[i];
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
        if (fbrx_keeps_power(r))
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
    fe_power(r, yre, yim, n, p);
    if (fbrx_keeps_power(r))
        fbrx_fe_keep_power(r, r->base + r->len, p, n);
    r->len += n;
    memcpy(r->zre, ere + n, sizeof(float) * (size_t) (nh - 1));
    memcpy(r->zim, eim + n, sizeof(float) * (size_t) (nh - 1));
    r->n += n;
}

/* the first index from i (< n) whose power is above thr (above: 1) or below it (above: 0), else n: sixteen at a
   time while none is */
FB_SIMD_CLONES
int fbrx_first_crossing(const double *p, int i, int n, double thr, int above)
{
    const fb_v4d t = {thr, thr, thr, thr};
    int l;
    for (; i + 16 <= n; i += 16) {
        fb_v4l m = {0, 0, 0, 0};
        for (l = 0; l < 16; l += 4) {
            const fb_v4d v = *(const fb_v4d *) (p + i + l);
            m |= above ? v > t : v < t;
        }
        if (m[0] | m[1] | m[2] | m[3])
            break;
    }
    for (; i < n; i++)
        if (above ? p[i] > thr : p[i] < thr)
            break;
    return i;
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

/* sum of |x|^2 times the timing table over the samples: four partial sums (a vector: samples i = 0, 1, 2, 3 mod 4),
   the table read four entries at a time from a copy extended by three past its period */
FB_SIMD_CLONES
void fbrx_timing_phasor(const fb_rx17_t *r, int64_t start, int64_t stop, double *cre, double *cim)
{
    int64_t a = (start > r->base ? start : r->base) - r->base;
    int64_t b = (stop < fbrx_fe_end(r) ? stop : fbrx_fe_end(r)) - r->base, i;
    const float *bre = FE_RE(r), *bim = FE_IM(r);
    const int np = r->tp_period;
    double xre[FB_RXTP + 3], xim[FB_RXTP + 3], sre, sim;
    fb_v4d vr = {0.0, 0.0, 0.0, 0.0}, vi = vr;
    int k = (int) (((a + r->base) % np + np) % np), j;
    for (j = 0; j < np + 3; j++) {
        xre[j] = r->tp_re[j % np];
        xim[j] = r->tp_im[j % np];
    }
    for (i = a; i + 4 <= b; i += 4) {
        fb_v4f fr, fi;
        fb_v4d dr, di, e;
        memcpy(&fr, bre + i, sizeof(fr));
        memcpy(&fi, bim + i, sizeof(fi));
        dr = __builtin_convertvector(fr, fb_v4d);
        di = __builtin_convertvector(fi, fb_v4d);
        e = dr * dr + di * di;
        vr += e * *(const fb_v4d *) (xre + k);
        vi += e * *(const fb_v4d *) (xim + k);
        k += 4;
        if (k >= np)
            k -= np;
    }
    sre = (vr[0] + vr[1]) + (vr[2] + vr[3]);
    sim = (vi[0] + vi[1]) + (vi[2] + vi[3]);
    for (; i < b; i++) {
        double e = (double) bre[i] * bre[i] + (double) bim[i] * bim[i];
        sre += e * xre[k];
        sim += e * xim[k];
        if (++k == np)
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
FB_SIMD_CLONES
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
    if (i0 >= 0 && i0 + INTERP <= r->len) {   /* inside: no clamping */
        const float *xr = FE_RE(r) + i0, *xi = FE_IM(r) + i0;
        for (j = 0; j < INTERP; j++) {
            sre += (double) (xr[j] * w[j]);
            sim += (double) (xi[j] * w[j]);
        }
        *ore = sre;
        *oim = sim;
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

/* the first sample index relative to the buffer (i0 of fbrx_fe_sample, as double) and the weight row (rne of the
   fraction times PHASES) of four times t >= 0 below 2^51: floor and rne by adding and taking away 2^52 (exact) */
static inline void interp_rows(const fb_v4d *t, double base, fb_v4d *d, fb_v4d *ph)
{
    const fb_v4d big = {4503599627370496.0, 4503599627370496.0, 4503599627370496.0, 4503599627370496.0};
    const fb_v4d one = {1.0, 1.0, 1.0, 1.0}, nph = {PHASES, PHASES, PHASES, PHASES};
    fb_v4d rt = (*t + big) - big, fl = rt - (fb_v4d) ((fb_v4l) (rt > *t) & (fb_v4l) one), f = (*t - fl) * nph;
    *ph = (f + big) - big;
    *d = fl - base;
}

/* pairwise sums within each half of a and b: {a0 + a1, a2 + a3, b0 + b1, b2 + b3} in each 128-bit half */
#define HADD(a, b) (__builtin_shuffle(a, b, (fb_v8i) {0, 2, 8, 10, 4, 6, 12, 14}) \
                    + __builtin_shuffle(a, b, (fb_v8i) {1, 3, 9, 11, 5, 7, 13, 15}))

/* the four outputs' sums (re of output l in lane l, im in lane 4 + l) of the products ar[l], ai[l] (eight lanes,
   each the sum of a product pair): lanes k and k + 4 added, then pairs, then the two pair sums */
static inline void interp_sums(const fb_v8f *ar, const fb_v8f *ai, fb_v8f *s)
{
    fb_v8f h[4];
    int l;
    for (l = 0; l < 4; l++)
        h[l] = __builtin_shuffle(ar[l], ai[l], (fb_v8i) {0, 1, 2, 3, 8, 9, 10, 11})
               + __builtin_shuffle(ar[l], ai[l], (fb_v8i) {4, 5, 6, 7, 12, 13, 14, 15});
    *s = HADD(HADD(h[0], h[1]), HADD(h[2], h[3]));
}

/* nt interpolated samples at t0 + i * dt: in float, a whole weight row (two vectors of eight) against the
   samples, four outputs at a time (their rows and indices computed side by side) when their taps lie inside the
   buffer, else (and the last nt % 4) one by one */
FB_SIMD_CLONES
void fbrx_fe_samples(const fb_rx17_t *r, double t0, double dt, int nt, double *restrict ore, double *restrict oim)
{
    const float *bre = FE_RE(r), *bim = FE_IM(r);
    const fb_v4d lane = {0.0, 1.0, 2.0, 3.0}, zero = {0.0, 0.0, 0.0, 0.0};
    const fb_v4d last = {r->len - INTERP, r->len - INTERP, r->len - INTERP, r->len - INTERP};
    const double base = (double) (r->base + INTERP / 2 - 1);
    int i = 0, l, vec = t0 >= 0.0 && t0 + nt * dt < 2251799813685248.0;
    for (; vec && i + 4 <= nt; i += 4) {
        fb_v8f ar[4], ai[4], s;
        fb_v4d t = t0 + ((double) i + lane) * dt, ph, d, dr, di;
        fb_v4l out;
        fb_v4i i0, row;
        fb_v4f sr, si;
        interp_rows(&t, base, &d, &ph);
        out = (d < zero) | (d > last);
        if (out[0] | out[1] | out[2] | out[3]) {
            for (l = 0; l < 4; l++)
                fbrx_fe_sample(r, t0 + (i + l) * dt, &ore[i + l], &oim[i + l]);
            continue;
        }
        i0 = __builtin_convertvector(d, fb_v4i);
        row = __builtin_convertvector(ph, fb_v4i) * FB_ITW;
        for (l = 0; l < 4; l++) {
            const float *w = r->itab + row[l], *xr = bre + i0[l], *xi = bim + i0[l];
            const fb_v8f w0 = *(const fb_v8f *) w, w1 = *(const fb_v8f *) (w + 8);
            ar[l] = *(const fb_v8f *) xr * w0 + *(const fb_v8f *) (xr + 8) * w1;
            ai[l] = *(const fb_v8f *) xi * w0 + *(const fb_v8f *) (xi + 8) * w1;
        }
        interp_sums(ar, ai, &s);
        memcpy(&sr, &s, sizeof(sr));
        memcpy(&si, (const char *) &s + sizeof(sr), sizeof(si));
        dr = __builtin_convertvector(sr, fb_v4d);
        di = __builtin_convertvector(si, fb_v4d);
        memcpy(ore + i, &dr, sizeof(dr));
        memcpy(oim + i, &di, sizeof(di));
    }
    for (; i < nt; i++)
        fbrx_fe_sample(r, t0 + i * dt, &ore[i], &oim[i]);
}

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

/* w += a * conj(x) over the FB_EQ taps (four a vector, the last FB_EQ % 4 apart; each tap's sum as a scalar loop's) */
FB_SIMD_CLONES
void fbrx_lms_step(double *restrict w_re, double *restrict w_im, double are, double aim, const double *xre,
                   const double *xim)
{
    const fb_v4d ar = {are, are, are, are}, ai = {aim, aim, aim, aim};
    int g;
    for (g = 0; g + 4 <= FB_EQ; g += 4) {
        const fb_v4d vr = *(const fb_v4d *) (xre + g), vi = *(const fb_v4d *) (xim + g);
        *(fb_v4d *) (w_re + g) += ar * vr + ai * vi;
        *(fb_v4d *) (w_im + g) += ai * vr - ar * vi;
    }
    for (; g < FB_EQ; g++) {
        w_re[g] += are * xre[g] + aim * xim[g];
        w_im[g] += aim * xre[g] - are * xim[g];
    }
}

/* block LMS sums: s[j] = sum over symbols i of errs[i] * conj(x_i[j]) (re in sre, im in sim), vectorised across
   the taps (four a vector, in registers; the last FB_EQ % 4 apart), symbols summed in order */
FB_SIMD_CLONES
void fbrx_lms_block(const double *errs, const double *hre, const double *him, int nsym, double *sre, double *sim)
{
    enum { NV = FB_EQ / 4, NT = FB_EQ % 4 };
    fb_v4d sr[NV], si[NV];
    double lr[NT + 1], li[NT + 1];
    int i, g;
    for (g = 0; g < NV; g++)
        sr[g] = si[g] = (fb_v4d) {0, 0, 0, 0};
    for (g = 0; g < NT; g++)
        lr[g] = li[g] = 0.0;
    for (i = 0; i < nsym; i++) {
        const double *xr = hre + 2 * i, *xi = him + 2 * i, a = errs[2 * i], b = errs[2 * i + 1];
        const fb_v4d er = {a, a, a, a}, ei = {b, b, b, b};
        for (g = 0; g < NV; g++) {
            const fb_v4d vr = *(const fb_v4d *) (xr + 4 * g), vi = *(const fb_v4d *) (xi + 4 * g);
            sr[g] += er * vr + ei * vi;
            si[g] += ei * vr - er * vi;
        }
        for (g = 0; g < NT; g++) {
            lr[g] += a * xr[4 * NV + g] + b * xi[4 * NV + g];
            li[g] += b * xr[4 * NV + g] - a * xi[4 * NV + g];
        }
    }
    for (g = 0; g < NV; g++) {
        memcpy(sre + 4 * g, &sr[g], sizeof(sr[g]));
        memcpy(sim + 4 * g, &si[g], sizeof(si[g]));
    }
    for (g = 0; g < NT; g++) {
        sre[4 * NV + g] = lr[g];
        sim[4 * NV + g] = li[g];
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

/* the state a block of r touches (its fields up to the buffers, the buffers' held samples and where this block's
   go, the powers only while kept, its input) on its way into the cache while the session before it runs: with many
   sessions it comes from memory otherwise */
void fbrx_prefetch(const fb_rx17_t *r, const int16_t *x, int n)
{
    int64_t o, b = (int64_t) sizeof(float) * (r->len + n);
    const char *re = (const char *) FE_RE(r), *im = (const char *) FE_IM(r), *pw = (const char *) FE_PW(r);
    const char *f = (const char *) r, *e = (const char *) r->bre;
    int keep;
    for (; f < e; f += 64)
        __builtin_prefetch(f);
    keep = fbrx_keeps_power(r);
    if (r->off + r->len + n > FB_RXBUF) {   /* fbrx_fe_push moves the held samples to the start */
        for (o = 0; o < b; o += 64) {
            __builtin_prefetch((const char *) r->bre + o, 1);
            __builtin_prefetch((const char *) r->bim + o, 1);
            if (keep)
                __builtin_prefetch((const char *) r->pwr + o, 1);
        }
        b = (int64_t) sizeof(float) * r->len;
    }
    for (o = 0; o < b; o += 64) {
        __builtin_prefetch(re + o, 1);
        __builtin_prefetch(im + o, 1);
        if (keep)
            __builtin_prefetch(pw + o, 1);
    }
    for (o = 0; o < (int64_t) sizeof(int16_t) * n; o += 64)
        __builtin_prefetch((const char *) x + o);
}
