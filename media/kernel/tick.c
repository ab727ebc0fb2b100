/* The media engine's per-sample tick work (see tick.h): plain loops the compiler vectorises. */
#include <string.h>
#include "tick.h"
#if defined(__SSE2__)
#define TK_SSE2 1
#include <emmintrin.h>
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#define TK_AVX2_DECODE 1
#include <immintrin.h>

/* One row of G.711 decode, 16 samples at a time with AVX2: G.711's expansion rule (A-law: (mantissa * 16 + 0x108)
 * shifted by segment - 1, or mantissa * 16 + 8 in segment 0; mu-law: ((mantissa * 8 + 0x84) << segment) - 0x84),
 * the shift as a 16-bit multiply by a power of two looked up with a byte shuffle. The values are those of the
 * tables (tests/media/test_tick_kernel.py checks all 256 codes of both laws). */
__attribute__((target("avx2")))
static void decode_row_avx2(const uint8_t *c, int16_t *o, int64_t block, int ulaw)
{
    const __m256i pow_a = _mm256_setr_epi8(1, 1, 2, 4, 8, 16, 32, 64, 0, 0, 0, 0, 0, 0, 0, 0,
                                           1, 1, 2, 4, 8, 16, 32, 64, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i pow_u = _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128, 0, 0, 0, 0, 0, 0, 0, 0,
                                           1, 2, 4, 8, 16, 32, 64, (char)128, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i k0f = _mm256_set1_epi16(0x0F), k07 = _mm256_set1_epi16(7), k80 = _mm256_set1_epi16(0x80);
    const __m256i hi = _mm256_set1_epi16((short)0x8000), zero = _mm256_setzero_si256();
    for (int64_t j = 0; j < block; j += 16) {
        __m256i x = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + j)));
        __m256i v, pos;
        if (ulaw) {
            x = _mm256_xor_si256(x, _mm256_set1_epi16(0xFF));
            __m256i seg = _mm256_and_si256(_mm256_srli_epi16(x, 4), k07);
            __m256i mul = _mm256_shuffle_epi8(pow_u, _mm256_or_si256(seg, hi));
            __m256i t = _mm256_add_epi16(_mm256_slli_epi16(_mm256_and_si256(x, k0f), 3), _mm256_set1_epi16(0x84));
            v = _mm256_sub_epi16(_mm256_mullo_epi16(t, mul), _mm256_set1_epi16(0x84));
            pos = _mm256_cmpeq_epi16(_mm256_and_si256(x, k80), zero);      /* sign bit clear: positive */
        } else {
            x = _mm256_xor_si256(x, _mm256_set1_epi16(0x55));
            __m256i seg = _mm256_and_si256(_mm256_srli_epi16(x, 4), k07);
            __m256i mul = _mm256_shuffle_epi8(pow_a, _mm256_or_si256(seg, hi));
            __m256i seg0 = _mm256_cmpeq_epi16(seg, zero);
            __m256i add = _mm256_sub_epi16(_mm256_set1_epi16(0x108), _mm256_and_si256(seg0, _mm256_set1_epi16(0x100)));
            __m256i t = _mm256_add_epi16(_mm256_slli_epi16(_mm256_and_si256(x, k0f), 4), add);
            v = _mm256_mullo_epi16(t, mul);
            pos = _mm256_xor_si256(_mm256_cmpeq_epi16(_mm256_and_si256(x, k80), zero), _mm256_set1_epi16(-1));
        }
        v = _mm256_sub_epi16(_mm256_xor_si256(v, _mm256_xor_si256(pos, _mm256_set1_epi16(-1))),
                             _mm256_xor_si256(pos, _mm256_set1_epi16(-1)));          /* negate where not pos */
        _mm256_storeu_si256((__m256i *)(o + j), v);
    }
}
#endif

void tk_decode(const uint8_t *codes, int64_t rows, int64_t block, const int16_t *table, const int32_t *off,
               int16_t *out)
{
#ifdef TK_AVX2_DECODE
    __builtin_cpu_init();
    if (block % 16 == 0 && __builtin_cpu_supports("avx2")) {
        for (int64_t r = 0; r < rows; r++)
            decode_row_avx2(codes + r * block, out + r * block, block, off[r] != 0);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++) {
        const int16_t *t = table + off[r];
        const uint8_t *c = codes + r * block;
        int16_t *o = out + r * block;
        for (int64_t j = 0; j < block; j++)
            o[j] = t[c[j]];
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#define TK_AVX2_ALAW 1
typedef int32_t tk_v8i __attribute__((vector_size(32)));
typedef float tk_v8f __attribute__((vector_size(32)));
typedef int16_t tk_v8s __attribute__((vector_size(16)));
typedef uint8_t tk_v8b __attribute__((vector_size(8)));

/* One row of A-law, 8 samples at a time with AVX2: clip, then G.711's rule (sign mask 0xD5/0x55 on the one's
 * complement magnitude, segment from the top bit, read off the float exponent, 4 bits of mantissa); the codes
 * are those of the A-law table (tests/media/test_tick_kernel.py checks all 65,536 values). */
__attribute__((target("avx2")))
static void alaw_row_avx2(const int32_t *a, int16_t *o, uint8_t *c, int64_t block)
{
    const tk_v8i lo = {-32768, -32768, -32768, -32768, -32768, -32768, -32768, -32768};
    const tk_v8i hi = {32767, 32767, 32767, 32767, 32767, 32767, 32767, 32767};
    for (int64_t j = 0; j < block; j += 8) {
        tk_v8i x, bits;
        __builtin_memcpy(&x, a + j, sizeof x);
        tk_v8i m = x < lo;
        x = (x & ~m) | (lo & m);
        m = x > hi;
        x = (x & ~m) | (hi & m);
        tk_v8s x16 = __builtin_convertvector(x, tk_v8s);
        __builtin_memcpy(o + j, &x16, sizeof x16);
        tk_v8i neg = x >> 31;
        tk_v8i lin = x ^ neg;                                  /* -x - 1 for negative samples */
        tk_v8f f = __builtin_convertvector(lin | 0xFF, tk_v8f);
        __builtin_memcpy(&bits, &f, sizeof bits);
        tk_v8i seg = (bits >> 23) - (127 + 7);                 /* 0..7 */
        tk_v8i sh = seg + 3 + ((seg == 0) & 1);                /* segment 0 shifts by 4 like segment 1 */
        tk_v8i code = ((seg << 4) | ((lin >> sh) & 0x0F)) ^ (0x55 ^ (~neg & 0x80));
        tk_v8b c8 = __builtin_convertvector(code, tk_v8b);
        __builtin_memcpy(c + j, &c8, sizeof c8);
    }
}
#endif

void tk_encode(const int32_t *acc, int64_t rows, int64_t block, const uint8_t *table, const int32_t *off,
               const int32_t *shift, int16_t *out, uint8_t *codes)
{
#ifdef TK_AVX2_ALAW
    __builtin_cpu_init();
    int avx2 = block % 8 == 0 && __builtin_cpu_supports("avx2");
#endif
    for (int64_t r = 0; r < rows; r++) {
#ifdef TK_AVX2_ALAW
        if (avx2 && shift[r] == 4) {               /* the compact A-law table (media/tick_kernel.py) */
            alaw_row_avx2(acc + r * block, out + r * block, codes + r * block, block);
            continue;
        }
#endif
        const uint8_t *t = table + off[r];
        const int32_t *a = acc + r * block;
        const int sh = shift[r];
        int16_t *o = out + r * block;
        uint8_t *c = codes + r * block;
        for (int64_t j = 0; j < block; j++) {      /* clip + store: vectorised */
            int32_t x = a[j];
            o[j] = (int16_t)(x < -32768 ? -32768 : (x > 32767 ? 32767 : x));
        }
        for (int64_t j = 0; j < block; j++)        /* table look-ups from the clipped row (in L1) */
            c[j] = t[(o[j] + 32768) >> sh];
    }
}

void tk_gather_add(int32_t *acc, const int16_t *src, const int64_t *dst, const int64_t *from, int64_t n,
                   int64_t block)
{
    for (int64_t i = 0; i < n; i++) {
        int32_t *a = acc + dst[i] * block;
        const int16_t *s = src + from[i] * block;
        for (int64_t j = 0; j < block; j++)
            a[j] += s[j];
    }
}

void tk_play(int32_t *acc, const int16_t *data, const int64_t *rows, int64_t n, const int64_t *start,
             const int64_t *pos, const int64_t *length, const uint8_t *loop, int64_t block)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t ch = rows[i], p = pos[ch], len = length[ch];
        int32_t *a = acc + ch * block;
        const int16_t *d = data + start[ch];
        if (p + block <= len) {                 /* the whole block inside the clip */
            const int16_t *s = d + p;
            for (int64_t j = 0; j < block; j++)
                a[j] += s[j];
        } else if (len > 0) {                   /* the clip ends or wraps inside this block */
            for (int64_t j = 0; j < block; j++) {
                int64_t rel = p + j;
                if (loop[ch])
                    rel %= len;
                if (rel < len)
                    a[j] += d[rel];
            }
        }
    }
}

/* Each slot's two tracks land on their own lines of a buffer the tick will not read again (the writer reads it
 * about a second later): on x86 they go out with streaming stores, so the lines are not first read from memory. */
void tk_capture(uint8_t *buf, int64_t slots, int64_t ticks, int64_t t, int64_t block, const int64_t *ch,
                const uint8_t *codes_in, const uint8_t *codes_out)
{
#ifdef TK_SSE2
    if (block % 16 == 0 && ((uintptr_t)buf & 15) == 0) {
        for (int64_t s = 0; s < slots; s++) {
            __m128i *b = (__m128i *)(buf + ((s * ticks + t) * 2) * block);
            const uint8_t *in = codes_in + ch[s] * block, *out = codes_out + ch[s] * block;
            for (int64_t j = 0; j < block; j += 16) {
                _mm_stream_si128(b++, _mm_loadu_si128((const __m128i *)(in + j)));
            }
            for (int64_t j = 0; j < block; j += 16) {
                _mm_stream_si128(b++, _mm_loadu_si128((const __m128i *)(out + j)));
            }
        }
        _mm_sfence();                              /* visible to the writer thread before the batch is handed over */
        return;
    }
#endif
    for (int64_t s = 0; s < slots; s++) {
        uint8_t *b = buf + ((s * ticks + t) * 2) * block;
        memcpy(b, codes_in + ch[s] * block, (size_t)block);
        memcpy(b + block, codes_out + ch[s] * block, (size_t)block);
    }
}

void tk_interleave(const uint8_t *buf, int64_t ticks, int64_t block, int64_t s, int64_t a, int64_t b, uint8_t *out)
{
    for (int64_t t = a; t < b; t++) {
        const uint8_t *rx = buf + ((s * ticks + t) * 2) * block;
        const uint8_t *tx = rx + block;
        uint8_t *o = out + (t - a) * block * 2;
        for (int64_t j = 0; j < block; j++) {
            o[2 * j] = rx[j];
            o[2 * j + 1] = tx[j];
        }
    }
}

#define DTMF_MAX_N1 256

/* The gate on a window's tone powers p[8] and energy e (shared by both paths). */
static inline __attribute__((always_inline)) int dtmf_gate(const float *p, float e, float thr, float frac,
                                                         float min_energy)
{
    int r = 0, k = 4;                      /* first maximum on ties, as numpy's argmax */
    for (int j = 1; j < 4; j++)
        if (p[j] > p[r])
            r = j;
    for (int j = 5; j < 8; j++)
        if (p[j] > p[k])
            k = j;
    float row = p[r], col = p[k];
    if (!(e > min_energy) || !((row < col ? row : col) > thr && row + col > frac * e))
        return -1;
    return r * 4 + (k - 4);
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define DTMF_AVX2 1
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* 8 kHz (decimation 2, 40 samples a window), four windows at once with AVX2: each basis row's cos and sin
 * vectors (the 8 tones) are loaded once for the four; a window's 40 even samples are the low halves of its
 * 20 int32 sample pairs, sign-extended and converted 8 at a time. */
__attribute__((target("avx2")))
static void dtmf_quad_avx2(const int16_t *const *x, const float *basis, float thr, float frac, float min_energy,
                           int8_t *const *out)
{
    v8f xs[4][5], c[4], s[4];
    float e[4];
    for (int w = 0; w < 4; w++) {
        v8f ev = {0};
        for (int q = 0; q < 5; q++) {
            v8i pairs;
            __builtin_memcpy(&pairs, x[w] + 16 * q, sizeof pairs);
            v8f v = __builtin_convertvector((pairs << 16) >> 16, v8f);
            xs[w][q] = v;
            ev += v * v;
        }
        e[w] = ((ev[0] + ev[1]) + (ev[2] + ev[3])) + ((ev[4] + ev[5]) + (ev[6] + ev[7]));
        c[w] = (v8f){0};
        s[w] = (v8f){0};
    }
    for (int n = 0; n < 40; n++) {
        v8f bc, bs;
        __builtin_memcpy(&bc, basis + 16 * n, sizeof bc);
        __builtin_memcpy(&bs, basis + 16 * n + 8, sizeof bs);
        for (int w = 0; w < 4; w++) {
            float v = ((const float *)xs[w])[n];
            c[w] += v * bc;
            s[w] += v * bs;
        }
    }
    for (int w = 0; w < 4; w++) {
        v8f p8 = c[w] * c[w] + s[w] * s[w];
        float p[8];
        __builtin_memcpy(p, &p8, sizeof p);
        *out[w] = (int8_t)dtmf_gate(p, e[w], thr, frac, min_energy);
    }
}
#endif

/* One window, any decimation (scalar; the compiler vectorises the 16 projections). */
static int dtmf_window(const int16_t *x, int64_t n1, int64_t decim, const float *basis, float thr, float frac,
                       float min_energy)
{
    float xs[DTMF_MAX_N1], y[16] = {0}, p[8], e = 0.0f;
    for (int64_t n = 0; n < n1; n++) {
        xs[n] = (float)x[n * decim];
        e += xs[n] * xs[n];
    }
    if (!(e > min_energy))                 /* a tone above thr needs energy above thr / n1 (Cauchy-Schwarz) */
        return -1;
    for (int64_t n = 0; n < n1; n++) {
        const float *b = basis + n * 16;
        float v = xs[n];
        for (int j = 0; j < 16; j++)
            y[j] += v * b[j];
    }
    for (int j = 0; j < 8; j++)
        p[j] = y[j] * y[j] + y[j + 8] * y[j + 8];
    return dtmf_gate(p, e, thr, frac, min_energy);
}

int64_t tk_dtmf_stage1(const int16_t *frames, int64_t rows, int64_t stride, int64_t nw, int64_t win, int64_t decim,
                       const float *basis, float thr, float frac, float min_energy, int8_t *out, int16_t *tail,
                       int64_t hop)
{
    int64_t n1 = win / decim, hits = 0, total = rows * nw, i = 0;
    if (n1 > DTMF_MAX_N1 || n1 < 1 || hop < 0 || hop > nw * win)
        return -1;
    for (int64_t r = 0; r < rows; r++)          /* each row's last hop samples, for the next call's stage 2 */
        memcpy(tail + r * hop, frames + r * stride + nw * win - hop, (size_t)hop * sizeof(int16_t));
#ifdef DTMF_AVX2
    __builtin_cpu_init();
    if (decim == 2 && n1 == 40 && __builtin_cpu_supports("avx2")) {
        int64_t r = 0, w0 = 0;                 /* (row, window) of window i, stepped without divisions */
        for (; i + 4 <= total; i += 4) {
            const int16_t *x[4];
            int8_t *o[4];
            for (int w = 0; w < 4; w++) {
                x[w] = frames + r * stride + w0 * win;
                o[w] = out + i + w;
                if (++w0 == nw) {
                    w0 = 0;
                    r++;
                }
            }
            dtmf_quad_avx2(x, basis, thr, frac, min_energy, o);
            for (int w = 0; w < 4; w++)
                hits += o[w][0] >= 0;
        }
    }
#endif
    for (; i < total; i++) {
        int d = dtmf_window(frames + (i / nw) * stride + (i % nw) * win, n1, decim, basis, thr, frac, min_energy);
        out[i] = (int8_t)d;
        hits += d >= 0;
    }
    return hits;
}
