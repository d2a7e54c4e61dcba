"""What the API protocol and REST ask of the configuration: one call into mgmt's command layer.

Both protocols state a request the same way — a menu, a verb, attributes, a ``.proplist`` and a
query — and get rows of strings back, or an :class:`ApiError` carrying the console's one-line
message (DESIGN.md §3: they call :mod:`ipsecd.mgmt.commands`, never console text). This module also
decides what a user may do (the ``/user group`` policies, see :mod:`ipsecd.mgmt.passwords`) and turns
values into the protocols' form: RouterOS's API and REST say ``true``/``false`` where the console
says ``yes``/``no``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ipsecd.mgmt import where
from ipsecd.mgmt.commands import Call, Commands, Outcome, RuntimeProvider
from ipsecd.mgmt.errors import ConfigError, NoSuchItem
from ipsecd.mgmt.model import Config
from ipsecd.mgmt.schema import MENUS, Menu, commands_of
from ipsecd.mgmt.txn import Txn
from ipsecd.mgmt.values import Bool
from ipsecd.mgmt.views import PrintRow

from .query import matches

READ_VERBS = frozenset({"print", "getall", "get", "find", "export", "wireshark-keys"})
#: Menus whose changes need the ``policy`` policy (who may log in is itself guarded).
GUARDED = frozenset({"/user", "/user group", "/ip service"})


class ApiError(Exception):
    """A refused request: ``message`` is the console's line; ``status`` the HTTP status REST answers
    with; ``category`` the API ``!trap`` category (0 no such item/command, 1 bad argument value,
    4 general failure)."""

    def __init__(self, message: str, status: int = 400, category: int = 1) -> None:
        super().__init__(message)
        self.message, self.status, self.category = message, status, category


@dataclass(frozen=True, slots=True)
class User:
    """Who is logged in: the name and the policies of their group."""

    name: str
    policies: frozenset[str]

    def may(self, policy: str) -> bool:
        return policy in self.policies


@dataclass(frozen=True, slots=True)
class Request:
    menu: str  # "/ip ipsec peer"
    verb: str  # "print", "add", "set" … as RouterOS names them ("getall" is "print")
    attrs: Mapping[str, str] = field(default_factory=dict)
    proplist: tuple[str, ...] | None = None
    query: where.Cond | None = None


@dataclass(slots=True)
class Reply:
    rows: list[dict[str, str]] | None = None  # print
    ret: str | None = None  # add (the new id), get, count-only, text of menu commands


_TRUTH = {"yes": "true", "no": "false"}
_BOOLS: dict[str, frozenset[str]] = {}


def _bools(menu: Menu) -> frozenset[str]:
    """The menu's yes/no properties (asked once per row of a 10,000-row print: kept)."""
    names = _BOOLS.get(menu.path)
    if names is None:
        names = _BOOLS[menu.path] = frozenset(
            {p.name for p in menu.props if isinstance(p.type, Bool)} | {"disabled", "dynamic", "invalid"})
    return names


def _api_text(menu: Menu, name: str, text: str) -> str:
    return _TRUTH.get(text, text) if name in _bools(menu) else text


def api_row(menu: Menu, row: PrintRow) -> dict[str, str]:
    """A printed row as both protocols return it: ``.id`` first, booleans as true/false."""
    out = {".id": row.id} if menu.kind != "runtime-single" else {}
    bools = _bools(menu)
    for k, v in row.values.items():
        out[k] = _TRUTH.get(v, v) if k in bools else v
    if menu.has_disabled:
        out["disabled"] = "true" if "X" in row.flags else "false"
    if row.comment is not None:
        out["comment"] = row.comment
    return out


def shown(menu: Menu, row: dict[str, str]) -> dict[str, str]:
    """An API row without the menu's ``api_omit`` values (a policy's group=default, template=false),
    which RouterOS's API leaves out; queries run before, so ``?template=false`` still matches."""
    omit = {(k, _api_text(menu, k, v)) for k, v in menu.api_omit}
    return {k: v for k, v in row.items() if (k, v) not in omit} if omit else row


class Backend:
    """Runs requests for logged-in users against a :class:`~ipsecd.mgmt.model.Config`."""

    def __init__(self, config: Config, runtime: RuntimeProvider | None = None) -> None:
        self.config, self.runtime = config, runtime

    def menu(self, path: str) -> Menu:
        menu = MENUS.get(path)
        if menu is None:
            raise ApiError(f"no such command prefix {path}", 400, 0)
        return menu

    def check(self, user: User, req: Request) -> None:
        """Refuse what ``user``'s policies do not allow (RouterOS: ``not enough permissions``)."""
        writing = req.verb not in READ_VERBS
        need = "write" if writing else "read"
        if (writing and req.menu in GUARDED and not user.may("policy")) or not user.may(need):
            raise ApiError("not enough permissions (9)", 403, 4)

    def run(self, user: User, req: Request) -> Reply:
        if req.menu == "/" and req.verb == "export":  # the whole configuration, as /export
            self.check(user, req)
            return self._reply(
                Commands(self._read_txn(), self.runtime).call(self._call("/", "export", req.attrs, user))
            )
        menu = self.menu(req.menu)
        verb = "print" if req.verb == "getall" else req.verb
        if verb not in commands_of(menu) and verb != "get":
            raise ApiError(f"no such command {req.menu.replace(' ', '/')}/{req.verb}", 400, 0)
        self.check(user, req)
        try:
            if verb == "print":
                return self._print(user, menu, req)
            call = self._call(menu.path, verb, req.attrs, user)
            if verb in READ_VERBS:
                out = Commands(self._read_txn(), self.runtime).call(call)
            else:
                with self.config.transaction() as txn:
                    out = Commands(txn, self.runtime).call(call)
        except NoSuchItem as exc:
            raise ApiError(str(exc), 404, 0) from None
        except ConfigError as exc:
            raise ApiError(str(exc)) from None
        return self._reply(out)

    @staticmethod
    def _reply(out: Outcome) -> Reply:
        if out.ids:
            return Reply(ret=",".join(out.ids) if len(out.ids) > 1 else out.ids[0])
        if out.value is not None:
            return Reply(ret=out.value)
        return Reply(ret=out.text or None)

    def _read_txn(self) -> Txn:
        self.config.refresh()
        return Txn(self.config.state, self.config.next_num)

    @staticmethod
    def _call(menu: str, verb: str, attrs: Mapping[str, str], user: User) -> Call:
        args = dict(attrs)
        items: tuple[str, ...] = ()
        for key in (".id", "numbers"):
            if key in args:
                items = (*items, args.pop(key))
        flags: set[str] = set()
        if verb in ("export", "wireshark-keys"):  # secrets only when asked, and only for sensitive users
            flags = {f for f in ("show-sensitive", "verbose", "terse") if args.pop(f, None) is not None}
            if "show-sensitive" in flags and not user.may("sensitive"):
                raise ApiError("not enough permissions (9)", 403, 4)
        return Call(menu, verb, items, args, frozenset(flags))

    def _print(self, user: User, menu: Menu, req: Request) -> Reply:
        attrs = dict(req.attrs)
        count_only = attrs.pop("count-only", None) is not None
        for flag in ("detail", "terse", "brief", "without-paging", "show-ids"):
            attrs.pop(flag, None)  # console layout words: the protocols always get every value
        flags = frozenset({"show-sensitive"}) if user.may("sensitive") else frozenset()
        call = Call(menu.path, "print", (), attrs, flags)
        out = Commands(self._read_txn(), self.runtime).call(call)
        if out.values is not None:
            rows = [{k: _api_text(menu, k, v) for k, v in out.values.items()}]
        else:
            rows = [api_row(menu, r) for r in out.rows or ()]
        rows = [shown(menu, r) for r in rows if matches(req.query, r)]
        if count_only:
            return Reply(ret=str(len(rows)))
        if req.proplist is not None:
            rows = [{k: r[k] for k in req.proplist if k in r} for r in rows]
        return Reply(rows=rows)
