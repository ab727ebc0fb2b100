/* The per-frame state machine of ivr.amd_bank.AMDBank (ivr.amd.AnsweringMachineDetector's rules) in C, over the
 * listed slots in one call (float64 throughout, the numpy code's arithmetic in its order). */
#include <stdint.h>

/* For i < n, slot s = slots[i], frames j < frames with levels[i * frames + j] (dBm0): parameters p (8 arrays by
 * slot: initial_silence_ms, greeting_ms, after_greeting_ms, max_words, min_word_ms, word_gap_ms, total_ms,
 * speech_dbm0, packed as p[k * cap + s]), state st (6 arrays: t_ms, floor, speech_ms, run_speech, run_silence,
 * decided_at_ms, as st[k * cap + s]), words, heard, has_floor (0/1) and verdict (0 undecided, 1 human, 2 machine,
 * 3 silence) by slot; a slot stops at its verdict. */
void tk_amd_frames(int64_t n, const int64_t *slots, int64_t frames, const double *levels, int64_t cap,
                   const double *p, double *st, int64_t *words, uint8_t *heard, uint8_t *has_floor,
                   int8_t *verdict);
