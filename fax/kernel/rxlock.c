/* The V.17 receiver's lock on the alternating (ABAB) segment that starts its training: timing, carrier and gain
   (ModemRxBase._lock), and the equaliser it starts from; the state machine that calls it is faxrx.c. */
#include <math.h>
#include <string.h>
#include "fbmath.h"
#include "rxfront.h"

static void eq_init(fb_rx17_t *r, double gain, double phase, double freq)
{
    memset(r->w_re, 0, sizeof(r->w_re));
    memset(r->w_im, 0, sizeof(r->w_im));
    r->w_re[HALF_TAPS] = gain;
    r->phase = phase;
    r->freq = freq;
}

/* lock timing, carrier and gain on the alternating segment (ModemRxBase._lock); 1 on success */
int fbrx_lock(fb_rx17_t *r)
{
    const double sps = r->sps;
    int64_t a = (int64_t) r->acq_start, b = (int64_t) (a + WINDOW * sps), i0, i1, i;
    double cre, cim, energy = 1e-9, centre, base, t0, rre[WINDOW], rim[WINDOW];
    double fre = 0.0, fim = 0.0, omega, ure[WINDOW], uim[WINDOW], best_res = 0.0, gre = 0.0, gim = 0.0;
    int n = WINDOW - HALF_TAPS, k, par, have = 0;
    fbrx_timing_phasor(r, a, b, &cre, &cim);
    i0 = a - r->base > 0 ? a - r->base : 0;
    i1 = b - r->base > 0 ? b - r->base : 0;
    i1 = i1 > r->len ? r->len : i1;
    for (i = i0; i < i1; i++)
        energy += (double) FE_RE(r)[i] * FE_RE(r)[i] + (double) FE_IM(r)[i] * FE_IM(r)[i];
    if (sqrt(cre * cre + cim * cim) < 0.05 * energy)
        return 0;
    centre = fbrx_centre_from_phasor(r, cre, cim);
    base = a + HALF_TAPS * sps / 2 + INTERP;
    t0 = base + pymod(centre - base, sps);
    if (t0 + (n - 1) * sps + HALF_TAPS * sps / 2 + INTERP >= fbrx_fe_end(r))
        return 0;
    for (k = 0; k < n; k++)
        fbrx_fe_sample(r, t0 + k * sps, &rre[k], &rim[k]);
    for (k = 2; k < n; k++) {   /* r[k] * conj(r[k-2]) */
        fre += rre[k] * rre[k - 2] + rim[k] * rim[k - 2];
        fim += rim[k] * rre[k - 2] - rre[k] * rim[k - 2];
    }
    omega = atan2(fim, fre) / 2.0;
    for (k = 0; k < n; k++) {
        double c = cos(-omega * k), s = sin(-omega * k);
        ure[k] = rre[k] * c - rim[k] * s;
        uim[k] = rre[k] * s + rim[k] * c;
    }
    for (par = 0; par < 2; par++) {
        double sre = 0.0, sim = 0.0, pw = 0.0, res = 0.0, uu = 0.0, g_re, g_im;
        for (k = 0; k < n; k++) {
            int p = (k + par) % 2 == 0 ? 0 : 1;
            double pre = ABCD_RE[p], pim = ABCD_IM[p];
            sre += ure[k] * pre + uim[k] * pim;   /* u * conj(p) */
            sim += uim[k] * pre - ure[k] * pim;
            pw += pre * pre + pim * pim;
        }
        g_re = sre / pw;
        g_im = sim / pw;
        for (k = 0; k < n; k++) {
            int p = (k + par) % 2 == 0 ? 0 : 1;
            double dre = ure[k] - (g_re * ABCD_RE[p] - g_im * ABCD_IM[p]);
            double dim = uim[k] - (g_re * ABCD_IM[p] + g_im * ABCD_RE[p]);
            res += dre * dre + dim * dim;
            uu += ure[k] * ure[k] + uim[k] * uim[k];
        }
        res /= uu + 1e-12;
        if (!have || res < best_res) {
            have = 1;
            best_res = res;
            gre = g_re;
            gim = g_im;
        }
    }
    if (best_res > 0.15 || (gre == 0.0 && gim == 0.0))
        return 0;
    eq_init(r, 1.0 / sqrt(gre * gre + gim * gim), atan2(gim, gre) + omega * n, omega);
    r->t_next = t0 + (n - 1) * sps + sps;
    r->has_t = 1;
    r->nhist = 0;
    r->sym_count = 0;
    r->tm_re = cre;
    r->tm_im = cim;
    r->trained = 0;
    r->ones_ok = 0;
    r->ones_n = 0;
    r->ones_bad = 0;
    if (i1 > i0) {   /* carrier off 20 dB under the locked level: the median in-band power */
        double seg[FB_RXBUF > 256 ? 256 : FB_RXBUF], med, v;
        int m = (int) (i1 - i0) > 256 ? 256 : (int) (i1 - i0), x, y;
        for (x = 0; x < m; x++) {   /* insertion sort */
            v = FE_PW(r)[i0 + x];
            for (y = x; y > 0 && seg[y - 1] > v; y--)
                seg[y] = seg[y - 1];
            seg[y] = v;
        }
        med = m % 2 ? seg[m / 2] : 0.5 * (seg[m / 2 - 1] + seg[m / 2]);
        r->rel_off = med * 0.01 > r->off_lin ? med * 0.01 : r->off_lin;
    }
    return 1;
}
