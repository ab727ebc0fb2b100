/* T.4 MH/MR and T.6 MMR coding (issue #21): see t4codec.h. The code tables and the encoder; the decoder, which
   shares the tables (t4tab.h), is t4decode.c. */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "t4codec.h"
#include "t4tab.h"

static const char *WHITE_TERM[64] = {
    "00110101", "000111", "0111", "1000", "1011", "1100", "1110", "1111", "10011", "10100", "00111", "01000",
    "001000", "000011", "110100", "110101", "101010", "101011", "0100111", "0001100", "0001000", "0010111",
    "0000011", "0000100", "0101000", "0101011", "0010011", "0100100", "0011000", "00000010", "00000011",
    "00011010", "00011011", "00010010", "00010011", "00010100", "00010101", "00010110", "00010111", "00101000",
    "00101001", "00101010", "00101011", "00101100", "00101101", "00000100", "00000101", "00001010", "00001011",
    "01010010", "01010011", "01010100", "01010101", "00100100", "00100101", "01011000", "01011001", "01011010",
    "01011011", "01001010", "01001011", "00110010", "00110011", "00110100"};
static const char *WHITE_MAKEUP[27] = {
    "11011", "10010", "010111", "0110111", "00110110", "00110111", "01100100", "01100101", "01101000",
    "01100111", "011001100", "011001101", "011010010", "011010011", "011010100", "011010101", "011010110",
    "011010111", "011011000", "011011001", "011011010", "011011011", "010011000", "010011001", "010011010",
    "011000", "010011011"};
static const char *BLACK_TERM[64] = {
    "0000110111", "010", "11", "10", "011", "0011", "0010", "00011", "000101", "000100", "0000100", "0000101",
    "0000111", "00000100", "00000111", "000011000", "0000010111", "0000011000", "0000001000", "00001100111",
    "00001101000", "00001101100", "00000110111", "00000101000", "00000010111", "00000011000", "000011001010",
    "000011001011", "000011001100", "000011001101", "000001101000", "000001101001", "000001101010",
    "000001101011", "000011010010", "000011010011", "000011010100", "000011010101", "000011010110",
    "000011010111", "000001101100", "000001101101", "000011011010", "000011011011", "000001010100",
    "000001010101", "000001010110", "000001010111", "000001100100", "000001100101", "000001010010",
    "000001010011", "000000100100", "000000110111", "000000111000", "000000100111", "000000101000",
    "000001011000", "000001011001", "000000101011", "000000101100", "000001011010", "000001100110",
    "000001100111"};
static const char *BLACK_MAKEUP[27] = {
    "0000001111", "000011001000", "000011001001", "000001011011", "000000110011", "000000110100",
    "000000110101", "0000001101100", "0000001101101", "0000001001010", "0000001001011", "0000001001100",
    "0000001001101", "0000001110010", "0000001110011", "0000001110100", "0000001110101", "0000001110110",
    "0000001110111", "0000001010010", "0000001010011", "0000001010100", "0000001010101", "0000001011010",
    "0000001011011", "0000001100100", "0000001100101"};
static const char *EXT_MAKEUP[13] = {
    "00000001000", "00000001100", "00000001101", "000000010010", "000000010011", "000000010100",
    "000000010101", "000000010110", "000000010111", "000000011100", "000000011101", "000000011110",
    "000000011111"};

/* 2-D modes */
static const char *MODE_CODES[M_COUNT] = {"0001", "001", "1", "011", "000011", "0000011", "010", "000010",
                                          "0000010", "0000001"};
const int MODE_DELTA[M_COUNT] = {0, 0, 0, 1, 2, 3, -1, -2, -3, 0};

#define NRUNS (64 + 40)   /* 0..63, then makeups 64..2560 by 64 */

typedef struct {
    uint16_t code;
    uint16_t rcode;   /* the code's len bits reversed (first bit in the LSB, for LSB-first output) */
    uint8_t len;
} code_t;

static code_t run_code[2][NRUNS];
static code_t mode_code[M_COUNT];
static code_t vert_code[7];   /* the vertical modes' codes by a1 - b1 + 3 */
int16_t run_val[2][1 << LUT_W];
uint8_t run_len[2][1 << LUT_W];
int8_t mode_val[1 << LUT_W];
uint8_t mode_len[1 << LUT_W];
static int ready;

static code_t parse(const char *s)
{
    code_t c = {0, 0, 0};
    for (; *s; s++, c.len++) {
        c.code = (uint16_t) ((c.code << 1) | (*s == '1'));
        c.rcode = (uint16_t) (c.rcode | ((*s == '1') << c.len));
    }
    return c;
}

static void lut_put(int16_t *val, uint8_t *len, code_t c, int v)
{
    int base = c.code << (LUT_W - c.len);
    for (int i = 0; i < (1 << (LUT_W - c.len)); i++) {
        val[base + i] = (int16_t) v;
        len[base + i] = c.len;
    }
}

/* Build the code tables (once, at import, before any thread calls the codec). */
void t4c_init(void)
{
    if (ready)
        return;
    for (int colour = 0; colour < 2; colour++) {
        const char **term = colour ? BLACK_TERM : WHITE_TERM;
        const char **makeup = colour ? BLACK_MAKEUP : WHITE_MAKEUP;
        for (int i = 0; i < (1 << LUT_W); i++)
            run_val[colour][i] = -1;
        for (int i = 0; i < 64; i++)
            run_code[colour][i] = parse(term[i]);
        for (int i = 0; i < 27; i++)
            run_code[colour][64 + i] = parse(makeup[i]);   /* 64 * (i + 1) */
        for (int i = 0; i < 13; i++)
            run_code[colour][64 + 27 + i] = parse(EXT_MAKEUP[i]);  /* 1792 + 64 * i */
        for (int i = 0; i < 64; i++)
            lut_put(run_val[colour], run_len[colour], run_code[colour][i], i);
        for (int i = 0; i < 27; i++)
            lut_put(run_val[colour], run_len[colour], run_code[colour][64 + i], 64 * (i + 1));
        for (int i = 0; i < 13; i++)
            lut_put(run_val[colour], run_len[colour], run_code[colour][64 + 27 + i], 1792 + 64 * i);
    }
    for (int i = 0; i < (1 << LUT_W); i++)
        mode_val[i] = -1;
    for (int m = 0; m < M_COUNT; m++) {
        mode_code[m] = parse(MODE_CODES[m]);
        int base = mode_code[m].code << (LUT_W - mode_code[m].len);
        for (int i = 0; i < (1 << (LUT_W - mode_code[m].len)); i++) {
            mode_val[base + i] = (int8_t) m;
            mode_len[base + i] = mode_code[m].len;
        }
    }
    static const int vmode[7] = {M_VL3, M_VL2, M_VL1, M_V0, M_VR1, M_VR2, M_VR3};
    for (int i = 0; i < 7; i++)
        vert_code[i] = mode_code[vmode[i]];
    ready = 1;
}

/* ------------------------------------------------------------------------------------------ encoder */

/* The bit writer: bits collected first bit in the LSB (as sent) in a 64-bit accumulator and written four octets
   at a time; MSB-first output is the same octets each reversed at the end. The coding functions work on a local
   copy (always inlined, its address escaping nowhere), so that its fields stay in registers across the stores. */
typedef struct {
    uint8_t *out;
    int64_t cap;
    int64_t pos;    /* octets written */
    int64_t lost;   /* octets that found no room (overflow) */
    uint64_t acc;
    int nacc;
} bw_t;

#define T4_INLINE static inline __attribute__((always_inline))

static inline int64_t bw_bits(const bw_t *w)
{
    return 8 * (w->pos + w->lost) + w->nacc;
}

static void bw_byte(bw_t *w, uint8_t b)
{
    if (w->pos < w->cap)
        w->out[w->pos++] = b;
    else
        w->lost++;
}

T4_INLINE void bw_store4(bw_t *w)
{
    if (__builtin_expect(w->pos + 8 <= w->cap, 1)) {   /* the accumulator in one store, four octets kept */
        uint64_t v = w->acc;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(w->out + w->pos, &v, 8);
#else
        for (int i = 0; i < 4; i++)
            w->out[w->pos + i] = (uint8_t) (v >> (8 * i));
#endif
        w->pos += 4;
    } else {
        for (int i = 0; i < 4; i++)
            bw_byte(w, (uint8_t) (w->acc >> (8 * i)));
    }
    w->acc >>= 32;
    w->nacc -= 32;
}

/* `len` (<= 32) bits already reversed (the first to send in the LSB) */
T4_INLINE void put_lsb(bw_t *w, uint32_t rev, int len)
{
    w->acc |= (uint64_t) rev << w->nacc;
    w->nacc += len;
    if (w->nacc >= 32)
        bw_store4(w);
}

/* `len` (<= 24) bits of `code`, its most significant first in transmission order */
static inline void put(bw_t *w, uint32_t code, int len)
{
    uint32_t rev = ((uint32_t) rev8(code & 0xFF) << 16 | (uint32_t) rev8((code >> 8) & 0xFF) << 8 |
                    rev8((code >> 16) & 0xFF)) >> (24 - len);
    put_lsb(w, rev, len);
}

static void put_zeros(bw_t *w, int64_t n)
{
    while (n > 0) {
        int k = n > 24 ? 24 : (int) n;
        put_lsb(w, 0, k);
        n -= k;
    }
}

/* the waiting bits out (the last octet zero padded); MSB-first output: every octet written reversed */
static void bw_flush(bw_t *w, int lsb)
{
    for (; w->nacc > 0; w->nacc -= 8) {
        bw_byte(w, (uint8_t) (w->acc & 0xFF));
        w->acc >>= 8;
    }
    w->nacc = 0;
    w->acc = 0;
    if (!lsb)
        for (int64_t i = 0; i < w->pos; i++)
            w->out[i] = rev8(w->out[i]);
}

T4_INLINE void put_code(bw_t *w, code_t c)
{
    put_lsb(w, c.rcode, c.len);
}

T4_INLINE void put_run(bw_t *w, int run, int colour)
{
    const code_t *rc = run_code[colour];
    if (__builtin_expect(run >= 64, 0)) {
        while (run > 2560) {
            put_code(w, rc[64 + 39]);
            run -= 2560;
        }
        if (run >= 64) {
            put_code(w, rc[64 + run / 64 - 1]);
            run %= 64;
        }
    }
    put_code(w, rc[run]);
}

/* the changing elements of a row (pixels nonzero = black; the row starts after an imaginary white pixel): 64
   pixels a step as one mask of black pixels, the changes where a pixel differs from its left neighbour */
static int changes_of(const uint8_t *row, int width, int32_t *ch)
{
    int n = 0, i = 0;
    uint64_t prev = 0;   /* the colour of the pixel left of i */
#ifdef __SSE2__
    const __m128i zero = _mm_setzero_si128();
    for (; i + 64 <= width; i += 64) {
        const __m128i *p = (const __m128i *) (row + i);
        uint64_t w0 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(p), zero));
        uint64_t w1 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(p + 1), zero));
        uint64_t w2 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(p + 2), zero));
        uint64_t w3 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(p + 3), zero));
        uint64_t black = ~(w0 | w1 << 16 | w2 << 32 | w3 << 48);
        uint64_t t = black ^ ((black << 1) | prev);
        prev = black >> 63;
        while (t) {
            ch[n++] = i + __builtin_ctzll(t);
            t &= t - 1;
        }
    }
#endif
    for (; i < width; i++) {
        uint64_t px = row[i] ? 1 : 0;
        if (px != prev) {
            ch[n++] = i;
            prev = px;
        }
    }
    return n;
}

T4_INLINE void encode_1d(bw_t *w, const int32_t *a, int na, int width)
{
    int pos = 0, colour = 0;
    for (int i = 0; i <= na; i++) {
        int c = i < na ? a[i] : width;
        put_run(w, c - pos, colour);
        pos = c;
        colour ^= 1;
        if (c >= width)
            break;
    }
}

/* b1 of T.4 4.2.1.3 for a0 < width: as find_b1, with b[-1] = -1 (no test of the index) and a0 below the
   sentinels (none of their tests either) */
T4_INLINE int enc_b1(const int32_t *b, int *bi, int a0, int colour)
{
    int i = *bi;
    while (b[i - 1] > a0)
        i--;
    while (b[i] <= a0)
        i++;
    i += (i & 1) ^ colour;
    *bi = i;
    return b[i];
}

/* a: this line's changes (na, room for 2 sentinels); b: the reference line's (nb, room for 2 sentinels, and
   b[-1] = -1). a1 is a[ai] throughout: the changes rise strictly, so it moves on by one after a vertical mode,
   two after a horizontal one, and stays after a pass (a0 = b2 < a1). */
T4_INLINE void encode_2d(bw_t *w, int32_t *a, int na, int32_t *b, int nb, int width)
{
    a[na] = a[na + 1] = width;
    b[nb] = b[nb + 1] = width;
    int a0 = -1, colour = 0, ai = 0, bi = 0;
    for (int guard = 0; guard < 4 * width + 16; guard++) {
        int a1 = a[ai];
        int b1 = enc_b1(b, &bi, a0, colour);
        int b2 = b1 < width ? b[bi + 1] : width;
        if (b2 < a1) {
            put_code(w, mode_code[M_P]);
            a0 = b2;
            continue;
        }
        int d = a1 - b1;
        if ((unsigned) (d + 3) <= 6u) {
            put_code(w, vert_code[d + 3]);
            a0 = a1;
            colour ^= 1;
            ai++;
        } else {
            int a2 = a1 < width ? a[ai + 1] : width;
            put_code(w, mode_code[M_H]);
            put_run(w, a1 - (a0 > 0 ? a0 : 0), colour);
            put_run(w, a2 - a1, colour ^ 1);
            a0 = a2;
            ai += 2;
        }
        if (a0 >= width)
            break;
    }
}

#define EOL_CODE 1u
#define EOL_LEN 12

int64_t t4e_bound(const t4e_state_t *s, int rows)
{
    int64_t data = 32 * (int64_t) (s->width + 2) + 64;
    if (s->min_bits > data)
        data = s->min_bits;
    return ((int64_t) rows * (data + 8 + EOL_LEN + 1) + 6 * (EOL_LEN + 1) + 64) / 8 + 16;
}

/* one row's coded line (after its EOL for MH/MR) from its changes a (na) and the reference line's b; the
   writer copied in and out, so that the coding works on a copy whose address escapes nowhere */
static void encode_row(bw_t *wp, t4e_state_t *s, int32_t *a, int na, int32_t *b, int k)
{
    int width = s->width;
    bw_t wl = *wp, *w = &wl;
    if (s->coding == T4C_MMR) {
        encode_2d(w, a, na, b, s->nref, width);
    } else {
        int one_d = s->coding == T4C_MH || s->line % k == 0;
        if (s->byte_align_eol)
            put_zeros(w, ((-(s->nbits + bw_bits(w) + EOL_LEN)) % 8 + 8) % 8);
        put(w, EOL_CODE, EOL_LEN);
        if (s->coding == T4C_MR)
            put(w, one_d ? 1 : 0, 1);
        int64_t before = bw_bits(w);
        if (one_d)
            encode_1d(w, a, na, width);
        else
            encode_2d(w, a, na, b, s->nref, width);
        if (bw_bits(w) - before < s->min_bits)
            put_zeros(w, s->min_bits - (bw_bits(w) - before));
    }
    *wp = wl;
}

/* ref and cur hold their changes from index 1, after a -1 (b[-1] of enc_b1); the rows take them in turn as the
   coding line and the reference line, the last one copied into ref at the end */
int64_t t4e_encode(t4e_state_t *s, int32_t *ref, int32_t *cur, const uint8_t *img, int rows, int finish,
                   uint8_t *out, int64_t cap, int lsb)
{
    int width = s->width;
    bw_t w = {out, cap, 0, 0, 0, 0};
    int k = s->k > 0 ? s->k : 1;
    int32_t *b = ref, *a = cur;
    ref[0] = cur[0] = -1;
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = img + (int64_t) r * width;
        int na = changes_of(row, width, a + 1);
        int32_t *t = b;
        encode_row(&w, s, a + 1, na, b + 1, k);
        s->nref = na;
        s->line++;
        b = a;
        a = t;
    }
    if (b != ref)
        memcpy(ref, b, sizeof(int32_t) * (size_t) (s->nref + 1));
    if (finish) {
        if (s->coding == T4C_MMR) {
            put(&w, EOL_CODE, EOL_LEN);
            put(&w, EOL_CODE, EOL_LEN);
        } else if (s->rtc) {
            for (int i = 0; i < 6; i++) {
                put(&w, EOL_CODE, EOL_LEN);
                if (s->coding == T4C_MR)
                    put(&w, 1, 1);
            }
        }
    }
    int64_t nbits = bw_bits(&w);
    bw_flush(&w, lsb);
    s->nbits += nbits;
    return w.lost ? -1 : nbits;
}
