/* The media engine's per-sample tick work over all channels at once (G.711, mixing, recording capture).
 * Arrays are C-contiguous; rows are channel indices; block is samples per channel per tick. */
#include <stdint.h>

/* G.711 codes (rows, block) -> int16 (rows, block); row r uses table[off[r] .. off[r] + 255]: the A-law table at
 * offset 0 and the mu-law one at 256 (with AVX2 and block a multiple of 16, G.711's rule gives those values). */
void tk_decode(const uint8_t *codes, int64_t rows, int64_t block, const int16_t *table, const int32_t *off,
               int16_t *out);
/* acc (rows, block) int32 -> clipped int16 out and G.711 codes; row r encodes with
 * table[off[r] + ((x + 32768) >> shift[r])] (a law whose codes are constant over aligned runs has a compact table). */
void tk_encode(const int32_t *acc, int64_t rows, int64_t block, const uint8_t *table, const int32_t *off,
               const int32_t *shift, int16_t *out, uint8_t *codes);
/* acc[dst[i]] += src[from[i]] for i < n (two-party bridges). */
void tk_gather_add(int32_t *acc, const int16_t *src, const int64_t *dst, const int64_t *from, int64_t n,
                   int64_t block);
/* players: acc[rows[i]] += one block of the clip at start/pos/length of that row (looping or not). */
void tk_play(int32_t *acc, const int16_t *data, const int64_t *rows, int64_t n, const int64_t *start,
             const int64_t *pos, const int64_t *length, const uint8_t *loop, int64_t block);
/* recording capture: buf (slots, ticks, 2, block) uint8; slot s at tick t gets codes_in/out of channel ch[s]. */
void tk_capture(uint8_t *buf, int64_t slots, int64_t ticks, int64_t t, int64_t block, const int64_t *ch,
                const uint8_t *codes_in, const uint8_t *codes_out);
/* writer: ticks [a, b) of slot s of buf as interleaved (received, sent) byte pairs into out ((b-a)*block*2). */
void tk_interleave(const uint8_t *buf, int64_t ticks, int64_t block, int64_t s, int64_t a, int64_t b, uint8_t *out);
/* DTMF stage 1 (dsp.dtmf.DTMFDetector): frames (rows, stride) int16, nw windows of win samples from the start of
 * each row; every decim-th sample (n1 = win / decim <= 256 of them) against basis (n1, 16) float32 (cos then sin at
 * the eight DTMF tones). out[r * nw + w] = digit 0..15 when the window's energy exceeds min_energy, the strongest
 * row and column tone powers both exceed thr and together exceed frac * energy, else -1; tail (rows, hop) gets each
 * row's last hop samples of the nw windows. Returns the candidates (-1: bad sizes). */
int64_t tk_dtmf_stage1(const int16_t *frames, int64_t rows, int64_t stride, int64_t nw, int64_t win, int64_t decim,
                       const float *basis, float thr, float frac, float min_energy, int8_t *out, int16_t *tail,
                       int64_t hop);
