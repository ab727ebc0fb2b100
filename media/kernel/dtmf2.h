/* DTMF stage 2 and the press/release decisions of dsp.dtmf.DTMFDetector in C, over all channels in one call each
 * (the media engine hands them to the detector; the arithmetic is the numpy code's, in float32). */
#include <stdint.h>

/* Stage 2 for n candidate windows: window gi[i] is window gi[i] % nw of row gi[i] / nw of frames (rows, stride)
 * int16, win samples; the window half a window (hop samples) earlier starts in prev (rows, hop) for window 0, else
 * in frames. Both are projected on hann (win, 16) float32 (cos, sin interleaved per tone) at the row tone r[i]
 * (0..3) and the column tone k[i] (4..7); each tone's phase advance over the hop, less rot (8 complex: re, im), is
 * its frequency deviation dev[i * 2 + 0/1] = angle * hz_per_rad (Hz); ok[i] = 1 when both lie within ftol[tone] Hz
 * and the twist holds (row amplitude <= column * twist, column <= row * rtwist). win: a multiple of 8, <= 512. */
void tk_dtmf_stage2(const int16_t *frames, int64_t stride, int64_t nw, int64_t win, const int16_t *prev, int64_t hop,
                    int64_t n, const int64_t *gi, const int64_t *r, const int64_t *k, const float *hann,
                    const float *rot, float hz_per_rad, const float *ftol, float twist, float rtwist, uint8_t *ok,
                    float *dev);
/* Decisions over nw windows for c channels: cand (c, nw) int8 (digit or -1), dev (c, nw, 2) float32; per-channel
 * state cur, last (int8), run, miss (int16), h1, h2 (c, 2) float32 (the deviations of the two windows before).
 * A press fires when run >= min_on windows of one digit other than the held one whose deviations over the three
 * windows spread <= spread_max Hz; the held digit ends after min_off windows without it. Events in time order
 * (window, then channel) into ev_ch, ev_digit (room for c * nw); returns how many. *idle = no digit held or
 * pending on any channel afterwards. */
int64_t tk_dtmf_decide(const int8_t *cand, const float *dev, int64_t c, int64_t nw, int8_t *cur, int8_t *last,
                       int16_t *run, int16_t *miss, float *h1, float *h2, int64_t min_on, int64_t min_off,
                       float spread_max, int64_t *ev_ch, int8_t *ev_digit, int32_t *idle);
