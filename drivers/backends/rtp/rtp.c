/* RTP/RTCP for all SIP channels in one call per tick: streams share UDP sockets (one sendmmsg and a few
 * recvmmsg per socket per tick, packets demultiplexed by source address and SSRC in O(1) through hash
 * tables), G.711 PCMA/PCMU, RFC 3550 statistics, an adaptive jitter buffer with packet loss concealment,
 * RFC 4733 events, RTCP sender/receiver reports. */
#define _GNU_SOURCE
#include <string.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "rtp.h"
#include "rtp_demux.h"

#define RXB 64          /* packets per recvmmsg */
#define PKT 1500
#define RX_ROUNDS 64    /* recvmmsg calls per socket per tick at most (bounded work) */
#define TXP (12 + RTP_FRAME)
#define RTCPP 64

struct scratch {
    uint8_t tx[RTP_MAXG][TXP];
    struct sockaddr_in txa[RTP_MAXG];
    struct iovec txv[RTP_MAXG];
    struct mmsghdr txm[RTP_MAXG];
    uint8_t rtcp[RTP_MAXG][RTCPP];
    struct sockaddr_in rta[RTP_MAXG];
    struct iovec rtv[RTP_MAXG];
    struct mmsghdr rtm[RTP_MAXG];
    uint8_t rx[RXB][PKT];
    struct sockaddr_in rxa[RXB];
    struct iovec rxv[RXB];
    struct mmsghdr rxm[RXB];
};

size_t rtp_scratch_bytes(void) { return sizeof(struct scratch); }

static uint8_t A2U[256], U2A[256], AENC[65536];
static int16_t ADEC[256];
static const char EVCHARS[] = "0123456789*#ABCD";

void rtp_set_tables(const uint8_t *a2u, const uint8_t *u2a, const int16_t *alaw_dec, const uint8_t *alaw_enc)
{
    memcpy(A2U, a2u, 256);
    memcpy(U2A, u2a, 256);
    memcpy(ADEC, alaw_dec, sizeof(ADEC));
    memcpy(AENC, alaw_enc, 65536);
}

void rtp_reset(rtp_stream *s, uint32_t ssrc, uint32_t now)
{
    s->rx_init = 0;
    s->received = s->expected_prior = s->received_prior = 0;
    s->cycles = 0;
    s->jitter = 0;
    s->cum_lost = 0;
    s->fraction_lost = 0;
    memset(s->jb_has, 0, sizeof(s->jb_has));
    s->playing = 0;
    s->target = 2;
    s->prefill = 2;
    s->plc_run = 0;
    memset(s->last, 0, sizeof(s->last));
    s->ev_rx_seen = 0;
    s->ev_code = -1;
    s->ev_ends = 0;
    s->ev_gap = 0;
    s->tx_ssrc = ssrc;
    s->tx_marker = 1;
    s->rtcp_due = now + 8000 * 5;
}

static inline uint32_t rd32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }
static inline void wr32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }

/* RFC 3550 A.1: sequence bookkeeping; returns the extended sequence number */
static uint32_t update_seq(rtp_stream *s, uint16_t seq)
{
    uint16_t udelta = seq - s->max_seq;
    if (udelta < 3000) {
        if (seq < s->max_seq)
            s->cycles += 65536;
        s->max_seq = seq;
    } else if (udelta > 65536 - 100) {
        /* reordered / duplicate: keep max */
        uint32_t c = s->cycles;
        if (seq > s->max_seq && c >= 65536)
            c -= 65536;
        return c + seq;
    } else {
        /* a big jump: restart the stream's sequence space */
        s->base_seq = seq;
        s->max_seq = seq;
        s->cycles = 0;
        s->received = 0;
        s->expected_prior = s->received_prior = 0;
        memset(s->jb_has, 0, sizeof(s->jb_has));
        s->playing = 0;
        s->prefill = s->target;
    }
    return s->cycles + seq;
}

static void rx_rtcp(rtp_stream *s, const uint8_t *p, int len)
{
    while (len >= 8) {
        int plen = (((p[2] << 8) | p[3]) + 1) * 4;
        int pt = p[1], rc = p[0] & 0x1f;
        if ((p[0] >> 6) != 2 || plen > len)
            { s->rx_bad++; return; }
        const uint8_t *blk = NULL;
        if (pt == 200 && plen >= 28) {           /* SR */
            s->lsr = (rd32(p + 8) << 16) | (rd32(p + 12) >> 16);
            if (rc > 0 && plen >= 52) blk = p + 28;
        } else if (pt == 201 && rc > 0 && plen >= 32) {
            blk = p + 8;
        }
        if (blk != NULL && rd32(blk) == s->tx_ssrc) {
            s->remote_fraction = blk[4];
            int32_t lost = (blk[5] << 16) | (blk[6] << 8) | blk[7];
            if (lost & 0x800000) lost -= 0x1000000;
            s->remote_lost = lost;
            s->remote_jitter = rd32(blk + 12);
        }
        s->rtcp_rx++;
        p += plen;
        len -= plen;
    }
}

static void rx_packet(rtp_stream *s, const uint8_t *p, int len, uint32_t now, char *digit)
{
    if (len < 12 || (p[0] >> 6) != 2) { s->rx_bad++; return; }
    int cc = p[0] & 0x0f, x = p[0] & 0x10, padding = p[0] & 0x20;
    int pt = p[1] & 0x7f;
    uint16_t seq = (p[2] << 8) | p[3];
    uint32_t ts = rd32(p + 4), ssrc = rd32(p + 8);
    int off = 12 + 4 * cc;
    if (off > len) { s->rx_bad++; return; }
    if (x) {
        if (off + 4 > len) { s->rx_bad++; return; }
        off += 4 + 4 * ((p[off + 2] << 8) | p[off + 3]);
        if (off > len) { s->rx_bad++; return; }
    }
    int plen = len - off;
    if (padding) {
        int pad = p[len - 1];
        if (pad == 0 || pad > plen) { s->rx_bad++; return; }
        plen -= pad;
    }
    if (pt != s->pt && pt != s->ev_pt) { s->rx_bad++; return; }
    if (!s->rx_init || ssrc != s->rx_ssrc) {
        s->rx_ssrc = ssrc;
        s->rx_init = 1;
        s->base_seq = seq;
        s->max_seq = seq;
        s->cycles = 0;
        s->received = 0;
        s->expected_prior = s->received_prior = 0;
        s->jitter = 0;
        memset(s->jb_has, 0, sizeof(s->jb_has));
        s->playing = 0;
        s->prefill = s->target;
        s->ev_rx_seen = 0;
    }
    uint32_t ext = update_seq(s, seq);
    s->received++;
    if (pt == s->ev_pt && pt >= 0) {
        if (plen >= 4 && p[off] < 16 && (!s->ev_rx_seen || ts != s->ev_rx_ts)) {
            s->ev_rx_seen = 1;
            s->ev_rx_ts = ts;
            *digit = EVCHARS[p[off]];
        }
        return;
    }
    /* interarrival jitter (RFC 3550 A.8), in samples */
    int32_t transit = (int32_t)(now - ts);
    if (s->received > 1) {
        int32_t d = transit - s->transit;
        if (d < 0) d = -d;
        s->jitter += (d - s->jitter) / 16.0;
    }
    s->transit = transit;
    if (plen != RTP_FRAME) { s->rx_bad++; return; }
    if (ext > s->top_seq || !s->playing) s->top_seq = ext;
    if (s->playing && (int32_t)(ext - s->play_seq) < 0) { s->late++; return; }
    if (s->playing && ext - s->play_seq >= RTP_JB) {   /* far ahead: resynchronise */
        memset(s->jb_has, 0, sizeof(s->jb_has));
        s->playing = 0;
        s->prefill = s->target;
    }
    if (!s->playing && s->prefill == s->target) {
        s->play_seq = ext;
    } else if (!s->playing && (int32_t)(ext - s->play_seq) < 0) {
        s->play_seq = ext;
    }
    int slot = ext % RTP_JB;
    uint8_t *dst = s->jb[slot];
    if (pt == 0) { for (int i = 0; i < RTP_FRAME; i++) dst[i] = U2A[p[off + i]]; }
    else memcpy(dst, p + off, RTP_FRAME);
    s->jb_seq[slot] = ext;
    s->jb_has[slot] = 1;
}

/* one block of play-out for a stream into out (A-law) */
static void playout(rtp_stream *s, uint8_t *out)
{
    if (!s->playing) {
        if (s->rx_init && s->prefill > 0 && s->received > 0) {
            s->prefill--;
            if (s->prefill == 0) s->playing = 1;
        }
        memset(out, 0xD5, RTP_FRAME);
        if (!s->playing) return;
    }
    /* adapt: target depth from the jitter (2 x jitter + 1 frame), in 1..RTP_JB-4 frames */
    int want = 1 + (int)(2.0 * s->jitter / RTP_FRAME + 0.999);
    if (want > RTP_JB - 4) want = RTP_JB - 4;
    if (want > s->target) s->target = want;
    else if (want < s->target && s->plc_run == 0) s->target--;
    int depth = (int32_t)(s->top_seq - s->play_seq) + 1;
    if (depth > s->target + 2) {                /* too deep: drop the oldest frame */
        s->jb_has[s->play_seq % RTP_JB] = 0;
        s->play_seq++;
    }
    int slot = s->play_seq % RTP_JB;
    if (s->jb_has[slot] && s->jb_seq[slot] == s->play_seq) {
        memcpy(out, s->jb[slot], RTP_FRAME);
        s->jb_has[slot] = 0;
        for (int i = 0; i < RTP_FRAME; i++) s->last[i] = ADEC[out[i]];
        s->plc_run = 0;
        s->play_seq++;
        return;
    }
    /* missing: conceal with the last frame, fading 6 dB a frame, silence after 5 frames */
    s->plc_frames++;
    s->plc_run++;
    if (s->plc_run > 5) memset(out, 0xD5, RTP_FRAME);
    else {
        for (int i = 0; i < RTP_FRAME; i++) {
            int v = s->last[i] >> 1;
            s->last[i] = v;
            out[i] = AENC[v + 32768];
        }
    }
    if (depth > 1) s->play_seq++;              /* a later frame is here: this one is lost */
    else if (s->target < RTP_JB - 4) s->target++;   /* underrun: hold play-out, deepen the buffer */
}

static int build_rtcp(rtp_stream *s, uint8_t *b, uint32_t ntp_sec, uint32_t ntp_frac)
{
    b[0] = 0x80 | (s->rx_init ? 1 : 0);
    b[1] = 200;
    int words = s->rx_init ? 12 : 6;
    wr16(b + 2, words);
    wr32(b + 4, s->tx_ssrc);
    wr32(b + 8, ntp_sec);
    wr32(b + 12, ntp_frac);
    wr32(b + 16, s->tx_ts);
    wr32(b + 20, s->tx_packets);
    wr32(b + 24, s->tx_octets);
    if (!s->rx_init) return 28;
    uint32_t ext_max = s->cycles + s->max_seq;
    uint32_t expected = ext_max - s->base_seq + 1;
    int32_t lost = (int32_t)(expected - s->received);
    uint32_t exp_int = expected - s->expected_prior, rec_int = s->received - s->received_prior;
    s->expected_prior = expected;
    s->received_prior = s->received;
    int32_t lost_int = (int32_t)(exp_int - rec_int);
    s->fraction_lost = (exp_int == 0 || lost_int <= 0) ? 0 : (uint8_t)((lost_int << 8) / exp_int);
    s->cum_lost = lost;
    uint8_t *r = b + 28;
    wr32(r, s->rx_ssrc);
    r[4] = s->fraction_lost;
    int32_t cl = lost > 0x7fffff ? 0x7fffff : (lost < -0x800000 ? -0x800000 : lost);
    r[5] = (cl >> 16) & 0xff; r[6] = (cl >> 8) & 0xff; r[7] = cl & 0xff;
    wr32(r + 8, ext_max);
    wr32(r + 12, (uint32_t)s->jitter);
    wr32(r + 16, s->lsr);
    wr32(r + 20, 0);
    return 52;
}

/* ------------------------------------------------------------ the tick */

static int build_rtp(rtp_stream *st, uint8_t *pkt, const uint8_t *src)
{
    int len;
    if (st->ev_code >= 0 && st->ev_pt >= 0) {
        int end = st->ev_sent >= st->ev_dur;
        pkt[0] = 0x80;
        pkt[1] = (uint8_t)st->ev_pt | (st->ev_sent == 0 ? 0x80 : 0);
        if (st->ev_sent == 0) st->ev_ts = st->tx_ts;
        if (!end) st->ev_sent += RTP_FRAME;
        wr16(pkt + 2, st->tx_seq);
        wr32(pkt + 4, st->ev_ts);
        wr32(pkt + 8, st->tx_ssrc);
        pkt[12] = (uint8_t)st->ev_code;
        pkt[13] = (end ? 0x80 : 0) | 10;
        int d = st->ev_sent > 0xffff ? 0xffff : st->ev_sent;
        wr16(pkt + 14, (uint16_t)d);
        len = 16;
        if (end && --st->ev_ends <= 0) { st->ev_code = -1; st->ev_gap = 3; }
    } else {
        pkt[0] = 0x80;
        pkt[1] = (uint8_t)st->pt | (st->tx_marker ? 0x80 : 0);
        st->tx_marker = 0;
        wr16(pkt + 2, st->tx_seq);
        wr32(pkt + 4, st->tx_ts);
        wr32(pkt + 8, st->tx_ssrc);
        if (st->pt == 0) { for (int k = 0; k < RTP_FRAME; k++) pkt[12 + k] = A2U[src[k]]; }
        else memcpy(pkt + 12, src, RTP_FRAME);
        len = 12 + RTP_FRAME;
        if (st->ev_gap > 0) st->ev_gap--;
    }
    return len;
}

static inline void msg_to(struct mmsghdr *m, struct iovec *v, struct sockaddr_in *a, void *buf, size_t len,
                          uint32_t ip, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = ip;
    a->sin_port = port;
    v->iov_base = buf;
    v->iov_len = len;
    memset(&m->msg_hdr, 0, sizeof(m->msg_hdr));
    m->msg_hdr.msg_name = a;
    m->msg_hdr.msg_namelen = sizeof(*a);
    m->msg_hdr.msg_iov = v;
    m->msg_hdr.msg_iovlen = 1;
}

/* send msgs[0..n) on fd; msg_len > 0 marks the ones that went */
static void send_all(int fd, struct mmsghdr *m, int n)
{
    int at = 0;
    for (int k = 0; k < n; k++) m[k].msg_len = 0;
    while (at < n) {
        int r = sendmmsg(fd, m + at, (unsigned)(n - at), MSG_DONTWAIT);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { at++; continue; }  /* skip the bad one */
            break;
        }
        at += r;
    }
}

static void transmit(rtp_bank *b, rtp_group *g, struct scratch *w, const uint8_t *out_codes,
                     uint32_t now, uint32_t ntp_sec, uint32_t ntp_frac)
{
    int nm = 0, nr = 0;
    int idx[RTP_MAXG];
    for (int i = g->first; i < g->first + g->count; i++) {
        rtp_stream *st = &b->s[i];
        if (!st->active || st->group < 0) continue;
        if (st->send && st->remote_ip != 0) {
            int len = build_rtp(st, w->tx[nm], out_codes + (size_t)i * RTP_FRAME);
            msg_to(&w->txm[nm], &w->txv[nm], &w->txa[nm], w->tx[nm], (size_t)len, st->remote_ip,
                   st->remote_port);
            idx[nm++] = i;
            if (g->rtcp_fd >= 0 && (int32_t)(now - st->rtcp_due) >= 0) {
                int rl = build_rtcp(st, w->rtcp[nr], ntp_sec, ntp_frac);
                msg_to(&w->rtm[nr], &w->rtv[nr], &w->rta[nr], w->rtcp[nr], (size_t)rl, st->remote_ip,
                       st->remote_rtcp);
                nr++;
                st->rtcp_due = now + 8000 * 5;
            }
        }
        st->tx_ts += RTP_FRAME;
    }
    if (nm > 0) {
        send_all(g->fd, w->txm, nm);
        for (int k = 0; k < nm; k++) {
            rtp_stream *st = &b->s[idx[k]];
            if (w->txm[k].msg_len > 0) {
                st->tx_seq++;
                st->tx_packets++;
                st->tx_octets += (uint32_t)w->txv[k].iov_len - 12;
            } else {
                g->tx_dropped++;
            }
        }
    }
    if (nr > 0) send_all(g->rtcp_fd, w->rtm, nr);
}

static void rx_prepare(struct scratch *w)
{
    for (int k = 0; k < RXB; k++) {
        w->rxv[k].iov_base = w->rx[k];
        w->rxv[k].iov_len = PKT;
        memset(&w->rxm[k].msg_hdr, 0, sizeof(struct msghdr));
        w->rxm[k].msg_hdr.msg_iov = &w->rxv[k];
        w->rxm[k].msg_hdr.msg_iovlen = 1;
        w->rxm[k].msg_hdr.msg_name = &w->rxa[k];
        w->rxm[k].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    }
}

static int receive(rtp_bank *b, int gi, struct scratch *w, char *digits, uint32_t now)
{
    rtp_group *g = &b->g[gi];
    int total = 0;
    int rounds = RX_ROUNDS;
    for (int round = 0; round < rounds; round++) {
        for (int k = 0; k < RXB; k++) w->rxm[k].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
        int got = recvmmsg(g->fd, w->rxm, RXB, MSG_DONTWAIT, NULL);
        if (got <= 0) break;
        for (int k = 0; k < got; k++) {
            const uint8_t *p = w->rx[k];
            int len = (int)w->rxm[k].msg_len;
            if (len < 12 || w->rxm[k].msg_hdr.msg_namelen < sizeof(struct sockaddr_in)
                || w->rxa[k].sin_family != AF_INET) { g->stray++; continue; }
            uint32_t ip = w->rxa[k].sin_addr.s_addr;
            uint16_t port = w->rxa[k].sin_port;
            uint32_t ssrc = rd32(p + 8);
            int j = rtp_demux(b, gi, ip, port, ssrc);
            if (j < 0 || !b->s[j].active) { g->stray++; continue; }
            rtp_stream *st = &b->s[j];
            int ptk = p[1] & 0x7f;
            int ok = (p[0] >> 6) == 2 && (ptk == st->pt || ptk == st->ev_pt);
            if (!ok && (st->key_ip != ip || st->key_port != port)) { g->stray++; continue; }
            if (ok) rtp_accept_from(b, j, ip, port, ssrc);
            rx_packet(st, p, len, now, &digits[j]);
        }
        total += got;
        if (got < RXB) break;
    }
    g->rx_packets += (uint32_t)total;
    if (g->rtcp_fd >= 0 && (((now / RTP_FRAME) + (uint32_t)gi) & 15) == 0) {   /* RTCP: every 320 ms */
        for (int round = 0; round < 8; round++) {
            for (int k = 0; k < RXB; k++) w->rxm[k].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
            int got = recvmmsg(g->rtcp_fd, w->rxm, RXB, MSG_DONTWAIT, NULL);
            if (got <= 0) break;
            for (int k = 0; k < got; k++) {
                int len = (int)w->rxm[k].msg_len;
                if (len < 8 || w->rxa[k].sin_family != AF_INET) { g->rtcp_stray++; continue; }
                int j = rtp_demux_rtcp(b, gi, w->rxa[k].sin_addr.s_addr, w->rxa[k].sin_port, rd32(w->rx[k] + 4));
                if (j < 0 || !b->s[j].active) { g->rtcp_stray++; continue; }
                rx_rtcp(&b->s[j], w->rx[k], len);
            }
            if (got < RXB) break;
        }
    }
    return total;
}

int rtp_tick(rtp_bank *b, uint8_t *in_codes, const uint8_t *out_codes, char *digits,
             uint32_t now, uint32_t ntp_sec, uint32_t ntp_frac)
{
    struct scratch *w = (struct scratch *)b->scratch;
    memset(digits, 0, (size_t)b->n);
    for (int gi = 0; gi < b->ngroups; gi++)
        if (b->g[gi].fd >= 0) transmit(b, &b->g[gi], w, out_codes, now, ntp_sec, ntp_frac);
    rx_prepare(w);
    int total = 0;
    for (int gi = 0; gi < b->ngroups; gi++)
        if (b->g[gi].fd >= 0) total += receive(b, gi, w, digits, now);
    for (int i = 0; i < b->n; i++) {
        rtp_stream *st = &b->s[i];
        if (!st->active || st->group < 0) memset(in_codes + (size_t)i * RTP_FRAME, 0xD5, RTP_FRAME);
        else playout(st, in_codes + (size_t)i * RTP_FRAME);
    }
    return total;
}
