"""Analog in-band banks: many lines dialled, watched and sent caller ID in one array step per tick give
what one DSP object per line gives (DTMFGenerator, CallProgressDetector, the caller ID burst), with lines
joining and leaving at different ticks; released lines' slots are reused."""
import numpy as np

from trunkline.drivers.signaling.inband_banks import ClipSenderBank, DialerBank, ToneWatchBank
from trunkline.dsp.callerid import CallerIDGenerator
from trunkline.dsp.cpa import CallProgressDetector
from trunkline.dsp.dtmf import DTMFGenerator
from trunkline.dsp.tones import ToneZone

N = 160


def test_dialler_bank_sends_what_one_generator_per_line_sends_and_reports_once():
    chans = list(range(100, 112))
    bank = DialerBank(chans)
    numbers = {ch: str(7 * ch)[: 2 + ch % 5] for ch in chans}
    start = {ch: (ch * 3) % 7 for ch in chans}
    got = {ch: [] for ch in chans}
    done, now = [], [0]
    for t in range(40):
        now[0] = t
        for ch in chans:
            if t == start[ch]:
                bank.member(ch, numbers[ch], lambda ch=ch: done.append((ch, now[0])))
        claimed = np.array([ch for ch in chans if start[ch] <= t], dtype=np.int64)
        if claimed.size:
            out = bank.tx_rows(claimed, N)
            for ch, row in zip(claimed.tolist(), out, strict=True):
                got[ch].append(row)
    for ch in chans:
        ref = DTMFGenerator(1, on_ms=80, off_ms=80)
        ref.put(0, numbers[ch])
        want = ref.generate(N * len(got[ch]))[0]
        assert np.array_equal(np.concatenate(got[ch]), want)
    assert sorted(ch for ch, _ in done) == chans                       # each number reported once
    for ch, t in done:                                                  # the block after the last pause
        assert t == start[ch] + -(-len(numbers[ch]) * 1280 // N)
    assert bank.capacity <= 16


def test_tone_watch_bank_reports_as_one_detector_per_line_and_frees_released_lines():
    zone = ToneZone.get("cn")
    audio = {"busy": zone.tone("busy").cycle(), "ringback": zone.tone("ringback").cycle()}
    lines = [(10, "busy", 0), (11, "ringback", 3), (12, "busy", 5), (13, "ringback", 9)]
    bank = ToneWatchBank([10, 11, 12, 13], "cn")
    heard = []
    total = 250
    sig = {}
    for ch, kind, t0 in lines:
        x = np.tile(audio[kind], 8)
        sig[ch] = np.concatenate([np.zeros(t0 * N, np.int16), x])[:total * N]
    for t in range(total):
        for ch, _, t0 in lines:
            if t == t0:
                bank.member(ch, lambda what, ch=ch: heard.append((ch, what)))
        claimed = np.array([ch for ch, _, t0 in lines if t0 <= t and not (ch == 13 and t >= 200)], np.int64)
        bank.rx_rows(claimed, np.stack([sig[ch][t * N:(t + 1) * N] for ch in claimed.tolist()]))
    want = []
    for ch, _, t0 in lines:
        ref = CallProgressDetector(1, "cn")
        seen = []
        stop = 200 if ch == 13 else total
        for t in range(t0, stop):
            for _, what in ref.process(sig[ch][None, t * N:(t + 1) * N]):
                if what not in seen:
                    seen.append(what)
        want += [(ch, w) for w in seen]
    assert sorted(heard) == sorted(want) and {(10, "busy"), (11, "ringback")} <= set(heard)
    assert int(bank._slot[13]) == -1                                    # released: slot freed


def test_clip_sender_bank_sends_each_burst_then_silence():
    bank = ClipSenderBank([1, 2, 3])
    bursts = {ch: CallerIDGenerator().encode(f"1380000000{ch}", name=None, standard="v23") for ch in (1, 2, 3)}
    for ch in (1, 2):
        bank.member(ch, bursts[ch])
    outs = {1: [], 2: [], 3: []}
    for t in range(80):
        if t == 5:
            bank.member(3, bursts[3])
        chans = np.array([1, 2] + ([3] if t >= 5 else []), np.int64)
        for ch, row in zip(chans.tolist(), bank.tx_rows(chans, N), strict=True):
            outs[ch].append(row)
    for ch in (1, 2, 3):
        x = np.concatenate(outs[ch])
        assert np.array_equal(x[:len(bursts[ch])], bursts[ch]) and not x[len(bursts[ch]):].any()


def test_caller_id_listen_bank_decodes_fsk_of_both_standards_and_dtmf_on_many_lines():
    from trunkline.drivers.signaling.inband_banks import CallerIDListenBank

    gen = CallerIDGenerator()
    lines = {20 + i: (std, f"1391234{i:04d}", 3 + 2 * i) for i, std in enumerate(["v23", "bell202"] * 4)}
    bank = CallerIDListenBank(list(lines) + [40])
    got = {}
    sig = {ch: np.concatenate([np.zeros(t0 * N + 400, np.int16), gen.encode(num, name="WANG", standard=std),
                               np.zeros(8000, np.int16)]) for ch, (std, num, t0) in lines.items()}
    dtmf_member = bank.member(40, lambda info: got.setdefault(40, info))
    for t in range(140):
        for ch, (_, _, t0) in lines.items():
            if t == t0:
                bank.member(ch, lambda info, ch=ch: got.setdefault(ch, info))
        chans = np.array([40] + [ch for ch, (_, _, t0) in lines.items() if t >= t0], np.int64)
        audio = np.zeros((len(chans), N), np.int16)
        for i, ch in enumerate(chans.tolist()[1:], start=1):
            x = sig[ch][t * N:(t + 1) * N]
            audio[i, :len(x)] = x
        bank.rx_rows(chans, audio)
        if t == 10:
            for d in "A13800138000C":
                dtmf_member.digit(d)
    assert got[40] == {"number": "13800138000", "standard": "dtmf"}
    for ch, (std, num, _) in lines.items():
        # the V.23 demodulator also reads Bell 202 (as the per-line listener did): either FSK label
        assert got[ch]["number"] == num and got[ch]["name"] == "WANG" and got[ch]["standard"] in ("v23", std)


def test_inbound_analog_calls_read_fsk_caller_id_through_the_span_bank(make_rig):
    """On the simulator: three FXO lines ringing at once with V.23 FSK caller ID; every call is offered
    with its number, read by the span's one caller ID bank."""
    rig = make_rig("fxo=3", switch_options={"clip": "v23"})
    seen = {}

    async def flow(call):
        seen[call.channel] = call.caller_id
        await call.answer()
        await call.wait(0.2)
    rig.engine.route(flow)

    async def scenario():
        phones = [rig.sim.call("95588", from_=f"1380000000{i}") for i in range(3)]
        for p in phones:
            await p.wait_answer(timeout=20)
            await p.wait_hangup(timeout=10)
    rig.run(scenario)
    assert sorted(seen.values()) == ["13800000000", "13800000001", "13800000002"]
