/* Small maths shared by the fax bank's receive kernels (internal: not part of the cffi interface). */
#ifndef FBMATH_H
#define FBMATH_H
#include <math.h>

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

/* hot loops built twice, for AVX2 and for the x86-64 baseline, the better one picked at load time (the
   same arithmetic in both: ISO C mode contracts no multiply-add, so results are identical) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FB_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FB_SIMD_CLONES
#endif

#endif
