/* Fax bank kernels: the V.21 channel 2 FSK transmitter and the cadenced tones (CNG, CED) (see faxbank.h). Each
   walks its sessions in one call and either writes k rows of int16 or adds each session's int16 samples into
   its channel's row of the caller's int32 mix. */
#include <math.h>
#include <stddef.h>
#include <string.h>
#include "faxbank.h"
#include "fbmath.h"
#include "fbsink.h"

/* ---------------------------------------------------------------- V.21 transmitter */

static double V21SIN[160];
static int v21sin_ready;

static void v21_tx_all(fb_v21tx_t **tx, int k, const fb_sink_t *sink, uint8_t *events)
{
    int s, j, n = sink->n, have = 0;
    double camp = 0.0;
    int16_t wave[160];   /* the samples of every phase at amplitude camp (the sessions' amplitudes are mostly one) */
    if (!v21sin_ready) {
        for (j = 0; j < 160; j++)
            V21SIN[j] = sin(2.0 * 3.14159265358979323846 * j / 160.0);
        v21sin_ready = 1;
    }
    for (s = 0; s < k; s++) {
        fb_v21tx_t *t = tx[s];
        int16_t *o = sink_out(sink, s);
        int32_t *a = sink_acc(sink, s);
        int64_t end = t->nbits * 80, pos = t->pos, bit = pos / 80;
        int ph = t->phase, sub = (int) (pos % 80);   /* pos = 80 * bit + sub: no division per sample */
        if (!have || t->amp != camp) {
            for (j = 0; j < 160; j++)
                wave[j] = (int16_t) rne(t->amp * V21SIN[j]);
            camp = t->amp;
            have = 1;
        }
        for (j = 0; j < n && pos < end; j++, pos += 3) {
            sink_put(o, a, j, wave[ph]);
            ph += t->bits[bit] ? 33 : 37;
            if (ph >= 160)
                ph -= 160;
            sub += 3;
            if (sub >= 80) {
                sub -= 80;
                bit++;
            }
        }
        if (j < n && o)
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

FB_TX_ENTRY_POINTS(fb_v21_tx, fb_v21_tx_add, fb_v21tx_t, v21_tx_all)

/* ---------------------------------------------------------------- tones */

static void tone_tx_all(fb_tone_t **tx, int k, const fb_sink_t *sink, uint8_t *events)
{
    int s, j, n = sink->n;
    for (s = 0; s < k; s++) {
        fb_tone_t *t = tx[s];
        int16_t *o = sink_out(sink, s);
        int32_t *a = sink_acc(sink, s);
        double c = 2 * 3.14159265358979323846 * t->freq, cw = cos(c / 8000.0), sw = sin(c / 8000.0);
        int64_t period = (int64_t) t->on + t->off;
        for (j = 0; j < n;) {   /* in runs of samples of one gate: the cadence's position once a run */
            int64_t tt = t->pos + j, run = n - j;
            int gate = 1;
            if (t->total >= 0 && tt >= t->total) {
                gate = 0;
            } else {
                if (t->off) {
                    int64_t ph = period > 0 ? tt % period : 0;
                    gate = period > 0 && ph < t->on;
                    run = period <= 0 ? run : (gate ? t->on - ph : period - ph);
                }
                if (t->total >= 0 && run > t->total - tt)
                    run = t->total - tt;
                if (run > n - j)
                    run = n - j;
            }
            if (gate) {   /* a phasor turned by the step, exact sin/cos once a run (<= 160 samples: drift ~1e-14) */
                int e = j + (int) run;
                double th = c * (double) (t->pos + j) / 8000.0, sr = t->amp * sin(th), cr = t->amp * cos(th);
                for (; j < e; j++) {
                    double nsr = sr * cw + cr * sw;
                    sink_put(o, a, j, (int16_t) sr);
                    cr = cr * cw - sr * sw;
                    sr = nsr;
                }
            } else {
                if (o)
                    memset(o + j, 0, sizeof(int16_t) * (size_t) run);
                j += (int) run;
            }
        }
        if (t->total >= 0 && t->pos + n >= t->total && !t->done) {
            t->done = 1;
            if (events)
                events[s] = 1;
        }
        t->pos += n;
    }
}

FB_TX_ENTRY_POINTS(fb_tone_tx, fb_tone_tx_add, fb_tone_t, tone_tx_all)
