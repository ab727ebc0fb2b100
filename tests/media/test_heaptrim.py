"""Heap trim between ticks: freed heap goes back to the system, on schedule, never inside a tick or past its slack."""
import asyncio
import ctypes

from memory_probe import rss_kib

from trunkline.media.heaptrim import HeapTrim


class FakeTrim:
    def __init__(self):
        self.calls = 0

    def __call__(self, pad):
        self.calls += 1
        return 1


def test_trims_at_most_once_per_interval_of_board_time():
    fake = FakeTrim()
    ht = HeapTrim(0.02, interval_s=1.0, trim=fake)
    done = [ht.after_tick(n * 0.02, 0.001, realtime=False) for n in range(1, 251)]   # 5 s of ticks
    assert fake.calls == ht.trims == sum(done) == 5
    assert ht.snapshot().trims == 5


def test_in_real_time_a_tick_without_slack_puts_it_off_and_a_slow_trim_never_stops_trimming():
    fake = FakeTrim()
    ht = HeapTrim(0.02, interval_s=1.0, slack_share=0.5, trim=fake, realtime_trims=True)
    assert not ht.after_tick(1.0, 0.015, realtime=True)       # 15 ms of a 20 ms block: no room (limit 10 ms)
    assert ht.skipped == 1 and fake.calls == 0
    assert ht.after_tick(1.02, 0.002, realtime=True)          # the next tick with room trims
    assert fake.calls == 1
    ht._expect_s = 0.5                                        # as if the last trim took 500 ms (after a burst)
    trimmed_at = None
    for n in range(200):                                      # 4 s of light ticks after the next due time
        if ht.after_tick(2.02 + n * 0.02, 0.002, realtime=True):
            trimmed_at = n
            break
    assert trimmed_at is not None and trimmed_at <= 60        # within ~1 s, not never


def test_freed_heap_goes_back_to_the_system():
    """Fragment the heap (free every other 64 KiB block of 100 MB); one trim: RSS drops by most of the freed half."""
    ht = HeapTrim(0.02, interval_s=1.0)
    assert ht.available
    blocks = [ctypes.create_string_buffer(65536) for _ in range(1600)]   # malloc'd (under the mmap threshold), zeroed
    del blocks[::2]
    before = rss_kib()
    assert ht.after_tick(1.0, 0.0, realtime=False)
    after = rss_kib()
    assert before - after > 800 * 64 * 0.75, (before, after)                # KiB
    assert ht.trims == 1 and ht.worst_s > 0
    del blocks


def test_the_engine_trims_between_ticks_in_virtual_time(make_rig):
    rig = make_rig("fxo=2")
    eng = rig.engine
    eng.heap_trim.interval_s = 1.0
    asyncio.run(eng.run(until=3.5, realtime=False))
    st = eng.heap_trim.snapshot()
    assert st.trims == 3 and st.busy_s > 0
