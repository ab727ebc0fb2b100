/* T.4 MH/MR and T.6 MMR decoding (issue #21): see t4codec.h (the encoder and the code tables are t4codec.c). The
   streaming decoder follows fax/t4.py's former Python decoder step for step (framing at EOLs, fill trimming,
   resynchronisation after an over-long line, MMR waiting for whole lines), so its bounds (issue #16) hold: each
   bit is searched for an EOL once, the kept buffer stays below max_line + fill_kept bits plus one feed, and a
   page has at most max_rows rows. t4d_check decides whether a whole MH/MR page decodes cleanly from its packed
   octets, without writing rows. */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "t4codec.h"
#include "t4tab.h"

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

/* ------------------------------------------------------------------------------------------ page check */

/* A whole page's bits, packed: bit pos is bit 7 - pos % 8 of octet pos / 8 (MSB first). */
typedef struct {
    const uint8_t *d;
    int64_t nbytes;
    int64_t nbits;
} pk_t;

static inline uint64_t pk_load(const pk_t *p, int64_t byte)
{
    uint64_t w = 0;
    if (byte + 8 <= p->nbytes) {
        memcpy(&w, p->d + byte, 8);
        return __builtin_bswap64(w);
    }
    for (int i = 0; i < 8; i++)
        w = (w << 8) | (byte + i < p->nbytes ? p->d[byte + i] : 0u);
    return w;
}

/* the LUT_W bits from pos, first most significant (zeros past the end) */
static inline int pk_peek(const pk_t *p, int64_t pos)
{
    return (int) ((pk_load(p, pos >> 3) << (pos & 7)) >> (64 - LUT_W));
}

/* the position of the first one at or after pos (nbits if none) */
static int64_t pk_next_one(const pk_t *p, int64_t pos)
{
    while (pos < p->nbits) {
        uint64_t w = pk_load(p, pos >> 3) << (pos & 7);
        if (w) {
            int64_t q = pos + __builtin_clzll(w);
            return q < p->nbits ? q : p->nbits;
        }
        pos += 64 - (pos & 7);
    }
    return p->nbits;
}

/* a run (makeups and its terminating code) at *pos; -1 when it is no code or past width */
static inline __attribute__((always_inline)) int pk_run(const pk_t *p, int64_t *pos, int colour, int width)
{
    int total = 0;
    for (;;) {
        if (*pos >= p->nbits)
            return -1;
        int v = pk_peek(p, *pos), r = run_val[colour][v];
        if (r < 0)
            return -1;
        *pos += run_len[colour][v];
        total += r;
        if (total > width)
            return -1;
        if (r < 64)
            return total;
    }
}

/* one 1-D line at *pos into its changes (as dec_1d); -1 on any error */
static int pk_1d(const pk_t *p, int64_t *pos, int width, int32_t *cur)
{
    int x = 0, colour = 0, n = 0;
    while (x < width) {
        int run = pk_run(p, pos, colour, width);
        if (run < 0 || (x += run) > width || n >= 2 * width + 4)
            return -1;
        cur[n++] = x;
        colour ^= 1;
    }
    if (n && cur[n - 1] == width)
        n--;
    return n;
}

/* one 2-D line at *pos against the reference changes b (nb, room for two sentinels), as dec_2d; -1 on any error */
static int pk_2d(const pk_t *p, int64_t *pos, int32_t *b, int nb, int width, int32_t *cur)
{
    int a0 = -1, colour = 0, bi = 0, n = 0;
    b[nb] = b[nb + 1] = width;
    while (a0 < width) {
        if (*pos >= p->nbits)
            return -1;
        uint64_t w = pk_load(p, *pos >> 3) << (*pos & 7);
        if (w >> 63) {   /* V0 codes ("1") in a row, taken without the mode table: each a1 = b1 */
            int k = ~w ? __builtin_clzll(~w) : 64;
            while (k > 0 && a0 < width) {
                int a1 = find_b1(b, &bi, a0, colour, width);
                if (a1 < (a0 > 0 ? a0 : 0) || (a1 == a0 && a0 >= 0) || n + 1 > 2 * width + 4)
                    return -1;
                cur[n++] = a0 = a1;
                colour ^= 1;
                ++*pos;
                k--;
                /* a0 = b[bi] < width: while b rises strictly, find_b1 would give the next change, b[bi + 1] */
                while (k > 0 && a0 < width && b[bi + 1] > a0 && n < 2 * width + 4) {
                    cur[n++] = a0 = b[++bi];
                    colour ^= 1;
                    ++*pos;
                    k--;
                }
            }
            continue;
        }
        int v = (int) (w >> (64 - LUT_W)), mode = mode_val[v];
        if (mode < 0 || mode == M_EXT)
            return -1;
        *pos += mode_len[v];
        int b1 = find_b1(b, &bi, a0, colour, width);
        int b2 = b1 < width ? b[bi + 1] : width;
        if (mode == M_P) {
            if (b2 >= width && b1 >= width)
                return -1;
            a0 = b2;
        } else if (mode == M_H) {
            int r1 = pk_run(p, pos, colour, width), r2 = r1 < 0 ? -1 : pk_run(p, pos, colour ^ 1, width);
            if (r2 < 0)
                return -1;
            int a1 = (a0 > 0 ? a0 : 0) + r1, a2 = a1 + r2;
            if (a2 > width || n + 2 > 2 * width + 4)
                return -1;
            cur[n++] = a1;
            cur[n++] = a2;
            a0 = a2;
        } else {
            int a1 = b1 + MODE_DELTA[mode];
            if (a1 < (a0 > 0 ? a0 : 0) || a1 > width || (a1 == a0 && a0 >= 0) || n + 1 > 2 * width + 4)
                return -1;
            cur[n++] = a1;
            a0 = a1;
            colour ^= 1;
        }
    }
    while (n && cur[n - 1] >= width)
        n--;
    return n;
}

/* Whether t4d_feed (then final) would decode this MH/MR page cleanly: every line good, RTC before the data ends, at
   most max_rows rows. Strict: where the framing could differ at all from t4d_feed's EOL search (a line's code
   running into the next EOL's zeros, fewer than eleven zeros after a line), the page is not called clean. An
   EOL is a one after eleven or more zeros; valid codes never hold eleven zeros in a row (at most 3 trailing and
   7 leading), so inside a line that decodes no EOL can start. Each bit is read a bounded number of times. */
int64_t t4d_check(const uint8_t *data, int64_t nbytes, int width, int coding, int max_rows, int32_t *ref,
                  int32_t *cur)
{
    pk_t p = {data, nbytes, nbytes * 8};
    int64_t pos = 0, q, rows = 0;
    int nref = 0, eols = 0;
    if (coding != T4C_MH && coding != T4C_MR)
        return -1;
    for (;;) {   /* data before the first EOL is ignored */
        q = pk_next_one(&p, pos);
        if (q >= p.nbits)
            return -1;
        if (q - pos >= 11)
            break;
        pos = q + 1;
    }
    pos = q + 1;   /* just after an EOL */
    for (;;) {
        int tag = 1;
        int64_t from = pos;
        if (coding == T4C_MR) {
            tag = pos < p.nbits && ((data[pos >> 3] >> (7 - (pos & 7))) & 1);
            from = pos + (tag ? 1 : 0);   /* a tag 0 counts in the zeros before the next one */
        }
        q = pk_next_one(&p, from);
        if (q >= p.nbits)
            return -1;
        if (q - from >= 11) {   /* an empty segment: one more EOL */
            if (++eols >= 5)
                return rows > 0 && rows <= max_rows ? rows : -1;
            pos = q + 1;
            continue;
        }
        eols = 0;
        int64_t lp = coding == T4C_MR ? pos + 1 : pos;
        int n = tag ? pk_1d(&p, &lp, width, cur) : pk_2d(&p, &lp, ref, nref, width, cur);
        if (n < 0 || lp > p.nbits || ++rows > max_rows)
            return -1;
        memcpy(ref, cur, sizeof(int32_t) * (size_t) n);
        nref = n;
        q = pk_next_one(&p, lp);   /* then fill zeros and the next EOL: eleven zeros at least */
        if (q >= p.nbits || q - lp < 11)
            return -1;
        pos = q + 1;
    }
}
