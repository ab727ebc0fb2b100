/* RTP/RTCP for all SIP channels in one call per tick: recvmmsg/sendmmsg per socket, G.711 PCMA/PCMU,
 * RFC 3550 statistics, an adaptive jitter buffer with packet loss concealment, RFC 4733 events. */
#define _GNU_SOURCE
#include <string.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "rtp.h"

#define BATCH 16
#define PKT 1500

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

static void rx_packet(rtp_stream *s, const uint8_t *p, int len, const struct sockaddr_in *from, uint32_t now,
                      char *digit)
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
    if (s->comedia) {                       /* symmetric RTP: answer where the media comes from */
        s->remote_ip = from->sin_addr.s_addr;
        s->remote_port = from->sin_port;
        s->remote_rtcp = htons(ntohs(from->sin_port) + 1);
    }
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

int rtp_tick(rtp_stream *s, int n, uint8_t *in_codes, const uint8_t *out_codes, char *digits,
             uint32_t now, uint32_t ntp_sec, uint32_t ntp_frac)
{
    static uint8_t bufs[BATCH][PKT];
    static struct mmsghdr msgs[BATCH];
    static struct iovec iovs[BATCH];
    static struct sockaddr_in addrs[BATCH];
    uint8_t pkt[12 + RTP_FRAME], rtcp[64];
    int total = 0;
    for (int i = 0; i < n; i++) {
        rtp_stream *st = &s[i];
        digits[i] = 0;
        if (!st->active || st->fd < 0) {
            memset(in_codes + (size_t)i * RTP_FRAME, 0xD5, RTP_FRAME);
            continue;
        }
        /* ---- transmit */
        if (st->send && st->remote_ip != 0) {
            struct sockaddr_in to;
            memset(&to, 0, sizeof(to));
            to.sin_family = AF_INET;
            to.sin_addr.s_addr = st->remote_ip;
            to.sin_port = st->remote_port;
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
                const uint8_t *src = out_codes + (size_t)i * RTP_FRAME;
                if (st->pt == 0) { for (int k = 0; k < RTP_FRAME; k++) pkt[12 + k] = A2U[src[k]]; }
                else memcpy(pkt + 12, src, RTP_FRAME);
                len = 12 + RTP_FRAME;
                if (st->ev_gap > 0) st->ev_gap--;
            }
            struct iovec iov = { pkt, (size_t)len };
            struct mmsghdr m;
            memset(&m, 0, sizeof(m));
            m.msg_hdr.msg_name = &to;
            m.msg_hdr.msg_namelen = sizeof(to);
            m.msg_hdr.msg_iov = &iov;
            m.msg_hdr.msg_iovlen = 1;
            if (sendmmsg(st->fd, &m, 1, MSG_DONTWAIT) == 1) {
                st->tx_seq++;
                st->tx_packets++;
                st->tx_octets += len - 12;
            }
            if (st->rtcp_fd >= 0 && (int32_t)(now - st->rtcp_due) >= 0) {
                int rl = build_rtcp(st, rtcp, ntp_sec, ntp_frac);
                to.sin_port = st->remote_rtcp;
                sendto(st->rtcp_fd, rtcp, rl, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to));
                st->rtcp_due = now + 8000 * 5;
            }
        }
        st->tx_ts += RTP_FRAME;
        /* ---- receive */
        for (int round = 0; round < 4; round++) {
            for (int k = 0; k < BATCH; k++) {
                iovs[k].iov_base = bufs[k];
                iovs[k].iov_len = PKT;
                memset(&msgs[k].msg_hdr, 0, sizeof(struct msghdr));
                msgs[k].msg_hdr.msg_iov = &iovs[k];
                msgs[k].msg_hdr.msg_iovlen = 1;
                msgs[k].msg_hdr.msg_name = &addrs[k];
                msgs[k].msg_hdr.msg_namelen = sizeof(addrs[k]);
            }
            int got = recvmmsg(st->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
            if (got <= 0) break;
            for (int k = 0; k < got; k++)
                rx_packet(st, bufs[k], (int)msgs[k].msg_len, &addrs[k], now, &digits[i]);
            total += got;
            if (got < BATCH) break;
        }
        if (st->rtcp_fd >= 0 && (((now / RTP_FRAME) + (uint32_t)i) & 15) == 0) {   /* RTCP: every 320 ms */
            for (int k = 0; k < 8; k++) {
                int r = (int)recv(st->rtcp_fd, bufs[0], PKT, MSG_DONTWAIT);
                if (r <= 0) break;
                rx_rtcp(st, bufs[0], r);
            }
        }
        playout(st, in_codes + (size_t)i * RTP_FRAME);
    }
    return total;
}
