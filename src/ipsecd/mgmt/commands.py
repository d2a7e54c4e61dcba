"""The structured command layer (DESIGN.md §3): (menu, verb, arguments) → an :class:`Outcome` or a
typed :class:`~.errors.ConfigError`.

Everything that changes or reads the configuration comes through here: the console and
``ipsecd exec`` (:mod:`.session` renders the outcome as text or JSON), scripts and ``import``
(:mod:`.interp`),
and the REST/API servers to come. Nothing here formats for a terminal.

API for callers (the script interpreter, REST/API):

``Commands(txn, runtime=None)``
    Runs calls inside one :class:`~.txn.Txn` (``Config.transaction()`` for writes; a throw-away
    ``Txn(config.state, config.next_num)`` for reads).
``Commands.call(Call(menu, verb, items, args, flags, where)) -> Outcome``
    ``menu`` is the full path (``"/ip ipsec peer"``; ``"/"`` for ``import``/``export`` of
    everything); ``verb`` a RouterOS command (``add``, ``set``, ``unset``, ``remove``, ``enable``,
    ``disable``, ``comment``, ``move``, ``print``, ``find``, ``get``, ``export``, ``import``, and the
    menu's own such as ``generate-key`` or ``kill-connections``); ``items`` the selected items, each
    an :data:`Arg` (a print index list ``"0,2"``, an id ``"*1F"``, a name, or a
    :mod:`.where` condition for ``[ find … ]``); ``args`` the named arguments (property values as
    text; ``value-name`` for ``unset``/``get``, ``comment``, ``destination``, ``place-before`` and
    ``copy-from`` (an :data:`Arg`), ``proplist``, ``from``, ``file-name`` …); ``flags`` the bare
    words (``detail``, ``verbose``, ``terse``, ``show-sensitive`` …); ``where`` a print condition.
``Commands.find(menu, cond) -> list[str]``
    The ids (``*1``) of the items matching a condition: what ``[ find … ]`` evaluates to.
``Commands.get(menu, item, value_name) -> str | dict[str, str]``
    What ``[ get … ]`` evaluates to: the printed text of one property of exactly one item (``""``
    when unset), or every property when ``value_name`` is None. Single menus take ``item=None``.
``call_of(command) -> Call``
    Translates a parsed console line (:class:`~.script.Command`) into a call: positional item
    selectors, the verb's second positional argument (``unset p1 local-address``), ``[ find … ]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from . import keys, where
from .errors import ConfigError, InvalidValue, NoSuchItem, ScriptSyntaxError, UnknownProperty
from .schema import EXPORT_ORDER, MENUS, STATISTICS_COUNTERS, Menu, commands_of
from .script import Command, Tok
from .store import Item
from .txn import Txn, canon
from .views import PrintRow, _text, item_flags, item_values, live_text, render_export, runtime_flags
from .where import Cond

#: An item selector or argument value: text, or a condition (``[ find … ]``).
Arg = str | Cond

#: Properties ``find``/``where`` may test besides the schema's.
PSEUDO = (".id", "disabled", "comment")
WRITE_VERBS = frozenset({"add", "set", "unset", "remove", "enable", "disable", "comment", "move",
                         "generate-key", "import", "generate"})
#: Commands the running daemon answers: ``wireshark-keys`` (ipsecd's, not RouterOS's) gives
#: Wireshark's ``esp_sa`` (installed-sa) or ``ikev2_decryption_table`` (active-peers) of the live SAs,
#: only with ``show-sensitive`` (:mod:`ipsecd.daemon.keylog`).
RUNTIME_VERBS = frozenset({"kill-connections", "flush", "wireshark-keys"})
#: The name a verb gives its second positional argument (RouterOS: ``unset numbers value-name``).
SECOND_ARG = {"unset": "value-name", "get": "value-name", "comment": "comment", "move": "destination"}


class RuntimeProvider(Protocol):
    """Live state from the daemon.

    ``rows(menu)`` is called with ``"/ip ipsec active-peers"``, ``"/ip ipsec installed-sa"``,
    ``"/ip ipsec statistics"`` (one dict of counters, RouterOS names) and ``"/ip ipsec policy"``
    (one dict per policy with live state: key ``".id"`` = the policy's ``Row.id``, plus any of
    ``active``, ``ph2-state``, ``ph2-count``, ``invalid``). Values are printed with ``str`` (bools as
    yes/no). ``command(menu, name, args)`` runs ``kill-connections``/``flush`` and returns the text to show.
    """

    def rows(self, menu: str) -> list[dict[str, object]]: ...

    def command(self, menu: str, name: str, args: dict[str, str]) -> str: ...


_Match = Callable[[Item], bool]


@dataclass(frozen=True, slots=True)
class Call:
    """One command, as every front end states it (see the module docstring)."""

    menu: str
    verb: str
    items: tuple[Arg, ...] = ()
    args: Mapping[str, Arg] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()
    where: Cond | None = None


@dataclass(slots=True)
class Outcome:
    """What a call produced; the fields its verb fills, the rest empty.

    ``rows`` (``print`` of a list or runtime menu: index, id, flags, comment and every value, the
    read-only flag properties included), ``values`` (``print`` of a single menu; ``get`` without
    ``value-name``), ``ids`` (``find``; ``add`` gives the new item's), ``value`` (``get``),
    ``text`` (``export``, and the menu commands that answer with text).
    """

    rows: list[PrintRow] | None = None
    values: dict[str, str] | None = None
    ids: list[str] | None = None
    value: str | None = None
    text: str = ""


#: The properties that name a ``/certificate`` of the daemon's store, by menu.
CERTIFICATE_USERS = {
    "/ip ipsec identity": ("certificate", "remote-certificate"),
    "/ip service": ("certificate",),
}

#: Menus that are not configuration, answered by the module that registers them: ``/certificate``
#: (mgmt.certificate, over the daemon's certificate store).
EXTERNAL_MENUS: dict[str, Callable[[Commands, Call], Outcome]] = {}


class Commands:
    """Runs :class:`Call` objects in one transaction (see the module docstring)."""

    def __init__(self, txn: Txn, runtime: RuntimeProvider | None = None) -> None:
        self.txn, self.runtime = txn, runtime
        self._live_rows: dict[str, list[dict[str, object]]] = {}

    # -- public entry points ---------------------------------------------------------------------

    def call(self, c: Call) -> Outcome:
        if (external := EXTERNAL_MENUS.get(c.menu)) is not None:
            return external(self, c)
        if c.menu not in MENUS:
            if c.verb == "import":
                raise ScriptSyntaxError("import runs a script: the interpreter's (mgmt.interp.run_script)")
            if c.verb == "export":
                return self._export_paths(c, _export_paths(c.menu))
            raise ScriptSyntaxError(f"{c.menu}: no such command {c.verb}")
        menu = MENUS[c.menu]
        if c.verb not in (*commands_of(menu), "get"):
            raise ScriptSyntaxError(
                f"{menu.path}: no such command {c.verb} (allowed: {', '.join(commands_of(menu))})"
            )
        if c.verb in RUNTIME_VERBS:
            if c.verb == "wireshark-keys" and "show-sensitive" not in c.flags:
                raise ConfigError(f"{menu.path}: wireshark-keys gives the SAs' keys: add show-sensitive")
            if self.runtime is None:
                raise ConfigError(f"{menu.path}: {c.verb} needs the running daemon")
            return Outcome(text=self.runtime.command(menu.path, c.verb, {}))
        handler = getattr(self, "_" + c.verb.replace("-", "_"))
        result: Outcome = handler(menu, c)
        if menu.path in CERTIFICATE_USERS and c.verb in ("add", "set"):
            self._certificates_exist(menu.path)
        return result

    def _certificates_exist(self, path: str) -> None:
        """An identity's ``certificate=`` / ``remote-certificate=`` and a service's ``certificate=``
        (``api-ssl``/``www-ssl``, as RouterOS) must name a certificate of the daemon's store, refused
        like any missing reference (issues 12, 14); without a running daemon the daemon checks when
        it starts the peer or the service."""
        store = getattr(self.runtime, "certificates", None)
        if store is None:
            return
        names = set(store.names())
        for it in self.txn.items(path):
            for prop in CERTIFICATE_USERS[path]:
                for name in str(it.values.get(prop) or "").split(","):
                    if name not in ("", "none") and name not in names:
                        service = path == "/ip service"
                        who = f"{path} {it.values.get('name')}" if service else f"identity {it.id}"
                        raise NoSuchItem(
                            f"{who}: {prop}={name}: no such certificate; import it first "
                            "(/certificate import) or add and sign it"
                        )

    def find(self, menu: str, cond: Cond) -> list[str]:
        m = MENUS[menu]
        match = self.matcher(m, cond)
        return [it.id for it in self.txn.items(m.path) if match(it)]

    def get(self, menu: str, item: Arg | None, value_name: str | None) -> str | dict[str, str]:
        m = MENUS[menu]
        if m.kind in ("single", "runtime-single"):
            values = self._single_values(m, True)
        else:
            if item is None:
                raise ScriptSyntaxError(f"{m.path}: get needs an item (index, *id, name or [ find ])")
            chosen = self.select(m, item)
            if len(chosen) != 1:
                raise NoSuchItem(f"{m.path}: get needs exactly one item, the selection has {len(chosen)}")
            it = chosen[0]
            values = item_values(m, it, self._extra(m).get(it.id), True)
            values = {".id": it.id, **values}
            if m.has_comment:
                values["comment"] = it.values.get("comment", "")
            if m.has_disabled:
                values["disabled"] = it.values.get("disabled", "no")
        if value_name is None:
            return values
        if value_name not in values and m.prop(value_name) is None and value_name not in PSEUDO:
            raise UnknownProperty(f"{m.path}: unknown property {value_name}")
        return values.get(value_name, "")

    # -- selection -------------------------------------------------------------------------------

    def select(self, menu: Menu, arg: Arg) -> list[Item]:
        """The items a selector names: index list, ``*id``, name, or a condition."""
        items = self.txn.items(menu.path)
        if not isinstance(arg, str):
            match = self.matcher(menu, arg)
            return [it for it in items if match(it)]
        return [self._one(menu, items, part.strip()) for part in arg.split(",") if part.strip()]

    def _one(self, menu: Menu, items: list[Item], ref: str) -> Item:
        if ref.isascii() and ref.isdigit():
            n = self._position(menu, int(ref))
            if n < len(items):
                return items[n]
        elif ref.startswith("*"):
            for it in items:
                if it.id.lower() == ref.lower():
                    return it
        elif menu.key is not None:
            num = self.txn.names(menu).get(ref)
            if num is not None:
                return next(it for it in items if it.num == num)
        raise NoSuchItem(f'{menu.path}: no such item "{ref}"')

    def _position(self, menu: Menu, number: int) -> int:
        """The list position of the configured item ``print`` numbers ``number`` (the generated
        policies print between the leading templates and the rest; their numbers are refused)."""
        lead, count = self._dynamic_span(menu)
        if number < lead:
            return number
        if number < lead + count:
            raise NoSuchItem(f"{menu.path}: item {number} is a dynamic policy (generated by a peer); "
                             "only configured items can be changed")
        return number - count

    def _targets(self, menu: Menu, c: Call) -> list[Item]:
        """The items of every selector (at least one required), each once, in list order."""
        if menu.kind == "single":
            return self.txn.items(menu.path)[:1]
        sels = [*c.items, *([c.args["numbers"]] if "numbers" in c.args else [])]
        if not sels:
            raise ScriptSyntaxError(f"{menu.path}: which item? (index, *id, name or [ find ])")
        chosen: dict[int, Item] = {}
        for s in sels:
            chosen.update((it.num, it) for it in self.select(menu, s))
        return [it for it in self.txn.items(menu.path) if it.num in chosen]

    def _current(self, menu: Menu, item: Item) -> Item:
        """The item as it is now in the transaction (an earlier edit may have replaced it)."""
        return self.txn.items(menu.path)[self.txn.position(menu, item)]

    def _live(self, path: str) -> list[dict[str, object]]:
        """The daemon's rows for a menu, asked once per call (a policy ``print where`` needs them for
        the matcher, the live columns and the generated policies)."""
        rows = self._live_rows.get(path)
        if rows is None:
            rows = self._live_rows[path] = list(self.runtime.rows(path)) if self.runtime is not None else []
        return rows

    def _extra(self, menu: Menu) -> dict[str, dict[str, object]]:
        """Live fields by ``.id``: a peer's ``current-address`` (its DNS name resolved by the daemon);
        a policy's state, plus ``invalid`` for duplicates (the manual's cause)."""
        if menu.path == "/ip ipsec peer":
            return {str(r.get(".id")): dict(r) for r in self._live(menu.path)}
        if menu.path != "/ip ipsec policy":
            return {}
        extra: dict[str, dict[str, object]] = {}
        seen: set[tuple[str | None, ...]] = set()
        for it in self.txn.items(menu.path):
            v = it.values
            if v.get("disabled") == "yes" or v.get("template") == "yes":
                continue
            key = tuple(v.get(k) for k in ("src-address", "dst-address", "protocol", "src-port", "dst-port"))
            if key in seen:
                extra[it.id] = {"invalid": True}
            seen.add(key)
        for r in self._live(menu.path):
            if r.get("dynamic") != "yes":
                extra.setdefault(str(r.get(".id")), {}).update(r)
        return extra

    def checked(self, menu: Menu, cond: Cond) -> Cond:
        """``cond`` with its property names checked (hidden values refused) and ``=``/``!=`` values
        in canonical text, so ``proposal=default`` and ``lifetime=1800s`` compare as printed."""
        for leaf in where.props_of(cond):
            prop = menu.prop(leaf.prop)
            if prop is None and leaf.prop not in PSEUDO:
                raise UnknownProperty(f"{menu.path}: unknown property {leaf.prop} in condition")
            if prop is not None and prop.secret:
                raise UnknownProperty(
                    f"{menu.path}: {leaf.prop} is a hidden value; conditions cannot test it"
                )
        return _canonical(menu, cond)

    def matcher(self, menu: Menu, cond: Cond) -> _Match:
        cond = self.checked(menu, cond)
        extra = self._extra(menu)

        def match(item: Item) -> bool:
            values: dict[str, str] | None = None

            def get(name: str) -> str:
                nonlocal values
                if name == ".id":
                    return item.id
                if name in ("disabled", "comment"):
                    return item.values.get(name, "no" if name == "disabled" else "")
                if values is None:
                    values = item_values(menu, item, extra.get(item.id), False)
                return values.get(name, "")
            return cond.test(get)
        return match

    # -- writes ----------------------------------------------------------------------------------

    @staticmethod
    def _values(menu: Menu, c: Call, skip: tuple[str, ...] = ()) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, v in c.args.items():
            if name in skip:
                continue
            if not isinstance(v, str):
                raise ScriptSyntaxError(f"{menu.path}: {name}= takes a value, not an expression")
            out[name] = v
        return out

    def _add(self, menu: Menu, c: Call) -> Outcome:
        if c.items:
            raise ScriptSyntaxError(f"{menu.path}: unexpected argument {_shown(c.items[0])!r} to add")
        before = copy = None
        if "place-before" in c.args:
            if not menu.ordered:
                raise UnknownProperty(f"{menu.path}: unknown property place-before")
            before = next(iter(self.select(menu, c.args["place-before"])), None)
        if "copy-from" in c.args:
            copy = next(iter(self.select(menu, c.args["copy-from"])), None)
        item = self.txn.add(menu, self._values(menu, c, ("place-before", "copy-from")), before, copy)
        return Outcome(ids=[item.id])

    def _set(self, menu: Menu, c: Call) -> Outcome:
        changes = self._values(menu, c, ("numbers",))
        for it in self._targets(menu, c):
            self.txn.set(menu, self._current(menu, it), changes)
        return Outcome()

    def _remove(self, menu: Menu, c: Call) -> Outcome:
        self.txn.remove(menu, self._targets(menu, c))
        return Outcome()

    def _unset(self, menu: Menu, c: Call) -> Outcome:
        """``unset ITEMS value-name=a,b`` (or ``unset ITEMS a``): back to the default (or unset)."""
        names_arg = c.args.get("value-name", "")
        extra = set(c.args) - {"value-name", "numbers"}
        if not isinstance(names_arg, str) or extra:
            raise ScriptSyntaxError(f"{menu.path}: unset takes value-name=PROPERTY[,PROPERTY]")
        names = [n.strip() for n in names_arg.split(",") if n.strip()]
        if not names:
            raise ScriptSyntaxError(f"{menu.path}: unset takes value-name=PROPERTY[,PROPERTY]")
        for it in self._targets(menu, c):
            self.txn.set(menu, self._current(menu, it), dict.fromkeys(names, ""))
        return Outcome()

    def _toggle(self, menu: Menu, c: Call, value: str) -> Outcome:
        for it in self._targets(menu, c):
            self.txn.set(menu, self._current(menu, it), {"disabled": value})
        return Outcome()

    def _enable(self, menu: Menu, c: Call) -> Outcome:
        return self._toggle(menu, c, "no")

    def _disable(self, menu: Menu, c: Call) -> Outcome:
        return self._toggle(menu, c, "yes")

    def _comment(self, menu: Menu, c: Call) -> Outcome:
        text = c.args.get("comment")
        if not isinstance(text, str):
            raise ScriptSyntaxError(f"{menu.path}: comment needs comment=TEXT")
        for it in self._targets(menu, c):
            self.txn.set(menu, self._current(menu, it), {"comment": text})
        return Outcome()

    def _move(self, menu: Menu, c: Call) -> Outcome:
        items = self._targets(menu, c)
        dest_arg = c.args.get("destination")
        lst = self.txn.items(menu.path)
        if dest_arg is None:
            dest = len(lst)
        elif isinstance(dest_arg, str) and dest_arg.isascii() and dest_arg.isdigit():
            lead, count = self._dynamic_span(menu)
            dest = max(lead, int(dest_arg) - count) if int(dest_arg) >= lead else int(dest_arg)
        else:
            target = self.select(menu, dest_arg)
            dest = self.txn.position(menu, target[0]) if target else len(lst)
        self.txn.move(menu, items, dest)
        return Outcome()

    def _generate_key(self, menu: Menu, c: Call) -> Outcome:
        return Outcome(text=keys.generate(self.txn, menu, self._values(menu, c)))

    def _generate(self, menu: Menu, c: Call) -> Outcome:
        return Outcome(text=keys.generate_psk(self.txn, menu, self._values(menu, c)))

    def _import(self, menu: Menu, c: Call) -> Outcome:
        return Outcome(text=keys.import_file(self.txn, menu, self._values(menu, c)))

    def _export_pub_key(self, menu: Menu, c: Call) -> Outcome:
        return Outcome(text=keys.export_public(self.txn, menu, self._values(menu, c),
                                               lambda t: self.select(menu, t)))

    # -- reads -----------------------------------------------------------------------------------

    def _find(self, menu: Menu, c: Call) -> Outcome:
        return Outcome(ids=self.find(menu.path, c.where if c.where is not None else where.All(())))

    def _get(self, menu: Menu, c: Call) -> Outcome:
        name = c.args.get("value-name")
        if name is not None and not isinstance(name, str):
            raise ScriptSyntaxError(f"{menu.path}: get takes value-name=PROPERTY")
        item = c.items[0] if c.items else c.args.get("number", c.args.get("numbers"))
        got = self.get(menu.path, item, name)
        return Outcome(value=got) if isinstance(got, str) else Outcome(values=got)

    def _export(self, menu: Menu, c: Call) -> Outcome:
        # keys are never exported (RouterOS)
        return self._export_paths(c, [menu.path] if menu.path in EXPORT_ORDER else [])

    def _export_paths(self, c: Call, paths: list[str]) -> Outcome:
        return Outcome(text=render_export(self.txn.state, "show-sensitive" in c.flags, paths,
                                          verbose="verbose" in c.flags, terse="terse" in c.flags))

    def _print(self, menu: Menu, c: Call) -> Outcome:
        sensitive = "show-sensitive" in c.flags
        proplist = c.args.get("proplist")
        props = [p.strip() for p in proplist.split(",") if p.strip()] if isinstance(proplist, str) else None
        for p in props or ():
            if menu.prop(p) is None and p not in PSEUDO:
                raise UnknownProperty(f"{menu.path}: unknown property {p} in proplist")
        if menu.kind in ("single", "runtime-single"):
            values = self._single_values(menu, sensitive)
            return Outcome(values={k: v for k, v in values.items() if props is None or k in props})
        sel = self.select(menu, c.args["from"]) if "from" in c.args else None
        rows = self._rows(menu, sensitive, c.where, sel)
        if props is not None:
            for r in rows:
                r.values = {k: r.values[k] for k in props if k in r.values}
        return Outcome(rows=rows)

    def _single_values(self, menu: Menu, sensitive: bool) -> dict[str, str]:
        if menu.kind == "single":
            return item_values(menu, self.txn.items(menu.path)[0], None, sensitive)
        got = self._live(menu.path)
        counters: dict[str, object] = dict(got[0]) if got else {}
        out = {name: _text(counters.get(name, 0)) for name in STATISTICS_COUNTERS}
        out.update({k: _text(v) for k, v in counters.items() if k not in out})
        return out

    def _rows(self, menu: Menu, sensitive: bool, cond: Cond | None, sel: list[Item] | None) -> list[PrintRow]:
        if menu.kind == "runtime":
            return self._live_print_rows(menu, self._live(menu.path), sensitive, cond)
        extra = self._extra(menu)
        match = self.matcher(menu, cond) if cond is not None else None
        chosen = {it.num for it in sel} if sel is not None else None
        lead, count = self._dynamic_span(menu)
        out = []
        for i, it in enumerate(self.txn.items(menu.path)):
            if (chosen is not None and it.num not in chosen) or (match is not None and not match(it)):
                continue
            values = item_values(menu, it, extra.get(it.id), sensitive)
            n = i if i < lead else i + count
            out.append(PrintRow(n, it.id, item_flags(menu, it, values), it.values.get("comment"), values))
        if count and sel is None:
            # the daemon's generated policies (generate-policy), flagged D: printed (and numbered)
            # after the leading templates, before the configured policies, as RouterOS 7 lists them
            # (v7-hub-spoke.print.txt); the SPD's order is not this one. Read-only: ``find`` never
            # returns them and their numbers are refused by set/remove (see _one).
            dynamic = [r for r in self._live(menu.path) if r.get("dynamic") == "yes"]
            at = next((k for k, r in enumerate(out) if r.index >= lead), len(out))
            out[at:at] = self._live_print_rows(menu, dynamic, sensitive, cond, lead, "D")
        return out

    def _dynamic_span(self, menu: Menu) -> tuple[int, int]:
        """Where the daemon's generated policies print among the configured ones: (their first
        number, how many): right after the templates that lead the list."""
        if menu.path != "/ip ipsec policy":
            return 0, 0
        count = sum(1 for r in self._live(menu.path) if r.get("dynamic") == "yes")
        items = self.txn.items(menu.path)
        lead = next((i for i, it in enumerate(items) if it.values.get("template") != "yes"), len(items))
        return lead, count

    def _live_print_rows(self, menu: Menu, raw: list[dict[str, object]], sensitive: bool, cond: Cond | None,
                         first: int = 0, flag: str = "") -> list[PrintRow]:
        """Rows of the daemon's (read-only) state, numbered from ``first``; ``cond`` filters them."""
        test = self.checked(menu, cond) if cond is not None else None
        rows = []
        for i, r in enumerate(raw, first):
            values = {k: live_text(k, v) for k, v in r.items() if k != ".id" and
                      (sensitive or not (menu.prop(k) and menu.by_name[k].secret))}
            row = PrintRow(
                i, str(r.get(".id", f"*{i + 1:X}")), flag + runtime_flags(menu, values), None, values
            )
            if test is None or test.test(_row_getter(row)):
                rows.append(row)
        return rows


def _row_getter(row: PrintRow) -> where.Getter:
    return lambda name: row.id if name == ".id" else row.values.get(name, "")


def _shown(arg: Arg) -> str:
    return arg if isinstance(arg, str) else "[ find … ]"


def _canonical(menu: Menu, cond: Cond) -> Cond:
    if isinstance(cond, where.Compare):
        prop = menu.prop(cond.prop)
        if prop is not None and cond.op in ("=", "!="):
            try:
                return where.Compare(cond.prop, cond.op, canon(menu, prop, cond.value))
            except InvalidValue:
                return cond
        return cond
    if isinstance(cond, where.Truthy):
        return cond
    if isinstance(cond, where.Not):
        return where.Not(_canonical(menu, cond.inner))
    parts = tuple(_canonical(menu, p) for p in cond.parts)
    return where.All(parts) if isinstance(cond, where.All) else where.Any(parts)


def _export_paths(path: str) -> list[str]:
    return list(EXPORT_ORDER) if path == "/" else [p for p in EXPORT_ORDER if p.startswith(path.rstrip("/"))]


# -- console lines → calls --------------------------------------------------------------------------

def arg_of(menu: str, t: Tok) -> Arg:
    """A token as an argument: ``[ find … ]`` becomes a condition, anything else its text."""
    sub = t.sub if t.kind in ("expr", "assign") else []
    if not sub:
        return t.text
    if sub[0].kind != "word" or sub[0].text != "find":
        raise ScriptSyntaxError(f"{menu}: only [ find … ] expressions are supported here")
    conds = sub[1:]
    if conds and conds[0].kind == "word" and conds[0].text == "where":
        conds = conds[1:]
    return where.parse(conds, menu)


def call_of(cmd: Command) -> Call:
    """The structured call a parsed console line states (see the module docstring)."""
    menu = MENUS.get(cmd.path)
    single = menu is not None and menu.kind in ("single", "runtime-single")
    items: list[Arg] = []
    args: dict[str, Arg] = {}
    flags: set[str] = set()
    cond: Cond | None = None
    toks = list(cmd.args)
    if cmd.name == "find":
        start = 1 if toks and toks[0].kind == "word" and toks[0].text == "where" else 0
        return Call(cmd.path, "find", where=where.parse(toks[start:], cmd.path))
    for i, t in enumerate(toks):
        if cmd.name == "print" and t.kind == "word" and t.text == "where":
            cond = where.parse(toks[i + 1:], cmd.path)
            break
        if t.kind == "assign":
            if t.op != "=":
                raise ScriptSyntaxError(f"{cmd.path}: unexpected operator in {t.name}{t.op}{t.text}")
            args[t.name] = arg_of(cmd.path, t)
        elif cmd.name in ("print", "export", "wireshark-keys") and t.kind == "word":
            flags.add(t.text)
        elif cmd.name in SECOND_ARG and (items or single) and SECOND_ARG[cmd.name] not in args:
            args[SECOND_ARG[cmd.name]] = t.text
        else:
            items.append(arg_of(cmd.path, t))
    if cmd.name == "print":
        _check_print(cmd.path, flags, args)
    return Call(cmd.path, cmd.name, tuple(items), args, frozenset(flags), cond)


PRINT_FLAGS = frozenset({"detail", "terse", "count-only", "show-ids", "show-sensitive", "brief",
                         "without-paging", "as-value", "value-list"})
EXPORT_FLAGS = frozenset({"show-sensitive", "verbose", "terse", "compact", "hide-sensitive"})


def _check_print(path: str, flags: set[str], args: Mapping[str, Arg]) -> None:
    for f in flags - PRINT_FLAGS:
        raise ScriptSyntaxError(f"{path}: unexpected argument {f!r} to print")
    for name in args:
        if name in ("file", "interval", "follow", "append"):
            raise ScriptSyntaxError(f"{path}: print {name}= is not supported")
        if name not in ("proplist", "from"):
            raise ScriptSyntaxError(f"{path}: unexpected argument {name}= to print")
