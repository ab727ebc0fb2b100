"""HTTP digest authentication for SIP (RFC 2617 / RFC 3261 22): challenge, answer and check."""
from __future__ import annotations

import hashlib
import os
import re


def parse_params(value: str) -> dict[str, str]:
    """`Digest realm="x", nonce="y", ...` -> {"realm": "x", ...} (scheme under "scheme")."""
    scheme, _, rest = value.strip().partition(" ")
    out = {"scheme": scheme.lower()}
    for m in re.finditer(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))', rest):
        out[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return out


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def response(user: str, password: str, realm: str, method: str, uri: str, nonce: str,
             qop: str = "", nc: str = "00000001", cnonce: str = "") -> str:
    """The digest response value (MD5; qop=auth when qop is given)."""
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


def authorization(challenge: str, user: str, password: str, method: str, uri: str) -> str:
    """The Authorization / Proxy-Authorization value answering a WWW-/Proxy-Authenticate challenge."""
    p = parse_params(challenge)
    realm, nonce = p.get("realm", ""), p.get("nonce", "")
    qop = "auth" if "auth" in [q.strip() for q in p.get("qop", "").split(",")] else ""
    cnonce = os.urandom(8).hex() if qop else ""
    resp = response(user, password, realm, method, uri, nonce, qop, "00000001", cnonce)
    value = (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
             f'response="{resp}", algorithm=MD5')
    if qop:
        value += f', qop={qop}, nc=00000001, cnonce="{cnonce}"'
    if "opaque" in p:
        value += f', opaque="{p["opaque"]}"'
    return value


class DigestServer:
    """Challenges requests and checks answers against a user -> password table, with expiring nonces."""

    def __init__(self, realm: str, users: dict[str, str], max_nonces: int = 4096) -> None:
        self.realm = realm
        self.users = users
        self._nonces: dict[str, float] = {}
        self.max_nonces = max_nonces

    def challenge(self, now: float) -> str:
        """A fresh WWW-Authenticate value."""
        nonce = os.urandom(12).hex()
        if len(self._nonces) >= self.max_nonces:
            for old in sorted(self._nonces, key=self._nonces.__getitem__)[: self.max_nonces // 2]:
                del self._nonces[old]
        self._nonces[nonce] = now
        return f'Digest realm="{self.realm}", nonce="{nonce}", algorithm=MD5, qop="auth"'

    def check(self, header: str, method: str, now: float, lifetime: float = 300.0) -> str | None:
        """The authenticated user name, or None when the answer is missing, stale or wrong."""
        if not header:
            return None
        p = parse_params(header)
        user, nonce = p.get("username", ""), p.get("nonce", "")
        issued = self._nonces.get(nonce)
        if p.get("scheme") != "digest" or user not in self.users or issued is None or now - issued > lifetime:
            return None
        want = response(user, self.users[user], self.realm, method, p.get("uri", ""), nonce,
                        p.get("qop", ""), p.get("nc", ""), p.get("cnonce", ""))
        return user if want == p.get("response", "") else None
