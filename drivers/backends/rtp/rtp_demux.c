/* Demultiplexing for shared RTP sockets: each stream is found in O(1) through two hash tables of the bank,
 * by (socket, far address) and by (socket, far SSRC); comedia latching of a stream's first packet. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include "rtp.h"
#include "rtp_demux.h"

static inline uint32_t h_addr(const rtp_bank *b, int g, uint32_t ip, uint16_t port)
{
    uint32_t h = ip * 2654435761u ^ ((uint32_t)port * 40503u) ^ ((uint32_t)g * 0x9e3779b9u);
    return (h ^ (h >> 15)) & b->mask;
}

static inline uint32_t h_ssrc(const rtp_bank *b, int g, uint32_t ssrc)
{
    uint32_t h = (ssrc ^ ((uint32_t)g * 0x85ebca6bu)) * 2654435761u;
    return (h ^ (h >> 16)) & b->mask;
}

static void addr_remove(rtp_bank *b, int i)
{
    rtp_stream *st = &b->s[i];
    if (st->key_ip == 0) return;
    int *pp = &b->addr_head[h_addr(b, st->group, st->key_ip, st->key_port)];
    while (*pp >= 0 && *pp != i) pp = &b->s[*pp].addr_next;
    if (*pp == i) *pp = st->addr_next;
    st->addr_next = -1;
    st->key_ip = 0;
    st->key_port = 0;
}

static void addr_insert(rtp_bank *b, int i, uint32_t ip, uint16_t port)
{
    rtp_stream *st = &b->s[i];
    addr_remove(b, i);
    if (ip == 0 || st->group < 0) return;
    st->key_ip = ip;
    st->key_port = port;
    int *head = &b->addr_head[h_addr(b, st->group, ip, port)];
    st->addr_next = *head;
    *head = i;
}

static void ssrc_remove(rtp_bank *b, int i)
{
    rtp_stream *st = &b->s[i];
    if (!st->ssrc_has) return;
    int *pp = &b->ssrc_head[h_ssrc(b, st->group, st->key_ssrc)];
    while (*pp >= 0 && *pp != i) pp = &b->s[*pp].ssrc_next;
    if (*pp == i) *pp = st->ssrc_next;
    st->ssrc_next = -1;
    st->ssrc_has = 0;
}

static void ssrc_insert(rtp_bank *b, int i, uint32_t ssrc)
{
    rtp_stream *st = &b->s[i];
    ssrc_remove(b, i);
    if (st->group < 0) return;
    st->key_ssrc = ssrc;
    st->ssrc_has = 1;
    int *head = &b->ssrc_head[h_ssrc(b, st->group, ssrc)];
    st->ssrc_next = *head;
    *head = i;
}

static void set_latching(rtp_bank *b, int i, int on)
{
    rtp_stream *st = &b->s[i];
    on = on ? 1 : 0;
    if (st->latching == on || st->group < 0) { if (st->group < 0) st->latching = 0; return; }
    rtp_group *g = &b->g[st->group];
    st->latching = on;
    g->latch_count += on ? 1 : -1;
    g->latch_sum += on ? i : -i;
}

void rtp_set_remote(rtp_bank *b, int i, uint32_t ip, uint16_t port, int latching)
{
    addr_insert(b, i, ip, port);
    set_latching(b, i, latching);
}

void rtp_set_ssrc(rtp_bank *b, int i, uint32_t ssrc, int has)
{
    if (has) ssrc_insert(b, i, ssrc);
    else ssrc_remove(b, i);
    b->s[i].ssrc_fixed = has ? 1 : 0;
}

void rtp_unlink(rtp_bank *b, int i)
{
    addr_remove(b, i);
    ssrc_remove(b, i);
    set_latching(b, i, 0);
    b->s[i].ssrc_fixed = 0;
}

/* the stream a packet from ip:port with `ssrc` on group g belongs to, or -1 (stray) */
int rtp_demux(rtp_bank *b, int g, uint32_t ip, uint16_t port, uint32_t ssrc)
{
    rtp_stream *s = b->s;
    for (int j = b->ssrc_head[h_ssrc(b, g, ssrc)]; j >= 0; j = s[j].ssrc_next) {
        if (s[j].group != g || s[j].key_ssrc != ssrc) continue;
        if (s[j].key_ip == ip && s[j].key_port == port) return j;
        if (s[j].latching) return j;            /* its announced SSRC from a new address: NAT */
    }
    int found = -1, n = 0, unclaimed = -1;
    for (int j = b->addr_head[h_addr(b, g, ip, port)]; j >= 0; j = s[j].addr_next) {
        if (s[j].group != g || s[j].key_ip != ip || s[j].key_port != port) continue;
        if (s[j].ssrc_fixed) continue;          /* announced SSRC: found by it above, or not ours (a far end
                                                   multiplexing calls on one socket, a just-ended call) */
        n++;
        found = j;
        if (!s[j].ssrc_has && unclaimed < 0) unclaimed = j;
    }
    if (n == 1) return found;                    /* one stream from this address: SSRC changes are its own */
    if (n > 1) return unclaimed;                 /* several: a new SSRC claims one that has none yet */
    if (b->g[g].latch_count == 1) {             /* comedia: the one stream waiting for its first packet */
        int j = b->g[g].latch_sum;
        if (!s[j].ssrc_fixed && (b->g[g].count == 1 || s[j].key_ip != ip)) return j;   /* not a stray of its own (SDP) host */
    }
    return -1;
}

/* a packet was accepted for stream j: learn its address (comedia) and SSRC for the tables */
void rtp_accept_from(rtp_bank *b, int j, uint32_t ip, uint16_t port, uint32_t ssrc)
{
    rtp_stream *st = &b->s[j];
    if (st->latching) {
        if (st->key_ip != ip || st->key_port != port) {
            addr_insert(b, j, ip, port);
            if (st->comedia) {
                st->remote_ip = ip;
                st->remote_port = port;
                st->remote_rtcp = htons(ntohs(port) + 1);
            }
        }
        set_latching(b, j, 0);
    }
    if (!st->ssrc_fixed && (!st->ssrc_has || st->key_ssrc != ssrc)) ssrc_insert(b, j, ssrc);
}

int rtp_demux_rtcp(rtp_bank *b, int g, uint32_t ip, uint16_t port, uint32_t ssrc)
{
    rtp_stream *s = b->s;
    for (int j = b->ssrc_head[h_ssrc(b, g, ssrc)]; j >= 0; j = s[j].ssrc_next)
        if (s[j].group == g && s[j].key_ssrc == ssrc && s[j].key_ip == ip) return j;
    int found = -1, n = 0;
    uint16_t rtp_port = htons(ntohs(port) - 1);
    for (int j = b->addr_head[h_addr(b, g, ip, rtp_port)]; j >= 0; j = s[j].addr_next)
        if (s[j].group == g && s[j].key_ip == ip && s[j].key_port == rtp_port) { n++; found = j; }
    return n == 1 ? found : -1;
}

