/* Small maths shared by the fax bank's receive kernels (internal: not part of the cffi interface). */
#ifndef FBMATH_H
#define FBMATH_H
#include <math.h>
#include <stdint.h>
#include <string.h>

/* a modulo m with the sign of m, as Python's % (the receivers follow the Python state machines) */
static inline double pymod(double a, double m)
{
    double r = fmod(a, m);
    return r < 0 ? r + m : r;
}

/* nearbyint(a) in the default rounding mode (to nearest, ties to even) without the library call (x86-64's
   baseline has no rounding instruction): adding and taking away 2^52 leaves a rounded to an integer */
static inline double rne(double a)
{
    const double big = 4503599627370496.0;
    if (!(fabs(a) < big))
        return a;
    return a >= 0 ? (a + big) - big : (a - big) + big;
}

/* the low 23 bits of v in reverse order (the V.17 scrambler's register mirrored: its 32 bits reversed, the top 23
   taken) */
static inline uint32_t fb_rev23(uint32_t v)
{
    v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
    v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
    v = ((v >> 4) & 0x0F0F0F0Fu) | ((v & 0x0F0F0F0Fu) << 4);
    v = ((v >> 8) & 0x00FF00FFu) | ((v & 0x00FF00FFu) << 8);
    v = (v >> 16) | (v << 16);
    return v >> 9;
}

/* write the bits of v (at most 57) into the packed bit buffer buf (bit i in bit i % 8 of buf[i / 8]) from bit pos; the
   bits below pos are kept, the eight octets from pos / 8 rewritten (those past the new bits hold garbage) */
static inline void fb_put_packed(uint8_t *buf, int64_t pos, uint64_t v)
{
    uint8_t *p = buf + (pos >> 3);
    uint64_t w;
    memcpy(&w, p, 8);
    w = (w & ((1ull << (pos & 7)) - 1)) | (v << (pos & 7));
    memcpy(p, &w, 8);
}

/* bits as octets and back (little-endian words): the eight low bits of v as eight 0/1 octets (octet i: bit i), and
   eight 0/1 octets at b as the eight bits of one octet */
static inline uint64_t fb_spread8(uint64_t v)
{
    uint64_t t = ((v & 0xFF) * 0x0101010101010101ull) & 0x8040201008040201ull;
    return ((t + 0x7F7F7F7F7F7F7F7Full) >> 7) & 0x0101010101010101ull;
}

static inline uint32_t fb_pack8(const uint8_t *b)
{
    uint64_t v;
    memcpy(&v, b, 8);
    return (uint32_t) ((v * 0x0102040810204080ull) >> 56);
}

/* sin and cos of x from a table of FB_SC_N points a turn and the Taylor series of the remainder (|d| <= pi / FB_SC_N,
   terms to d^5: within a few units in the last place of libm, without its call and branches); fb_sc_init() once
   before use */
#define FB_SC_N 512
extern double fb_sc_tab[2 * FB_SC_N];
void fb_sc_init(void);

static inline void fb_sincos(double x, double *s, double *c)
{
    const double inv = FB_SC_N / (2.0 * 3.14159265358979323846);
    /* 2 pi / FB_SC_N in two parts (Cody-Waite): hi has 24 significant bits, so k * hi is exact */
    const double step = 2.0 * 3.14159265358979323846 / FB_SC_N, hi = (double) (float) step, lo = step - hi;
    double k = rne(x * inv), d = (x - k * hi) - k * lo, d2 = d * d;
    int i = (int) ((int64_t) k & (FB_SC_N - 1));
    double sd = d * (1.0 - d2 * (1.0 / 6.0 - d2 * (1.0 / 120.0)));
    double cd = 1.0 - d2 * (0.5 - d2 * (1.0 / 24.0 - d2 * (1.0 / 720.0)));
    double ts = fb_sc_tab[2 * i], tc = fb_sc_tab[2 * i + 1];
    *s = ts * cd + tc * sd;
    *c = tc * cd - ts * sd;
}

/* how many of k event flags are set (0 without flags) */
static inline int fb_count_events(const uint8_t *events, int k)
{
    int i, c = 0;
    for (i = 0; events && i < k; i++)
        c += events[i] != 0;
    return c;
}

/* hot loops built twice, for AVX2 and for the x86-64 baseline, the better one picked at load time (the
   same arithmetic in both: ISO C mode contracts no multiply-add, so results are identical) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FB_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FB_SIMD_CLONES
#endif

#endif
