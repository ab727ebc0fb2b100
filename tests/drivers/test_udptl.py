"""UDPTL framing: golden datagram, in-order delivery with gaps filled from the secondary IFPs (redundancy),
duplicates and late datagrams dropped, sequence wrap, the datagram size bound, a socket pair on loopback,
and fuzzed datagrams that never raise (counted as malformed)."""
import random
import socket

from trunkline.drivers.sip.udptl import UdptlPort, UdptlRx, UdptlTx, deframe, frame


def test_golden_datagram_and_deframe():
    d = frame(0x0102, b"\x02", [b"\x04", b"\x06\x07"])
    assert d == bytes([0x01, 0x02, 0x01, 0x02, 0x00, 0x02, 0x01, 0x04, 0x02, 0x06, 0x07])
    assert deframe(d) == (0x0102, b"\x02", [b"\x04", b"\x06\x07"])


def test_loss_is_recovered_from_redundancy_and_duplicates_dropped():
    tx, rx = UdptlTx(redundancy=3), UdptlRx()
    ifps = [bytes([i % 256]) * (1 + i % 5) for i in range(300)]
    dgrams = [tx.packet(p) for p in ifps]
    rng = random.Random(3)
    got = []
    for i, d in enumerate(dgrams):
        if rng.random() < 0.10 and 0 < i < len(dgrams) - 1:
            continue                                     # lost (never two in a row with this seed matters not)
        got += rx.feed(d)
        if rng.random() < 0.05:
            got += rx.feed(d)                            # a duplicate
    assert [p for _, p in got] == ifps[:len(got)] and len(got) + rx.lost == len(ifps)
    assert rx.recovered > 10 and rx.lost == 0
    assert [s for s, _ in got] == list(range(len(got)))


def test_burst_longer_than_redundancy_is_counted_lost_and_late_packets_dropped():
    tx, rx = UdptlTx(redundancy=2), UdptlRx()
    d = [tx.packet(bytes([i])) for i in range(10)]
    assert [p for _, p in rx.feed(d[0])] == [b"\x00"]
    got = rx.feed(d[5])                                  # 1..4 missing, 3 and 4 recovered
    assert [p for _, p in got] == [b"\x03", b"\x04", b"\x05"] and rx.lost == 2
    assert rx.feed(d[2]) == []                           # late
    assert [s for s, _ in rx.feed(d[6])] == [6]


def test_sequence_wraps_and_size_bound():
    tx, rx = UdptlTx(redundancy=3, max_datagram=100), UdptlRx()
    tx.seq = 0xFFFE
    seqs = [s for i in range(4) for s, _ in rx.feed(tx.packet(bytes(30)))]
    assert seqs == [0xFFFE, 0xFFFF, 0, 1]
    assert len(tx.packet(bytes(60))) <= 100


def test_port_pair_on_loopback():
    a, b = UdptlPort(), UdptlPort()
    a.remote, b.remote = ("127.0.0.1", b.port), ("127.0.0.1", a.port)
    for i in range(5):
        a.send(bytes([i]))
    got = []
    for _ in range(100):
        got += b.recv()
        if len(got) == 5:
            break
    assert [p for _, p in got] == [bytes([i]) for i in range(5)]
    stray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stray.sendto(b"\xff" * 3000, ("127.0.0.1", b.port))   # oversize garbage: dropped, counted
    stray.close()
    for _ in range(50):
        assert b.recv() == []
    a.close()
    b.close()


def _mutants(seed, n):
    """Valid datagrams with random bytes flipped, cut, extended, or pure noise."""
    rng = random.Random(seed)
    tx = UdptlTx(redundancy=3)
    for _ in range(n):
        d = bytearray(tx.packet(rng.randbytes(rng.randint(1, 40))))
        kind = rng.randint(0, 3)
        if kind == 0:
            for _ in range(rng.randint(1, 4)):
                d[rng.randrange(len(d))] = rng.randrange(256)
        elif kind == 1:
            d = d[:rng.randrange(len(d))]
        elif kind == 2:
            d += rng.randbytes(rng.randint(1, 20))
        else:
            d = bytearray(rng.randbytes(rng.randint(0, 120)))
        yield bytes(d)


def test_fuzzed_datagrams_never_raise():
    rx = UdptlRx()
    n = 0
    for d in _mutants(5, 6000):
        out = rx.feed(d)
        n += 1
        assert all(isinstance(s, int) and isinstance(p, bytes) for s, p in out)
    assert rx.malformed + rx.received == n and rx.malformed > 1000


def test_a_stray_far_ahead_sequence_number_is_outvoted():
    tx, rx = UdptlTx(redundancy=1), UdptlRx()
    d = [tx.packet(bytes([i])) for i in range(12)]
    rx.feed(d[0])
    assert [s for s, _ in rx.feed(frame(500, b"\x02", []))] == [500]     # garbage with a plausible number
    got = [s for i in range(1, 12) for s, _ in rx.feed(d[i])]
    assert got == list(range(4, 12))                 # 1..3 dropped as late, then the count restarts at 4
