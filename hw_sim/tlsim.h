/* tlsim: a software telephony card (E1/T1 spans, FXO/FXS ports) and its far end.
 *
 * The card side is what a driver sees (like a DAHDI board); the far side is the
 * network (PSTN switch, station phones) driven by the simulator's Python API.
 * Audio moves one block per tick in each direction as G.711 bytes.
 */
#ifndef TLSIM_H
#define TLSIM_H
#include <stdint.h>

/* channel kinds */
#define TLSIM_BCHAN   0   /* E1/T1 bearer channel (clear channel or CAS) */
#define TLSIM_DCHAN   1   /* ISDN D-channel: HDLC frames, no audio */
#define TLSIM_FXO     2   /* card is FXO: far end is a central office line */
#define TLSIM_FXS     3   /* card is FXS: far end is a station phone */

/* companding laws */
#define TLSIM_ALAW 0
#define TLSIM_ULAW 1

/* events (card side and far side share the numbering) */
#define TLSIM_EV_RING_ON      1   /* card(FXO): ring voltage applied; far(FXS phone): ringing starts */
#define TLSIM_EV_RING_OFF     2
#define TLSIM_EV_OFFHOOK      3   /* card(FXS): station off hook; far(CO): line seized/answered */
#define TLSIM_EV_ONHOOK       4
#define TLSIM_EV_FLASH        5   /* card(FXS): hook flash (on-hook 100..800 ms) */
#define TLSIM_EV_LOOP_DROP    6   /* card(FXO): loop current dropped (far disconnect) */
#define TLSIM_EV_LOOP_RESTORE 7
#define TLSIM_EV_POLARITY     8   /* card(FXO): battery reversal */
#define TLSIM_EV_CAS          9   /* received ABCD bits changed; value = bits */
#define TLSIM_EV_DFRAME      10   /* a D-channel frame can be read */
#define TLSIM_EV_ALARM       11   /* span alarm bits changed; value = bits */

/* alarm bits */
#define TLSIM_ALARM_RED    1   /* loss of signal / frame */
#define TLSIM_ALARM_BLUE   2   /* AIS */
#define TLSIM_ALARM_YELLOW 4   /* RAI */

typedef struct {
    int32_t type;
    int32_t channel;
    int32_t span;
    int32_t value;
    int64_t time;   /* in samples since start */
} tlsim_event_t;

typedef struct tlsim tlsim_t;

tlsim_t *tlsim_new(int channels, int block);
void tlsim_free(tlsim_t *s);
int tlsim_channels(tlsim_t *s);
int tlsim_block(tlsim_t *s);
int64_t tlsim_now(tlsim_t *s);
int tlsim_config(tlsim_t *s, int ch, int kind, int law, int span);

/* clock */
void tlsim_set_realtime(tlsim_t *s, int on);
void tlsim_tick(tlsim_t *s);

/* card side: audio for all channels as (channels, block) G.711 bytes */
void tlsim_card_read(tlsim_t *s, uint8_t *out);
void tlsim_card_write(tlsim_t *s, const uint8_t *in);
void tlsim_card_read_rows(tlsim_t *s, const int32_t *rows, int n, uint8_t *out);
void tlsim_card_write_rows(tlsim_t *s, const int32_t *rows, int n, const uint8_t *in);
int tlsim_card_hook(tlsim_t *s, int ch, int offhook);       /* FXO: seize/answer or release */
int tlsim_card_ring(tlsim_t *s, int ch, int on);            /* FXS: ring the station */
int tlsim_card_set_cas(tlsim_t *s, int ch, int bits);
int tlsim_card_get_cas(tlsim_t *s, int ch);
int tlsim_card_send_frame(tlsim_t *s, int ch, const uint8_t *data, int len);
int tlsim_card_recv_frame(tlsim_t *s, int ch, uint8_t *buf, int max);
int tlsim_card_events(tlsim_t *s, tlsim_event_t *out, int max);
int tlsim_card_alarms(tlsim_t *s, int span);

/* far side */
void tlsim_far_read(tlsim_t *s, uint8_t *out);
int tlsim_far_ring(tlsim_t *s, int ch, int on);             /* CO rings an FXO port */
int tlsim_far_hook(tlsim_t *s, int ch, int offhook);        /* station phone on an FXS port */
int tlsim_far_loop(tlsim_t *s, int ch, int current);        /* CO drops/restores loop current */
int tlsim_far_reverse(tlsim_t *s, int ch);                  /* CO reverses battery */
int tlsim_far_set_cas(tlsim_t *s, int ch, int bits);
int tlsim_far_get_cas(tlsim_t *s, int ch);
int tlsim_far_send_frame(tlsim_t *s, int ch, const uint8_t *data, int len);
int tlsim_far_recv_frame(tlsim_t *s, int ch, uint8_t *buf, int max);
int tlsim_far_events(tlsim_t *s, tlsim_event_t *out, int max);
int tlsim_far_set_alarm(tlsim_t *s, int span, int bits);
int tlsim_far_play(tlsim_t *s, int ch, const int16_t *pcm, int n);   /* queue audio the far end sends */
int tlsim_far_play_pending(tlsim_t *s, int ch);                       /* samples still queued */
void tlsim_far_play_clear(tlsim_t *s, int ch);
int tlsim_far_capture(tlsim_t *s, int ch, int on);                   /* keep what the far end hears */
int tlsim_far_capture_take(tlsim_t *s, int ch, int16_t *out, int max);
int tlsim_far_connect(tlsim_t *s, int a, int b);  /* switch two far ends together (a call through the PSTN); b=-1 to undo */
int tlsim_far_hook_state(tlsim_t *s, int ch);     /* card-side hook as the far end sees it */

/* G.711 in the simulator (the far end's own codec) */
int16_t tlsim_alaw_to_linear(uint8_t a);
uint8_t tlsim_linear_to_alaw(int16_t x);
int16_t tlsim_ulaw_to_linear(uint8_t u);
uint8_t tlsim_linear_to_ulaw(int16_t x);

#endif
