/* RTP/RTCP for all SIP channels of a board in one call per tick (cffi API mode). Streams share UDP sockets:
 * a group of up to RTP_MAXG streams per socket (and one RTCP socket at its port + 1); received packets are
 * demultiplexed to streams by source address and SSRC through two hash tables. */
#include <stdint.h>
#include <stddef.h>

#define RTP_JB 16          /* jitter buffer slots per stream (frames of 20 ms) */
#define RTP_FRAME 160      /* samples (= G.711 octets) per packet: ptime 20 */
#define RTP_MAXG 1024      /* streams per shared socket at most (UIO_MAXIOV) */

typedef struct rtp_stream {
    int group;              /* socket group (rtp_group index), -1 when closed */
    int active;             /* 1: receive and (if send) transmit */
    int send;               /* 0: do not transmit audio (hold, recvonly/inactive) */
    int pt;                 /* audio payload type: 8 PCMA or 0 PCMU */
    int ev_pt;              /* telephone-event payload type, -1 when not negotiated */
    int comedia;            /* 1: learn the far end's address from its first packet (symmetric RTP, NAT) */
    uint32_t remote_ip;     /* network order, 0 = unknown */
    uint16_t remote_port;   /* network order */
    uint16_t remote_rtcp;   /* network order */
    /* demultiplexing (rtp.c): the address and SSRC this stream is found under */
    uint32_t key_ip;        /* network order; 0 = not in the address table */
    uint16_t key_port;
    uint16_t ssrc_has;      /* 1: in the SSRC table under key_ssrc */
    uint32_t key_ssrc;
    int ssrc_fixed;         /* 1: key_ssrc was announced (SDP a=ssrc): packets with another SSRC are not ours */
    int addr_next;          /* hash chains (stream indices, -1 ends) */
    int ssrc_next;
    int latching;           /* comedia and no packet yet: the first one from an unknown address may claim it */
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
    uint32_t rx_bad;        /* malformed packets or foreign payload types */
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

typedef struct rtp_group {
    int fd;                 /* the shared RTP socket (non-blocking, bound), -1 when not bound */
    int rtcp_fd;            /* its RTCP socket (port + 1), -1 when none */
    int first;              /* streams first .. first + count - 1 use this socket */
    int count;
    int latch_count;        /* streams of the group in `latching` state */
    int latch_sum;          /* sum of their indices (the one stream when latch_count == 1) */
    uint32_t stray;         /* RTP packets from no stream's address/SSRC (or malformed): dropped */
    uint32_t rtcp_stray;    /* RTCP packets that matched no stream: dropped */
    uint32_t rx_packets;    /* RTP packets received on the socket */
    uint32_t tx_dropped;    /* packets the kernel refused (send buffer full) */
} rtp_group;

typedef struct rtp_bank {
    rtp_stream *s;
    int n;                  /* streams */
    rtp_group *g;
    int ngroups;
    int *addr_head;         /* hash buckets (mask + 1 each), -1 = empty */
    int *ssrc_head;
    uint32_t mask;
    uint8_t *scratch;       /* rtp_scratch_bytes() of work space for one tick */
} rtp_bank;

/* One tick for every stream of the bank: per socket, one sendmmsg with every sending stream's block
 * out_codes[i*160] (A-law) as RTP (or RFC 4733 events) and one for the RTCP due; then recvmmsg drains each
 * socket, packets go to their streams' jitter buffers, and one block per stream is pulled into in_codes
 * (A-law; silence for inactive streams). digits[i] gets the ASCII digit of a new RFC 4733 event, else 0.
 * Returns packets received. */
int rtp_tick(rtp_bank *b, uint8_t *in_codes, const uint8_t *out_codes, char *digits,
             uint32_t now_samples, uint32_t ntp_sec, uint32_t ntp_frac);

/* bytes of rtp_bank.scratch */
size_t rtp_scratch_bytes(void);

/* G.711 tables (filled from Python once): A-law<->mu-law and A-law decode / encode */
void rtp_set_tables(const uint8_t *a2u, const uint8_t *u2a, const int16_t *alaw_dec, const uint8_t *alaw_enc);

/* reset a stream's receive state and jitter buffer (new remote, new call) */
void rtp_reset(rtp_stream *s, uint32_t ssrc, uint32_t now_samples);

/* demultiplexing: find stream i under address ip:port (network order; ip 0 = none), and under the far
 * end's SSRC when has_ssrc (from SDP a=ssrc; else learned from its first packet); latching: 1 lets the
 * first packet from an unknown address claim the stream when it is the only one of its socket waiting */
void rtp_set_remote(rtp_bank *b, int i, uint32_t ip, uint16_t port, int latching);
void rtp_set_ssrc(rtp_bank *b, int i, uint32_t ssrc, int has_ssrc);
/* take stream i out of both tables and of its group's latching count (close) */
void rtp_unlink(rtp_bank *b, int i);
