/* T.4 (MH 1-D, MR 2-D) and T.6 (MMR) fax image coding in C: the encoder and the streaming decoder behind
   fax/t4.py (issue #21). Images are uint8 rows, 1 = black; the decoder takes coded data as one octet a bit
   (transmission order), the encoder writes packed octets (MSB- or LSB-first). Work and memory per call are
   bounded by the input and the caller's buffers (issue #16 bounds: t4_limits.py). */
#include <stdint.h>

#define T4C_MH 0
#define T4C_MR 1
#define T4C_MMR 2

/* Decoder results */
#define T4D_DONE 0
#define T4D_MORE 1
#define T4D_TOO_LONG 2
#define T4D_CORRUPT 3

/* Line errors (t4d_state_t.err) */
#define T4E_RUN_END 1
#define T4E_RUN_CODE 2
#define T4E_LINE_LONG 3
#define T4E_2D_END 4
#define T4E_MODE_CODE 5
#define T4E_PASS 6
#define T4E_HORIZ 7
#define T4E_EXT 8
#define T4E_VERT 9
#define T4E_CHANGES 10
#define T4E_TRAILING 11

/* Build the code tables; called once at import, before any thread uses the codec. */
void t4c_init(void);

/* One encoder: the caller keeps `ref` (2 * width + 8 int32: the previous line's changing elements) and
   lends `cur` (2 * width + 8 int32, scratch). */
typedef struct {
    int width;
    int coding;
    int k;
    int min_bits;
    int rtc;
    int byte_align_eol;
    int64_t line;
    int64_t nbits;
    int nref;
} t4e_state_t;

/* Encode `rows` rows of img (rows x width) into out (cap octets, packed, lsb = first bit in the LSB) and, with
   `finish`, the page end (RTC/EOFB). Returns the number of bits written, or -1 when cap is too small
   (t4e_bound gives enough). */
int64_t t4e_encode(t4e_state_t *s, int32_t *ref, int32_t *cur, const uint8_t *img, int rows, int finish,
                   uint8_t *out, int64_t cap, int lsb);

/* Octets that t4e_encode may need for `rows` rows (and the page end). */
int64_t t4e_bound(const t4e_state_t *s, int rows);

/* One streaming decoder; the caller keeps `ref` (2 * width + 8 int32), `cur` (2 * width + 8 int32) and
   `last` (width octets: the last row, copied for a bad line). */
typedef struct {
    int width;
    int coding;
    int max_rows;
    int max_line;
    int fill_kept;
    int64_t scan;
    int64_t zeros;
    int resync;
    int seen_eol;
    int eols;
    int64_t mmr_tried;
    int resume;
    int page_ended;
    int too_long;
    int64_t rows;
    int64_t bad_rows;
    int64_t bits_scanned;
    int has_last;
    int nref;
    int64_t keep_start;
    int64_t keep_end;
    int err;
    int64_t err_pos;
    int64_t err_val;
} t4d_state_t;

/* Decode the buffered bits buf[0:n] (one octet a bit); rows go to `rows` (cap rows of width octets) and
   their number to *nrows. Afterwards the caller keeps buf[keep_start:keep_end] as its buffer. Returns
   T4D_DONE, T4D_MORE (rows is full: call again with the kept buffer), T4D_TOO_LONG (more than max_rows
   rows) or T4D_CORRUPT (MMR data that cannot be decoded: err, err_pos, err_val); -1 when cap < 1. */
int t4d_feed(t4d_state_t *s, int32_t *ref, int32_t *cur, uint8_t *last, const uint8_t *buf, int64_t n,
             int final, uint8_t *rows, int cap, int *nrows);

/* Whether a whole MH or MR page (nbytes packed octets, MSB first) decodes cleanly, without writing rows:
   its row count when every line decodes and RTC ends it within max_rows rows (as t4d_feed then final would
   find), else -1 (any doubt: decode it with t4d_feed). ref and cur: 2 * width + 8 int32 each, scratch. */
int64_t t4d_check(const uint8_t *data, int64_t nbytes, int width, int coding, int max_rows, int32_t *ref,
                  int32_t *cur);
