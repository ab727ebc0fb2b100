"""Server-side login sessions and the login limiter.

Sessions: the (signed) cookie holds only a random session id, never anything derived from the password. The
store keeps the SHA-256 of each id with its user and times; logout revokes the id (an old cookie opens
nothing after it), a password change revokes every other session of that user, and sessions end after
`lifetime_s` or `idle_s` without a request. The store is bounded (oldest sessions go first). Like the
per-process secret key, sessions end when the server restarts.

Login limiter: at most `max_failures` failed logins per source address and per account in `window_s`
seconds. An attempt is counted *before* the password is checked (and forgiven on success), so concurrent
guesses cannot slip past the limit while the first ones are still being hashed. Failures from a trusted
network (LOGIN_TRUSTED_NETWORKS, and the networks the account itself is restricted to) count against their
source only, never against the account: guesses from outside cannot lock the owner out of an allowed network.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class _Entry:
    uid: int
    created: float
    seen: float


class SessionStore:
    """Login sessions by random id (see the module docstring); times in seconds."""

    def __init__(self, lifetime_s: float = 8 * 3600.0, idle_s: float = 2 * 3600.0, max_sessions: int = 10000,
                 max_per_user: int = 20) -> None:
        self.lifetime_s = lifetime_s
        self.idle_s = idle_s
        self.max_sessions = max_sessions
        self.max_per_user = max_per_user
        self._by_id: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, uid: int) -> str:
        """A new session of user `uid`; returns its id (for the cookie)."""
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            mine = [k for k, e in self._by_id.items() if e.uid == uid]
            for k in mine[:max(0, len(mine) - self.max_per_user + 1)]:
                del self._by_id[k]                # the user's oldest sessions beyond the cap
            while len(self._by_id) >= self.max_sessions:
                self._by_id.popitem(last=False)
            self._by_id[_digest(token)] = _Entry(uid, now, now)
        return token

    def user(self, token: str | None) -> int | None:
        """The user of a live session id (its idle clock restarted), else None (unknown, revoked or expired)."""
        if not token or not isinstance(token, str):
            return None
        key = _digest(token)
        now = time.monotonic()
        with self._lock:
            e = self._by_id.get(key)
            if e is None:
                return None
            if now - e.created > self.lifetime_s or now - e.seen > self.idle_s:
                del self._by_id[key]
                return None
            e.seen = now
            return e.uid

    def revoke(self, token: str | None) -> None:
        """End one session (logout)."""
        if token and isinstance(token, str):
            with self._lock:
                self._by_id.pop(_digest(token), None)

    def revoke_user(self, uid: int, keep: str | None = None) -> int:
        """End every session of `uid` except `keep`; how many ended."""
        spare = _digest(keep) if keep else None
        with self._lock:
            gone = [k for k, e in self._by_id.items() if e.uid == uid and k != spare]
            for k in gone:
                del self._by_id[k]
        return len(gone)

    def __len__(self) -> int:
        return len(self._by_id)


class LoginLimiter:
    """Failed-login limits per source and per account (see the module docstring); times in seconds."""

    def __init__(self, max_failures: int = 5, window_s: float = 300.0, max_keys: int = 100000) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._fails: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> list[float]:
        lst = [t for t in self._fails.get(key, ()) if now - t < self.window_s]
        if lst:
            self._fails[key] = lst
        else:
            self._fails.pop(key, None)
        return lst

    def begin(self, *keys: str) -> float:
        """Start an attempt: 0 when allowed (the attempt is already counted as a failure against every key),
        else the seconds until the first of `keys` may try again."""
        now = time.monotonic()
        with self._lock:
            wait = 0.0
            for k in keys:
                lst = self._live(k, now)
                if len(lst) >= self.max_failures:
                    wait = max(wait, self.window_s - (now - lst[0]))
            if wait > 0:
                return wait
            if len(self._fails) >= self.max_keys:          # bounded memory under a spray of sources
                for k in list(self._fails)[: len(self._fails) // 2]:
                    self._live(k, now)
            for k in keys:
                self._fails.setdefault(k, []).append(now)
            return 0.0

    def success(self, *keys: str) -> None:
        """The attempt was a good login: it is not a failure, and the keys start afresh."""
        with self._lock:
            for k in keys:
                self._fails.pop(k, None)

    def failures(self, key: str) -> int:
        """Failures counted against `key` in the window now."""
        with self._lock:
            return len(self._live(key, time.monotonic()))
