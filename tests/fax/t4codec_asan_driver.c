/* Drives fax/kernel/t4codec.c under AddressSanitizer + UndefinedBehaviorSanitizer (test_t4codec_asan.py, #21):
   random pages of every coding and fax width encoded and decoded back (whole and in small feeds, with small
   row buffers so the decoder's resume path runs), then truncated, bit-flipped, garbage and over-long input,
   then every file named on the command line (the t4 fuzz seed corpus: first octet selects coding and width,
   as tests/fuzz_targets.py fuzz_t4). Prints one "ok ..." line a stage; any mismatch exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t4codec.h"

static uint32_t rng = 12345;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

typedef struct {
    int width;
    int coding;
    t4d_state_t s;
    int32_t *ref, *cur;
    uint8_t *last, *buf, *rows, *img;
    int64_t nbuf, nimg;
    int cap;
} dec_t;

static void dec_init(dec_t *d, int width, int coding, int max_rows, int cap)
{
    memset(d, 0, sizeof(*d));
    d->width = width;
    d->coding = coding;
    d->s.width = width;
    d->s.coding = coding;
    d->s.max_rows = max_rows;
    d->s.max_line = 8 * width + 1024;
    d->s.fill_kept = 16;
    d->s.mmr_tried = -1;
    d->ref = calloc((size_t) (2 * width + 8), sizeof(int32_t));
    d->cur = calloc((size_t) (2 * width + 8), sizeof(int32_t));
    d->last = calloc((size_t) width, 1);
    d->cap = cap;
    d->rows = malloc((size_t) cap * (size_t) width);
    d->img = NULL;
}

static void dec_free(dec_t *d)
{
    free(d->ref);
    free(d->cur);
    free(d->last);
    free(d->buf);
    free(d->rows);
    free(d->img);
}

/* add n bits and decode as fed (T4Decoder.feed / finish); returns the last status */
static int dec_feed(dec_t *d, const uint8_t *bits, int64_t n, int final)
{
    d->buf = realloc(d->buf, (size_t) (d->nbuf + n + 1));
    memcpy(d->buf + d->nbuf, bits, (size_t) n);
    d->nbuf += n;
    for (;;) {
        int nrows = 0;
        int rc = t4d_feed(&d->s, d->ref, d->cur, d->last, d->buf, d->nbuf, final, d->rows, d->cap, &nrows);
        if (nrows) {
            d->img = realloc(d->img, (size_t) (d->nimg + nrows) * (size_t) d->width);
            memcpy(d->img + d->nimg * d->width, d->rows, (size_t) nrows * (size_t) d->width);
            d->nimg += nrows;
        }
        int64_t a = d->s.keep_start, b = d->s.keep_end;
        if (a < 0 || b < a || b > d->nbuf) {
            printf("bad keep range %lld..%lld of %lld\n", (long long) a, (long long) b, (long long) d->nbuf);
            exit(1);
        }
        memmove(d->buf, d->buf + a, (size_t) (b - a));
        d->nbuf = b - a;
        if (rc != T4D_MORE)
            return rc;
    }
}

static int64_t encode(int width, int coding, int min_bits, const uint8_t *img, int rows, uint8_t **bits_out)
{
    t4e_state_t e = {width, coding, 4, min_bits, 1, 0, 0, 0, 0};
    int32_t *ref = calloc((size_t) (2 * width + 8), sizeof(int32_t));
    int32_t *cur = calloc((size_t) (2 * width + 8), sizeof(int32_t));
    int64_t cap = t4e_bound(&e, rows);
    uint8_t *packed = malloc((size_t) cap);
    int64_t n = t4e_encode(&e, ref, cur, img, rows, 1, packed, cap, 0);
    if (n < 0) {
        printf("encoder bound exceeded\n");
        exit(1);
    }
    uint8_t *bits = malloc((size_t) n + 1);
    for (int64_t i = 0; i < n; i++)
        bits[i] = (packed[i >> 3] >> (7 - (i & 7))) & 1;
    free(packed);
    free(ref);
    free(cur);
    *bits_out = bits;
    return n;
}

/* t4d_check of n bits (one octet a bit), packed MSB first as a received ECM page is */
static int64_t check_bits(const uint8_t *bits, int64_t n, int width, int coding, int max_rows)
{
    int64_t nb = (n + 7) / 8;
    uint8_t *packed = calloc((size_t) nb + 1, 1);
    int32_t *ref = calloc((size_t) (2 * width + 8), sizeof(int32_t));
    int32_t *cur = calloc((size_t) (2 * width + 8), sizeof(int32_t));
    for (int64_t i = 0; i < n; i++)
        packed[i >> 3] |= (uint8_t) ((bits[i] & 1) << (7 - (i & 7)));
    int64_t rows = t4d_check(packed, nb, width, coding, max_rows, ref, cur);
    free(packed);
    free(ref);
    free(cur);
    return rows;
}

static void random_page(uint8_t *img, int rows, int width, int kind)
{
    for (int r = 0; r < rows; r++) {
        uint8_t px = 0;
        for (int x = 0; x < width; x++) {
            uint32_t v = rnd() % 1000;
            if (kind == 0)
                px = v < 500;                 /* noise */
            else if (kind == 1 && v < 15)
                px ^= 1;                      /* runs */
            else if (kind == 2)
                px = (r % 7 == 3) || (x % 97 < 2);  /* lines and columns */
            img[(int64_t) r * width + x] = px;
        }
    }
}

int main(int argc, char **argv)
{
    static const int widths[3] = {1728, 2048, 2432};
    t4c_init();
    /* round trips */
    for (int wi = 0; wi < 3; wi++)
        for (int coding = 0; coding < 3; coding++)
            for (int kind = 0; kind < 3; kind++) {
                int width = widths[wi], rows = 40;
                uint8_t *img = malloc((size_t) rows * (size_t) width);
                random_page(img, rows, width, kind);
                uint8_t *bits;
                int64_t n = encode(width, coding, coding == 2 ? 0 : 150, img, rows, &bits);
                dec_t d;
                dec_init(&d, width, coding, 9216, 4);
                int rc = T4D_DONE;
                for (int64_t i = 0; i < n && rc == T4D_DONE; i += 288)
                    rc = dec_feed(&d, bits + i, n - i < 288 ? n - i : 288, 0);
                if (rc == T4D_DONE)
                    rc = dec_feed(&d, bits, 0, 1);
                if (rc != T4D_DONE || d.nimg != rows || memcmp(d.img, img, (size_t) rows * (size_t) width) ||
                    !d.s.page_ended || d.s.bad_rows || (coding != 2 && check_bits(bits, n, width, coding, 9216) != rows)) {
                    printf("round trip %d/%d/%d: rc %d rows %lld bad %lld\n", width, coding, kind, rc,
                           (long long) d.nimg, (long long) d.s.bad_rows);
                    return 1;
                }
                dec_free(&d);
                /* damaged copies: truncated, bits flipped, octets of garbage */
                for (int trial = 0; trial < 12; trial++) {
                    uint8_t *bad = malloc((size_t) n + 4096);
                    int64_t m = n;
                    memcpy(bad, bits, (size_t) n);
                    if (trial % 3 == 0)
                        m = rnd() % (uint32_t) n;
                    else if (trial % 3 == 1)
                        for (int f = 0; f < 20; f++)
                            bad[rnd() % (uint32_t) n] ^= 1;
                    else
                        for (int64_t i = rnd() % (uint32_t) n; i < n; i++)
                            bad[i] = rnd() & 1;
                    dec_init(&d, width, coding, 200, 1 + (int) (rnd() % 5));
                    rc = T4D_DONE;
                    for (int64_t i = 0; i < m && rc == T4D_DONE; i += 1000)
                        rc = dec_feed(&d, bad + i, m - i < 1000 ? m - i : 1000, 0);
                    if (rc == T4D_DONE)
                        dec_feed(&d, bad, 0, 1);
                    int64_t chk = check_bits(bad, m, width, coding, 200);   /* clean only where the decoder agrees */
                    if (chk >= 0 && (!d.s.page_ended || d.s.bad_rows || d.s.rows != chk)) {
                        printf("check %lld rows, decoder %lld rows %lld bad\n", (long long) chk, (long long) d.s.rows,
                               (long long) d.s.bad_rows);
                        return 1;
                    }
                    if (d.s.rows > 200 || d.nbuf > d.s.max_line + 16 + 1000 + 2 * width + 64) {
                        printf("bounds: rows %lld buffered %lld\n", (long long) d.s.rows, (long long) d.nbuf);
                        return 1;
                    }
                    dec_free(&d);
                    free(bad);
                }
                free(bits);
                free(img);
            }
    printf("ok round trips and damaged pages\n");
    /* an over-long line (2432 pixels of data into a 1728 decoder) and no EOL at all */
    for (int coding = 0; coding < 3; coding++) {
        int rows = 5;
        uint8_t *img = malloc((size_t) rows * 2432);
        random_page(img, rows, 2432, 0);
        uint8_t *bits;
        int64_t n = encode(2432, coding, 0, img, rows, &bits);
        dec_t d;
        dec_init(&d, 1728, coding, 9216, 3);
        int rc = dec_feed(&d, bits, n, 1);
        if (coding == 2 ? rc != T4D_CORRUPT : (rc != T4D_DONE || d.s.bad_rows < 1)) {
            printf("over-long line coding %d: rc %d bad %lld\n", coding, rc, (long long) d.s.bad_rows);
            return 1;
        }
        dec_free(&d);
        uint8_t ones[4096];
        for (int i = 0; i < 4096; i++)
            ones[i] = (i % 8) == 0;
        dec_init(&d, 1728, coding, 9216, 3);
        d.s.seen_eol = 1;
        rc = T4D_DONE;
        for (int i = 0; i < 200 && rc == T4D_DONE; i++)
            rc = dec_feed(&d, ones, 4096, 0);
        if (d.nbuf > 8 * 1728 + 1024 + 16 + 4096 + 2 * 1728 + 64) {
            printf("no EOL coding %d: %lld bits held\n", coding, (long long) d.nbuf);
            return 1;
        }
        dec_free(&d);
        free(bits);
        free(img);
    }
    printf("ok over-long lines\n");
    /* the fuzz seed corpus */
    for (int a = 1; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb");
        if (!f)
            return 1;
        static uint8_t data[1 << 20];
        size_t len = fread(data, 1, sizeof(data), f);
        fclose(f);
        if (!len)
            continue;
        int coding = data[0] % 3, width = widths[(data[0] >> 2) % 3];
        uint8_t *bits = malloc(8 * len);
        for (size_t i = 1; i < len; i++)
            for (int b = 0; b < 8; b++)
                bits[8 * (i - 1) + (size_t) b] = (data[i] >> (7 - b)) & 1;
        dec_t d;
        dec_init(&d, width, coding, 9216, 7);
        int64_t chk = check_bits(bits, 8 * (int64_t) (len - 1), width, coding, 9216);
        if (dec_feed(&d, bits, 8 * (int64_t) (len - 1), 0) == T4D_DONE)
            dec_feed(&d, bits, 0, 1);
        if (chk >= 0 && (!d.s.page_ended || d.s.bad_rows || d.s.rows != chk)) {
            printf("corpus %s: check %lld rows, decoder %lld\n", argv[a], (long long) chk, (long long) d.s.rows);
            return 1;
        }
        dec_free(&d);
        free(bits);
    }
    printf("ok corpus %d files\n", argc - 1);
    return 0;
}
