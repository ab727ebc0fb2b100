"""Self-service lookups: a query against the project's database or an HTTP endpoint.

Both return a flat dict of result fields (e.g. {"balance": "12.50"}) or raise
`LookupFailed` (backend down, timeout, no row, bad answer); the lookup node
then speaks a fallback prompt. Queries run in a worker thread so the tick loop
never waits; in virtual time they run inline (media time stands still).
"""
from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import text as _sql_text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session


class LookupFailed(Exception):
    """The backend could not answer (down, timed out, nothing found, malformed reply)."""


class Lookup:
    """A lookup source: `fetch` runs the query synchronously, `query` runs it off the tick loop."""
    name: str = ""
    timeout: float = 3.0

    def fetch(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Run the query synchronously; dict of result fields or LookupFailed."""
        raise NotImplementedError

    async def query(self, params: Mapping[str, Any], inline: bool = False) -> dict[str, str]:
        """Run the lookup with `params`; dict of fields or LookupFailed."""
        if inline:
            return self.fetch(params)
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.fetch, params), self.timeout + 1.0)
        except asyncio.TimeoutError:
            raise LookupFailed(f"{self.name}: no answer within {self.timeout} s") from None


class SqlLookup(Lookup):
    """A parameterised SQL query (``SELECT balance FROM accounts WHERE no = :account``); first row wins."""

    def __init__(self, name: str, sql: str, session_factory: Callable[[], Session], timeout: float = 3.0) -> None:
        self.name, self.sql, self.session_factory, self.timeout = name, sql, session_factory, timeout

    def fetch(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Run the query synchronously; dict of the first row or LookupFailed."""
        try:
            with self.session_factory() as s:
                row = s.execute(_sql_text(self.sql), params).mappings().first()
        except SQLAlchemyError as e:   # any driver's errors, wrapped: the database is down or the SQL is wrong
            raise LookupFailed(f"{self.name}: database error: {e.__class__.__name__}: {e}") from None
        if row is None:
            raise LookupFailed(f"{self.name}: nothing found for {params}")
        return {k: ("" if v is None else str(v)) for k, v in dict(row).items()}


class HttpLookup(Lookup):
    """GET an URL template (``http://host/balance?acct={account}``) returning a JSON object."""

    def __init__(self, name: str, url: str, timeout: float = 3.0, field: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.name, self.url, self.timeout, self.field = name, url, timeout, field
        self.headers = dict(headers or {})

    def fetch(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Do the HTTP request synchronously (urllib, timeout in s); dict of fields or LookupFailed."""
        url = self.url.format(**{k: urllib.parse.quote(str(v), safe="") for k, v in params.items()})
        req = urllib.request.Request(url, headers={"Accept": "application/json", **self.headers})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = resp.read(1 << 20)
        except urllib.error.HTTPError as e:
            raise LookupFailed(f"{self.name}: HTTP {e.code} from {url}") from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as e:
            raise LookupFailed(f"{self.name}: {url} unreachable: {getattr(e, 'reason', e)}") from None
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise LookupFailed(f"{self.name}: {url} did not answer JSON") from None
        if self.field:
            for part in self.field.split("."):
                if not isinstance(data, dict) or part not in data:
                    raise LookupFailed(f"{self.name}: field {self.field!r} missing in the answer")
                data = data[part]
        if not isinstance(data, dict):
            raise LookupFailed(f"{self.name}: the answer is not a JSON object")
        return {k: ("" if v is None else str(v)) for k, v in data.items() if not isinstance(v, (dict, list))}
