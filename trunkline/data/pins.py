"""Agent and voicemail PINs, stored only as salted PBKDF2-SHA256 hashes ('pbkdf2$salt$hex') and checked in
constant time: a wrong PIN, an unknown account and a malformed stored value all cost one hash."""
from __future__ import annotations

import hashlib
import hmac
import secrets

ITERATIONS = 20000
_DUMMY_SALT = "0" * 16


def _digest(pin: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), ITERATIONS).hex()


def hash_pin(pin: str) -> str:
    """A salted PBKDF2-SHA256 hash of a PIN, as 'pbkdf2$salt$hex'."""
    salt = secrets.token_hex(8)
    return f"pbkdf2${salt}${_digest(str(pin), salt)}"


def is_hashed(stored: str | None) -> bool:
    """True when `stored` is a hash made by hash_pin (not a plaintext PIN)."""
    parts = (stored or "").split("$")
    return len(parts) == 3 and parts[0] == "pbkdf2" and len(parts[2]) == 64


def check_pin(pin: str, stored: str | None) -> bool:
    """True when `pin` matches the stored hash; the same work whatever `stored` is (None, plain, hashed)."""
    ok = is_hashed(stored)
    salt, want = (str(stored).split("$")[1:] if ok else (_DUMMY_SALT, "0" * 64))
    same = hmac.compare_digest(_digest(str(pin), salt), want)
    return ok and same


def pin_for_storage(pin: str | None) -> str:
    """What to store for a PIN given in configuration: '' stays '' (no PIN), a hash stays, digits are hashed."""
    text = "" if pin is None else str(pin)
    return text if text == "" or is_hashed(text) else hash_pin(text)
