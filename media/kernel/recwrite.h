/* The recording writer's file work in C (media/recbatch.py): every recording's stretch of a batch staged and
 * appended to its WAV file, and the 44-byte headers rewritten, each in one call for all recordings. */
#include <stdint.h>

/* For i < n, slot s = slot[i]: ticks [a[i], b[i]) of slot s in buf (slots, ticks, 2, block) G.711 codes are appended
 * to stage row s (stage_cap bytes; stage_len[s] used), as mode[s] says: bits 0-3 tracks (1: received only, 2:
 * (received, sent) pairs), bits 4-7 format (0 A-law bytes, 1 mu-law bytes, 2 16-bit linear from A-law, 3 from
 * mu-law, decoded with table[0..255] A-law, table[256..511] mu-law). A full stage row (the next tick would not
 * fit) is written to fd[s] (one write, repeated on short writes); with force, whatever is staged is written at the
 * end. data_bytes[s] counts the bytes written. Slots with fd[s] < 0 or err[s] != 0 are skipped; a failed write
 * sets err[s] = errno (ENOSPC for a write of 0 bytes) and drops that slot's staged bytes. Returns the failures. */
int64_t tk_rec_write(const uint8_t *buf, int64_t ticks, int64_t block, int64_t n, const int64_t *slot,
                     const int64_t *a, const int64_t *b, const int32_t *fd, const int32_t *mode,
                     const int16_t *table, uint8_t *stage, int64_t stage_cap, int64_t *stage_len,
                     int64_t *data_bytes, int32_t *err, int32_t force);
/* For i < n, slot s = slot[i] with fd[s] >= 0, err[s] == 0 and committed[s] != data_bytes[s]: the 8 kHz WAV header
 * of mode[s] (tracks, format as above) for data_bytes[s] bytes of data (capped at the RIFF limit) is written at
 * offset 0 (pwrite) and committed[s] = data_bytes[s]; a failure sets err[s] = errno. Returns the failures. */
int64_t tk_rec_headers(int64_t n, const int64_t *slot, const int32_t *fd, const int32_t *mode,
                       const int64_t *data_bytes, int64_t *committed, int32_t *err);
