/* Fax bank receive kernel: the V.21 channel 2 receiver (see faxrx.h), following fax/v21.py's receiver:
   quadrature correlators over one bit, carrier detect with hysteresis, a transition-tracking bit clock,
   the bits deframed by the HDLC receiver of faxbank.c when one is attached. */
#include <math.h>
#include <stddef.h>
#include <string.h>
#include "faxbank.h"
#include "faxrx.h"
#include "fbmath.h"

#define PI 3.14159265358979323846


#define V21_SPB (8000.0 / 300.0)
/* the correlators' references, period 160 samples, unrolled so that a block never wraps */
#define E_LEN (160 + FB_RXCHUNK + FB_V21L)
static double E1_RE[E_LEN], E1_IM[E_LEN], E2_RE[E_LEN], E2_IM[E_LEN];
static int e_ready;

static void v21_tables(void)
{
    int k;
    for (k = 0; k < E_LEN; k++) {
        E1_RE[k] = cos(2 * PI * 1650.0 * (k % 160) / 8000.0);
        E1_IM[k] = -sin(2 * PI * 1650.0 * (k % 160) / 8000.0);
        E2_RE[k] = cos(2 * PI * 1850.0 * (k % 160) / 8000.0);
        E2_IM[k] = -sin(2 * PI * 1850.0 * (k % 160) / 8000.0);
    }
    e_ready = 1;
}

void fb_v21_reset(fb_v21rx_t *r)
{
    memset(r->hist, 0, sizeof(r->hist));
    r->n = 0;
    r->carrier = 0;
    r->signal_lost = 0;
    r->has_t = 0;
    r->t_next = 0.0;
    r->last_d = 0.0;
    r->nbits = 0;
    r->nframes = 0;
    r->fused = 0;
}

static void v21_bits_out(fb_v21rx_t *r, const uint8_t *b, int nb)
{
    if (!nb)
        return;
    if (r->hdlc) {
        int nf = fb_hdlc_put(r->hdlc, b, nb, r->frames + r->fused, FB_V21FR - r->fused, r->flen + r->nframes,
                             FB_V21NFR - r->nframes), i;
        for (i = 0; i < nf; i++)
            r->fused += r->flen[r->nframes + i];
        r->nframes += nf;
        return;
    }
    if (r->nbits + nb > FB_V21OUT)
        nb = FB_V21OUT - r->nbits;
    memcpy(r->bits + r->nbits, b, (size_t) nb);
    r->nbits += nb;
}

FB_SIMD_CLONES
static void v21_one(fb_v21rx_t *r, const int16_t *x, int n)
{
    const int L = FB_V21L;
    double xx[FB_RXCHUNK + FB_V21L], d[FB_RXCHUNK], tr[FB_RXCHUNK];
    double s1r[FB_RXCHUNK], s1i[FB_RXCHUNK], s2r[FB_RXCHUNK], s2i[FB_RXCHUNK], pws[FB_RXCHUNK];
    uint8_t car[FB_RXCHUNK], bits[FB_RXCHUNK / 8 + 4];
    double ex = 0.0, eh = 0.0, t_next = r->t_next, T = V21_SPB;
    int64_t base = r->n, end;
    int i, ntr = 0, ti = 0, nb = 0, has_t, carrier = r->carrier;
    if (n <= 0)
        return;
    {   /* energies: sums of squares of int16 samples, exact in int64 (and so in double) */
        int64_t exi = 0;
        for (i = 0; i < n; i++)
            exi += (int64_t) x[i] * x[i];
        ex = (double) exi;
    }
    for (i = 0; i < L - 1; i++)
        eh += r->hist[i] * r->hist[i];
    if (!carrier && ex < r->off * n && eh < r->off * (L - 1)) {   /* quiet line, no carrier: keep the last L - 1 */
        int keep = n < L - 1 ? L - 1 - n : 0;
        memmove(r->hist, r->hist + (L - 1 - keep), sizeof(double) * (size_t) keep);
        for (i = keep; i < L - 1; i++)
            r->hist[i] = x[n - (L - 1) + i];
        r->last_d = 0.0;
        r->n += n;
        return;
    }
    for (i = 0; i < L - 1; i++)
        xx[i] = r->hist[i];
    for (i = 0; i < n; i++)
        xx[L - 1 + i] = x[i];
    /* the correlators as sliding sums over one bit: prefix sums of the products over the block (and the
       L - 1 samples before it), each output the difference of two (O(1) per sample, not O(L)); the power
       from exact integer prefix sums */
    {
        int k0 = (int) (((base - (L - 1)) % 160 + 160) % 160), m = n + L - 1;
        double p1r[FB_RXCHUNK + FB_V21L + 1], p1i[FB_RXCHUNK + FB_V21L + 1], p2r[FB_RXCHUNK + FB_V21L + 1],
            p2i[FB_RXCHUNK + FB_V21L + 1];
        int64_t pp[FB_RXCHUNK + FB_V21L + 1];
        p1r[0] = p1i[0] = p2r[0] = p2i[0] = 0.0;
        pp[0] = 0;
        for (i = 0; i < m; i++) {
            double v = xx[i];
            p1r[i + 1] = p1r[i] + v * E1_RE[k0 + i];
            p1i[i + 1] = p1i[i] + v * E1_IM[k0 + i];
            p2r[i + 1] = p2r[i] + v * E2_RE[k0 + i];
            p2i[i + 1] = p2i[i] + v * E2_IM[k0 + i];
            pp[i + 1] = pp[i] + (int64_t) v * (int64_t) v;
        }
        for (i = 0; i < n; i++) {
            s1r[i] = p1r[i + L] - p1r[i];
            s1i[i] = p1i[i + L] - p1i[i];
            s2r[i] = p2r[i + L] - p2r[i];
            s2i[i] = p2i[i + L] - p2i[i];
            pws[i] = (double) (pp[i + L] - pp[i]);
        }
    }
    {   /* the tones' difference and the carrier's conditions for every sample at once (vectorised), then the
           carrier with hysteresis sample by sample only where a condition can change it */
        const double on = r->on, off = r->off;
        uint8_t can_off[FB_RXCHUNK], can_on[FB_RXCHUNK];
        int any_off = 0, any_on = 0;
        for (i = 0; i < n; i++) {
            double pw = pws[i] / L, a1, a2, tone;
            a1 = s1r[i] * s1r[i] + s1i[i] * s1i[i];
            a2 = s2r[i] * s2r[i] + s2i[i] * s2i[i];
            d[i] = a1 - a2;
            tone = (a1 + a2) * 2 / (L * L);
            can_off[i] = pw < off;
            can_on[i] = (pw > on) & (tone > 0.4 * pw);
            any_off |= can_off[i];
            any_on |= can_on[i];
        }
        if (carrier ? !any_off : !any_on) {   /* the carrier stays as it is all block */
            memset(car, carrier, (size_t) n);
        } else {
            for (i = 0; i < n; i++) {
                if (carrier && can_off[i]) {
                    carrier = 0;
                    r->signal_lost = 1;
                }
                if (!carrier && can_on[i]) {
                    carrier = 1;
                    t_next = (double) (base + i) + T / 2;
                    r->has_t = 1;
                }
                car[i] = (uint8_t) carrier;
            }
        }
    }
    memcpy(r->hist, xx + n, sizeof(double) * (size_t) (L - 1));
    r->carrier = carrier;
    /* sign changes of d, to a fraction of a sample */
    for (i = 0; i < n; i++) {
        double a = i ? d[i - 1] : r->last_d, b = d[i];
        if ((a >= 0) != (b >= 0))
            tr[ntr++] = (double) (base - 1 + i) + a / (a - b);
    }
    r->last_d = d[n - 1];
    has_t = r->has_t;
    end = base + n;
    for (;;) {
        int64_t si;
        if (!has_t) {   /* wait for carrier and a transition to lock the clock */
            while (ti < ntr) {
                int64_t c = (int64_t) tr[ti] - base + 1;
                if (car[c < n - 1 ? c : n - 1])
                    break;
                ti++;
            }
            if (ti >= ntr)
                break;
            t_next = tr[ti] + T / 2;
            has_t = 1;
            ti++;
            continue;
        }
        while (ti < ntr && tr[ti] < t_next) {
            double e = tr[ti] - (t_next - T / 2);
            e = pymod(e + T / 2, T) - T / 2;
            t_next += 0.25 * e;
            ti++;
        }
        if (t_next >= (double) end)
            break;
        si = (int64_t) rne(t_next) - base;
        if (si >= n)
            break;
        if (si < 0)
            si = 0;
        if (car[si]) {
            bits[nb++] = (uint8_t) (d[si] >= 0);
        } else {
            has_t = 0;
            continue;
        }
        t_next += T;
    }
    r->has_t = has_t;
    r->t_next = t_next;
    r->n += n;
    v21_bits_out(r, bits, nb);
}

static void v21_run_all(fb_v21rx_t **rx, int k, const int16_t *x, int stride, int n, uint8_t *events)
{
    int s;
    if (!e_ready)
        v21_tables();
    if (n > FB_RXCHUNK)
        n = FB_RXCHUNK;
    for (s = 0; s < k; s++) {
        if (s + 1 < k) {   /* the next receiver's hot state and its samples on their way into the cache meanwhile */
            const char *h = (const char *) rx[s + 1], *xn = (const char *) (x + (int64_t) (s + 1) * stride);
            int l;
            for (l = 0; l < (int) offsetof(fb_v21rx_t, bits); l += 64)
                __builtin_prefetch(h + l);
            for (l = 0; l < (int) (n * sizeof(int16_t)); l += 64)
                __builtin_prefetch(xn + l);
        }
        v21_one(rx[s], x + (int64_t) s * stride, n);
        if (events && (rx[s]->nframes || rx[s]->nbits))
            events[s] = 1;
    }
}

int fb_v21_run(fb_v21rx_t **rx, int k, const int16_t *x, int stride, int n, uint8_t *events)
{
    if (events)
        memset(events, 0, (size_t) (k > 0 ? k : 0));
    v21_run_all(rx, k, x, stride, n, events);
    return fb_count_events(events, k);
}
