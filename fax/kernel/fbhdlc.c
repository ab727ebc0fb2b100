/* Fax bank kernels: HDLC for T.30 and ECM frames (see faxbank.h): CRC-16/CRC-32, the transmit framer (flags,
   FCS, bit stuffing) and the receiver (flags, destuffing, aborts) on packed bits. */
#include <string.h>
#include "faxbank.h"
#include "fbmath.h"

/* ---------------------------------------------------------------- HDLC */

/* byte tables T[0] and the slicing-by-8 tables T[k][v] = the register after v and k zero octets, so that eight
   octets take eight independent lookups instead of a chain of eight */
static uint32_t T16[8][256], T32[8][256];
static int crc_ready;

static void crc_tables(void)
{
    uint32_t i, c;
    int b, k;
    for (i = 0; i < 256; i++) {
        for (c = i, b = 0; b < 8; b++)
            c = (c & 1) ? (c >> 1) ^ 0x8408u : c >> 1;
        T16[0][i] = c;
        for (c = i, b = 0; b < 8; b++)
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        T32[0][i] = c;
    }
    for (k = 1; k < 8; k++)
        for (i = 0; i < 256; i++) {
            T16[k][i] = (T16[k - 1][i] >> 8) ^ T16[0][T16[k - 1][i] & 0xFF];
            T32[k][i] = (T32[k - 1][i] >> 8) ^ T32[0][T32[k - 1][i] & 0xFF];
        }
    crc_ready = 1;
}

/* a reflected CRC register (16 or 32 bits) over n octets, eight at a time */
static uint32_t crc_run(uint32_t (*T)[256], const uint8_t *data, int n, uint32_t crc)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint8_t *p = data + i;
        uint32_t lo = crc ^ ((uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24);
        crc = T[7][lo & 0xFF] ^ T[6][(lo >> 8) & 0xFF] ^ T[5][(lo >> 16) & 0xFF] ^ T[4][lo >> 24] ^
              T[3][p[4]] ^ T[2][p[5]] ^ T[1][p[6]] ^ T[0][p[7]];
    }
    for (; i < n; i++)
        crc = (crc >> 8) ^ T[0][(crc ^ data[i]) & 0xFF];
    return crc;
}

uint32_t fb_crc16(const uint8_t *data, int n, uint32_t crc)
{
    if (!crc_ready)
        crc_tables();
    return crc_run(T16, data, n, crc & 0xFFFFu);
}

uint32_t fb_crc32(const uint8_t *data, int n, uint32_t crc)
{
    if (!crc_ready)
        crc_tables();
    return crc_run(T32, data, n, crc);
}

int fb_hdlc_encode_cap(int total_octets, int nframes, int pre, int between, int closing)
{
    int64_t body = (int64_t) (total_octets + 4 * nframes) * 8, flags = (int64_t) pre + closing;
    if (nframes > 1)
        flags += (int64_t) between * (nframes - 1);
    body += body / 5 + 1;
    return (int) (body + 8 * flags + 8);
}

static int put_flags(uint8_t *out, int m, int count)
{
    static const uint8_t FLAG[8] = {0, 1, 1, 1, 1, 1, 1, 0};
    int i;
    for (i = 0; i < count; i++, m += 8)
        memcpy(out + m, FLAG, 8);
    return m;
}

/* stuffing an octet at a time: for a run of `ones` (0..4) before it and the octet, its bits as sent (LSB first,
   stuffed zeros in, at most 10), their count and the run of ones after; SPREAD: eight bits as eight 0/1 octets */
static uint16_t STUFF_PAT[5][256];
static uint8_t STUFF_CNT[5][256], STUFF_ONES[5][256];
static uint8_t SPREAD[256][8];
static int stuff_ready;

static void stuff_tables(void)
{
    int o, v, b, i;
    for (v = 0; v < 256; v++) {
        for (i = 0; i < 8; i++)
            SPREAD[v][i] = (uint8_t) ((v >> i) & 1);
        for (o = 0; o < 5; o++) {
            int ones = o, cnt = 0;
            uint16_t pat = 0;
            for (b = 0; b < 8; b++) {
                int bit = (v >> b) & 1;
                pat |= (uint16_t) (bit << cnt++);
                if (bit) {
                    if (++ones == 5) {
                        cnt++;   /* the stuffed zero */
                        ones = 0;
                    }
                } else {
                    ones = 0;
                }
            }
            STUFF_PAT[o][v] = pat;
            STUFF_CNT[o][v] = (uint8_t) cnt;
            STUFF_ONES[o][v] = (uint8_t) ones;
        }
    }
    stuff_ready = 1;
}

/* octets LSB first, bit stuffed, into out from m (0/1 octets); ones carries the run of ones. Each octet writes
   eight (or sixteen) output octets at once: up to 7 past its last bit, which the caller's bound leaves room for
   (fb_hdlc_encode_cap's 8 spare) and the next octet or flag overwrites */
static int put_octets(uint8_t *out, int m, const uint8_t *d, int n, int *ones)
{
    int i, o = *ones;
    if (!stuff_ready)
        stuff_tables();
    for (i = 0; i < n; i++) {
        uint16_t pat = STUFF_PAT[o][d[i]];
        int cnt = STUFF_CNT[o][d[i]];
        memcpy(out + m, SPREAD[pat & 0xFF], 8);
        if (cnt > 8)
            memcpy(out + m + 8, SPREAD[pat >> 8], 8);
        o = STUFF_ONES[o][d[i]];
        m += cnt;
    }
    *ones = o;
    return m;
}

int fb_hdlc_encode(const uint8_t *data, const int *lens, int nframes, int fcs32, int pre, int between,
                   int closing, uint8_t *out, int cap)
{
    int f, m = 0, total = 0;
    for (f = 0; f < nframes; f++)
        total += lens[f];
    if (pre < 0 || between < 0 || closing < 0 || fb_hdlc_encode_cap(total, nframes, pre, between, closing) > cap)
        return -1;
    m = put_flags(out, m, pre);
    for (f = 0; f < nframes; f++) {
        uint8_t fcs[4];
        int ones = 0, nf;
        if (f)
            m = put_flags(out, m, between);
        m = put_octets(out, m, data, lens[f], &ones);
        if (fcs32) {
            uint32_t c = fb_crc32(data, lens[f], 0xFFFFFFFFu) ^ 0xFFFFFFFFu;
            fcs[0] = (uint8_t) c, fcs[1] = (uint8_t) (c >> 8), fcs[2] = (uint8_t) (c >> 16), fcs[3] = (uint8_t) (c >> 24);
            nf = 4;
        } else {
            uint32_t c = fb_crc16(data, lens[f], 0xFFFFu) ^ 0xFFFFu;
            fcs[0] = (uint8_t) c, fcs[1] = (uint8_t) (c >> 8);
            nf = 2;
        }
        m = put_octets(out, m, fcs, nf, &ones);
        data += lens[f];
    }
    return put_flags(out, m, closing);
}

/* the framer's packed output (bit i of the stream in bit i % 8 of octet i / 8): bits gathered in a 64-bit register,
   written four octets at a time */
typedef struct {
    uint8_t *out;
    int64_t pos;
    uint64_t acc;
    int nacc;
    int64_t nbits;
} fb_pk_t;

static inline void pk_put(fb_pk_t *w, uint32_t v, int n)
{
    w->acc |= (uint64_t) v << w->nacc;
    w->nacc += n;
    w->nbits += n;
    if (w->nacc >= 32) {
        uint8_t *o = w->out + w->pos;
        o[0] = (uint8_t) w->acc, o[1] = (uint8_t) (w->acc >> 8), o[2] = (uint8_t) (w->acc >> 16);
        o[3] = (uint8_t) (w->acc >> 24);
        w->pos += 4;
        w->acc >>= 32;
        w->nacc -= 32;
    }
}

static void pk_flags(fb_pk_t *w, int count)
{
    int i;
    for (i = 0; i < count; i++)
        pk_put(w, 0x7E, 8);
}

static void pk_octets(fb_pk_t *w, const uint8_t *d, int n, int *ones)
{
    int i, o = *ones, nacc = w->nacc;
    uint64_t acc = w->acc;
    uint8_t *out = w->out + w->pos, *start = out;
    if (!stuff_ready)
        stuff_tables();
    for (i = 0; i < n; i++) {   /* the writer's state in registers (the octet stores could alias it) */
        int cnt = STUFF_CNT[o][d[i]];
        acc |= (uint64_t) STUFF_PAT[o][d[i]] << nacc;
        nacc += cnt;
        o = STUFF_ONES[o][d[i]];
        if (nacc >= 32) {
            out[0] = (uint8_t) acc, out[1] = (uint8_t) (acc >> 8), out[2] = (uint8_t) (acc >> 16);
            out[3] = (uint8_t) (acc >> 24);
            out += 4;
            acc >>= 32;
            nacc -= 32;
        }
    }
    w->nbits += (int64_t) 8 * (out - start) + nacc - w->nacc;
    w->pos += out - start;
    w->acc = acc;
    w->nacc = nacc;
    *ones = o;
}

int64_t fb_hdlc_encode_packed(const uint8_t *data, const int *lens, int nframes, int fcs32, int pre, int between,
                              int closing, uint8_t *out, int64_t cap)
{
    int f, total = 0;
    fb_pk_t w = {out, 0, 0, 0, 0};
    for (f = 0; f < nframes; f++)
        total += lens[f];
    if (pre < 0 || between < 0 || closing < 0 || fb_hdlc_encode_cap(total, nframes, pre, between, closing) / 8 + 8 > cap)
        return -1;
    pk_flags(&w, pre);
    for (f = 0; f < nframes; f++) {
        uint8_t fcs[4];
        int ones = 0;
        uint32_t c;
        if (f)
            pk_flags(&w, between);
        pk_octets(&w, data, lens[f], &ones);
        c = fcs32 ? fb_crc32(data, lens[f], 0xFFFFFFFFu) ^ 0xFFFFFFFFu : fb_crc16(data, lens[f], 0xFFFFu) ^ 0xFFFFu;
        fcs[0] = (uint8_t) c, fcs[1] = (uint8_t) (c >> 8), fcs[2] = (uint8_t) (c >> 16), fcs[3] = (uint8_t) (c >> 24);
        pk_octets(&w, fcs, fcs32 ? 4 : 2, &ones);
        data += lens[f];
    }
    pk_flags(&w, closing);
    while (w.nacc > 0) {   /* the last bits, the unused high bits of the last octet zero */
        out[w.pos++] = (uint8_t) w.acc;
        w.acc >>= 8;
        w.nacc -= 8;
    }
    return w.nbits;
}

/* ---------------------------------------------------------------- HDLC receiver */

/* the 64 stream bits from bit pos (only the first 57 are sure) */
static inline uint64_t bits_at(const uint8_t *src, int64_t pos)
{
    uint64_t w;
    memcpy(&w, src + (pos >> 3), 8);
    return w >> (pos & 7);
}

typedef struct {
    uint8_t *out;
    int out_cap;
    int *lens;
    uint8_t *ok;
    int max_frames;
    int nf;
    int used;
} hdlc_sink_t;

/* a flag closed the frame in progress: hand it out when synchronised, whole octets and long enough */
static void hdlc_flag(fb_hdlc_t *h, int synced, int nacc, hdlc_sink_t *k)
{
    int fb = nacc - 6;   /* drop the 0 and five 1s already collected */
    h->flags_seen++;
    if (synced && fb >= h->min_bits && fb % 8 == 0 && k->nf < k->max_frames && k->used + fb / 8 <= k->out_cap) {
        memcpy(k->out + k->used, h->acc, (size_t) (fb / 8));
        if (k->ok && h->fcs_len)
            k->ok[k->nf] = h->fcs_len == 4 ? fb_crc32(h->acc, fb / 8, 0xFFFFFFFFu) == 0xDEBB20E3u
                                           : fb_crc16(h->acc, fb / 8, 0xFFFFu) == 0xF0B8u;
        k->lens[k->nf++] = fb / 8;
        k->used += fb / 8;
    }
}

/* the receiver over n packed bits. Between events (a fifth 1 in a row, the frame near its limit) runs of up to 48
   bits are taken at once; the events go bit by bit */
static void hdlc_run(fb_hdlc_t *h, const uint8_t *src, int64_t n, hdlc_sink_t *k)
{
    int ones = h->ones, synced = h->synced, nacc = h->nacc;
    int64_t pos = 0;
    while (pos < n) {
        uint64_t x = bits_at(src, pos);
        int len = n - pos < 48 ? (int) (n - pos) : 48, bit;
        uint64_t lmask = (1ull << len) - 1;
        if (ones <= 4) {
            /* e: the carried-in ones below the bits; r5 bit p: a run of five ones ends at bit p */
            uint64_t e = (x & lmask) << 8 | ((0xFFull << (8 - ones)) & 0xFF);
            uint64_t r5 = (e & e >> 1 & e >> 2 & e >> 3 & e >> 4) >> 4 & lmask;
            int seg = r5 ? __builtin_ctzll(r5) + 1 : len;
            if (!synced || nacc + seg <= h->limit) {
                uint64_t v = x & ((1ull << seg) - 1);
                if (synced) {
                    fb_put_packed(h->acc, nacc, v);
                    nacc += seg;
                }
                if (r5) {
                    ones = 5;
                } else {   /* the ones at the top of the run (carried-in ones included) */
                    uint64_t z = ~e & ((1ull << (len + 8)) - 1);
                    ones = len + 7 - (63 - __builtin_clzll(z));
                }
                pos += seg;
                continue;
            }
        } else if (ones >= 7 && (x & lmask) == lmask) {   /* idle: ones go on */
            ones += len;
            pos += len;
            continue;
        }
        bit = (int) (x & 1);
        pos++;
        if (bit) {
            ones++;
            if (ones <= 5) {
                if (synced)
                    fb_put_packed(h->acc, nacc++, 1);
            } else if (ones >= 7) {   /* abort or idle */
                synced = 0;
                nacc = 0;
            }
            continue;
        }
        if (ones == 6) {   /* flag */
            hdlc_flag(h, synced, nacc, k);
            nacc = 0;
            synced = 1;
            ones = 0;
            continue;
        }
        if (ones == 5) {   /* stuffed zero */
            ones = 0;
            continue;
        }
        ones = 0;
        if (synced) {
            fb_put_packed(h->acc, nacc++, 0);
            if (nacc > h->limit) {
                synced = 0;
                nacc = 0;
            }
        }
    }
    h->ones = ones;
    h->synced = synced;
    h->nacc = nacc;
}

int fb_hdlc_put_packed(fb_hdlc_t *h, const uint8_t *bits, int n, uint8_t *out, int out_cap, int *lens, uint8_t *ok,
                       int max_frames)
{
    hdlc_sink_t k = {out, out_cap, lens, ok, max_frames, 0, 0};
    hdlc_run(h, bits, n, &k);
    return k.nf;
}

int fb_hdlc_put(fb_hdlc_t *h, const uint8_t *bits, int n, uint8_t *out, int out_cap, int *lens, int max_frames)
{
    hdlc_sink_t k = {out, out_cap, lens, NULL, max_frames, 0, 0};
    uint8_t pk[512 + 8];
    int i = 0;
    while (i < n) {   /* packed 4096 bits at a time, eight octets (0 or not) into one */
        int m = n - i < 4096 ? n - i : 4096, j;
        for (j = 0; 8 * j < m; j++) {
            uint64_t v = 0;
            if (m - 8 * j >= 8)
                memcpy(&v, bits + i + 8 * j, 8);
            else
                memcpy(&v, bits + i + 8 * j, (size_t) (m - 8 * j));
            v = (((v & 0x7F7F7F7F7F7F7F7Full) + 0x7F7F7F7F7F7F7F7Full) | v) >> 7 & 0x0101010101010101ull;
            pk[j] = (uint8_t) ((v * 0x0102040810204080ull) >> 56);
        }
        memset(pk + j, 0, 8);
        hdlc_run(h, pk, m, &k);
        i += m;
    }
    return k.nf;
}
