/* Fax bank receive kernels (see faxrx.h; the V.21 receiver is in v21rx.c). The V.17 receiver follows the state machine of
   fax/modem_rx.py ModemRxBase (search, acquisition on ABAB, decision-directed training until the CDBA
   pattern is found, data-aided training, data mode) with V17Rx's long/short training detection; its data
   mode uses the trellis decoder of faxbank.c. */
#include <math.h>
#include <string.h>
#include "fbmath.h"
#include "rxfront.h"   /* faxbank.h, faxrx.h */

enum { MODE_NONE, MODE_LONG, MODE_SHORT };

#define SETTLE 6
#define ALIGN 24
#define SEG_SHORT 38
#define MAX_TRAIN 900
#define MU_TRAIN 0.05
#define MU_DATA 0.01
#define KP_TRAIN 0.08
#define KI_TRAIN 0.003
#define KP_DATA 0.03
#define KI_DATA 0.0005
#define LINE_MAX (FB_RXCHUNK * 2 + 2048)

static const double ROT_RE[4] = {1.0, 0.0, -1.0, 0.0};
static const double ROT_IM[4] = {0.0, 1.0, 0.0, -1.0};

/* per-call scratch: the line bits of one _process (one receiver at a time) */
typedef struct {
    int n;
    uint8_t b[LINE_MAX];
} line_t;

/* the reception state only: the front end keeps running (ModemRxBase._reset_state) */
void fb_rx17_reset(fb_rx17_t *r)
{
    r->carrier = r->trained = r->signal_lost = r->need_quiet = 0;
    r->state = SEARCH;
    r->ones_ok = r->ones_n = r->ones_bad = 0;
    r->mode = MODE_NONE;
    r->npending = 0;
    r->nhist = 0;
    r->sym_count = 0;
    r->pos = 0;
    r->has_t = 0;
    r->has_acq = 0;
    r->t_next = 0.0;
    r->acq_start = 0.0;
    r->rel_off = r->off_lin;
    r->tm_re = 0.0;
    r->tm_im = 0.0;
    r->nout = 0;
    r->nframes = 0;
    r->fused = 0;
    fb_v17_reset(&r->vit);
}

/* ---------------------------------------------------------------- equaliser and carrier loop */

/* equalised, derotated symbol of the T/2 vector x */
static void eq_output(const fb_rx17_t *r, const double *xre, const double *xim, double *zre, double *zim)
{
    double yre = 0.0, yim = 0.0, c, s;
    int j;
    fb_sincos(-r->phase, &s, &c);
    for (j = 0; j < FB_EQ; j++) {
        yre += r->w_re[j] * xre[j] - r->w_im[j] * xim[j];
        yim += r->w_re[j] * xim[j] + r->w_im[j] * xre[j];
    }
    *zre = yre * c - yim * s;
    *zim = yre * s + yim * c;
}

static void eq_update(fb_rx17_t *r, const double *xre, const double *xim, double nrm, double zre, double zim,
                      double tre, double tim, double mu, double kp, double ki)
{
    double ere = tre - zre, eim = tim - zim, mag;
    if (mu != 0.0) {
        double c, s, g = mu / (nrm + 1e-9);
        fb_sincos(-r->phase, &s, &c);
        /* err * conj(rot), rot = c + j s */
        double are = (ere * c + eim * s) * g, aim = (eim * c - ere * s) * g;
        fbrx_lms_step(r->w_re, r->w_im, are, aim, xre, xim);
    }
    mag = tre * tre + tim * tim;
    if (mag > 0) {
        double pe = (zim * tre - zre * tim) / mag;
        pe = pe > 0.5 ? 0.5 : (pe < -0.5 ? -0.5 : pe);
        r->freq += ki * pe;
        r->phase += r->freq + kp * pe;
    } else {
        r->phase += r->freq;
    }
}

/* ---------------------------------------------------------------- reception state machine */

static void do_fail(fb_rx17_t *r, line_t *ln)
{
    if (r->carrier && r->has_t) {
        r->state = ACQ;
        r->acq_start = r->t_next;
        r->has_acq = 1;
    } else {
        r->state = SEARCH;
    }
    r->has_t = 0;
    r->ones_n = 0;
    r->ones_bad = 0;
    ln->n = 0;
}

/* append the c (<= 32) descrambled bits o to the receiver's out: packed (nout counts bits) for its HDLC receiver,
   else one 0/1 octet a bit; at most FB_RXOUT bits held */
static inline void out_bits(fb_rx17_t *r, uint64_t o, int c)
{
    int room = FB_RXOUT - r->nout, j;
    if (c > room)
        c = room;
    if (c <= 0)
        return;
    o &= (1ull << c) - 1;
    if (r->hdlc) {   /* eight octets rewritten: those past the bits are free */
        fb_put_packed(r->out, r->nout, o);
    } else {
        for (j = 0; j < c; j += 8) {
            uint64_t t = fb_spread8(o >> j);
            if (c - j >= 8)
                memcpy(r->out + r->nout + j, &t, 8);
            else
                memcpy(r->out + r->nout + j, &t, (size_t) (c - j));
        }
    }
    r->nout += c;
}

/* 32 line bits (0/1 octets) as one word, bit i from b[i] */
static inline uint64_t pack32(const uint8_t *b)
{
    return (uint64_t) fb_pack8(b) | (uint64_t) fb_pack8(b + 8) << 8 | (uint64_t) fb_pack8(b + 16) << 16
           | (uint64_t) fb_pack8(b + 24) << 24;
}

/* the self-synchronising descrambler over n line bits (0/1) to out, 32 at a time: each output is its line bit
   xor the line bits 18 and 23 before it. x holds the last 23 line bits (oldest in bit 0) under the new ones */
static void descramble(fb_rx17_t *r, const uint8_t *b, int n)
{
    uint64_t x, h = fb_rev23(r->scr);
    int k;
    for (k = 0; k + 32 <= n; k += 32) {
        x = h | pack32(b + k) << 23;
        out_bits(r, x ^ (x >> 5) ^ (x >> 23), 32);
        h = (x >> 32) & 0x7FFFFF;
    }
    if (k < n) {
        uint8_t tail[32] = {0};
        memcpy(tail, b + k, (size_t) (n - k));
        x = h | pack32(tail) << 23;
        out_bits(r, x ^ (x >> 5) ^ (x >> 23), n - k);
        h = (x >> (n - k)) & 0x7FFFFF;
    }
    r->scr = fb_rev23((uint32_t) h);
}

/* descramble the gathered line bits and hand them on (the scrambled ones first, then data) */
static void drain(fb_rx17_t *r, line_t *ln)
{
    int i, n = ln->n;
    ln->n = 0;
    if (!n || r->state != DATA)
        return;
    for (i = 0; i < n && !r->ones_ok; i++) {
        uint32_t reg = r->scr;
        uint8_t b = ln->b[i];
        uint8_t o = (uint8_t) ((b ^ (reg >> 17) ^ (reg >> 22)) & 1);
        r->scr = ((reg << 1) | b) & 0x7FFFFF;
        r->ones_n++;
        if (!o)
            r->ones_bad = 1;
        if (r->ones_n >= r->ones_bits) {
            if (r->ones_bad) {
                do_fail(r, ln);
                return;
            }
            r->ones_ok = 1;
            r->trained = 1;
            r->signal_lost = 0;
        }
    }
    if (i < n && r->ones_ok)   /* data: the rest of the bits at once */
        descramble(r, ln->b + i, n - i);
}

static void line_add(line_t *ln, const uint8_t *b, int n)
{
    if (ln->n + n > LINE_MAX)
        n = LINE_MAX - ln->n;
    memcpy(ln->b + ln->n, b, (size_t) n);
    ln->n += n;
}

/* one data symbol: decided point into (pre, pim), line bits made final into ln */
static void data_symbol(fb_rx17_t *r, double zre, double zim, line_t *ln, double *pre, double *pim)
{
    uint8_t bits[64 * 6];
    int nb = 0, near = fb_v17_push(&r->vit, zre, zim, bits, &nb);
    *pre = r->vit.points[2 * near];
    *pim = r->vit.points[2 * near + 1];
    line_add(ln, bits, nb);
}

static void start_data(fb_rx17_t *r)
{
    uint32_t reg = r->mode == MODE_SHORT ? r->short_reg : r->long_reg, e = reg;
    int q0 = 0, i;
    r->scr = reg;
    for (i = 0; i < 2; i++) {
        int o = (int) ((1 ^ (e >> 17) ^ (e >> 22)) & 1);
        e = ((e << 1) | (uint32_t) o) & 0x7FFFFF;
        q0 |= o << i;
    }
    fb_v17_reset(&r->vit);
    r->vit.q0 = q0;
}

/* the known training symbol at pos, or 0 when data starts (V17Rx.train_target) */
static int train_target(fb_rx17_t *r, double zre, double zim, double *tre, double *tim)
{
    int pos = r->pos;
    if (r->mode == MODE_NONE && pos >= SEG_SHORT) {
        double ere = r->train[2 * pos], eim = r->train[2 * pos + 1];
        double dre = zre - ere, dim = zim - eim;
        if (sqrt(dre * dre + dim * dim) < 0.35 * r->spacing + 0.15 * sqrt(ere * ere + eim * eim)) {
            if (r->npending < 8) {
                r->pend_re[r->npending] = zre;
                r->pend_im[r->npending] = zim;
                r->npending++;
            }
            if (r->npending >= 8) {
                r->mode = MODE_LONG;
                r->npending = 0;
            }
            *tre = ere;
            *tim = eim;
            return 1;
        }
        r->mode = MODE_SHORT;
        return 0;
    }
    if (r->mode == MODE_SHORT || pos >= r->ntrain)
        return 0;
    *tre = r->train[2 * pos];
    *tim = r->train[2 * pos + 1];
    return 1;
}

/* the nearest of A, B, C, D (the first on a tie; *tie set when there is one) */
static int nearest_abcd_tie(double zre, double zim, int *tie)
{
    int best = 0, i;
    double bd = 0.0;
    *tie = 0;
    for (i = 0; i < 4; i++) {
        double dx = ABCD_RE[i] - zre, dy = ABCD_IM[i] - zim, d = dx * dx + dy * dy;
        if (i == 0 || d < bd) {
            bd = d;
            best = i;
            *tie = 0;
        } else if (d == bd) {
            *tie = 1;
        }
    }
    return best;
}

static int nearest_abcd(double zre, double zim)
{
    int tie;
    return nearest_abcd_tie(zre, zim, &tie);
}

/* the first quarter turn k (0..3) under which the last ALIGN training symbols match the CDBA labels with at most one
   miss, or -1. A, B, C, D are a quarter turn apart in order (j A = B, j B = C ...) and a quarter turn of a symbol is
   exact (signs and swaps), so its distances to them are the same numbers permuted: the nearest of a symbol turned by
   k is its own nearest + k, and one pass over the symbols counts every k's matches (a symbol with a tie, where the
   permuted first-of-equals could differ, or a NaN sends the search back to turning each symbol) */
static int cdba_turn(const fb_rx17_t *r)
{
    const double *hre = r->hist_re + r->nhist - ALIGN, *him = r->hist_im + r->nhist - ALIGN;
    int hit[4] = {0, 0, 0, 0}, i, k, tie, any = 0;
    for (i = 0; i < ALIGN; i++) {
        int lab = nearest_abcd_tie(hre[i], him[i], &tie);
        any |= tie | (hre[i] != hre[i]) | (him[i] != him[i]);   /* a NaN is nearest A however turned */
        hit[(r->labels[i] - lab) & 3]++;
    }
    for (k = 0; k < 4; k++) {
        int miss = 0;
        if (!any) {
            miss = ALIGN - hit[k];
        } else {
            for (i = 0; i < ALIGN; i++) {
                double ure = hre[i] * ROT_RE[k] - him[i] * ROT_IM[k], uim = hre[i] * ROT_IM[k] + him[i] * ROT_RE[k];
                if (nearest_abcd(ure, uim) != r->labels[i])
                    miss++;
            }
        }
        if (miss <= 1)
            return k;
    }
    return -1;
}

/* one symbol of the training (or data after it within the same block); ModemRxBase._symbol */
static void symbol(fb_rx17_t *r, const double *xre, const double *xim, double nrm, line_t *ln)
{
    double zre, zim, tre, tim, pre, pim;
    int i, k;
    eq_output(r, xre, xim, &zre, &zim);
    r->sym_count++;
    if (r->state == TRAIN) {
        int lab = nearest_abcd(zre, zim);
        eq_update(r, xre, xim, nrm, zre, zim, ABCD_RE[lab], ABCD_IM[lab], MU_TRAIN, KP_TRAIN, KI_TRAIN);
        r->hist_re[r->nhist] = zre;
        r->hist_im[r->nhist] = zim;
        r->nhist++;
        if (r->nhist >= ALIGN) {
            k = cdba_turn(r);
            if (k >= 0) {
                for (i = 0; i < FB_EQ; i++) {
                    double a = r->w_re[i], b = r->w_im[i];
                    r->w_re[i] = a * ROT_RE[k] - b * ROT_IM[k];
                    r->w_im[i] = a * ROT_IM[k] + b * ROT_RE[k];
                }
                r->pos = ALIGN;
                r->state = KNOWN;
                r->nhist = 0;
                r->mode = MODE_NONE;
                r->npending = 0;
                return;
            }
            if (r->nhist > 4 * ALIGN) {
                memmove(r->hist_re, r->hist_re + r->nhist - ALIGN, sizeof(double) * ALIGN);
                memmove(r->hist_im, r->hist_im + r->nhist - ALIGN, sizeof(double) * ALIGN);
                r->nhist = ALIGN;
            }
        }
        if (r->sym_count > MAX_TRAIN)
            do_fail(r, ln);
        return;
    }
    if (r->state == KNOWN) {
        if (train_target(r, zre, zim, &tre, &tim)) {
            r->pos++;
            eq_update(r, xre, xim, nrm, zre, zim, tre, tim, MU_TRAIN, KP_TRAIN, KI_TRAIN);
            return;
        }
        r->state = DATA;
        start_data(r);
        for (i = 0; i < r->npending; i++)
            data_symbol(r, r->pend_re[i], r->pend_im[i], ln, &pre, &pim);
        r->npending = 0;
    }
    if (r->state == DATA) {
        data_symbol(r, zre, zim, ln, &pre, &pim);
        eq_update(r, xre, xim, nrm, zre, zim, pre, pim, MU_DATA, KP_DATA, KI_DATA);
    }
}

/* data mode over a block (V17Rx._data_hybrid): equaliser fixed in the block, block LMS at its end; y and nrms
   from fbrx_eq_block */
static void data_hybrid(fb_rx17_t *r, const double *hre, const double *him, int nsym, const double *y,
                        const double *nrms, line_t *ln)
{
    double errs[2 * (HS_MAX / 2)], sre[FB_EQ], sim[FB_EQ];
    uint8_t bits[(HS_MAX / 2) * 6 + 64 * 8];
    int i, j, nb = 0;
    double mean = 0.0, g;
    for (i = 0; i < nsym; i++)
        mean += nrms[i];
    mean /= nsym;
    r->vit.phase = r->phase;
    r->vit.freq = r->freq;
    r->vit.kp = KP_DATA;
    r->vit.ki = KI_DATA;
    {
        fb_v17rx_t *one = &r->vit;
        fb_v17_rx(&one, 1, y, &nsym, nsym, errs, bits, &nb, (int) sizeof(bits), 0);
    }
    g = MU_DATA / (mean + 1e-9);
    fbrx_lms_block(errs, hre, him, nsym, sre, sim);
    for (j = 0; j < FB_EQ; j++) {   /* w += g * sum errs[i] * conj(x_i[j]) */
        r->w_re[j] += g * sre[j];
        r->w_im[j] += g * sim[j];
    }
    r->phase = r->vit.phase;
    r->freq = r->vit.freq;
    line_add(ln, bits, nb);
}

/* run the symbol loop over samples up to absolute index limit (ModemRxBase._process) */
FB_SIMD_CLONES
static void process(fb_rx17_t *r, double limit, line_t *ln)
{
    double hre[HS_MAX], him[HS_MAX], nrms[HS_MAX / 2];
    const double sps = r->sps, half = sps / 2.0;
    double look, lim, end = (double) fbrx_fe_end(r);
    int nsym, nh, i, j;
    if (r->state == SEARCH)
        return;
    if (r->state == ACQ) {
        double need = r->acq_start + WINDOW * sps + HALF_TAPS * sps + 2 * INTERP;
        while (r->state == ACQ && need <= (limit < end ? limit : end)) {
            if (fbrx_lock(r)) {
                r->state = TRAIN;
            } else {
                r->acq_start += 4 * sps;
                need += 4 * sps;
            }
        }
        if (r->state == ACQ)
            return;
    }
    look = HALF_TAPS * sps / 2 + INTERP / 2 + 1;
    lim = (limit < end ? limit : end) - look;
    if (r->t_next >= lim)
        return;
    fbrx_track_timing(r, (int64_t) (r->t_next - sps), (int64_t) lim);
    nsym = (int) floor((lim - r->t_next) / sps) + 1;
    if (nsym > HS_MAX / 2 - HALF_TAPS - 2)
        nsym = HS_MAX / 2 - HALF_TAPS - 2;
    nh = 2 * nsym - 1 + 2 * HALF_TAPS;
    fbrx_fe_samples(r, r->t_next - HALF_TAPS * half, half, nh, hre, him);
    r->t_next += nsym * sps;
    ln->n = 0;
    if (r->state == DATA) {
        double y[2 * (HS_MAX / 2)];
        fbrx_eq_block(r->w_re, r->w_im, hre, him, nsym, y, nrms);
        data_hybrid(r, hre, him, nsym, y, nrms, ln);
    } else {
        for (i = 0; i < nsym; i++) {
            double s = 0.0;
            for (j = 0; j < FB_EQ; j++)
                s += hre[2 * i + j] * hre[2 * i + j] + him[2 * i + j] * him[2 * i + j];
            nrms[i] = s;
        }
        for (i = 0; i < nsym; i++) {
            if (r->state == SEARCH || r->state == ACQ)
                break;
            symbol(r, hre + 2 * i, him + 2 * i, nrms[i], ln);
        }
    }
    drain(r, ln);
}

static void carrier_off(fb_rx17_t *r, line_t *ln)
{
    if (r->state == DATA) {
        uint8_t bits[64 * 8];
        int nb = fb_v17_flush(&r->vit, bits);
        line_add(ln, bits, nb);
        drain(r, ln);
        if (r->trained)
            r->signal_lost = 1;
    }
    r->state = SEARCH;
    r->has_t = 0;
}

static void rx_one(fb_rx17_t *r, const int16_t *x, int n)
{
    double p[FB_RXCHUNK];
    line_t ln;
    int64_t start = fbrx_fe_end(r);
    double keep;
    int i = 0, kept;
    ln.n = 0;
    if (n <= 0)
        return;
    kept = fbrx_keeps_power(r);
    fbrx_fe_push(r, x, n, p);
    while (i < n) {
        if (!r->carrier) {
            if (r->need_quiet) {
                i = fbrx_first_crossing(p, i, n, r->on_lin * 0.3, 0);
                if (i >= n)
                    break;
                r->need_quiet = 0;
            }
            i = fbrx_first_crossing(p, i, n, r->on_lin, 1);
            if (i >= n)
                break;
            r->carrier = 1;
            if (r->state == SEARCH) {
                if (!kept)   /* the lock reads this block's powers */
                    fbrx_fe_keep_power(r, start, p, n);
                kept = 1;
                r->state = ACQ;
                r->acq_start = (double) (start + i) + SETTLE * r->sps;
                r->has_acq = 1;
            }
        } else {
            double thr = (r->state == TRAIN || r->state == KNOWN || r->state == DATA) ? r->rel_off : r->off_lin;
            i = fbrx_first_crossing(p, i, n, thr, 0);
            if (i >= n) {
                process(r, (double) fbrx_fe_end(r), &ln);
                break;
            }
            process(r, (double) (start + i), &ln);
            r->carrier = 0;
            r->need_quiet = 1;
            carrier_off(r, &ln);
        }
    }
    if (r->has_t)
        keep = r->t_next - HALF_TAPS * r->sps - 2 * INTERP;
    else if (r->has_acq && r->state == ACQ)
        keep = r->acq_start - 2 * INTERP;
    else
        keep = (double) (fbrx_fe_end(r) - 4 * INTERP);
    fbrx_fe_trim(r, (int64_t) keep);
}

/* the held data bits (packed, or 0/1 octets when `octets`: packed first) through the HDLC receiver into the frame
   buffer, their FCS checks into fok */
static void deframe(fb_rx17_t *r, int octets)
{
    uint8_t pk[FB_RXOUT / 8 + 8];
    const uint8_t *bits = r->out;
    int nf, i;
    if (octets) {
        uint8_t tail[8] = {0};
        memset(pk + r->nout / 8, 0, 8);
        for (i = 0; i + 8 <= r->nout; i += 8)
            pk[i / 8] = (uint8_t) fb_pack8(r->out + i);
        if (i < r->nout) {
            memcpy(tail, r->out + i, (size_t) (r->nout - i));
            pk[i / 8] = (uint8_t) fb_pack8(tail);
        }
        bits = pk;
    }
    nf = fb_hdlc_put_packed(r->hdlc, bits, r->nout, r->frames + r->fused, FB_RXFR - r->fused, r->flen + r->nframes,
                            r->fok + r->nframes, FB_RXNFR - r->nframes);
    for (i = 0; i < nf; i++)
        r->fused += r->flen[r->nframes + i];
    r->nframes += nf;
    r->nout = 0;
}

/* the lines of the bit path that fbrx_prefetch leaves (bit count and buffer, the HDLC receiver's pointer and frame
   counts; its state one receiver later, once its pointer is in cache) */
static inline void prefetch_bits(fb_rx17_t **rx, int s, int k)
{
    if (s + 2 < k) {
        __builtin_prefetch(&rx[s + 2]->nout);
        __builtin_prefetch(&rx[s + 2]->hdlc);
    }
    if (s + 1 < k && rx[s + 1]->hdlc)
        __builtin_prefetch(rx[s + 1]->hdlc);
}

static void rx17_run_all(fb_rx17_t **rx, int k, const int16_t *x, int stride, int n, uint8_t *events)
{
    int s;
    if (n > FB_RXCHUNK)
        n = FB_RXCHUNK;
    fb_sc_init();
    for (s = 0; s < k; s++) {
        fb_rx17_t *r = rx[s];
        int before = r->trained | (r->carrier << 1) | (r->signal_lost << 2);
        if (s + 1 < k)
            fbrx_prefetch(rx[s + 1], x + (int64_t) (s + 1) * stride, n);
        prefetch_bits(rx, s, k);
        if (r->hdlc && r->nout)   /* bits held from before the HDLC receiver was attached (0/1 octets) */
            deframe(r, 1);
        rx_one(r, x + (int64_t) s * stride, n);
        if (r->hdlc && r->nout)
            deframe(r, 0);
        /* data bits and deframed ECM frames wait in the kernel until half its buffer is used (a block adds at
           most one frame, at most a few hundred bits): the session is woken every few dozen blocks while data
           flows, and at once on any state change (carrier, training, signal lost) */
        if (events && (r->nout >= FB_RXOUT / 2 || r->nframes >= FB_RXNFR / 2 || r->fused >= FB_RXFR / 2
                       || before != (r->trained | (r->carrier << 1) | (r->signal_lost << 2))))
            events[s] = 1;
    }
}

int fb_rx17_run(fb_rx17_t **rx, int k, const int16_t *x, int stride, int n, uint8_t *events)
{
    if (events)
        memset(events, 0, (size_t) (k > 0 ? k : 0));
    rx17_run_all(rx, k, x, stride, n, events);
    return fb_count_events(events, k);
}
