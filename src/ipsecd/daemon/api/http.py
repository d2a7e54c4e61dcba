"""Just enough HTTP/1.1 (RFC 9112) for REST and the metrics endpoint, on asyncio streams.

Requests with a ``Content-Length`` body (or none) over persistent connections; no chunked request
bodies (REST clients send a length), no pipelining beyond reading the next request when the answer
is out. Everything is bounded — head size, header count, body size, idle time — and a request that
is not HTTP gets a ``400`` and the connection closes, so a hostile client costs one small buffer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_HEAD = 16 * 1024
MAX_HEADERS = 64
MAX_BODY = 1024 * 1024
IDLE_TIMEOUT = 60.0  # seconds a persistent connection may wait for its next request


class HttpError(Exception):
    """A request that cannot be read; answered with ``status`` and the connection closes."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str  # percent-decoded, without the query
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes = b""
    keep_alive: bool = True

    def basic_auth(self) -> tuple[str, str] | None:
        """(user, password) of an ``Authorization: Basic`` header (RFC 7617), else None."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = (
                base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, keep_alive: bool) -> bytes:
        reason = HTTPStatus(self.status).phrase
        lines = [f"HTTP/1.1 {self.status} {reason}", f"Content-Length: {len(self.body)}",
                 "Connection: " + ("keep-alive" if keep_alive else "close")]
        if self.body:
            lines.append(f"Content-Type: {self.content_type}")
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def parse_head(head: bytes) -> HttpRequest:
    """The request line and headers (without the final empty line)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every octet
        raise HttpError(400, "undecodable request") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        raise HttpError(400, "not an HTTP/1.x request line")
    method, target, version = parts
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header fields")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise HttpError(400, "malformed header field")
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    url = urlsplit(target)
    conn = headers.get("connection", "").lower()
    keep = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
    return HttpRequest(method.upper(), unquote(url.path), parse_qsl(url.query, keep_blank_values=True),
                       headers, b"", keep)


async def read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """The next request on a connection, None when the client closed it (or idled out)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, f"request head longer than {MAX_HEAD} octets") from None
    req = parse_head(head[:-4])
    if "chunked" in req.headers.get("transfer-encoding", "").lower():
        raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
    length_text = req.headers.get("content-length", "0")
    if not length_text.isascii() or not length_text.isdigit():
        raise HttpError(400, "bad Content-Length")
    length = int(length_text)
    if length > MAX_BODY:
        raise HttpError(413, f"request body longer than {MAX_BODY} octets")
    if length:
        try:
            req.body = await asyncio.wait_for(reader.readexactly(length), IDLE_TIMEOUT)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return None
    return req
