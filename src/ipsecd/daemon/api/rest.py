"""RouterOS 7's REST API (``www`` and ``www-ssl``): ``/rest/<menu path>`` over HTTP with Basic auth.

=========  ===============================  ==========================================
GET        ``/rest/ip/ipsec/peer``          every row (``?name=x`` filters, ``?.proplist=a,b``)
GET        ``/rest/ip/ipsec/peer/*1``       one row by ``*id`` (or name), as an object
PUT        ``/rest/ip/ipsec/peer``          ``add``; answers the created object
PATCH      ``/rest/ip/ipsec/peer/*1``       ``set``; answers the changed object
DELETE     ``/rest/ip/ipsec/peer/*1``       ``remove``; ``204 No Content``
POST       ``/rest/ip/ipsec/peer/print``    any command; the body holds its arguments, ``.proplist``
                                            and ``.query`` (API query words without the ``?``)
=========  ===============================  ==========================================

As RouterOS does, every value in a reply is a string (booleans ``"true"``/``"false"``), numbers and
booleans in a request are taken as their text, and an error is
``{"error": 400, "message": "Bad Request", "detail": "<the console's line>"}``; nothing changes on
an error. Single menus (``settings``, ``statistics``) answer one object.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from ipsecd.mgmt.schema import MENUS

from .auth import Authenticator, LoginRefused
from .backend import ApiError, Backend, Reply, Request, User
from .http import HttpError, HttpRequest, HttpResponse
from .query import QueryError, parse_query


def error(status: int, detail: str | None = None) -> HttpResponse:
    body: dict[str, object] = {"error": status, "message": HTTPStatus(status).phrase}
    if detail:
        body["detail"] = detail
    headers = {"WWW-Authenticate": 'Basic realm="ipsecd"'} if status == 401 else {}
    return HttpResponse(status, json.dumps(body).encode(), headers=headers)


def _json(value: object, status: int = 200) -> HttpResponse:
    return HttpResponse(status, json.dumps(value, separators=(",", ":")).encode())


def resolve(path: str) -> tuple[str, str | None]:
    """``/rest/ip/ipsec/peer/*1`` → (``/ip ipsec peer``, ``*1``): the longest menu, then the rest."""
    if not path.startswith("/rest/"):
        raise ApiError("no such path", 404, 0)
    words = [w for w in path[len("/rest/"):].split("/") if w]
    if words == ["export"]:
        return "/", "export"
    for n in range(len(words), 0, -1):
        menu = "/" + " ".join(words[:n])
        if menu in MENUS:
            rest = words[n:]
            if len(rest) > 1:
                break
            return menu, rest[0] if rest else None
    raise ApiError(f"no such command or directory ({'/'.join(words)})", 400, 0)


def _text(value: object) -> str:
    """A request value as RouterOS takes it: strings as they are, ``true``/``false``, numbers' text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise ApiError(f"bad value {json.dumps(value)[:40]}: a string, number or boolean", 400, 1)


def _body(req: HttpRequest) -> dict[str, Any]:
    if not req.body.strip():
        return {}
    try:
        data = json.loads(req.body)
    except (ValueError, RecursionError):
        raise ApiError("the body is not JSON", 400, 1) from None
    if not isinstance(data, dict):
        raise ApiError("the body must be a JSON object", 400, 1)
    return data


def _words(value: object, what: str) -> list[str]:
    if isinstance(value, str):
        return [w for w in value.split(",") if w]
    if isinstance(value, list) and all(isinstance(w, str) for w in value):
        return list(value)
    raise ApiError(f"{what} must be a list of strings", 400, 1)


class RestHandler:
    """Answers one REST request for a logged-in user (see the module docstring)."""

    def __init__(self, backend: Backend, auth: Authenticator, service: str) -> None:
        self.backend, self.auth, self.service = backend, auth, service

    async def user(self, req: HttpRequest, source: str) -> User | None:
        """Who sent the request (HTTP Basic), or None."""
        creds = req.basic_auth()
        if creds is None:
            return None
        try:
            return await self.auth.login(creds[0], creds[1], source, self.service)
        except LoginRefused:
            return None

    async def handle(self, req: HttpRequest, source: str) -> HttpResponse:
        user = await self.user(req, source)
        if user is None:
            return error(401)
        try:
            return self.dispatch(user, req)
        except ApiError as exc:
            return error(exc.status, exc.message)
        except HttpError as exc:
            return error(exc.status, exc.detail)

    def dispatch(self, user: User, req: HttpRequest) -> HttpResponse:
        menu, tail = resolve(req.path)
        if req.method == "GET":
            return self._get(user, menu, tail, req)
        if req.method == "PUT" and tail is None:
            attrs = {k: _text(v) for k, v in _body(req).items()}
            got = self.backend.run(user, Request(menu, "add", attrs))
            return self._one(user, menu, got.ret or "")
        if req.method == "PATCH" and tail is not None:
            attrs = {k: _text(v) for k, v in _body(req).items() if k != ".id"}
            self.backend.run(user, Request(menu, "set", {".id": tail, **attrs}))
            return self._one(user, menu, tail)
        if req.method == "DELETE" and tail is not None:
            self.backend.run(user, Request(menu, "remove", {".id": tail}))
            return HttpResponse(204)
        if req.method == "POST" and tail is not None:
            return self._command(user, menu, tail, _body(req))
        raise HttpError(405, f"{req.method} is not allowed here")

    def _get(self, user: User, menu: str, tail: str | None, req: HttpRequest) -> HttpResponse:
        params = dict(req.query)
        proplist = params.pop(".proplist", None)
        words = [f"{k}={v}" for k, v in params.items()]
        if tail is not None:
            return self._one(user, menu, tail, tuple(_words(proplist, ".proplist")) if proplist else None)
        reply = self._print(user, menu, {}, proplist, words)
        return self._rows(menu, reply)

    def _print(self, user: User, menu: str, attrs: dict[str, str], proplist: object,
               query: list[str]) -> Reply:
        try:
            cond = parse_query(query)
        except QueryError as exc:
            raise ApiError(str(exc), 400, 1) from None
        props = tuple(_words(proplist, ".proplist")) if proplist is not None else None
        return self.backend.run(user, Request(menu, "print", attrs, props, cond))

    @staticmethod
    def _rows(menu: str, reply: Reply) -> HttpResponse:
        rows = reply.rows or []
        if MENUS[menu].kind in ("single", "runtime-single"):
            return _json(rows[0] if rows else {})
        return _json(rows)

    def _one(self, user: User, menu: str, ref: str, proplist: tuple[str, ...] | None = None) -> HttpResponse:
        """The row whose ``.id`` (or name) is ``ref``; 404 when there is none."""
        rows = self.backend.run(user, Request(menu, "print")).rows or []
        key = MENUS[menu].key
        row = next((r for r in rows if r.get(".id") == ref), None) or next(
            (r for r in rows if key is not None and r.get(key) == ref), None)
        if row is None:
            raise ApiError(f"no such item ({ref})", 404, 0)
        if proplist is not None:
            row = {k: row[k] for k in proplist if k in row}
        return _json(row)

    def _command(self, user: User, menu: str, verb: str, body: dict[str, Any]) -> HttpResponse:
        proplist = body.pop(".proplist", None)
        query = _words(body.pop(".query", []), ".query")
        attrs = {k: _text(v) for k, v in body.items()}
        if verb in ("print", "getall"):
            reply = self._print(user, menu, attrs, proplist, query)
            if reply.ret is not None:
                return _json({"ret": reply.ret})
            return self._rows(menu, reply) if verb == "getall" else _json(reply.rows or [])
        reply = self.backend.run(user, Request(menu, verb, attrs))
        return _json({"ret": reply.ret} if reply.ret is not None else [])
