/* The T.4 code tables and helpers shared by the encoder (t4codec.c) and the decoder (t4decode.c); internal:
   not part of the cffi interface. */
#ifndef T4TAB_H
#define T4TAB_H
#include <stdint.h>

/* 2-D modes */
enum { M_P, M_H, M_V0, M_VR1, M_VR2, M_VR3, M_VL1, M_VL2, M_VL3, M_EXT, M_COUNT };
extern const int MODE_DELTA[M_COUNT];

/* decoding tables over LUT_W-bit windows (first bit most significant): run value (-1: no code) and code length
   per colour, 2-D mode (-1: no code) and its length; built by t4c_init */
#define LUT_W 13
extern int16_t run_val[2][1 << LUT_W];
extern uint8_t run_len[2][1 << LUT_W];
extern int8_t mode_val[1 << LUT_W];
extern uint8_t mode_len[1 << LUT_W];

/* an octet with its bit order reversed */
static inline uint8_t rev8(uint32_t b)
{
    return (uint8_t) ((((b * 0x0802u & 0x22110u) | (b * 0x8020u & 0x88440u)) * 0x10101u) >> 16);
}

/* b1 of T.4 4.2.1.3: the first changing element of the reference line b right of a0 whose colour is the
   opposite of a0's; moves the index *bi along b (whose list ends in two `width` sentinels), width if none */
static inline int find_b1(const int32_t *b, int *bi, int a0, int colour, int width)
{
    int i = *bi;
    while (i > 0 && b[i - 1] > a0)
        i--;
    while (b[i] <= a0 && b[i] < width)
        i++;
    if ((i & 1) != colour && b[i] < width)
        i++;
    *bi = i;
    return (i & 1) == colour ? b[i] : width;
}

#endif
