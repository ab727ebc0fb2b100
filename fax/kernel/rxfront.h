/* The V.17 receiver's front end and block helpers (rxfront.c), shared with its state machine (faxrx.c);
   internal: not part of the cffi interface. */
#ifndef RXFRONT_H
#define RXFRONT_H
#include <stdint.h>
#include "faxbank.h"
#include "faxrx.h"

#define PI 3.14159265358979323846
#define HALF_TAPS 8
#define INTERP 12
#define PHASES 256
#define HS_MAX (2 * (FB_RXCHUNK + 64) + 2 * HALF_TAPS + 8)
#define WINDOW 24   /* symbols of the alternating segment the lock looks at */

/* the ABAB / CDBA training points A, B, C, D */
static const double ABCD_RE[4] = {-6.0, 2.0, 6.0, -2.0};
static const double ABCD_IM[4] = {-2.0, -6.0, 2.0, 6.0};

/* the reception states (ModemRxBase) */
enum { SEARCH, ACQ, TRAIN, KNOWN, DATA };

/* whether the in-band powers of new samples are kept (as float, for the lock's median of rxlock.c): not while data
   flows after its check of the scrambled ones (only a carrier found later starts a lock again, on samples after
   it: rx_one keeps that block's powers then) */
static inline int fbrx_keeps_power(const fb_rx17_t *r)
{
    return !(r->state == DATA && r->ones_ok);
}

/* the held front-end samples (index 0 = absolute sample base) */
#define FE_RE(r) ((r)->bre + (r)->off)
#define FE_IM(r) ((r)->bim + (r)->off)
#define FE_PW(r) ((r)->pwr + (r)->off)

/* the absolute index one past the newest front-end sample */
static inline int64_t fbrx_fe_end(const fb_rx17_t *r)
{
    return r->base + r->len;
}

/* mix to baseband, matched filter, in-band power of n samples, appended to the buffer (p gets each power; kept in the
   buffer too when fbrx_keeps_power) */
void fbrx_fe_push(fb_rx17_t *r, const int16_t *x, int n, double *p);
/* keep the in-band powers p of the n samples from absolute index start in the buffer */
void fbrx_fe_keep_power(fb_rx17_t *r, int64_t start, const double *p, int n);
/* the first index from i (< n) whose power p is above thr (above: 1) or below it (above: 0), else n */
int fbrx_first_crossing(const double *p, int i, int n, double thr, int above);
/* drop the buffered samples before absolute index keep */
void fbrx_fe_trim(fb_rx17_t *r, int64_t keep);
/* the Oerder-Meyr timing phasor over absolute samples start .. stop */
void fbrx_timing_phasor(const fb_rx17_t *r, int64_t start, int64_t stop, double *cre, double *cim);
/* start loading what the next block of r (input x, n samples) touches into the cache */
void fbrx_prefetch(const fb_rx17_t *r, const int16_t *x, int n);
/* follow the symbol timing over absolute samples a .. b */
void fbrx_track_timing(fb_rx17_t *r, int64_t a, int64_t b);
/* the symbol centre (0 .. sps) of a timing phasor */
double fbrx_centre_from_phasor(const fb_rx17_t *r, double cre, double cim);
/* the interpolated baseband at absolute fractional time t */
void fbrx_fe_sample(const fb_rx17_t *r, double t, double *ore, double *oim);
/* nt interpolated samples at t0 + i * dt */
void fbrx_fe_samples(const fb_rx17_t *r, double t0, double dt, int nt, double *restrict ore, double *restrict oim);
/* equaliser outputs (y interleaved) and input energies of nsym symbols at T/2 */
void fbrx_eq_block(const double *w_re, const double *w_im, const double *hre, const double *him, int nsym, double *y,
                   double *nrms);
/* one LMS step: w += a * conj(x) over the equaliser's taps */
void fbrx_lms_step(double *restrict w_re, double *restrict w_im, double are, double aim, const double *xre,
                   const double *xim);
/* block LMS sums over nsym symbols */
void fbrx_lms_block(const double *errs, const double *hre, const double *him, int nsym, double *sre, double *sim);

/* lock timing, carrier and gain on the alternating segment at acq_start (rxlock.c); 1 on success */
int fbrx_lock(fb_rx17_t *r);

#endif
