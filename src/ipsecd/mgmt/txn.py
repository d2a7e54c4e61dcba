"""Validated edits on a working copy of the configuration state (one :class:`Txn` per command or import).

The integrity rules of RouterOS are enforced here: references by name must exist, referenced items
cannot be removed (the message names the referrer), renaming keeps references, names are unique,
default objects cannot be removed, policy order is kept. :mod:`.model` commits a finished
transaction; :mod:`.commands` runs commands in one.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import (
    DefaultObject,
    DuplicateName,
    InvalidValue,
    NoSuchItem,
    ReferenceViolation,
    UnknownProperty,
)
from .schema import DIALECTS, MENUS, Menu, Prop, referrers
from .store import Item, State
from .values import Bool, EnumList, Ref, ValueParseError


def menu_of(path: str) -> Menu:
    return MENUS[path]


def value_text(menu: Menu, item: Item, prop: Prop) -> str | None:
    """The canonical text of a property of an item, with the schema default filled in."""
    v = item.values.get(prop.name)
    return v if v is not None else prop.default


def canon(menu: Menu, prop: Prop, text: str) -> str:
    """Validate ``text`` for ``prop``; the canonical text, or InvalidValue naming menu, property,
    value and what is allowed."""
    try:
        return prop.type.canon(text)
    except ValueParseError as exc:
        raise InvalidValue(
            f'{menu.path}: invalid value for {prop.name}: "{text}" (allowed: {exc.allowed})'
        ) from None


class Txn:
    """Edits on a working copy of the state; the caller commits or drops it."""

    def __init__(self, state: State, next_num: int) -> None:
        self.state: State = {k: list(v) for k, v in state.items()}
        self.next_num = next_num
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._names: dict[str, dict[str, int]] = {}
        #: Defaults of another dialect (``schema.DIALECTS``) that items added in this transaction start
        #: from, so a compact export of a real router means there what it means on the router.
        self.dialect: dict[str, dict[str, str]] = {}

    # -- lookups ---------------------------------------------------------------------------------

    def items(self, path: str) -> list[Item]:
        return self.state.setdefault(path, [])

    def names(self, menu: Menu) -> dict[str, int]:
        """name → item number for menus with a key (cached for the transaction; kept up to date)."""
        idx = self._names.get(menu.path)
        if idx is None:
            assert menu.key is not None
            idx = {}
            for it in self.items(menu.path):
                name = it.values.get(menu.key)
                if name is not None:
                    idx[name] = it.num
            self._names[menu.path] = idx
        return idx

    def warn_once(self, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            self.warnings.append(text)

    def _check_value(self, menu: Menu, prop: Prop, text: str) -> str:
        if prop.read_only:
            raise UnknownProperty(f"{menu.path}: property {prop.name} is read-only")
        value = canon(menu, prop, text)
        if isinstance(prop.type, Ref) and value not in prop.type.choices:
            target = MENUS[prop.type.menu]
            if target.key is None or value not in self.names(target):
                raise ReferenceViolation(
                    f'{menu.path}: invalid value for {prop.name}: "{value}" '
                    f"(allowed: {prop.type.describe()}; no such item in {target.path})")
        if (
            not prop.implemented
            and value != prop.default
            and not (isinstance(prop.type, Bool) and value == "no")
        ):
            self.warn_once(f"warning: {menu.path} {prop.name} is stored but has no effect yet")
        elif prop.unimplemented:
            for word in value.split(","):
                if word in prop.unimplemented:
                    self.warn_once(f"warning: {menu.path} {prop.name}={word} is stored but has no effect yet")
        return value

    def _apply(self, menu: Menu, values: dict[str, str], changes: dict[str, str]) -> dict[str, str]:
        out = dict(values)
        for name, text in changes.items():
            prop = menu.prop(name)
            if prop is None:
                allowed = ", ".join(p.name for p in menu.writable)
                raise UnknownProperty(f"{menu.path}: unknown property {name} (allowed: {allowed})")
            if text == "" and not (isinstance(prop.type, EnumList) and prop.type.allow_empty):
                if prop.read_only:
                    raise UnknownProperty(f"{menu.path}: property {prop.name} is read-only")
                out.pop(name, None)  # back to the default (or unset)
                continue
            value = self._check_value(menu, prop, text)
            if value == prop.default:
                out.pop(name, None)
            else:
                out[name] = value
        return out

    def _check_item(self, menu: Menu, values: dict[str, str], num: int | None) -> None:
        def used(name: str) -> bool:
            return values.get(name) not in (None, "no")

        for a, b in menu.conflicts:
            if used(a) and used(b):
                raise InvalidValue(f"{menu.path}: {a} and {b} cannot be used at the same time")
        for prop_name, cond, want in menu.requires:
            have = value_text(menu, Item(0, values), menu.by_name[cond])
            if used(prop_name) and have != want:
                raise InvalidValue(f'{menu.path}: invalid value for {prop_name}: "{values[prop_name]}" '
                                   f"(allowed only with {cond}={want}; this item has {cond}={have})")
        for prop in menu.props:
            if prop.required and value_text(menu, Item(0, values), prop) is None:
                raise InvalidValue(f"{menu.path}: property {prop.name} is required")
        if menu.key is not None:
            name = values.get(menu.key)
            other = self.names(menu).get(name) if name is not None else None
            if other is not None and other != num:
                raise DuplicateName(f'{menu.path}: an item named "{name}" already exists')

    def _rename(self, menu: Menu, old: str, new: str) -> None:
        """Keep references to a renamed item (RouterOS follows the item, not the name)."""
        for rmenu, rprop in referrers(menu.path):
            lst = self.items(rmenu.path)
            for i, it in enumerate(lst):
                if it.values.get(rprop.name) == old or (rprop.default == old and rprop.name not in it.values):
                    lst[i] = Item(it.num, {**it.values, rprop.name: new}, it.default)

    # -- edits -----------------------------------------------------------------------------------

    def add(self, menu: Menu, changes: dict[str, str], before: Item | None = None,
            copy_from: Item | None = None, internal: dict[str, str] | None = None) -> Item:
        """Add an item; ``internal`` holds read-only values only the model sets (key material)."""
        base = dict(copy_from.values) if copy_from is not None else {}
        if menu.key is not None and copy_from is not None:
            base.pop(menu.key, None)
        if copy_from is None and menu.path in self.dialect:
            base = self._apply(menu, {}, self.dialect[menu.path])
        values = self._apply(menu, base, changes)
        values.update(internal or {})
        if menu.auto_name and menu.key and menu.key not in values:
            n = 1  # RouterOS: the first free number (peer1, profile1, proposal1, group1, cfg1)
            while f"{menu.auto_name}{n}" in self.names(menu):
                n += 1
            values[menu.key] = f"{menu.auto_name}{n}"
        self._check_item(menu, values, None)
        item = Item(self.next_num, values)
        self.next_num += 1
        lst = self.items(menu.path)
        if before is None:
            lst.append(item)
        else:
            lst.insert(self.position(menu, before), item)
        if menu.key is not None and menu.key in values:
            self.names(menu)[values[menu.key]] = item.num
        return item

    def use_dialect(self, name: str) -> None:
        """Start from ``schema.DIALECTS[name]``: added items take its defaults, and default objects
        whose values are still ipsecd's defaults are set to it (what the router would have)."""
        self.dialect = DIALECTS[name]
        for path, values in self.dialect.items():
            menu = MENUS[path]
            for item in list(self.items(path)):
                if item.default:
                    self.set(menu, item, {k: v for k, v in values.items() if k not in item.values})

    def savepoint(self) -> Callable[[], None]:
        """A function that puts the edits back to this point: under a script's ``:do { … }
        on-error={ … }`` a failed command leaves nothing half made (items are immutable, so copying
        the lists is enough)."""
        state = {k: list(v) for k, v in self.state.items()}
        next_num, warnings = self.next_num, len(self.warnings)

        def rollback() -> None:
            self.state.clear()
            self.state.update(state)
            self.next_num = next_num
            del self.warnings[warnings:]
            self._names.clear()

        return rollback

    def position(self, menu: Menu, item: Item) -> int:
        for i, it in enumerate(self.items(menu.path)):
            if it.num == item.num:
                return i
        raise NoSuchItem(f"{menu.path}: no such item {item.id}")

    def set(self, menu: Menu, item: Item, changes: dict[str, str]) -> Item:
        values = self._apply(menu, item.values, changes)
        if item.default and menu.key is not None and values.get(menu.key) != item.values.get(menu.key):
            # other items refer to default objects implicitly, through schema defaults ("profile=default")
            raise DefaultObject(f"{menu.path}: cannot rename default item {item.id}")
        self._check_item(menu, values, item.num)
        new = Item(item.num, values, item.default)
        lst = self.items(menu.path)
        lst[self.position(menu, item)] = new
        if menu.key is not None:
            old_name, new_name = item.values.get(menu.key), values.get(menu.key)
            if old_name != new_name:
                idx = self.names(menu)
                if old_name is not None:
                    idx.pop(old_name, None)
                if new_name is not None:
                    idx[new_name] = new.num
                if old_name is not None and new_name is not None:
                    self._rename(menu, old_name, new_name)
        return new

    def remove(self, menu: Menu, items: list[Item]) -> None:
        doomed = {it.num for it in items}
        for it in items:
            if it.default:
                raise DefaultObject(f"{menu.path}: cannot remove default item {it.id}")
        if menu.key is not None:
            for it in items:
                name = it.values.get(menu.key)
                if name is None:
                    continue
                for rmenu, rprop in referrers(menu.path):
                    for ref in self.items(rmenu.path):
                        if rmenu is menu and ref.num in doomed:
                            continue
                        if value_text(rmenu, ref, rprop) == name:
                            raise ReferenceViolation(
                                f'{menu.path}: cannot remove "{name}": {rmenu.path} item {ref.id} '
                                f"refers to it ({rprop.name})")
                self.names(menu).pop(name, None)
        self.state[menu.path] = [it for it in self.items(menu.path) if it.num not in doomed]

    def move(self, menu: Menu, items: list[Item], destination: int) -> None:
        """Move ``items`` before the item at print index ``destination`` (or to the end)."""
        lst = self.items(menu.path)
        anchor = lst[destination] if destination < len(lst) else None
        moving = {it.num for it in items}
        rest = [it for it in lst if it.num not in moving]
        chosen = [it for it in lst if it.num in moving]
        at = len(rest)
        if anchor is not None and anchor.num not in moving:
            at = next(i for i, it in enumerate(rest) if it.num == anchor.num)
        elif anchor is not None:
            after = [it for it in lst[destination:] if it.num not in moving]
            at = rest.index(after[0]) if after else len(rest)
        self.state[menu.path] = rest[:at] + chosen + rest[at:]
