"""The RouterOS API protocol (``api`` on 8728, ``api-ssl`` on 8729): one connection's conversation.

A client sends sentences (:mod:`.words`) whose first word is a command — ``/login``, ``/cancel``,
``/quit`` or a menu path with a verb, ``/ip/ipsec/peer/print`` — followed by attribute words
``=name=value``, API words ``.tag=T`` and ``.proplist``, and query words ``?…`` (:mod:`.query`).
Answers, each carrying the request's ``.tag`` when it had one:

- ``!re`` with ``=prop=value`` per printed row, then ``!done``;
- ``!done`` with ``=ret=`` for ``add`` (the new ``*id``), ``get`` and ``count-only``;
- ``!trap`` with ``=message=`` (the console's line) and ``=category=``, then ``!done``, on errors;
- ``!fatal`` and the connection closes on broken framing or ``/quit``.

Login is RouterOS 6.43+'s: ``/login =name= =password=`` in plain text (use ``api-ssl`` off
loopback). The legacy MD5 challenge needs the password itself, which ipsecd never keeps, so a
``/login`` without a name is refused with a ``!trap``. ``listen`` streams a menu's changes (rows
that appear or change, ``=.dead=yes`` for rows that go) until ``/cancel =tag=…``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from .auth import Authenticator, LoginRefused
from .backend import ApiError, Backend, Reply, Request, User
from .query import QueryError, parse_query
from .words import ApiProtocolError, SentenceReader, encode_sentence

MAX_LOGIN_FAILURES = 3  # per connection, then it is closed
LOGIN_TIMEOUT = 30.0  # seconds a connection may stay without logging in (it holds a max-sessions slot)
MAX_BEFORE_LOGIN = 8  # sentences a client may send before it has logged in (RouterOS closes too)
LISTEN_INTERVAL = 1.0  # seconds between looks at a listened menu
MAX_LISTENS = 16  # per connection


class _Closed(Exception):
    """The conversation is over (``/quit``, too many failures)."""


def split_command(word: str) -> tuple[str, str]:
    """``/ip/ipsec/peer/print`` → (``/ip ipsec peer``, ``print``)."""
    parts = [p for p in word.split("/") if p]
    if parts == ["export"]:
        return "/", "export"
    if not word.startswith("/") or len(parts) < 2:
        raise ApiError(f"no such command {word}", 400, 0)
    return "/" + " ".join(parts[:-1]), parts[-1]


def parse_sentence(words: Sequence[str]) -> tuple[str, dict[str, str], str | None, list[str]]:
    """(command, attributes, tag, query words) of a request sentence."""
    attrs: dict[str, str] = {}
    tag: str | None = None
    query: list[str] = []
    for w in words[1:]:
        if w.startswith("="):
            name, _, value = w[1:].partition("=")
            attrs[name] = value
        elif w.startswith(".tag="):
            tag = w[5:]
        elif w.startswith("?"):
            query.append(w[1:])
        elif w.startswith("."):
            name, _, value = w[1:].partition("=")
            attrs["." + name] = value
        else:
            raise ApiError(f"unknown parameter {w}", 400, 1)
    return words[0], attrs, tag, query


class ApiConnection:
    """One client: reads sentences, answers them (see the module docstring)."""

    def __init__(self, backend: Backend, auth: Authenticator, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, source: str, service: str,
                 malformed: Callable[[str, str, str], None]) -> None:
        self.backend, self.auth = backend, auth
        self.malformed = malformed
        self.reader, self.writer = reader, writer
        self.source, self.service = source, service
        self.user: User | None = None
        self.login_failures = 0
        self.before_login = 0
        self.listens: dict[str, asyncio.Task[None]] = {}
        self._out: list[bytes] = []

    def send(self, words: list[str], tag: str | None) -> None:
        if tag is not None:
            words.append(f".tag={tag}")
        self._out.append(encode_sentence(words))

    def flush(self) -> None:
        """Hand what :meth:`send` gathered to the transport in one write (a 10,000-row print is
        10,000 sentences: one write each cost a system call each)."""
        if self._out:
            self.writer.write(b"".join(self._out))
            self._out.clear()

    def trap(self, message: str, tag: str | None, category: int = 1) -> None:
        self.send(["!trap", f"=category={category}", f"=message={message}"], tag)
        self.send(["!done"], tag)

    async def serve(self) -> None:
        reader = SentenceReader()
        try:
            while True:
                try:
                    timeout = LOGIN_TIMEOUT if self.user is None else None
                    data = await asyncio.wait_for(self.reader.read(65536), timeout)
                except TimeoutError:
                    raise _Closed("not logged in in time") from None
                if not data:
                    return
                for sentence in reader.feed(data):
                    await self.sentence(sentence)
                self.flush()
                await self.writer.drain()
        except ApiProtocolError as exc:
            self.malformed(self.source, self.service, str(exc))
            self.send(["!fatal", str(exc)], None)
        except _Closed as exc:
            self.send(["!fatal", str(exc)], None)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.flush()
            for task in self.listens.values():
                task.cancel()

    async def sentence(self, words: list[str]) -> None:
        tag: str | None = None
        try:
            command, attrs, tag, query = parse_sentence(words)
            if command == "/login":
                await self.login(attrs, tag)
            elif command == "/quit":
                raise _Closed("session terminated on request")
            elif self.user is None:
                self.before_login += 1
                if self.before_login > MAX_BEFORE_LOGIN:
                    raise _Closed("too many commands before login")
                self.trap("not logged in", tag, 5)
            elif command == "/cancel":
                self.cancel(attrs.get("tag"), tag)
            else:
                self.run(self.user, command, attrs, tag, query)
        except ApiError as exc:
            self.trap(exc.message, tag, exc.category)

    async def login(self, attrs: dict[str, str], tag: str | None) -> None:
        if "name" not in attrs:
            self.trap("legacy challenge login is not supported: send =name= and =password=", tag, 4)
            return
        try:
            self.user = await self.auth.login(
                attrs["name"], attrs.get("password", ""), self.source, self.service
            )
        except LoginRefused as exc:
            self.user = None
            self.login_failures += 1
            self.trap(str(exc), tag, 4)
            if self.login_failures >= MAX_LOGIN_FAILURES:
                raise _Closed("too many failed logins") from None
            return
        self.send(["!done"], tag)

    def cancel(self, which: str | None, tag: str | None) -> None:
        for t in [which] if which is not None else list(self.listens):
            task = self.listens.pop(t, None) if t is not None else None
            if task is not None:
                task.cancel()
                self.trap("interrupted", t, 2)
        self.send(["!done"], tag)

    def run(self, user: User, command: str, attrs: dict[str, str], tag: str | None, query: list[str]) -> None:
        menu, verb = split_command(command)
        proplist = attrs.pop(".proplist", None)
        try:
            cond = parse_query(query)
        except QueryError as exc:
            raise ApiError(str(exc), 400, 1) from None
        req = Request(
            menu, verb, attrs, tuple(p for p in proplist.split(",") if p) if proplist else None, cond
        )
        if verb == "listen":
            self.listen(user, req, tag)
            return
        self.answer(self.backend.run(user, req), tag)

    def answer(self, reply: Reply, tag: str | None) -> None:
        for row in reply.rows or ():
            self.send(["!re", *(f"={k}={v}" for k, v in row.items())], tag)
        self.send(["!done", *([f"=ret={reply.ret}"] if reply.ret is not None else [])], tag)

    def listen(self, user: User, req: Request, tag: str | None) -> None:
        if tag is None or tag in self.listens or len(self.listens) >= MAX_LISTENS:
            raise ApiError("listen needs a .tag of its own (and at most 16 at once)", 400, 1)
        first = Request(req.menu, "print", req.attrs, req.proplist, req.query)
        rows = self.backend.run(user, first).rows or []  # refuses what print would refuse, at once
        self.listens[tag] = asyncio.create_task(self._listening(user, first, tag, rows))

    async def _listening(self, user: User, req: Request, tag: str, seen_rows: list[dict[str, str]]) -> None:
        seen = {r.get(".id", ""): r for r in seen_rows}
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(LISTEN_INTERVAL)
                try:
                    rows = self.backend.run(user, req).rows or []
                except ApiError as exc:
                    self.listens.pop(tag, None)
                    self.trap(exc.message, tag, exc.category)
                    self.flush()
                    return
                now = {r.get(".id", ""): r for r in rows}
                for rid, row in now.items():
                    if seen.get(rid) != row:
                        self.send(["!re", *(f"={k}={v}" for k, v in row.items())], tag)
                for rid in seen.keys() - now.keys():
                    self.send(["!re", f"=.id={rid}", "=.dead=yes"], tag)
                seen = now
                self.flush()
                await self.writer.drain()
