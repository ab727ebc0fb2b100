/* A short call scenario against the card simulator, built with -fsanitize=address,undefined by
 * test_tlsim_asan.py (#16). Every API the Python driver uses is exercised, plus the edges a buggy caller
 * could hit (bad channels, over-long and queue-overrun frames, unknown rows, empty buffers).
 * Prints one "ok ..." line per step; exits 1 on a wrong outcome, the sanitizers abort on a memory error. */
#include "tlsim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 6
#define B 160
#define EXPECT(cond) do { if (!(cond)) { fprintf(stderr, "FAILED line %d: %s\n", __LINE__, #cond); exit(1); } } while (0)

static int count_events(tlsim_event_t *ev, int n, int type, int ch)
{
    int i, k = 0;
    for (i = 0; i < n; i++) k += ev[i].type == type && ev[i].channel == ch;
    return k;
}

int main(void)
{
    static tlsim_event_t ev[4096];
    static uint8_t card[N * B], far[N * B], frame[600], tx[N * B];
    static int16_t tone[8000], heard[16000];
    int32_t rows[3] = {4, -7, 99};
    uint8_t rowbuf[3 * B];
    tlsim_t *s;
    int i, n, got;

    EXPECT(tlsim_new(0, B) == NULL && tlsim_new(4, 4) == NULL && tlsim_new(4, 4096) == NULL);
    s = tlsim_new(N, B);
    EXPECT(s != NULL && tlsim_channels(s) == N && tlsim_block(s) == B);
    EXPECT(tlsim_config(s, 0, TLSIM_FXO, TLSIM_ALAW, 0) == 0);
    EXPECT(tlsim_config(s, 1, TLSIM_FXS, TLSIM_ULAW, 0) == 0);
    EXPECT(tlsim_config(s, 2, TLSIM_DCHAN, TLSIM_ALAW, 1) == 0);
    EXPECT(tlsim_config(s, 3, TLSIM_BCHAN, TLSIM_ALAW, 1) == 0);
    EXPECT(tlsim_config(s, 4, TLSIM_BCHAN, TLSIM_ULAW, 1) == 0);
    EXPECT(tlsim_config(s, -1, TLSIM_FXO, TLSIM_ALAW, 0) < 0 && tlsim_config(s, N, TLSIM_FXO, TLSIM_ALAW, 0) < 0);
    EXPECT(tlsim_config(s, 5, 9, TLSIM_ALAW, 0) < 0 && tlsim_config(s, 5, TLSIM_BCHAN, 7, 0) < 0);
    EXPECT(tlsim_config(s, 5, TLSIM_BCHAN, TLSIM_ALAW, 4096) < 0);   /* span indices 0..4095 (10,000+ channels) */

    /* nothing captured or queued yet: empty reads */
    EXPECT(tlsim_far_capture_take(s, 0, heard, 100) == 0);
    EXPECT(tlsim_card_recv_frame(s, 2, frame, sizeof frame) < 0 && tlsim_far_recv_frame(s, 2, frame, 0) < 0);
    EXPECT(tlsim_far_play(s, 0, tone, 0) == 0);
    printf("ok setup\n");

    /* FXO incoming call: ring, answer, far end plays a tone, card echoes it back, far end hangs up */
    for (i = 0; i < 8000; i++) tone[i] = (int16_t) ((i % 16 < 8) ? 8000 : -8000);
    EXPECT(tlsim_far_ring(s, 0, 1) == 0);
    tlsim_tick(s);
    n = tlsim_card_events(s, ev, 4096);
    EXPECT(count_events(ev, n, TLSIM_EV_RING_ON, 0) == 1);
    EXPECT(tlsim_card_hook(s, 0, 1) == 0 && tlsim_far_hook_state(s, 0) == 1);
    EXPECT(tlsim_far_ring(s, 0, 0) == 0);
    EXPECT(tlsim_far_play(s, 0, tone, 8000) == 8000 && tlsim_far_play_pending(s, 0) == 8000);
    EXPECT(tlsim_far_capture(s, 0, 1) == 0);
    for (i = 0; i < 50; i++) {
        tlsim_card_read(s, card);
        memcpy(tx, card, sizeof tx);            /* loop the card's receive back to its transmit */
        tlsim_card_write(s, tx);
        tlsim_tick(s);
        tlsim_far_read(s, far);
    }
    EXPECT(tlsim_far_play_pending(s, 0) == 0);
    got = tlsim_far_capture_take(s, 0, heard, 16000);
    EXPECT(got == 50 * B);
    for (i = 0, n = 0; i < got; i++) n += heard[i] > 4000 || heard[i] < -4000;
    EXPECT(n > 7000);                           /* the tone came back through both codecs */
    EXPECT(tlsim_far_capture_take(s, 0, heard, -5) <= 0);
    tlsim_far_play(s, 0, tone, 100);
    tlsim_far_play_clear(s, 0);
    tlsim_far_play_clear(s, -1);
    EXPECT(tlsim_far_play_pending(s, 0) == 0 && tlsim_far_play(s, 0, tone, -1) < 0);
    EXPECT(tlsim_far_loop(s, 0, 0) == 0 && tlsim_far_reverse(s, 0) == 0 && tlsim_card_hook(s, 0, 0) == 0);
    EXPECT(tlsim_far_capture(s, 0, 0) == 0);
    n = tlsim_far_events(s, ev, 4096);
    EXPECT(count_events(ev, n, TLSIM_EV_OFFHOOK, 0) == 1 && count_events(ev, n, TLSIM_EV_ONHOOK, 0) == 1);
    printf("ok fxo call\n");

    /* FXS: card rings the station, it answers, flashes, hangs up */
    EXPECT(tlsim_card_ring(s, 1, 1) == 0 && tlsim_card_ring(s, 0, 1) < 0);
    EXPECT(tlsim_far_hook(s, 1, 1) == 0);
    for (i = 0; i < 5; i++) tlsim_tick(s);
    EXPECT(tlsim_far_hook(s, 1, 0) == 0);
    for (i = 0; i < 20; i++) tlsim_tick(s);     /* 400 ms: a flash */
    EXPECT(tlsim_far_hook(s, 1, 1) == 0);
    EXPECT(tlsim_far_hook(s, 1, 0) == 0);
    for (i = 0; i < 60; i++) tlsim_tick(s);     /* 1.2 s: on hook */
    n = tlsim_card_events(s, ev, 4096);
    EXPECT(count_events(ev, n, TLSIM_EV_OFFHOOK, 1) == 1 && count_events(ev, n, TLSIM_EV_FLASH, 1) == 1);
    EXPECT(count_events(ev, n, TLSIM_EV_ONHOOK, 1) == 1);
    printf("ok fxs call\n");

    /* D channel: frames both ways, the longest, a too long one, a queue overrun, short reads */
    for (i = 0; i < (int) sizeof frame; i++) frame[i] = (uint8_t) i;
    EXPECT(tlsim_card_send_frame(s, 2, frame, 512) == 0 && tlsim_card_send_frame(s, 2, frame, 513) < 0);
    EXPECT(tlsim_card_send_frame(s, 2, frame, -1) < 0 && tlsim_card_send_frame(s, 3, frame, 4) < 0);
    EXPECT(tlsim_far_recv_frame(s, 2, frame, sizeof frame) == 512);
    for (i = 0, got = 0; i < 300; i++) got += tlsim_far_send_frame(s, 2, frame, 3 + i % 40) == 0;
    EXPECT(got == 256);
    EXPECT(tlsim_card_recv_frame(s, 2, frame, 2) == 2);
    for (i = 0, got = 0; tlsim_card_recv_frame(s, 2, frame, sizeof frame) >= 0; i++) got++;
    EXPECT(got == 255);
    EXPECT(tlsim_card_recv_frame(s, -1, frame, 10) < 0 && tlsim_far_send_frame(s, N, frame, 3) < 0);
    printf("ok d channel\n");

    /* CAS, alarms, a far-end switched connection across laws, rows API with unknown rows */
    EXPECT(tlsim_card_set_cas(s, 3, 0x1) == 0 && tlsim_far_get_cas(s, 3) == 0x1);
    EXPECT(tlsim_far_set_cas(s, 3, 0xD) == 0 && tlsim_card_get_cas(s, 3) == 0xD);
    EXPECT(tlsim_far_set_alarm(s, 1, TLSIM_ALARM_RED) == 0 && tlsim_card_alarms(s, 1) == TLSIM_ALARM_RED);
    EXPECT(tlsim_far_set_alarm(s, 4096, 1) < 0 && tlsim_card_alarms(s, -1) < 0 && tlsim_card_alarms(s, 4096) < 0);
    EXPECT(tlsim_far_set_alarm(s, 4095, TLSIM_ALARM_RED) == 0 && tlsim_card_alarms(s, 4095) == TLSIM_ALARM_RED);
    EXPECT(tlsim_far_set_alarm(s, 4095, 0) == 0 && tlsim_card_alarms(s, 4095) == 0);
    EXPECT(tlsim_far_connect(s, 3, 4) == 0 && tlsim_far_connect(s, 3, N) < 0);
    memset(rowbuf, 0x55, sizeof rowbuf);
    tlsim_card_write_rows(s, rows, 3, rowbuf);
    tlsim_tick(s);
    tlsim_card_read_rows(s, rows, 3, rowbuf);
    EXPECT(rowbuf[B] == 0xD5 && rowbuf[2 * B] == 0xD5);
    EXPECT(tlsim_far_connect(s, 4, 1) == 0 && tlsim_far_connect(s, 4, -1) == 0);
    tlsim_set_realtime(s, 1);
    tlsim_tick(s);
    tlsim_set_realtime(s, 0);
    printf("ok cas alarms connect\n");

    /* many events nobody reads yet: the queue grows and still pops in order */
    for (i = 0; i < 5000; i++) tlsim_far_set_cas(s, 5, i & 1 ? 0x1 : 0x9);
    for (got = 0; (n = tlsim_card_events(s, ev, 4096)) > 0;) got += n;
    EXPECT(got >= 5000);
    printf("ok events\n");

    tlsim_free(s);
    tlsim_free(NULL);
    printf("scenario ok\n");
    return 0;
}
