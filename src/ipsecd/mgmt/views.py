"""``print`` (table, ``detail``, ``terse``, JSON) and ``export`` output, the way RouterOS writes them.

A printed item is an ordered mapping property → text (:func:`item_values`) plus its flags
(``X`` disabled, ``D`` dynamic, ``*`` default, and menu-specific ones such as ``T`` template) and its
``;;;`` comment. ``export`` is compact: only values that differ from the default (for default objects,
from their factory values), default objects as ``set [ find default=yes ] …`` (the default template
policy as ``set 0 …`` when it is first), secrets only with ``show-sensitive``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .schema import EXPORT_ORDER, MENUS, Menu, Prop
from .store import Item, State
from .values import Secret, Str, quote

WRAP = 100
HIDDEN = ("comment", "disabled", "key-data")
FLAG_PROPS = ("default", "dynamic", "responder")


@dataclass(slots=True)
class PrintRow:
    index: int
    id: str
    flags: str
    comment: str | None
    values: dict[str, str]


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def item_values(menu: Menu, item: Item, extra: Mapping[str, object] | None, sensitive: bool) -> dict[str, str]:
    """Every property of an item as print shows it: name first, then schema order, defaults filled in."""
    out: dict[str, str] = {}
    props = sorted(menu.props, key=lambda p: p.name != menu.key)
    for prop in props:
        if prop.name in HIDDEN or (prop.secret and not sensitive):
            continue
        if prop.runtime:
            v: object = extra.get(prop.name) if extra else None
            text = _text(v) if v is not None else prop.default
        elif prop.read_only and prop.name == "default":
            text = "yes" if item.default else "no"
        elif prop.read_only and prop.name == "dynamic":
            text = "no"
        elif prop.read_only and prop.name == "responder":
            text = item.values.get("passive", "no")
        else:
            text = item.values.get(prop.name, prop.default)
        if text is None:
            text = prop.unset_text or None
        if text is not None:
            out[prop.name] = text
    return out


def item_flags(menu: Menu, item: Item, values: Mapping[str, str]) -> str:
    flags = ""
    if item.values.get("disabled") == "yes":
        flags += "X"
    if item.default and menu.factory:
        flags += "*"
    for letter, prop in menu.flags:
        if values.get(prop) == "yes":
            flags += letter
    return flags


def runtime_flags(menu: Menu, values: Mapping[str, str]) -> str:
    return "".join(letter for letter, prop in menu.flags if values.get(prop) == "yes")


def legend(menu: Menu) -> str:
    parts = []
    if menu.has_disabled:
        parts.append("X - disabled")
    if "dynamic" in menu.by_name:
        parts.append("D - dynamic")
    if menu.factory:
        parts.append("* - default")
    parts += [f"{letter} - {prop}" for letter, prop in menu.flags]
    return "Flags: " + "; ".join(parts) if parts else ""


def _flag_width(menu: Menu) -> int:
    return int(menu.has_disabled) + int("dynamic" in menu.by_name) + int(bool(menu.factory)) + len(menu.flags)


def _detail_text(prop: Prop | None, text: str) -> str:
    if prop is not None and not prop.runtime and isinstance(prop.type, Str | Secret):
        return quote(text, always=True)
    return quote(text)


def render_table(menu: Menu, rows: Sequence[PrintRow], columns: Sequence[str], show_ids: bool) -> str:
    lines = []
    lg = legend(menu)
    if lg:
        lines.append(lg)
    lines.append("Columns: " + ", ".join(c.upper() for c in columns))
    fw = _flag_width(menu)
    num = [r.id if show_ids else str(r.index) for r in rows]
    nw = max([len(n) for n in num] + [1])
    widths = [max([len(c)] + [len(r.values.get(c, "")) for r in rows]) for c in columns]
    head = "#".ljust(nw) + " " + " " * fw + " " + "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    lines.append(head.rstrip())
    for n, r in zip(num, rows, strict=True):
        if r.comment:
            lines.append(f";;; {r.comment}")
        cells = "  ".join(r.values.get(c, "").ljust(w) for c, w in zip(columns, widths, strict=True))
        lines.append(f"{n.rjust(nw)} {r.flags.ljust(fw)} {cells}".rstrip())
    return "\n".join(lines) + "\n"


def render_detail(menu: Menu, rows: Sequence[PrintRow], show_ids: bool, terse: bool) -> str:
    lines = []
    lg = legend(menu)
    if lg and not terse:
        lines.append(lg)
    fw = _flag_width(menu)
    for r in rows:
        n = r.id if show_ids else str(r.index)
        pairs = [f"{k}={_detail_text(menu.prop(k), v)}" for k, v in r.values.items()]
        if terse:
            if r.comment:
                pairs.insert(0, f"comment={quote(r.comment)}")
            lines.append(f"{n.rjust(2)} {r.flags.ljust(fw)} " + " ".join(pairs))
            continue
        prefix = f"{n.rjust(2)} {r.flags.ljust(fw)} "
        indent = " " * len(prefix)
        if r.comment:
            lines.append(prefix + f";;; {r.comment}")
            cur = indent
        else:
            cur = prefix
        for p in pairs:
            if len(cur) + len(p) > WRAP and cur.strip():
                lines.append(cur.rstrip())
                cur = indent
            cur += p + " "
        lines.append(cur.rstrip())
        lines.append("")
    return "\n".join(lines) + "\n"


def render_single(values: Mapping[str, str]) -> str:
    if not values:
        return ""
    w = max(len(k) for k in values)
    return "".join(f"{k.rjust(w + 2)}: {v}\n" for k, v in values.items())


def render_json(rows: Iterable[Mapping[str, str]]) -> str:
    return json.dumps(list(rows), indent=1) + "\n"


def json_row(menu: Menu, r: PrintRow) -> dict[str, str]:
    out = {".id": r.id}
    if menu.has_disabled:
        out["disabled"] = "yes" if "X" in r.flags else "no"
    if r.comment is not None:
        out["comment"] = r.comment
    out.update(r.values)
    return out


# -- export ----------------------------------------------------------------------------------------

def _pairs(menu: Menu, values: Mapping[str, str], sensitive: bool) -> list[str]:
    out = []
    for name in sorted(values):
        prop = menu.by_name[name]
        if prop.read_only or (prop.secret and not sensitive):
            continue
        out.append(f"{name}={quote(values[name])}")
    return out


def export_menu(menu: Menu, items: Sequence[Item], sensitive: bool) -> list[str]:
    lines: list[str] = []
    factory = menu.factory[0] if menu.factory else {}
    for pos, item in enumerate(items):
        if menu.kind == "single":
            pairs = _pairs(menu, item.values, sensitive)
            if pairs:
                lines.append("set " + " ".join(pairs))
            continue
        if item.default:
            diff = {k: v for k, v in item.values.items() if factory.get(k) != v}
            for k, v in factory.items():  # factory values the user reset to the schema default
                if k not in item.values and menu.by_name[k].default != v:
                    diff[k] = menu.by_name[k].default or ""
            pairs = _pairs(menu, diff, sensitive)
            if pairs:
                selector = "0" if menu.ordered and pos == 0 else "[ find default=yes ]"
                lines.append(f"set {selector} " + " ".join(pairs))
            continue
        lines.append("add " + " ".join(_pairs(menu, item.values, sensitive)))
    if menu.ordered:
        for pos, item in enumerate(items):
            if item.default and pos:
                lines.append(f"move [ find default=yes ] destination={pos + 1}")
    return lines


def render_export(state: State, sensitive: bool, paths: Sequence[str] = EXPORT_ORDER) -> str:
    out = ["# ipsecd configuration export" + (" (with secrets)" if sensitive else "")]
    for path in paths:
        menu = MENUS[path]
        lines = export_menu(menu, state.get(path, []), sensitive)
        if lines:
            out.append(path)
            out.extend(lines)
    return "\n".join(out) + "\n"
