/* tlsim: a software telephony card and its far end.  See tlsim.h. */
#include "tlsim.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>

#define FRAME_MAX 512
#define FRAME_QUEUE 256
#define MAX_SPANS 4096          /* 122,880 E1 channels: more than any card the engine drives */
#define FLASH_MIN_SAMPLES (8000 / 10)    /* 100 ms */
#define FLASH_MAX_SAMPLES (8000 * 8 / 10) /* 800 ms */

typedef struct {
    int len;
    uint8_t data[FRAME_MAX];
} frame_t;

typedef struct {
    frame_t *frames;
    int head, count;
} frame_queue_t;

typedef struct {
    int16_t *buf;
    int len, cap, pos;
} pcm_buf_t;

typedef struct {
    int kind, law, span;
    uint8_t idle;
    /* hook / ring / loop state */
    int card_offhook;     /* FXO: card has seized the line */
    int far_offhook;      /* FXS: the station phone is off hook (debounced view below) */
    int far_ringing;      /* FXO: CO applies ring voltage */
    int card_ringing;     /* FXS: card rings the station */
    int loop_current;     /* FXO: CO supplies loop current */
    int station_offhook;  /* FXS: hook state reported to the card */
    int64_t onhook_since; /* FXS: when the phone went on hook (-1: not pending) */
    int card_cas, far_cas;
    int peer;             /* far-end switch connection */
    int capture;
    frame_queue_t to_card, to_far;
    pcm_buf_t play, cap;
} chan_t;

typedef struct {
    tlsim_event_t *ev;
    int head, count, cap;
} event_queue_t;

struct tlsim {
    int n, block;
    int64_t now;
    int realtime;
    struct timespec start;
    chan_t *ch;
    uint8_t *card_rx, *card_tx, *far_rx, *next_rx;
    int16_t *scratch;
    int span_alarms[MAX_SPANS];
    event_queue_t card_ev, far_ev;
};

/* ---------------------------------------------------------------- G.711 */

static int top_bit(unsigned int x)
{
    int n = -1;
    while (x) { n++; x >>= 1; }
    return n;
}

uint8_t tlsim_linear_to_alaw(int16_t x)
{
    int mask, seg, m = x;
    if (m >= 0) mask = 0xD5;
    else { mask = 0x55; m = -m - 1; }
    seg = top_bit((unsigned) m | 0xFF) - 7;
    if (seg >= 8) return (uint8_t) (0x7F ^ mask);
    return (uint8_t) (((seg << 4) | ((m >> (seg ? seg + 3 : 4)) & 0x0F)) ^ mask);
}

int16_t tlsim_alaw_to_linear(uint8_t a)
{
    int t, seg;
    a ^= 0x55;
    t = (a & 0x0F) << 4;
    seg = (a & 0x70) >> 4;
    if (seg) t = (t + 0x108) << (seg - 1);
    else t += 8;
    return (int16_t) ((a & 0x80) ? t : -t);
}

uint8_t tlsim_linear_to_ulaw(int16_t x)
{
    int mask, seg, m = x;
    if (m < 0) { m = 0x84 - m; mask = 0x7F; }
    else { m = 0x84 + m; mask = 0xFF; }
    seg = top_bit((unsigned) m | 0xFF) - 7;
    if (seg >= 8) return (uint8_t) (0x7F ^ mask);
    return (uint8_t) (((seg << 4) | ((m >> (seg + 3)) & 0x0F)) ^ mask);
}

int16_t tlsim_ulaw_to_linear(uint8_t u)
{
    int t;
    u = ~u;
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
    return (int16_t) ((u & 0x80) ? (0x84 - t) : (t - 0x84));
}

static uint8_t encode(int law, int16_t x)
{
    return law == TLSIM_ULAW ? tlsim_linear_to_ulaw(x) : tlsim_linear_to_alaw(x);
}

static int16_t decode(int law, uint8_t c)
{
    return law == TLSIM_ULAW ? tlsim_ulaw_to_linear(c) : tlsim_alaw_to_linear(c);
}

/* ---------------------------------------------------------------- queues */

static void push_event(tlsim_t *s, event_queue_t *q, int type, int ch, int span, int value)
{
    tlsim_event_t *e;
    if (q->count == q->cap) {
        int newcap = q->cap ? q->cap * 2 : 1024;
        tlsim_event_t *nb = malloc(sizeof(*nb) * newcap);
        int i;
        if (!nb) return;
        for (i = 0; i < q->count; i++) nb[i] = q->ev[(q->head + i) % q->cap];
        free(q->ev);
        q->ev = nb;
        q->head = 0;
        q->cap = newcap;
    }
    e = &q->ev[(q->head + q->count) % q->cap];
    e->type = type;
    e->channel = ch;
    e->span = span;
    e->value = value;
    e->time = s->now;
    q->count++;
}

static int pop_events(event_queue_t *q, tlsim_event_t *out, int max)
{
    int n = 0;
    while (n < max && q->count > 0) {
        out[n++] = q->ev[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    return n;
}

static int frame_push(frame_queue_t *q, const uint8_t *data, int len)
{
    frame_t *f;
    if (len < 0 || len > FRAME_MAX) return -1;
    if (!q->frames) {
        q->frames = calloc(FRAME_QUEUE, sizeof(frame_t));
        if (!q->frames) return -1;
    }
    if (q->count == FRAME_QUEUE) return -1;   /* overrun: frame lost, as on a real HDLC controller */
    f = &q->frames[(q->head + q->count) % FRAME_QUEUE];
    memcpy(f->data, data, len);
    f->len = len;
    q->count++;
    return 0;
}

static int frame_pop(frame_queue_t *q, uint8_t *buf, int max)
{
    frame_t *f;
    int n;
    if (q->count == 0 || max < 0) return -1;
    f = &q->frames[q->head];
    n = f->len < max ? f->len : max;
    memcpy(buf, f->data, n);
    q->head = (q->head + 1) % FRAME_QUEUE;
    q->count--;
    return n;
}

static int pcm_append(pcm_buf_t *b, const int16_t *pcm, int n)
{
    if (n <= 0) return 0;   /* nothing to add (and memcpy must not see a NULL buffer) */
    if (b->pos > 0 && b->pos == b->len) b->pos = b->len = 0;
    if (b->len + n > b->cap) {
        int live = b->len - b->pos;
        if (b->pos > 0) {   /* compact first */
            memmove(b->buf, b->buf + b->pos, sizeof(int16_t) * live);
            b->len = live;
            b->pos = 0;
        }
        if (b->len + n > b->cap) {
            int newcap = b->cap ? b->cap : 4096;
            int16_t *nb;
            while (newcap < b->len + n) newcap *= 2;
            nb = realloc(b->buf, sizeof(int16_t) * newcap);
            if (!nb) return -1;
            b->buf = nb;
            b->cap = newcap;
        }
    }
    memcpy(b->buf + b->len, pcm, sizeof(int16_t) * n);
    b->len += n;
    return n;
}

/* ---------------------------------------------------------------- life cycle */

tlsim_t *tlsim_new(int channels, int block)
{
    tlsim_t *s;
    int i;
    if (channels <= 0 || block < 8 || block > 2048) return NULL;
    s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->n = channels;
    s->block = block;
    s->ch = calloc(channels, sizeof(chan_t));
    s->card_rx = malloc((size_t) channels * block);
    s->card_tx = malloc((size_t) channels * block);
    s->far_rx = malloc((size_t) channels * block);
    s->next_rx = malloc((size_t) channels * block);
    s->scratch = malloc(sizeof(int16_t) * block);
    if (!s->ch || !s->card_rx || !s->card_tx || !s->far_rx || !s->next_rx || !s->scratch) {
        tlsim_free(s);
        return NULL;
    }
    for (i = 0; i < channels; i++) {
        s->ch[i].kind = TLSIM_BCHAN;
        s->ch[i].law = TLSIM_ALAW;
        s->ch[i].idle = 0xD5;
        s->ch[i].peer = -1;
        s->ch[i].loop_current = 1;
        s->ch[i].onhook_since = -1;
        s->ch[i].card_cas = s->ch[i].far_cas = 0x9;  /* idle-ish default ABCD; signaling sets its own */
    }
    memset(s->card_rx, 0xD5, (size_t) channels * block);
    memset(s->card_tx, 0xD5, (size_t) channels * block);
    memset(s->far_rx, 0xD5, (size_t) channels * block);
    clock_gettime(CLOCK_MONOTONIC, &s->start);
    return s;
}

void tlsim_free(tlsim_t *s)
{
    int i;
    if (!s) return;
    if (s->ch) {
        for (i = 0; i < s->n; i++) {
            free(s->ch[i].to_card.frames);
            free(s->ch[i].to_far.frames);
            free(s->ch[i].play.buf);
            free(s->ch[i].cap.buf);
        }
    }
    free(s->ch);
    free(s->card_rx);
    free(s->card_tx);
    free(s->far_rx);
    free(s->next_rx);
    free(s->scratch);
    free(s->card_ev.ev);
    free(s->far_ev.ev);
    free(s);
}

int tlsim_channels(tlsim_t *s) { return s->n; }
int tlsim_block(tlsim_t *s) { return s->block; }
int64_t tlsim_now(tlsim_t *s) { return s->now; }

#define CHECK(ch) do { if ((ch) < 0 || (ch) >= s->n) return -1; } while (0)

int tlsim_config(tlsim_t *s, int ch, int kind, int law, int span)
{
    CHECK(ch);
    if (kind < TLSIM_BCHAN || kind > TLSIM_FXS || (law != TLSIM_ALAW && law != TLSIM_ULAW)) return -1;
    if (span < 0 || span >= MAX_SPANS) return -1;
    s->ch[ch].kind = kind;
    s->ch[ch].law = law;
    s->ch[ch].span = span;
    s->ch[ch].idle = law == TLSIM_ULAW ? 0xFF : 0xD5;
    memset(s->card_rx + (size_t) ch * s->block, s->ch[ch].idle, s->block);
    memset(s->card_tx + (size_t) ch * s->block, s->ch[ch].idle, s->block);
    memset(s->far_rx + (size_t) ch * s->block, s->ch[ch].idle, s->block);
    return 0;
}

/* ---------------------------------------------------------------- clock */

void tlsim_set_realtime(tlsim_t *s, int on)
{
    s->realtime = on;
    clock_gettime(CLOCK_MONOTONIC, &s->start);
    s->start.tv_sec -= s->now / 8000;
    s->start.tv_nsec -= (long) ((s->now % 8000) * 125000);
    while (s->start.tv_nsec < 0) { s->start.tv_nsec += 1000000000L; s->start.tv_sec--; }
}

static void wait_realtime(tlsim_t *s)
{
    struct timespec due = s->start;
    int64_t ns = s->now * 125000;   /* 125 us per sample */
    due.tv_sec += ns / 1000000000L;
    due.tv_nsec += ns % 1000000000L;
    if (due.tv_nsec >= 1000000000L) { due.tv_nsec -= 1000000000L; due.tv_sec++; }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
        ;
}

static void fxs_hook_timers(tlsim_t *s, chan_t *c, int i)
{
    /* a station on hook long enough is a real on-hook, not a flash */
    if (c->onhook_since >= 0 && s->now - c->onhook_since > FLASH_MAX_SAMPLES) {
        c->onhook_since = -1;
        if (c->station_offhook) {
            c->station_offhook = 0;
            push_event(s, &s->card_ev, TLSIM_EV_ONHOOK, i, c->span, 0);
        }
    }
}

void tlsim_tick(tlsim_t *s)
{
    int i, j, b = s->block;
    for (i = 0; i < s->n; i++) {
        chan_t *c = &s->ch[i];
        uint8_t *next = s->next_rx + (size_t) i * b;
        uint8_t *tx = s->card_tx + (size_t) i * b;
        if (c->kind == TLSIM_DCHAN) {
            memset(next, c->idle, b);
            continue;
        }
        if (c->peer >= 0) {
            chan_t *p = &s->ch[c->peer];
            uint8_t *ptx = s->card_tx + (size_t) c->peer * b;
            if (p->law == c->law) memcpy(next, ptx, b);
            else for (j = 0; j < b; j++) next[j] = encode(c->law, decode(p->law, ptx[j]));
        } else if (c->play.len > c->play.pos) {
            int avail = c->play.len - c->play.pos;
            int take = avail < b ? avail : b;
            const int16_t *src = c->play.buf + c->play.pos;
            for (j = 0; j < take; j++) next[j] = encode(c->law, src[j]);
            for (; j < b; j++) next[j] = c->idle;
            c->play.pos += take;
        } else {
            memset(next, c->idle, b);
        }
        if (c->capture) {
            for (j = 0; j < b; j++) s->scratch[j] = decode(c->law, tx[j]);
            pcm_append(&c->cap, s->scratch, b);
        }
        if (c->kind == TLSIM_FXS) fxs_hook_timers(s, c, i);
    }
    /* what the card sent this tick is what the far end hears; the card reads the next block */
    {
        uint8_t *t = s->far_rx;
        s->far_rx = s->card_tx;
        s->card_tx = t;
        t = s->card_rx;
        s->card_rx = s->next_rx;
        s->next_rx = t;
    }
    for (i = 0; i < s->n; i++) memset(s->card_tx + (size_t) i * b, s->ch[i].idle, b);
    s->now += b;
    if (s->realtime) wait_realtime(s);
}

/* ---------------------------------------------------------------- card side */

void tlsim_card_read(tlsim_t *s, uint8_t *out)
{
    memcpy(out, s->card_rx, (size_t) s->n * s->block);
}

void tlsim_card_write(tlsim_t *s, const uint8_t *in)
{
    memcpy(s->card_tx, in, (size_t) s->n * s->block);
}

void tlsim_card_read_rows(tlsim_t *s, const int32_t *rows, int n, uint8_t *out)
{
    int i, b = s->block;
    for (i = 0; i < n; i++) {
        if (rows[i] < 0 || rows[i] >= s->n) memset(out + (size_t) i * b, 0xD5, b);
        else memcpy(out + (size_t) i * b, s->card_rx + (size_t) rows[i] * b, b);
    }
}

void tlsim_card_write_rows(tlsim_t *s, const int32_t *rows, int n, const uint8_t *in)
{
    int i, b = s->block;
    for (i = 0; i < n; i++)
        if (rows[i] >= 0 && rows[i] < s->n)
            memcpy(s->card_tx + (size_t) rows[i] * b, in + (size_t) i * b, b);
}

int tlsim_card_hook(tlsim_t *s, int ch, int offhook)
{
    chan_t *c;
    CHECK(ch);
    c = &s->ch[ch];
    if (c->kind != TLSIM_FXO) return -1;
    offhook = offhook ? 1 : 0;
    if (c->card_offhook == offhook) return 0;
    c->card_offhook = offhook;
    push_event(s, &s->far_ev, offhook ? TLSIM_EV_OFFHOOK : TLSIM_EV_ONHOOK, ch, c->span, 0);
    return 0;
}

int tlsim_card_ring(tlsim_t *s, int ch, int on)
{
    chan_t *c;
    CHECK(ch);
    c = &s->ch[ch];
    if (c->kind != TLSIM_FXS) return -1;
    on = on ? 1 : 0;
    if (c->card_ringing == on) return 0;
    c->card_ringing = on;
    push_event(s, &s->far_ev, on ? TLSIM_EV_RING_ON : TLSIM_EV_RING_OFF, ch, c->span, 0);
    return 0;
}

int tlsim_card_set_cas(tlsim_t *s, int ch, int bits)
{
    chan_t *c;
    CHECK(ch);
    c = &s->ch[ch];
    bits &= 0xF;
    if (c->card_cas == bits) return 0;
    c->card_cas = bits;
    push_event(s, &s->far_ev, TLSIM_EV_CAS, ch, c->span, bits);
    return 0;
}

int tlsim_card_get_cas(tlsim_t *s, int ch)
{
    CHECK(ch);
    return s->ch[ch].far_cas;
}

int tlsim_card_send_frame(tlsim_t *s, int ch, const uint8_t *data, int len)
{
    CHECK(ch);
    if (s->ch[ch].kind != TLSIM_DCHAN) return -1;
    if (frame_push(&s->ch[ch].to_far, data, len) < 0) return -1;
    push_event(s, &s->far_ev, TLSIM_EV_DFRAME, ch, s->ch[ch].span, len);
    return 0;
}

int tlsim_card_recv_frame(tlsim_t *s, int ch, uint8_t *buf, int max)
{
    CHECK(ch);
    return frame_pop(&s->ch[ch].to_card, buf, max);
}

int tlsim_card_events(tlsim_t *s, tlsim_event_t *out, int max)
{
    return pop_events(&s->card_ev, out, max);
}

int tlsim_card_alarms(tlsim_t *s, int span)
{
    if (span < 0 || span >= MAX_SPANS) return -1;
    return s->span_alarms[span];
}

/* ---------------------------------------------------------------- far side */

void tlsim_far_read(tlsim_t *s, uint8_t *out)
{
    memcpy(out, s->far_rx, (size_t) s->n * s->block);
}

int tlsim_far_ring(tlsim_t *s, int ch, int on)
{
    chan_t *c;
    CHECK(ch);
    c = &s->ch[ch];
    if (c->kind != TLSIM_FXO) return -1;
    on = on ? 1 : 0;
    if (c->far_ringing == on) return 0;
    c->far_ringing = on;
    push_event(s, &s->card_ev, on ? TLSIM_EV_RING_ON : TLSIM_EV_RING_OFF, ch, c->span, 0);
    return 0;
}

int tlsim_far_hook(tlsim_t *s, int ch, int offhook)
{
    chan_t *c;
    CHECK(ch);
    c = &s->ch[ch];
    if (c->kind != TLSIM_FXS) return -1;
    offhook = offhook ? 1 : 0;
    if (c->far_offhook == offhook) return 0;
    c->far_offhook = offhook;
    if (!offhook) {
        c->onhook_since = s->now;   /* decided later: flash or on-hook */
        return 0;
    }
    if (c->onhook_since >= 0) {
        int64_t dur = s->now - c->onhook_since;
        c->onhook_since = -1;
        if (c->station_offhook) {
            if (dur >= FLASH_MIN_SAMPLES)
                push_event(s, &s->card_ev, TLSIM_EV_FLASH, ch, c->span, (int) (dur / 8));
            return 0;   /* shorter: contact bounce, ignored */
        }
    }
    if (!c->station_offhook) {
        c->station_offhook = 1;
        if (c->card_ringing) {   /* answering stops the ringing */
            c->card_ringing = 0;
            push_event(s, &s->far_ev, TLSIM_EV_RING_OFF, ch, c->span, 0);
        }
        push_event(s, &s->card_ev, TLSIM_EV_OFFHOOK, ch, c->span, 0);
    }
    return 0;
}

int tlsim_far_loop(tlsim_t *s, int ch, int current)
{
    chan_t *c;
    CHECK(ch);
    c = &s->ch[ch];
    if (c->kind != TLSIM_FXO) return -1;
    current = current ? 1 : 0;
    if (c->loop_current == current) return 0;
    c->loop_current = current;
    push_event(s, &s->card_ev, current ? TLSIM_EV_LOOP_RESTORE : TLSIM_EV_LOOP_DROP, ch, c->span, 0);
    return 0;
}

int tlsim_far_reverse(tlsim_t *s, int ch)
{
    CHECK(ch);
    if (s->ch[ch].kind != TLSIM_FXO) return -1;
    push_event(s, &s->card_ev, TLSIM_EV_POLARITY, ch, s->ch[ch].span, 0);
    return 0;
}

int tlsim_far_set_cas(tlsim_t *s, int ch, int bits)
{
    chan_t *c;
    CHECK(ch);
    c = &s->ch[ch];
    bits &= 0xF;
    if (c->far_cas == bits) return 0;
    c->far_cas = bits;
    push_event(s, &s->card_ev, TLSIM_EV_CAS, ch, c->span, bits);
    return 0;
}

int tlsim_far_get_cas(tlsim_t *s, int ch)
{
    CHECK(ch);
    return s->ch[ch].card_cas;
}

int tlsim_far_send_frame(tlsim_t *s, int ch, const uint8_t *data, int len)
{
    CHECK(ch);
    if (s->ch[ch].kind != TLSIM_DCHAN) return -1;
    if (frame_push(&s->ch[ch].to_card, data, len) < 0) return -1;
    push_event(s, &s->card_ev, TLSIM_EV_DFRAME, ch, s->ch[ch].span, len);
    return 0;
}

int tlsim_far_recv_frame(tlsim_t *s, int ch, uint8_t *buf, int max)
{
    CHECK(ch);
    return frame_pop(&s->ch[ch].to_far, buf, max);
}

int tlsim_far_events(tlsim_t *s, tlsim_event_t *out, int max)
{
    return pop_events(&s->far_ev, out, max);
}

int tlsim_far_set_alarm(tlsim_t *s, int span, int bits)
{
    if (span < 0 || span >= MAX_SPANS) return -1;
    bits &= 7;
    if (s->span_alarms[span] == bits) return 0;
    s->span_alarms[span] = bits;
    push_event(s, &s->card_ev, TLSIM_EV_ALARM, -1, span, bits);
    return 0;
}

int tlsim_far_play(tlsim_t *s, int ch, const int16_t *pcm, int n)
{
    CHECK(ch);
    if (n < 0) return -1;
    return pcm_append(&s->ch[ch].play, pcm, n);
}

int tlsim_far_play_pending(tlsim_t *s, int ch)
{
    CHECK(ch);
    return s->ch[ch].play.len - s->ch[ch].play.pos;
}

void tlsim_far_play_clear(tlsim_t *s, int ch)
{
    if (ch < 0 || ch >= s->n) return;
    s->ch[ch].play.len = s->ch[ch].play.pos = 0;
}

int tlsim_far_capture(tlsim_t *s, int ch, int on)
{
    CHECK(ch);
    s->ch[ch].capture = on ? 1 : 0;
    if (!on) s->ch[ch].cap.len = s->ch[ch].cap.pos = 0;
    return 0;
}

int tlsim_far_capture_take(tlsim_t *s, int ch, int16_t *out, int max)
{
    pcm_buf_t *b;
    int n;
    CHECK(ch);
    b = &s->ch[ch].cap;
    n = b->len - b->pos;
    if (n > max) n = max;
    if (n <= 0) return 0;   /* nothing captured yet (NULL buffer) or max <= 0 */
    memcpy(out, b->buf + b->pos, sizeof(int16_t) * n);
    b->pos += n;
    if (b->pos == b->len) b->pos = b->len = 0;
    return n;
}

int tlsim_far_connect(tlsim_t *s, int a, int b)
{
    CHECK(a);
    if (b >= s->n) return -1;
    if (s->ch[a].peer >= 0) s->ch[s->ch[a].peer].peer = -1;
    if (b < 0) { s->ch[a].peer = -1; return 0; }
    if (s->ch[b].peer >= 0) s->ch[s->ch[b].peer].peer = -1;
    s->ch[a].peer = b;
    s->ch[b].peer = a;
    return 0;
}

int tlsim_far_hook_state(tlsim_t *s, int ch)
{
    CHECK(ch);
    return s->ch[ch].kind == TLSIM_FXO ? s->ch[ch].card_offhook : s->ch[ch].station_offhook;
}
