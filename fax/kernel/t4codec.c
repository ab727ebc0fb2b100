/* T.4 MH/MR and T.6 MMR coding (issue #21): see t4codec.h. The decoder follows fax/t4.py's former Python
   decoder step for step (framing at EOLs, fill trimming, resynchronisation after an over-long line, MMR
   waiting for whole lines), so its bounds (issue #16) hold: each bit is searched for an EOL once, the kept
   buffer stays below max_line + fill_kept bits plus one feed, and a page has at most max_rows rows. */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "t4codec.h"

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
enum { M_P, M_H, M_V0, M_VR1, M_VR2, M_VR3, M_VL1, M_VL2, M_VL3, M_EXT, M_COUNT };
static const char *MODE_CODES[M_COUNT] = {"0001", "001", "1", "011", "000011", "0000011", "010", "000010",
                                          "0000010", "0000001"};
static const int MODE_DELTA[M_COUNT] = {0, 0, 0, 1, 2, 3, -1, -2, -3, 0};

#define LUT_W 13
#define NRUNS (64 + 40)   /* 0..63, then makeups 64..2560 by 64 */

typedef struct {
    uint16_t code;
    uint16_t rcode;   /* the code's len bits reversed (first bit in the LSB, for LSB-first output) */
    uint8_t len;
} code_t;

static code_t run_code[2][NRUNS];
static code_t mode_code[M_COUNT];
static int16_t run_val[2][1 << LUT_W];
static uint8_t run_len[2][1 << LUT_W];
static int8_t mode_val[1 << LUT_W];
static uint8_t mode_len[1 << LUT_W];
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
    ready = 1;
}

/* ------------------------------------------------------------------------------------------ encoder */

typedef struct {
    uint8_t *out;
    int64_t cap;
    int64_t pos;
    uint64_t acc;
    int nacc;
    int lsb;
    int64_t nbits;
    int overflow;
} bw_t;

static void bw_byte(bw_t *w, uint8_t b)
{
    if (w->pos < w->cap)
        w->out[w->pos++] = b;
    else
        w->overflow = 1;
}

/* an octet with its bit order reversed */
static inline uint8_t rev8(uint32_t b)
{
    return (uint8_t) ((((b * 0x0802u & 0x22110u) | (b * 0x8020u & 0x88440u)) * 0x10101u) >> 16);
}

/* LSB-first output of `len` (<= 24) bits already reversed (the first to send in the LSB): collected in the
   accumulator, written four octets at a time */
static inline void put_lsb(bw_t *w, uint32_t rev, int len)
{
    w->nbits += len;
    w->acc |= (uint64_t) rev << w->nacc;
    w->nacc += len;
    if (w->nacc >= 32) {
        if (w->pos + 4 <= w->cap) {   /* four octets in one store (the usual case) */
            uint8_t *o = w->out + w->pos;
            uint32_t v = (uint32_t) w->acc;
            o[0] = (uint8_t) v, o[1] = (uint8_t) (v >> 8), o[2] = (uint8_t) (v >> 16), o[3] = (uint8_t) (v >> 24);
            w->pos += 4;
            w->acc >>= 32;
        } else {
            for (int i = 0; i < 4; i++) {
                bw_byte(w, (uint8_t) (w->acc & 0xFF));
                w->acc >>= 8;
            }
        }
        w->nacc -= 32;
    }
}

/* `len` (<= 24) bits of `code`, its most significant first in transmission order */
static void put(bw_t *w, uint32_t code, int len)
{
    if (w->lsb) {
        /* the code's bits reversed: its three octets each reversed and swapped, then the low `len` kept */
        uint32_t rev = ((uint32_t) rev8(code & 0xFF) << 16 | (uint32_t) rev8((code >> 8) & 0xFF) << 8 |
                        rev8((code >> 16) & 0xFF)) >> (24 - len);
        put_lsb(w, rev, len);
    } else {
        w->nbits += len;
        w->acc = (w->acc << len) | code;
        w->nacc += len;
        while (w->nacc >= 8) {
            bw_byte(w, (uint8_t) ((w->acc >> (w->nacc - 8)) & 0xFF));
            w->nacc -= 8;
        }
    }
}

static void put_zeros(bw_t *w, int64_t n)
{
    while (n > 0) {
        int k = n > 24 ? 24 : (int) n;
        put(w, 0, k);
        n -= k;
    }
}

static void bw_flush(bw_t *w)
{
    while (w->lsb && w->nacc >= 8) {   /* LSB first: up to 31 bits may wait */
        bw_byte(w, (uint8_t) (w->acc & 0xFF));
        w->acc >>= 8;
        w->nacc -= 8;
    }
    if (w->nacc > 0)
        bw_byte(w, w->lsb ? (uint8_t) (w->acc & 0xFF) : (uint8_t) ((w->acc << (8 - w->nacc)) & 0xFF));
    w->nacc = 0;
    w->acc = 0;
}

static inline void put_code(bw_t *w, code_t c)
{
    if (w->lsb)
        put_lsb(w, c.rcode, c.len);
    else
        put(w, c.code, c.len);
}

static void put_run(bw_t *w, int run, int colour)
{
    while (run > 2560) {
        put_code(w, run_code[colour][64 + 39]);
        run -= 2560;
    }
    if (run >= 64) {
        put_code(w, run_code[colour][64 + run / 64 - 1]);
        run %= 64;
    }
    put_code(w, run_code[colour][run]);
}

/* the changing elements of a row (pixels nonzero = black; the row starts after an imaginary white pixel); built for
   AVX2 too (the compiler widens the scan), the better one picked at load time */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static int changes_of(const uint8_t *row, int width, int32_t *ch)
{
    int n = 0, i = 0;
    uint8_t prev = 0;
#ifdef __SSE2__
    if (width > 0) {   /* sixteen pixels at a time: each one's colour against its left neighbour's */
        const __m128i zero = _mm_setzero_si128();
        if (row[0]) {
            ch[n++] = 0;
        }
        for (i = 1; i + 16 <= width; i += 16) {
            __m128i a = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (row + i)), zero);
            __m128i b = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (row + i - 1)), zero);
            unsigned m = (unsigned) _mm_movemask_epi8(_mm_xor_si128(a, b));
            while (m) {
                ch[n++] = i + __builtin_ctz(m);
                m &= m - 1;
            }
        }
        prev = row[i - 1] ? 1 : 0;
    }
#endif
    for (; i < width; i++) {
        uint8_t px = row[i] ? 1 : 0;
        if (px != prev) {
            ch[n++] = i;
            prev = px;
        }
    }
    return n;
}

static void encode_1d(bw_t *w, const int32_t *a, int na, int width)
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

/* a: this line's changes (na, room for 2 sentinels); b: the reference line's (nb, room for 2 sentinels) */
static void encode_2d(bw_t *w, int32_t *a, int na, int32_t *b, int nb, int width)
{
    a[na] = a[na + 1] = width;
    b[nb] = b[nb + 1] = width;
    int a0 = -1, colour = 0, ai = 0, bi = 0;
    for (int guard = 0; guard < 4 * width + 16; guard++) {
        while (a[ai] <= a0 && a[ai] < width)
            ai++;
        int a1 = a[ai];
        int b1 = find_b1(b, &bi, a0, colour, width);
        int b2 = (bi + 1 < nb + 2 && b1 < width) ? b[bi + 1] : width;
        if (b2 < a1) {
            put_code(w, mode_code[M_P]);
            a0 = b2;
            continue;
        }
        int d = a1 - b1;
        if (d >= -3 && d <= 3) {
            static const int vmode[7] = {M_VL3, M_VL2, M_VL1, M_V0, M_VR1, M_VR2, M_VR3};
            put_code(w, mode_code[vmode[d + 3]]);
            a0 = a1;
            colour ^= 1;
        } else {
            int a2 = a1 < width ? a[ai + 1] : width;
            put_code(w, mode_code[M_H]);
            put_run(w, a1 - (a0 > 0 ? a0 : 0), colour);
            put_run(w, a2 - a1, colour ^ 1);
            a0 = a2;
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

int64_t t4e_encode(t4e_state_t *s, int32_t *ref, int32_t *cur, const uint8_t *img, int rows, int finish,
                   uint8_t *out, int64_t cap, int lsb)
{
    int width = s->width;
    bw_t w = {out, cap, 0, 0, 0, lsb, 0, 0};
    int k = s->k > 0 ? s->k : 1;
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = img + (int64_t) r * width;
        int na = changes_of(row, width, cur);
        if (s->coding == T4C_MMR) {
            encode_2d(&w, cur, na, ref, s->nref, width);
        } else {
            int one_d = s->coding == T4C_MH || s->line % k == 0;
            if (s->byte_align_eol)
                put_zeros(&w, ((-(s->nbits + w.nbits + EOL_LEN)) % 8 + 8) % 8);
            put(&w, EOL_CODE, EOL_LEN);
            if (s->coding == T4C_MR)
                put(&w, one_d ? 1 : 0, 1);
            int64_t before = w.nbits;
            if (one_d)
                encode_1d(&w, cur, na, width);
            else
                encode_2d(&w, cur, na, ref, s->nref, width);
            if (w.nbits - before < s->min_bits)
                put_zeros(&w, s->min_bits - (w.nbits - before));
        }
        memcpy(ref, cur, sizeof(int32_t) * (size_t) na);
        s->nref = na;
        s->line++;
    }
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
    bw_flush(&w);
    s->nbits += w.nbits;
    return w.overflow ? -1 : w.nbits;
}

/* ------------------------------------------------------------------------------------------ decoder */

static inline int peek13(const uint8_t *b, int64_t end, int64_t pos)
{
    int v = 0;
#if defined(__SSE2__) && LUT_W <= 16
    if (pos >= 0 && pos + 16 <= end) {   /* sixteen bits at once: bit i of m set when b[pos + i] is nonzero */
        __m128i z = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (b + pos)), _mm_setzero_si128());
        uint32_t m = ~(uint32_t) _mm_movemask_epi8(z) & 0xFFFFu;
        /* b[pos] first (most significant): m's 16 bits reversed, the top LUT_W kept */
        return (int) ((((uint32_t) rev8(m & 0xFF) << 8) | rev8(m >> 8)) >> (16 - LUT_W));
    }
#endif
    for (int i = 0; i < LUT_W; i++) {
        int64_t p = pos + i;
        v = (v << 1) | (p < end && b[p] ? 1 : 0);
    }
    return v;
}

static int fail(t4d_state_t *s, int err, int64_t pos, int64_t val)
{
    s->err = err;
    s->err_pos = pos;
    s->err_val = val;
    return -1;
}

static int dec_run(t4d_state_t *s, const uint8_t *b, int64_t end, int64_t *pos, int colour, int *run)
{
    int64_t total = 0;
    for (;;) {
        if (*pos >= end)
            return fail(s, T4E_RUN_END, *pos, 0);
        int v = peek13(b, end, *pos);
        int r = run_val[colour][v];
        if (r < 0)
            return fail(s, T4E_RUN_CODE, *pos, colour);
        *pos += run_len[colour][v];
        total += r;
        if (total > s->width)
            return fail(s, T4E_LINE_LONG, *pos, total);
        if (r < 64) {
            *run = (int) total;
            return 0;
        }
    }
}

static int dec_1d(t4d_state_t *s, const uint8_t *b, int64_t end, int64_t *pos, int32_t *cur, int *ncur)
{
    int width = s->width, x = 0, colour = 0, n = 0, run;
    while (x < width) {
        if (dec_run(s, b, end, pos, colour, &run))
            return -1;
        x += run;
        if (x > width)
            return fail(s, T4E_LINE_LONG, *pos, x);
        if (n >= 2 * width + 4)
            return fail(s, T4E_CHANGES, *pos, n);
        cur[n++] = x;
        colour ^= 1;
    }
    if (n && cur[n - 1] == width)
        n--;
    *ncur = n;
    return 0;
}

static int dec_2d(t4d_state_t *s, const uint8_t *bits, int64_t end, int64_t *pos, int32_t *b, int nb,
                  int32_t *cur, int *ncur)
{
    int width = s->width, a0 = -1, colour = 0, bi = 0, n = 0;
    b[nb] = b[nb + 1] = width;
    while (a0 < width) {
        if (*pos >= end)
            return fail(s, T4E_2D_END, *pos, 0);
        int v = peek13(bits, end, *pos);
        int mode = mode_val[v];
        if (mode < 0)
            return fail(s, T4E_MODE_CODE, *pos, 0);
        *pos += mode_len[v];
        int b1 = find_b1(b, &bi, a0, colour, width);
        int b2 = b1 < width ? b[bi + 1] : width;
        if (mode == M_P) {
            if (b2 >= width && b1 >= width)
                return fail(s, T4E_PASS, *pos, 0);
            a0 = b2;
        } else if (mode == M_H) {
            int r1, r2;
            if (dec_run(s, bits, end, pos, colour, &r1) || dec_run(s, bits, end, pos, colour ^ 1, &r2))
                return -1;
            int a1 = (a0 > 0 ? a0 : 0) + r1, a2 = a1 + r2;
            if (a2 > width)
                return fail(s, T4E_HORIZ, *pos, a2);
            if (n + 2 > 2 * width + 4)
                return fail(s, T4E_CHANGES, *pos, n);
            cur[n++] = a1;
            cur[n++] = a2;
            a0 = a2;
        } else if (mode == M_EXT) {
            return fail(s, T4E_EXT, *pos, 0);
        } else {
            int a1 = b1 + MODE_DELTA[mode];
            if (a1 < (a0 > 0 ? a0 : 0) || a1 > width || (a1 == a0 && a0 >= 0))
                return fail(s, T4E_VERT, *pos, a1);
            if (n + 1 > 2 * width + 4)
                return fail(s, T4E_CHANGES, *pos, n);
            cur[n++] = a1;
            a0 = a1;
            colour ^= 1;
        }
    }
    while (n && cur[n - 1] >= width)
        n--;
    *ncur = n;
    return 0;
}

static void row_from_changes(const int32_t *ch, int n, int width, uint8_t *row)
{
    int x = 0;
    uint8_t colour = 0;
    for (int i = 0; i < n; i++) {
        int c = ch[i] < width ? ch[i] : width;
        if (c > x) {
            memset(row + x, colour, (size_t) (c - x));
            x = c;
        }
        colour ^= 1;
    }
    if (x < width)
        memset(row + x, colour, (size_t) (width - x));
}

typedef struct {
    t4d_state_t *s;
    int32_t *ref;
    int32_t *cur;
    uint8_t *last;
    uint8_t *rows;
    int cap;
    int *nrows;
} dec_ctx_t;

/* one row out; -1 when the page is over max_rows */
static int emit(dec_ctx_t *c, const int32_t *ch, int n, int bad)
{
    t4d_state_t *s = c->s;
    if (s->rows >= s->max_rows) {
        s->too_long = 1;
        return -1;
    }
    uint8_t *row = c->rows + (int64_t) (*c->nrows) * s->width;
    if (bad) {
        s->bad_rows++;
        if (s->has_last)
            memcpy(row, c->last, (size_t) s->width);
        else
            memset(row, 0, (size_t) s->width);
    } else {
        row_from_changes(ch, n, s->width, row);
    }
    memcpy(c->last, row, (size_t) s->width);
    s->has_last = 1;
    s->rows++;
    (*c->nrows)++;
    return 0;
}

static int any_one(const uint8_t *b, int64_t from, int64_t to)
{
    for (int64_t i = from; i < to; i++)
        if (b[i])
            return 1;
    return 0;
}

/* One MH/MR line in seg[0:len] (its fill included); a bad line is replaced by the last row. */
static int g3_line(dec_ctx_t *c, const uint8_t *seg, int64_t len)
{
    t4d_state_t *s = c->s;
    if (len <= 0)
        return 0;
    int tag = 1;
    if (s->coding == T4C_MR) {
        tag = seg[0] ? 1 : 0;
        seg++;
        len--;
    }
    int64_t pos = 0;
    int n = 0;
    int rc = tag ? dec_1d(s, seg, len, &pos, c->cur, &n) : dec_2d(s, seg, len, &pos, c->ref, s->nref, c->cur, &n);
    if (rc == 0 && any_one(seg, pos, len))
        rc = fail(s, T4E_TRAILING, pos, 0);
    if (rc)
        return emit(c, NULL, 0, 1);
    memcpy(c->ref, c->cur, sizeof(int32_t) * (size_t) n);
    s->nref = n;
    return emit(c, c->cur, n, 0);
}

static int feed_g3(dec_ctx_t *c, const uint8_t *buf, int64_t n, int final)
{
    t4d_state_t *s = c->s;
    int64_t consumed = 0, pos = s->scan, zeros = s->zeros;
    for (; pos < n; pos++) {
        /* without a branch on each bit (coded data is as good as random): only an EOL (a one after at least
           eleven zeros) leaves the loop's fast path */
        int one = buf[pos] != 0;
        if (!(one & (zeros >= 11))) {
            zeros = one ? 0 : zeros + 1;
            continue;
        }
        {
            if (*c->nrows >= c->cap) {   /* rows full: look at this EOL again in the next call */
                s->bits_scanned += pos - s->scan;
                s->scan = pos - consumed;
                s->zeros = zeros;
                s->keep_start = consumed;
                s->keep_end = n;
                return T4D_MORE;
            }
            int64_t p = pos + 1, seg_end = p - 12 > consumed ? p - 12 : consumed;
            const uint8_t *seg = buf + consumed;
            int64_t len = seg_end - consumed;
            if (!s->seen_eol) {
                s->seen_eol = 1;   /* data before the first EOL is ignored */
            } else if (s->resync) {
                s->resync = 0;     /* the tail of a line already dropped as too long */
                s->eols = 0;
            } else {
                int empty = s->coding == T4C_MR ? (len <= 1 || !any_one(seg, 1, len)) : !any_one(seg, 0, len);
                if (empty) {
                    if (++s->eols >= 5) {   /* 6 EOLs in a row (RTC) */
                        s->page_ended = 1;
                        s->bits_scanned += p - s->scan;
                        s->keep_start = s->keep_end = 0;
                        s->scan = s->zeros = 0;
                        return T4D_DONE;
                    }
                } else {
                    s->eols = 0;
                    if (g3_line(c, seg, len))
                        return T4D_TOO_LONG;
                }
            }
            consumed = p;
        }
        zeros = 0;
    }
    s->bits_scanned += n - s->scan;
    if (*c->nrows >= c->cap) {   /* no room for a last row: the next call starts here (nothing left to scan) */
        s->scan = n - consumed;
        s->zeros = zeros;
        s->keep_start = consumed;
        s->keep_end = n;
        return T4D_MORE;
    }
    int64_t start = consumed, end = n;
    if (zeros > s->fill_kept) {   /* fill (or idle) zeros: keep only what the EOL search needs */
        end -= zeros - s->fill_kept;
        zeros = s->fill_kept;
    }
    int64_t data = end - start - zeros;
    if (data > s->max_line) {   /* no EOL within the longest possible line: garbage, not a line */
        if (s->seen_eol && !final) {
            if (emit(c, NULL, 0, 1))
                return T4D_TOO_LONG;
            s->resync = 1;
        }
        start += data;   /* the trailing zeros may be the start of an EOL */
    }
    s->scan = end - start;
    s->zeros = zeros;
    if (final && s->seen_eol && !s->resync && any_one(buf, start, end)) {
        if (g3_line(c, buf + start, end - start))
            return T4D_TOO_LONG;
        start = end;
        s->scan = s->zeros = 0;
    }
    s->keep_start = start;
    s->keep_end = end;
    return T4D_DONE;
}

static int is_eofb(const uint8_t *b, int64_t pos, int64_t end)
{
    return pos + 24 <= end && !any_one(b, pos, pos + 11) && b[pos + 11];
}

static int feed_mmr(dec_ctx_t *c, const uint8_t *buf, int64_t end, int final)
{
    t4d_state_t *s = c->s;
    int64_t chunk = 2 * (int64_t) s->width + 64;
    s->keep_start = 0;
    s->keep_end = end;
    if (!s->resume) {
        int eofb = end >= 24 && !any_one(buf, 0, 11) && buf[11];
        if (!final && !eofb && (end < chunk || (0 <= s->mmr_tried && end - s->mmr_tried < chunk)))
            return T4D_DONE;   /* not sure a whole line is here yet: wait (a retry only every `chunk` bits) */
        s->bits_scanned += end;
    }
    s->resume = 0;
    int64_t last_one = end - 1;
    while (last_one >= 0 && !buf[last_one])
        last_one--;
    int64_t pos = 0;
    s->mmr_tried = -1;
    for (;;) {
        if (is_eofb(buf, pos, end)) {
            s->page_ended = 1;
            s->keep_start = s->keep_end = 0;
            return T4D_DONE;
        }
        if (!final && end - pos < chunk)
            break;   /* not sure a whole line is here yet; wait for more */
        if (pos >= end || pos > last_one)
            break;
        if (*c->nrows >= c->cap) {
            s->resume = 1;
            s->keep_start = pos;
            return T4D_MORE;
        }
        int64_t npos = pos;
        int n = 0;
        if (dec_2d(s, buf, end, &npos, c->ref, s->nref, c->cur, &n)) {
            if (final || end - pos > s->max_line) {   /* no valid line is this long */
                s->keep_start = pos;
                return T4D_CORRUPT;
            }
            s->mmr_tried = end - pos;
            break;
        }
        memcpy(c->ref, c->cur, sizeof(int32_t) * (size_t) n);
        s->nref = n;
        if (emit(c, c->cur, n, 0))
            return T4D_TOO_LONG;
        pos = npos;
    }
    s->keep_start = pos < end ? pos : end;
    return T4D_DONE;
}

int t4d_feed(t4d_state_t *s, int32_t *ref, int32_t *cur, uint8_t *last, const uint8_t *buf, int64_t n,
             int final, uint8_t *rows, int cap, int *nrows)
{
    dec_ctx_t c = {s, ref, cur, last, rows, cap, nrows};
    *nrows = 0;
    if (cap < 1)
        return -1;   /* no room for a row: a caller's error */
    s->err = 0;
    int rc = s->coding == T4C_MMR ? feed_mmr(&c, buf, n, final) : feed_g3(&c, buf, n, final);
    if (rc == T4D_TOO_LONG)
        s->keep_start = s->keep_end = 0;
    return rc;
}
