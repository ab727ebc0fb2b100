/* AMD per-frame state machine (see amd.h): ivr/amd_bank.py's loop body per slot. */
#include "amd.h"

enum { UNDECIDED = 0, HUMAN = 1, MACHINE = 2, SILENT = 3 };
enum { P_INIT_SIL, P_GREETING, P_AFTER, P_MAX_WORDS, P_MIN_WORD, P_WORD_GAP, P_TOTAL, P_SPEECH };
enum { S_T, S_FLOOR, S_SPEECH_MS, S_RUN_SPEECH, S_RUN_SILENCE, S_DECIDED_AT };

void tk_amd_frames(int64_t n, const int64_t *slots, int64_t frames, const double *levels, int64_t cap,
                   const double *p, double *st, int64_t *words, uint8_t *heard, uint8_t *has_floor,
                   int8_t *verdict)
{
#define P(k) p[(k) * cap + s]
#define S(k) st[(k) * cap + s]
    for (int64_t i = 0; i < n; i++) {
        int64_t s = slots[i];
        for (int64_t j = 0; j < frames && verdict[s] == UNDECIDED; j++) {
            double level = levels[i * frames + j];
            double floor = has_floor[s] ? (level < S(S_FLOOR) + 0.1 ? level : S(S_FLOOR) + 0.1) : level;
            S(S_FLOOR) = floor;
            has_floor[s] = 1;
            int speech = level > P(P_SPEECH) && level > S(S_FLOOR) + 6.0;
            int quiet = !speech;
            S(S_T) = S(S_T) + 10.0;
            double rs = S(S_RUN_SPEECH), rq = S(S_RUN_SILENCE);
            if (speech && (rq >= P(P_WORD_GAP) || !heard[s]))
                rs = 0.0;
            double bonus = (rq > 0 && rq < P(P_WORD_GAP)) ? rq : 0.0;
            if (speech)
                rs = rs + (10.0 + bonus);
            words[s] += speech && rs >= P(P_MIN_WORD) && rs - 10.0 < P(P_MIN_WORD);
            if (speech)
                S(S_SPEECH_MS) = S(S_SPEECH_MS) + 10.0;
            rq = speech ? 0.0 : rq + 10.0;
            int was_heard = heard[s];
            heard[s] = heard[s] || speech;
            S(S_RUN_SPEECH) = rs;
            S(S_RUN_SILENCE) = rq;
            int v = UNDECIDED;
            if (speech && (S(S_SPEECH_MS) > P(P_GREETING) || (double)words[s] > P(P_MAX_WORDS)))
                v = MACHINE;
            if (quiet && !was_heard && rq >= P(P_INIT_SIL))
                v = SILENT;
            if (quiet && was_heard && rq >= P(P_AFTER))
                v = words[s] > 0 ? HUMAN : SILENT;
            if (v == UNDECIDED && S(S_T) >= P(P_TOTAL))
                v = heard[s] ? MACHINE : SILENT;
            if (v != UNDECIDED) {
                S(S_DECIDED_AT) = S(S_T);
                verdict[s] = (int8_t)v;
            }
        }
    }
#undef P
#undef S
}
