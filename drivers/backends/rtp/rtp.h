/* RTP/RTCP for all SIP channels of a board in one call per tick (cffi API mode). */
#include <stdint.h>

#define RTP_JB 16          /* jitter buffer slots per stream (frames of 20 ms) */
#define RTP_FRAME 160      /* samples (= G.711 octets) per packet: ptime 20 */

typedef struct rtp_stream {
    int fd;                 /* RTP socket (non-blocking, bound), -1 when closed */
    int rtcp_fd;            /* RTCP socket, -1 when none */
    int active;             /* 1: receive and (if send) transmit */
    int send;               /* 0: do not transmit audio (hold, recvonly/inactive) */
    int pt;                 /* audio payload type: 8 PCMA or 0 PCMU */
    int ev_pt;              /* telephone-event payload type, -1 when not negotiated */
    int comedia;            /* 1: send to where packets come from (symmetric RTP, NAT) */
    uint32_t remote_ip;     /* network order, 0 = unknown */
    uint16_t remote_port;   /* network order */
    uint16_t remote_rtcp;   /* network order */
    /* transmit */
    uint32_t tx_ssrc;
    uint16_t tx_seq;
    uint32_t tx_ts;
    uint32_t tx_packets;
    uint32_t tx_octets;
    int tx_marker;
    /* RFC 4733 out: event code >= 0 while a digit is being sent */
    int ev_code;
    int ev_dur;             /* total duration to send, samples */
    int ev_sent;            /* duration sent so far */
    int ev_ends;            /* end packets still to send */
    int ev_gap;             /* ticks of audio after the digit before the next may start */
    uint32_t ev_ts;
    /* receive statistics (RFC 3550 A.1/A.8) */
    uint32_t rx_ssrc;
    int rx_init;
    uint16_t max_seq;
    uint32_t cycles;
    uint32_t base_seq;
    uint32_t received;
    uint32_t expected_prior;
    uint32_t received_prior;
    int32_t transit;
    double jitter;          /* samples */
    uint32_t rx_bad;        /* malformed or foreign packets */
    uint32_t late;          /* arrived after their play-out time */
    uint32_t plc_frames;    /* concealed frames */
    int32_t cum_lost;
    uint8_t fraction_lost;
    /* jitter buffer, keyed by extended sequence number */
    uint8_t jb[RTP_JB][RTP_FRAME];
    uint32_t jb_seq[RTP_JB];
    uint8_t jb_has[RTP_JB];
    uint32_t play_seq;
    uint32_t top_seq;       /* highest extended seq received */
    int playing;
    int prefill;            /* frames to wait before play-out starts */
    int target;             /* adaptive play-out depth, frames */
    int16_t last[RTP_FRAME];
    int plc_run;
    /* RFC 4733 in */
    uint32_t ev_rx_ts;
    int ev_rx_seen;
    /* RTCP */
    uint32_t rtcp_due;      /* board time in samples */
    uint32_t lsr;           /* middle 32 bits of the last SR NTP time received */
    uint32_t rtcp_rx;       /* RTCP packets received */
    uint8_t remote_fraction;/* what the far end reports of our stream */
    int32_t remote_lost;
    uint32_t remote_jitter;
} rtp_stream;

/* One tick for n streams: send each active stream's block out_codes[i*160] (A-law) as RTP (or RFC 4733
 * events), RTCP when due; then receive every pending packet (recvmmsg) into the jitter buffers and pull
 * one block per stream into in_codes (A-law; silence for inactive streams). digits[i] gets the ASCII
 * digit of a new RFC 4733 event, else 0. alaw2lin: 256 int16. Returns packets received. */
int rtp_tick(rtp_stream *s, int n, uint8_t *in_codes, const uint8_t *out_codes, char *digits,
             uint32_t now_samples, uint32_t ntp_sec, uint32_t ntp_frac);

/* G.711 tables (filled from Python once): A-law<->mu-law and A-law decode / encode */
void rtp_set_tables(const uint8_t *a2u, const uint8_t *u2a, const int16_t *alaw_dec, const uint8_t *alaw_enc);

/* reset a stream's receive state and jitter buffer (new remote, new call) */
void rtp_reset(rtp_stream *s, uint32_t ssrc, uint32_t now_samples);
