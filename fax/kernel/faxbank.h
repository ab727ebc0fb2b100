/* Fax bank kernels: the per-symbol recursions of the fax modems run in C for many sessions per call. Each bank
   kernel (fb_v17_tx, fb_v21_tx, fb_tone_tx, fb_rx17_run, fb_v21_run) clears its k event flags first (when given)
   and returns how many it set, so that the caller looks at them only when some are set. */
#include <stdint.h>


/* One high-speed modem transmitter (V.17 symbol source, RRC shaping, carrier, level). The shaping filter,
   carrier and gain are folded into one table: for each output sample m (period ctab_period, a multiple of
   the filter's phases and of the carrier's period), FB_TXNT (re, im) coefficient pairs over the symbols
   k0 - FB_TXNT + 1 .. k0 (k0 = m * up / sps_up), so that a sample is one real dot product of 2 * FB_TXNT
   numbers with the symbol history (a linear buffer of (re, im) pairs, symbol k at 2 * (k - sbase)). */
#define FB_TXNT 12
#define FB_TXBUF 96   /* symbols of history: FB_TXNT kept from the last pass + one pass (fbtx.c) */
#define FB_TXBPMAX 256
typedef struct {
    int ntaps;
    int sps_up;
    int up;
    const double *ctab;
    int ctab_period;
    /* (or NULL) the same table for whole periods at once: ctab_period samples (a multiple of 8) from the
       2 * (ctab_period * up / sps_up + FB_TXNT - 1) symbol numbers of the period's window, as float columns
       (column c: the weight of window number c in each of the period's samples) */
    const float *btab;
    int bcols;
    int64_t m;
    int64_t nsym;
    int64_t sbase;
    int64_t last_symbol;
    int64_t end_sample;
    int done;
    const double *train;
    int ntrain;
    const double *points;
    int bps;
    uint32_t scr;
    int diff;
    int conv;
    const uint8_t *bits;   /* the data bits packed: bit i in bit i % 8 of bits[i / 8], 8 octets readable past the last */
    int64_t nbits;
    int64_t bitpos;
    int finished;
    int trailer_left;
    /* last: the state above shares its first cache lines. float: the symbols are the constellation's and the
       training's points, small integers, exact in float (half the memory a session touches per block) */
    float sym[2 * FB_TXBUF];
} fb_tx_t;

/* n samples from each of k transmitters into out (k rows of n int16); events (or NULL, cleared first): events[s] set to 1
   when transmitter s finished its trailer in this call. */
int fb_v17_tx(fb_tx_t **tx, int k, int16_t *out, int n, uint8_t *events);
/* The same, each transmitter's n int16 samples added into row rows[s] of acc (int32, stride values a row; the rows
   distinct): the fax bank's mix without output buffers. fb_v21_tx_add and fb_tone_tx_add likewise. */
int fb_v17_tx_add(fb_tx_t **tx, int k, const int64_t *rows, int32_t *acc, int stride, int n, uint8_t *events);

/* One V.21 channel 2 transmitter (continuous-phase FSK, 300 bit/s: mark 1650 Hz, space 1850 Hz): the carrier
   phase in steps of 2 pi / 160 (both tones are multiples of 50 Hz), the bit position in 1/80 bit (3 per
   sample); the carrier stops when the bits run out. */
typedef struct {
    double amp;
    int phase;
    const uint8_t *bits;
    int64_t nbits;
    int64_t pos;
    int done;
} fb_v21tx_t;

/* n samples from each of k V.21 transmitters into out (k rows of n int16): zeros once a transmitter's bits
   are sent (done set, its bits forgotten); events (or NULL, cleared first): events[s] set to 1 when transmitter s became
   done in this call. */
int fb_v21_tx(fb_v21tx_t **tx, int k, int16_t *out, int n, uint8_t *events);
int fb_v21_tx_add(fb_v21tx_t **tx, int k, const int64_t *rows, int32_t *acc, int stride, int n, uint8_t *events);

/* One cadenced tone (CNG, CED): a sine of amplitude amp at freq Hz, on / off samples repeated (off 0: steady),
   total samples in all (-1: no end); pos counts the samples made. */
typedef struct {
    double amp;
    double freq;
    int64_t pos;
    int on;
    int off;
    int64_t total;
    int done;
} fb_tone_t;

/* n samples from each of k tones into out (k rows of n int16), each sample amp * sin(2 pi freq t / 8000)
   truncated toward zero; events (or NULL, cleared first): events[s] set to 1 when tone s reached its total in this call. */
int fb_tone_tx(fb_tone_t **tx, int k, int16_t *out, int n, uint8_t *events);
int fb_tone_tx_add(fb_tone_t **tx, int k, const int64_t *rows, int32_t *acc, int stride, int n, uint8_t *events);

/* One V.17 receiver in data mode: carrier loop, slicer and the trellis (Viterbi) decoder. grid: the nearest
   point (an index < 256) of each cell of a 0.25-unit grid over -11..+11 (89 x 89); sgrid (or NULL: a full search): the nearest
   point of each of the 8 subsets (89 x 89 x 8), for the branch metrics. */
#define FB_VDEPTH 24
#define FB_VCHUNK 8
#define FB_VHIST 64
typedef struct {
    double phase;
    double freq;
    double kp;
    double ki;
    const double *points;
    int npoints;
    const uint8_t *grid;
    double metric[8];
    int nhist;
    /* per held symbol (a ring of FB_VHIST, a power of two: held symbol t at (head + t) % FB_VHIST): the nearest
       point of each subset, each state's survivor as 2 bits (state n at bits 2 n: the column i of its predecessors,
       state 2 i or 2 i + 1), and the states of the last traceback (after held symbols 0..ntb - 1): a new traceback
       that meets it follows it back */
    int head;
    int ntb;
    uint8_t cand[FB_VHIST][8];
    uint16_t dec[FB_VHIST];
    uint8_t tbs[FB_VHIST];
    int y_prev;
    int q0;
    int bps;
    const uint8_t *sgrid;
    const double *inv_mag;   /* (or NULL) 1 / |point|^2 of each point, for the carrier loop's phase error */
} fb_v17rx_t;

/* Run m symbols y (interleaved re, im, equaliser output before derotation) of each of k receivers:
   errs (interleaved, m per receiver) gets the equaliser error rotated back, bits gets the line bits made
   final (bps per decided symbol), nbits their count per receiver. flush != 0 decides every symbol held. */
void fb_v17_rx(fb_v17rx_t **rx, int k, const double *y, const int *m, int mmax, double *errs,
               uint8_t *bits, int *nbits, int bits_stride, int flush);

/* Start a new reception (trellis state 0, differential decoder unset). */
void fb_v17_reset(fb_v17rx_t *r);
/* One symbol z through the trellis: returns the nearest point; bits (up to 48) made final, count in nbits. */
int fb_v17_push(fb_v17rx_t *r, double zre, double zim, uint8_t *bits, int *nbits);
/* Decide every symbol still held; returns the number of bits written (up to 64 * 6). */
int fb_v17_flush(fb_v17rx_t *r, uint8_t *bits);

/* ITU-T CRC-16 (reflected 0x1021) and CRC-32 (reflected 0x04C11DB7) registers over n octets from crc
   (no final inversion). */
uint32_t fb_crc16(const uint8_t *data, int n, uint32_t crc);
uint32_t fb_crc32(const uint8_t *data, int n, uint32_t crc);

/* HDLC transmit framing: pre flags, the nframes frames packed in data (octet lengths in lens), each
   followed by its FCS (CRC-32 when fcs32, else CRC-16) and bit stuffed, separated by between flags,
   then closing flags; bits (0/1, octets LSB first) into out. Returns the bit count, or -1 if it would
   exceed cap (fb_hdlc_encode_cap gives enough). */
int fb_hdlc_encode(const uint8_t *data, const int *lens, int nframes, int fcs32, int pre, int between,
                   int closing, uint8_t *out, int cap);
int fb_hdlc_encode_cap(int total_octets, int nframes, int pre, int between, int closing);
/* The same bits packed (bit i in bit i % 8 of out[i / 8], the last octet's unused bits zero) into out (cap octets:
   fb_hdlc_encode_cap(...) / 8 + 8 is enough and needed). Returns the bit count, or -1 if cap is too small. */
int64_t fb_hdlc_encode_packed(const uint8_t *data, const int *lens, int nframes, int fcs32, int pre, int between,
                              int closing, uint8_t *out, int64_t cap);

/* HDLC receiver (flags, destuffing, aborts); frames are handed out whole, FCS included. acc: the frame in progress
   packed (bit i in bit i % 8 of acc[i / 8]; nacc bits, limit + 8 <= FB_HDLC_ACC), 8 octets written past it. */
#define FB_HDLC_ACC 8192
typedef struct {
    int ones;
    int synced;
    int limit;
    int min_bits;
    int nacc;
    int flags_seen;
    int fcs_len;   /* 2 or 4: the FCS (CRC-16 / CRC-32) checked for fb_hdlc_put_packed's ok flags; 0: not checked */
    uint8_t acc[FB_HDLC_ACC / 8 + 16];
} fb_hdlc_t;

/* Feed n bits; frames closed by a flag are packed (LSB first) into out one after the other, their
   byte lengths into lens; returns the frame count (stops early at max_frames or out_cap bytes). */
int fb_hdlc_put(fb_hdlc_t *h, const uint8_t *bits, int n, uint8_t *out, int out_cap, int *lens, int max_frames);
/* The same for n bits packed (bit i in bit i % 8 of bits[i / 8]; 8 octets readable past the last bit); with ok (or
   NULL) and h->fcs_len set, ok[i] = 1 when frame i's FCS is right, else 0. */
int fb_hdlc_put_packed(fb_hdlc_t *h, const uint8_t *bits, int n, uint8_t *out, int out_cap, int *lens, uint8_t *ok,
                       int max_frames);
