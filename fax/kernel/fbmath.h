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

#endif
