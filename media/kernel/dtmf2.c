/* DTMF stage 2 and decisions (see dtmf2.h): the numpy code of dsp/dtmf.py, one C loop per call. */
#include <math.h>
#include "dtmf2.h"

typedef float v8f __attribute__((vector_size(32)));

static inline float hsum(v8f v)
{
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

/* projections of the window (body) and of the one half a window earlier (early) on one tone's Hann cos and sin
 * (cs: win cos then win sin values), eight partial sums per product (win a multiple of 8) */
static void project(const float *body, const float *early, int64_t win, const float *cs, float out[4])
{
    v8f bc = {0}, bs = {0}, ec = {0}, es = {0};
    for (int64_t j = 0; j < win; j += 8) {
        v8f b, e, c, s;
        __builtin_memcpy(&b, body + j, sizeof b);
        __builtin_memcpy(&e, early + j, sizeof e);
        __builtin_memcpy(&c, cs + j, sizeof c);
        __builtin_memcpy(&s, cs + win + j, sizeof s);
        bc += b * c;
        bs += b * s;
        ec += e * c;
        es += e * s;
    }
    out[0] = hsum(bc);
    out[1] = hsum(bs);
    out[2] = hsum(ec);
    out[3] = hsum(es);
}

void tk_dtmf_stage2(const int16_t *frames, int64_t stride, int64_t nw, int64_t win, const int16_t *prev, int64_t hop,
                    int64_t n, const int64_t *gi, const int64_t *r, const int64_t *k, const float *hann,
                    const float *rot, float hz_per_rad, const float *ftol, float twist, float rtwist, uint8_t *ok,
                    float *dev)
{
    float body[512], early[512], cs[8 * 2 * 512];
    if (win > 512 || hop > win || win % 8)
        return;
    for (int t = 0; t < 8; t++)                     /* each tone's cos and sin columns, contiguous */
        for (int64_t j = 0; j < win; j++) {
            cs[t * 2 * win + j] = hann[j * 16 + 2 * t];
            cs[t * 2 * win + win + j] = hann[j * 16 + 2 * t + 1];
        }
    for (int64_t i = 0; i < n; i++) {
        int64_t ch = gi[i] / nw, w = gi[i] % nw;
        const int16_t *b = frames + ch * stride + w * win;
        const int16_t *h = w == 0 ? prev + ch * hop : b - hop;
        for (int64_t j = 0; j < win; j++)
            body[j] = (float)b[j];
        for (int64_t j = 0; j < hop; j++)
            early[j] = (float)h[j];
        for (int64_t j = hop; j < win; j++)
            early[j] = body[j - hop];
        int tone[2] = {(int)r[i], (int)k[i]};
        float amp[2];
        int good = 1;
        for (int q = 0; q < 2; q++) {
            int t = tone[q];
            float p4[4];
            project(body, early, win, cs + t * 2 * win, p4);
            float br = p4[0], bi = p4[1], ar = p4[2], ai = p4[3];
            float cr = rot[2 * t], ci = rot[2 * t + 1];
            float zr = br * cr - bi * ci, zi = br * ci + bi * cr;            /* zb *= rot */
            float pr = ar * zr + ai * zi, pi = ai * zr - ar * zi;            /* za *= conj(zb) */
            float d = atan2f(pi, pr) * hz_per_rad;
            dev[2 * i + q] = d;
            good &= fabsf(d) <= ftol[t];
            amp[q] = hypotf(zr, zi);
        }
        good &= amp[0] <= amp[1] * twist;
        good &= amp[1] <= amp[0] * rtwist;
        ok[i] = (uint8_t)good;
    }
}

static float max3(float a, float b, float c)
{
    float m = a >= b ? a : b;
    return m >= c ? m : c;
}

static float min3(float a, float b, float c)
{
    float m = a <= b ? a : b;
    return m <= c ? m : c;
}

int64_t tk_dtmf_decide(const int8_t *cand, const float *dev, int64_t c, int64_t nw, int8_t *cur, int8_t *last,
                       int16_t *run, int16_t *miss, float *h1, float *h2, int64_t min_on, int64_t min_off,
                       float spread_max, int64_t *ev_ch, int8_t *ev_digit, int32_t *idle)
{
    int64_t events = 0;
    for (int64_t w = 0; w < nw; w++) {
        for (int64_t ch = 0; ch < c; ch++) {
            int8_t cw = cand[ch * nw + w];
            const float *d = dev + (ch * nw + w) * 2;
            float *a = h1 + ch * 2, *b = h2 + ch * 2;
            if (cw < 0 && cur[ch] < 0 && last[ch] < 0) {     /* nothing held or pending: only the history moves */
                run[ch] = 0;
                a[0] = b[0];
                a[1] = b[1];
                b[0] = d[0];
                b[1] = d[1];
                continue;
            }
            int present = cw >= 0;
            int16_t rn = cw == last[ch] ? (int16_t)(run[ch] + 1) : 1;
            if (!present)
                rn = 0;
            run[ch] = rn;
            last[ch] = cw;
            int fire = rn >= min_on && cw != cur[ch];
            if (fire)
                for (int q = 0; q < 2; q++)
                    fire &= max3(a[q], b[q], d[q]) - min3(a[q], b[q], d[q]) <= spread_max;
            a[0] = b[0];
            a[1] = b[1];
            b[0] = d[0];
            b[1] = d[1];
            if (cur[ch] >= 0)
                miss[ch]++;
            if ((present && cw == cur[ch]) || fire)
                miss[ch] = 0;
            if (miss[ch] >= min_off)
                cur[ch] = -1;
            if (fire) {
                cur[ch] = cw;
                ev_ch[events] = ch;
                ev_digit[events] = cw;
                events++;
            }
        }
    }
    int any = 0;
    for (int64_t ch = 0; ch < c && !any; ch++)
        any = cur[ch] >= 0 || last[ch] >= 0;
    *idle = !any;
    return events;
}
