/* Internal to the RTP core (rtp.c <-> rtp_demux.c): packet demultiplexing on shared sockets. */
#include <stdint.h>

/* the stream a packet from ip:port (network order) with `ssrc` on socket group g belongs to, or -1 (stray) */
int rtp_demux(rtp_bank *b, int g, uint32_t ip, uint16_t port, uint32_t ssrc);
/* a packet was accepted for stream j: learn its address (comedia) and SSRC for the tables */
void rtp_accept_from(rtp_bank *b, int j, uint32_t ip, uint16_t port, uint32_t ssrc);
/* the stream an RTCP packet from ip:port whose sender SSRC is `ssrc` belongs to, or -1 */
int rtp_demux_rtcp(rtp_bank *b, int g, uint32_t ip, uint16_t port, uint32_t ssrc);
