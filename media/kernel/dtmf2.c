/* DTMF stage 2 and decisions (see dtmf2.h): the numpy code of dsp/dtmf.py, one C loop per call. */
#include <math.h>
#include "dtmf2.h"

/* projection of x (win samples) on tone t's Hann cos and sin columns */
static void project(const float *x, int64_t win, const float *hann, int t, float *re, float *im)
{
    float c = 0.0f, s = 0.0f;
    for (int64_t j = 0; j < win; j++) {
        c += x[j] * hann[j * 16 + 2 * t];
        s += x[j] * hann[j * 16 + 2 * t + 1];
    }
    *re = c;
    *im = s;
}

void tk_dtmf_stage2(const int16_t *frames, int64_t stride, int64_t nw, int64_t win, const int16_t *prev, int64_t hop,
                    int64_t n, const int64_t *gi, const int64_t *r, const int64_t *k, const float *hann,
                    const float *rot, float hz_per_rad, const float *ftol, float twist, float rtwist, uint8_t *ok,
                    float *dev)
{
    float body[512], early[512];
    if (win > 512 || hop > win)
        return;
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
            float br, bi, ar, ai;
            project(body, win, hann, t, &br, &bi);
            project(early, win, hann, t, &ar, &ai);
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
