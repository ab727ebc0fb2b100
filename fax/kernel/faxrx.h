/* Fax bank receive kernels: the whole V.17 receiver (front end, carrier detect, timing, training, data)
   and the V.21 channel 2 receiver with its HDLC deframing, each for many sessions per call. */
#include <stdint.h>

#define FB_RXBUF 1536
#define FB_RXH 64
#define FB_RXLO 80
#define FB_RXTP 16
#define FB_EQ 17
#define FB_HIST 100
#define FB_RXOUT 8192
#define FB_RXCHUNK 512
#define FB_RXFR 16384
#define FB_RXNFR 128
#define FB_ITW 16

/* One V.17 receiver (fax/v17.py V17Rx): constants set once by Python, then the reception state. */
typedef struct {
    /* constants */
    int nh;
    const double *h;       /* nh (<= FB_RXH) taps; the tables are shared by the bank's receivers */
    int lo_period;
    const double *lo_re;   /* lo_period (<= FB_RXLO) */
    const double *lo_im;
    int tp_period;
    const double *tp_re;   /* tp_period (<= FB_RXTP) */
    const double *tp_im;
    double sps;
    double on_lin;
    double off_lin;
    const float *itab;    /* interpolation weights: PHASES + 1 rows of FB_ITW floats (INTERP used, zeros after) */
    const double *train;
    int ntrain;
    const int8_t *labels;
    double spacing;
    uint32_t long_reg;
    uint32_t short_reg;
    int ones_bits;
    /* front end */
    float zre[FB_RXH];
    float zim[FB_RXH];
    int64_t n;
    double pz;
    int64_t base;
    int len;
    /* reception state */
    int carrier;
    int trained;
    int signal_lost;
    int state;
    int need_quiet;
    int ones_ok;
    int ones_n;
    int ones_bad;
    int mode;
    int npending;
    int nhist;
    int sym_count;
    int pos;
    int has_t;
    int has_acq;
    double t_next;
    double acq_start;
    double rel_off;
    double tm_re;
    double tm_im;
    double w_re[FB_EQ];
    double w_im[FB_EQ];
    double phase;
    double freq;
    uint32_t scr;
    fb_v17rx_t vit;
    /* the front end's buffer (after the state: a session's hot fields share few pages and cache lines); its held
       samples (at most ~170 before a call's chunk, FB_RXCHUNK, is appended) start at off: trimming moves off,
       and they are moved back to the start only when a chunk would not fit behind them */
    int off;
    /* in float (the in-band power recursion runs in double; the stored samples feed the interpolation and the
       timing phasor): half the bytes a block moves through the cache */
    float bre[FB_RXBUF + FB_ITW];   /* + FB_ITW: a whole weight row may be read at the end (weights 0 there) */
    float bim[FB_RXBUF + FB_ITW];
    float pwr[FB_RXBUF];
    int nout;
    uint8_t out[FB_RXOUT];
    /* with an HDLC receiver attached (ECM), the data bits are deframed in the kernel: frames closed by a
       flag (FCS included) are appended to frames (lengths in flen, count in nframes), nothing to out */
    fb_hdlc_t *hdlc;
    int nframes;
    int fused;
    int flen[FB_RXNFR];
    uint8_t frames[FB_RXFR];
    /* training only (cold): the symbols held for the alignment search and the long/short detection */
    double pend_re[8];
    double pend_im[8];
    double hist_re[FB_HIST];
    double hist_im[FB_HIST];
    /* fok[i]: frame i's FCS right (1) or not (0), checked in the kernel when the HDLC receiver's fcs_len is set */
    uint8_t fok[FB_RXNFR];
} fb_rx17_t;

/* Forget the reception (state, pending bits); the front end keeps running. */
void fb_rx17_reset(fb_rx17_t *r);
/* n int16 samples (at most FB_RXCHUNK) into each of k receivers, row s at x + s * stride; data bits are
   appended to each receiver's out (nout), or deframed into its frames when an HDLC receiver is attached.
   events (or NULL, cleared first): events[s] set to 1 when receiver s has half its bit or frame buffer in use, or
   its trained / carrier / signal_lost changed; returns how many are set. */
int fb_rx17_run(fb_rx17_t **rx, int k, const int16_t *x, int stride, int n, uint8_t *events);

/* One V.21 channel 2 receiver (fax/v21.py V21Rx): quadrature correlators over one bit, carrier detect with
   hysteresis, a transition-tracking bit clock; its bits go to an HDLC receiver when one is attached. */
#define FB_V21L 27
#define FB_V21OUT 4096
#define FB_V21FR 2048
#define FB_V21NFR 16
typedef struct {
    double on;
    double off;
    double hist[FB_V21L - 1];
    int64_t n;
    int carrier;
    int signal_lost;
    int has_t;
    double t_next;
    double last_d;
    fb_hdlc_t *hdlc;
    int nbits;
    int nframes;   /* (with nbits: read for every receiver on every call, so ahead of the buffers) */
    int fused;
    uint8_t bits[FB_V21OUT];
    int flen[FB_V21NFR];
    uint8_t frames[FB_V21FR];
} fb_v21rx_t;

/* Forget the carrier, the clock and the bits not yet taken (not the HDLC receiver's state). */
void fb_v21_reset(fb_v21rx_t *r);
/* n int16 samples (at most FB_RXCHUNK) into each of k receivers, row s at x + s * stride: bits appended to
   bits (nbits), or with an HDLC receiver attached, frames closed by a flag (FCS included) appended to
   frames (lengths in flen, count in nframes). events (or NULL, cleared first): events[s] set to 1 when
   receiver s has bits or frames to take; returns how many are set. */
int fb_v21_run(fb_v21rx_t **rx, int k, const int16_t *x, int stride, int n, uint8_t *events);
