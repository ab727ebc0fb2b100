"""Factory for the fax high-speed modems: make_tx / make_rx for "v27ter", "v29" and "v17".

Transmitters: send_bits/send_bytes queue data after the training, tx(n) gives n int16 samples at 8 kHz
(training, data, trailer, then zeros), finish() ends the data, done is True once the trailer is out.
Receivers: rx(samples) takes int16 audio, take_bits() returns descrambled data bits after training,
trained / carrier / signal_lost report state, reset() prepares for the next reception.

Behaviour worth knowing for T.30:
- A transmitter whose queue runs dry before finish() sends scrambled ones (mark idle) until more data comes.
- take_bits() starts exactly with the first data bit after the training's scrambled ones; after the
  transmitter's trailer (ones) a few dozen junk bits may follow until the carrier-off detector fires.
- signal_lost stays True until the next successful training or reset(); the receiver keeps listening
  and will train again on a new burst without reset().
- The V.17 receiver recognises long and short (TEP off) training by itself.
- Receivers ignore silence, noise, CED and V.21 signals (no false training)."""
from __future__ import annotations

from .modem_rx import ModemRxBase
from .modem_tx import ModemTxBase as ModemTx
from .v17 import V17Rx, V17Tx
from .v27ter import V27terRx, V27terTx
from .v29 import V29Rx, V29Tx

#: a modem receiver: the Python state machine (V.27ter, V.29) or the C V.17 receiver
ModemRx = ModemRxBase | V17Rx

__all__ = ["RATES", "ModemRx", "ModemTx", "make_rx", "make_tx"]

RATES = {"v27ter": (2400, 4800), "v29": (7200, 9600), "v17": (7200, 9600, 12000, 14400)}


def _check(name: str, bit_rate: int) -> None:
    if name not in RATES:
        raise ValueError(f"unknown modem {name!r}; use one of {sorted(RATES)}")
    if bit_rate not in RATES[name]:
        raise ValueError(f"{name} does not run at {bit_rate} bit/s; rates are {RATES[name]}")


def make_tx(name: str, bit_rate: int, short_train: bool = False, level_dbm0: float = -12.0) -> ModemTx:
    """A modem transmitter (`level_dbm0` output power in dBm0; short_train only for V.17)."""
    _check(name, bit_rate)
    if name == "v27ter":
        return V27terTx(bit_rate, level_dbm0)
    if name == "v29":
        return V29Tx(bit_rate, level_dbm0)
    return V17Tx(bit_rate, short_train=short_train, level_dbm0=level_dbm0)


def make_rx(name: str, bit_rate: int) -> ModemRx:
    """A modem receiver for `bit_rate` bit/s (V.17 accepts long and short training)."""
    _check(name, bit_rate)
    if name == "v27ter":
        return V27terRx(bit_rate)
    if name == "v29":
        return V29Rx(bit_rate)
    return V17Rx(bit_rate)
