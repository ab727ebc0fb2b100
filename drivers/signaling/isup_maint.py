"""ISUP circuit maintenance (Q.764 2.8-2.9): blocking (BLO/UBL, CGB/CGU maintenance or hardware),
reset (RSC, GRS), unequipped CIC (UCIC), continuity check request (CCR answered with a loop).

A mixin of `isup.IsupStack`: it uses the stack's circuits, timers and transmit path. Events:
blocked / unblocked (info: cic, remote, hardware), reset (info: cic, remote), group_reset
(info: first, last, remote), maintenance (info: cic, reason).
"""
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import isup_msg as im
from .isup_msg import Message

if TYPE_CHECKING:
    from .isup import Circuit, IsupCall

MAX_RANGE = 31          # a group message covers at most 32 circuits
CAUSE_TEMPFAIL = 41
CAUSE_NETWORK_OOO = 38


class Maintenance:
    """Circuit maintenance procedures of IsupStack."""

    circuits: dict[int, "Circuit"]
    _groups: dict[tuple[str, int], tuple[int, list[int], int]]

    # provided by IsupStack
    def _tx(self, msg: Message) -> None: ...
    def _start(self, c: "Circuit", name: str) -> None: ...
    @staticmethod
    def _stop(c: "Circuit", *names: str) -> None: ...
    def _event(self, kind: str, call: "IsupCall | None", **info: Any) -> None: ...
    def _clear(self, c: "Circuit", cause: int, local: bool) -> None: ...
    def _circuit_state(self, c: "Circuit", state: str) -> None: ...
    def _error(self, text: str) -> None: ...

    def _group_table(self) -> dict[tuple[str, int], tuple[int, list[int], int]]:
        if not hasattr(self, "_groups"):
            self._groups = {}
        return self._groups

    # ------------------------------------------------------------ requests
    def block(self, cic: int) -> None:
        """Block a circuit for maintenance (BLO, T12/T13 until BLA); a call on it goes on."""
        c = self.circuits[cic]
        c.local_blocked = True
        self._tx(Message(im.BLO, cic))
        self._start(c, "T12")
        self._start(c, "T13")
        self._event("blocked", None, cic=cic, remote=False, hardware=False)

    def unblock(self, cic: int) -> None:
        """Unblock a circuit (UBL, T14/T15 until UBA)."""
        c = self.circuits[cic]
        c.local_blocked = False
        self._stop(c, "T12", "T13")
        self._tx(Message(im.UBL, cic))
        self._start(c, "T14")
        self._start(c, "T15")
        self._event("unblocked", None, cic=cic, remote=False, hardware=False)

    def _reset_circuit(self, c: "Circuit") -> None:
        """Reset one circuit (RSC, T16/T17 until RLC); any call on it is cleared."""
        if c.call is not None:
            self._clear(c, CAUSE_TEMPFAIL, local=False)
        c.timers.clear()
        self._circuit_state(c, "resetting")
        self._tx(Message(im.RSC, c.cic))
        self._start(c, "T16")
        self._start(c, "T17")

    def reset(self, cic: int) -> None:
        """Reset circuit `cic` (RSC)."""
        self._reset_circuit(self.circuits[cic])

    def reset_all(self) -> None:
        """Reset every circuit with GRS messages (runs of consecutive CICs, at most 32 each)."""
        for first, last in self._runs(sorted(self.circuits)):
            self.group_reset(first, last)

    @staticmethod
    def _runs(cics: list[int]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for cic in cics:
            if out and cic == out[-1][1] + 1 and cic - out[-1][0] < MAX_RANGE + 1:
                out[-1] = (out[-1][0], cic)
            else:
                out.append((cic, cic))
        return out

    def _range_circuits(self, first: int, last: int) -> list["Circuit"]:
        return [self.circuits[c] for c in range(first, last + 1) if c in self.circuits]

    def group_reset(self, first: int, last: int) -> None:
        """Reset circuits first..last (GRS, T22/T23 until GRA); calls on them are cleared."""
        if not 0 < last - first + 1 <= MAX_RANGE + 1 or first not in self.circuits:
            raise ValueError(f"bad GRS range {first}..{last}")
        for c in self._range_circuits(first, last):
            if c.call is not None:
                self._clear(c, CAUSE_TEMPFAIL, local=False)
            c.timers.clear()
            self._circuit_state(c, "resetting")
        self._group_table()[("GRS", first)] = (last, [], 0)
        self._send_group(im.GRS, first, last)
        c0 = self.circuits[first]
        self._start(c0, "T22")
        self._start(c0, "T23")

    def group_block(self, first: int, last: int, hardware: bool = False) -> None:
        """Block circuits first..last (CGB, maintenance or hardware; T18/T19 until CGBA)."""
        self._group_blocking(im.CGB, first, last, hardware, True)

    def group_unblock(self, first: int, last: int, hardware: bool = False) -> None:
        """Unblock circuits first..last (CGU; T20/T21 until CGUA)."""
        self._group_blocking(im.CGU, first, last, hardware, False)

    def _group_blocking(self, mtype: int, first: int, last: int, hardware: bool, block: bool) -> None:
        if not 0 < last - first + 1 <= MAX_RANGE + 1 or first not in self.circuits:
            raise ValueError(f"bad group range {first}..{last}")
        bits = [1 if c in self.circuits else 0 for c in range(first, last + 1)]
        for c in self._range_circuits(first, last):
            if hardware:
                c.local_hw_blocked = block
                if block and c.call is not None:
                    self.release_for_hw(c)
            else:
                c.local_blocked = block
            self._event("blocked" if block else "unblocked", None, cic=c.cic, remote=False, hardware=hardware)
        kind, other = ("CGB", "CGU") if block else ("CGU", "CGB")
        c0 = self.circuits[first]
        if self._group_table().pop((other, first), None) is not None:     # the opposite request is moot now
            self._stop(c0, *(("T20", "T21") if block else ("T18", "T19")))
        self._group_table()[(kind, first)] = (last, bits, 1 if hardware else 0)
        self._send_group(mtype, first, last, bits, 1 if hardware else 0)
        self._start(c0, "T18" if block else "T20")
        self._start(c0, "T19" if block else "T21")

    def release_for_hw(self, c: "Circuit") -> None:
        """Hardware blocking clears a call on the circuit."""
        call = c.call
        if call is not None:
            self._tx(Message(im.REL, c.cic, {im.P_CAUSE: im.encode_cause(CAUSE_TEMPFAIL)}))
            self._clear(c, CAUSE_TEMPFAIL, local=True)
            self._circuit_state(c, "idle")

    def _send_group(self, mtype: int, first: int, last: int, bits: list[int] | None = None,
                    cgsmt: int | None = None) -> None:
        params: dict[int, bytes] = {}
        if cgsmt is not None:
            params[im.P_CGSMT] = bytes([cgsmt])
        status = im.status_bits(bits) if bits is not None else b""
        params[im.P_RANGE] = im.encode_range(last - first, status)
        self._tx(Message(mtype, first, params))

    # ------------------------------------------------------------ receive
    def _rx_blo(self, c: "Circuit", msg: Message) -> None:
        c.remote_blocked = True
        self._tx(Message(im.BLA, c.cic))
        self._event("blocked", None, cic=c.cic, remote=True, hardware=False)

    def _rx_ubl(self, c: "Circuit", msg: Message) -> None:
        c.remote_blocked = False
        c.unequipped_far = False
        self._tx(Message(im.UBA, c.cic))
        self._event("unblocked", None, cic=c.cic, remote=True, hardware=False)

    def _rx_bla(self, c: "Circuit", msg: Message) -> None:
        self._stop(c, "T12", "T13")

    def _rx_uba(self, c: "Circuit", msg: Message) -> None:
        self._stop(c, "T14", "T15")

    def _rx_rsc(self, c: "Circuit", msg: Message) -> None:
        if c.call is not None:
            self._clear(c, CAUSE_TEMPFAIL, local=False)
        c.timers.clear()
        c.remote_blocked = False
        c.looped = False
        if c.local_blocked:
            self._tx(Message(im.BLO, c.cic))
        self._tx(Message(im.RLC, c.cic))
        self._circuit_state(c, "idle")
        self._event("reset", None, cic=c.cic, remote=True)

    def _rx_grs(self, c: "Circuit", msg: Message) -> None:
        rng = msg.params[im.P_RANGE][0]
        if not 1 <= rng <= MAX_RANGE:
            self._error(f"GRS range {rng} out of bounds")
            return
        bits = []
        for cic in range(c.cic, c.cic + rng + 1):
            x = self.circuits.get(cic)
            if x is None:
                bits.append(0)
                continue
            if x.call is not None:
                self._clear(x, CAUSE_TEMPFAIL, local=False)
            x.timers.clear()
            x.remote_blocked = False
            x.looped = False
            self._circuit_state(x, "idle")
            bits.append(1 if x.local_blocked else 0)
        self._send_group(im.GRA, c.cic, c.cic + rng, bits)
        self._event("group_reset", None, first=c.cic, last=c.cic + rng, remote=True)

    def _rx_gra(self, c: "Circuit", msg: Message) -> None:
        entry = self._group_table().pop(("GRS", c.cic), None)
        if entry is None:
            return
        self._stop(c, "T22", "T23")
        rng = msg.params[im.P_RANGE][0]
        bits = im.unpack_status(rng, msg.params[im.P_RANGE][1:])
        for x in self._range_circuits(c.cic, c.cic + rng):
            x.remote_blocked = bool(bits[x.cic - c.cic]) if x.cic - c.cic < len(bits) else False
            if x.state == "resetting":
                self._circuit_state(x, "idle")
        self._event("group_reset", None, first=c.cic, last=entry[0], remote=False)

    def _rx_cgb(self, c: "Circuit", msg: Message, block: bool = True) -> None:
        hw = msg.params[im.P_CGSMT][0] & 3
        rng = msg.params[im.P_RANGE][0]
        if not 1 <= rng <= MAX_RANGE or hw > 1:
            self._error(f"group blocking with range {rng} type {hw}")
            return
        bits = im.unpack_status(rng, msg.params[im.P_RANGE][1:])
        for i, b in enumerate(bits):
            x = self.circuits.get(c.cic + i)
            if not b or x is None:
                continue
            if hw:
                x.remote_hw_blocked = block
                if block and x.call is not None:
                    self._clear(x, CAUSE_TEMPFAIL, local=False)
                    self._circuit_state(x, "idle")
            else:
                x.remote_blocked = block
            self._event("blocked" if block else "unblocked", None, cic=x.cic, remote=True, hardware=bool(hw))
        self._send_group(im.CGBA if block else im.CGUA, c.cic, c.cic + rng, bits, hw)

    def _rx_cgu(self, c: "Circuit", msg: Message) -> None:
        self._rx_cgb(c, msg, block=False)

    def _rx_cgba(self, c: "Circuit", msg: Message) -> None:
        if self._group_table().pop(("CGB", c.cic), None) is not None:
            self._stop(c, "T18", "T19")

    def _rx_cgua(self, c: "Circuit", msg: Message) -> None:
        if self._group_table().pop(("CGU", c.cic), None) is not None:
            self._stop(c, "T20", "T21")

    def _rx_ucic(self, c: "Circuit", msg: Message) -> None:
        c.unequipped_far = True
        if c.call is not None:
            self._clear(c, CAUSE_TEMPFAIL, local=False)
        c.timers.clear()
        self._circuit_state(c, "idle")
        self._event("maintenance", None, cic=c.cic, reason="far end says the CIC is unequipped")

    def _rx_ccr(self, c: "Circuit", msg: Message) -> None:
        c.looped = True                 # the bearer is looped back for the far end's tone check
        self._tx(Message(im.LPA, c.cic))

    def _rx_ignore(self, c: "Circuit", msg: Message) -> None:
        return

    # ------------------------------------------------------------ timers
    def _maint_expired(self, c: "Circuit", name: str) -> None:
        again = {"T12": ("T12", im.BLO), "T13": ("T13", im.BLO), "T14": ("T14", im.UBL), "T15": ("T15", im.UBL),
                 "T16": ("T16", im.RSC), "T17": ("T17", im.RSC)}
        if name in again:
            timer, mtype = again[name]
            if name in ("T16", "T17"):
                self._stop(c, "T16")
            self._tx(Message(mtype, c.cic))
            self._start(c, timer)
            return
        group = {"T22": "GRS", "T23": "GRS", "T18": "CGB", "T19": "CGB", "T20": "CGU", "T21": "CGU"}
        kind = group.get(name)
        entry = self._group_table().get((kind, c.cic)) if kind else None
        if entry is None:
            return
        last, bits, hw = entry
        if kind == "GRS":
            self._send_group(im.GRS, c.cic, last)
        else:
            self._send_group(im.CGB if kind == "CGB" else im.CGU, c.cic, last, bits, hw)
        self._start(c, name)

    _MAINT_HANDLERS: dict[int, Callable[[Any, "Circuit", Message], None]] = {
        im.BLO: _rx_blo, im.UBL: _rx_ubl, im.BLA: _rx_bla, im.UBA: _rx_uba, im.RSC: _rx_rsc, im.GRS: _rx_grs,
        im.GRA: _rx_gra, im.CGB: _rx_cgb, im.CGU: _rx_cgu, im.CGBA: _rx_cgba, im.CGUA: _rx_cgua,
        im.UCIC: _rx_ucic, im.CCR: _rx_ccr, im.LPA: _rx_ignore, im.CQM: _rx_ignore,
    }
