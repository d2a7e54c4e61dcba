"""``print`` (table, ``detail``, ``terse``, ``value-list``, ``as-value``, JSON) and ``export`` output,
the way RouterOS writes them.

A printed item is an ordered mapping property → text (:func:`item_values`) plus its flags
(``X`` disabled, ``D`` dynamic, ``*`` default, and menu-specific ones such as ``T`` template) and its
``;;;`` comment. ``export`` is compact: only values that differ from the default (for default objects,
from their factory values), default objects as ``set [ find default=yes ] …`` (the default template
policy as ``set 0 …`` when it is first), secrets only with ``show-sensitive``, and lines longer than
80 columns folded the way RouterOS folds them (``\\`` at the end, four spaces on the next line), so an
export pastes into a RouterOS terminal and reads back through :func:`.script.logical_lines`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .schema import EXPORT_ORDER, MENUS, Menu, Prop
from .store import Item, State
from .values import Secret, Str, protocol_text, quote

WRAP = 80  # RouterOS 7 wraps detail items to its terminal's 80 columns (v7-hub-spoke.print.txt)
EXPORT_WIDTH = 80
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


#: The daemon's algorithm names → the family RouterOS prints in ``installed-sa`` (the key size is a
#: column of its own, ``enc-key-size``): ``aes-256-gcm`` is ``aes-gcm``, ``camellia-128`` is ``camellia``.
_ENC_FAMILY = re.compile(r"^(aes|camellia)-\d+(?:-(cbc|ctr|gcm|ccm))?$")


def live_text(name: str, value: object) -> str:
    """A value from the daemon as RouterOS prints it: protocols by name (``gre``, not 47) and
    installed-SA algorithms as a family with the key size apart."""
    if name == "protocol":
        return protocol_text(value)
    if name == "enc-algorithm" and isinstance(value, str):
        m = _ENC_FAMILY.match(value)
        if m:
            return f"{m.group(1)}-{m.group(2)}" if m.group(2) else m.group(1)
    return _text(value)


def item_values(
    menu: Menu, item: Item, extra: Mapping[str, object] | None, sensitive: bool
) -> dict[str, str]:
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
            if text is None and extra and extra.get(prop.name) is not None:  # the daemon knows it:
                text = _text(extra[prop.name])  # a peer-bound policy's SA ends (RouterOS 7 shows them)
        if text is None:
            text = prop.unset_text or None
        if text is not None:
            out[prop.name] = text
    return out


#: What a ``quiet`` property shows when it has nothing to say (an AEAD SA's auth-algorithm is "null").
QUIET_UNSET = ("", "null")


def detail_values(menu: Menu, values: Mapping[str, str]) -> dict[str, str]:
    """The values ``print detail`` shows, in RouterOS's order (``Menu.detail``): ``quiet``
    properties only when they differ from their default, and a template policy's own fields only."""
    if menu.detail_template and values.get("template") == "yes":
        return {k: values[k] for k in menu.detail_template if k in values}
    order = menu.detail_unbound if menu.detail_unbound and "peer" not in values else menu.detail
    names = [n for n in order if n in values] + [n for n in values if n not in order]
    out = {}
    for name in names:
        prop = menu.prop(name)
        if name in menu.quiet and prop is not None and values[name] in (*QUIET_UNSET, prop.default):
            continue
        out[name] = values[name]
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


def _flag_names(menu: Menu) -> dict[str, str]:
    return {"X": "disabled", "D": "dynamic", "*": "default", **dict(menu.flags)}


#: The width RouterOS 7 wraps a flag legend to (its terminal's 80 columns, as in the capture).
LEGEND_WIDTH = 80


def legend(menu: Menu) -> str:
    """The ``Flags:`` legend. RouterOS 7 (flag groups) separates groups with ``;`` and a group's
    alternatives with ``,`` and, when that runs past 80 columns, wraps it between groups (the policy
    legend breaks after ``backup;``, v7-hub-spoke.print.txt)."""
    if menu.flag_groups:
        names = _flag_names(menu)
        return _wrap_legend([", ".join(f"{f} - {names[f]}" for f in g) for g in menu.flag_groups])
    parts = []
    if menu.has_disabled:
        parts.append("X - disabled")
    if "dynamic" in menu.by_name:
        parts.append("D - dynamic")
    if menu.factory:
        parts.append("* - default")
    parts += [f"{letter} - {prop}" for letter, prop in menu.flags]
    return "Flags: " + "; ".join(parts) if parts else ""


def _wrap_legend(groups: Sequence[str]) -> str:
    """``Flags:`` and the groups, ``;`` between them, wrapped between groups past 80 columns."""
    lines = ["Flags:"]
    for i, group in enumerate(groups):
        text = group + (";" if i < len(groups) - 1 else "")
        if len(lines[-1]) + 1 + len(text) > LEGEND_WIDTH and lines[-1] != "Flags:":
            lines.append(text)
        else:
            lines[-1] += " " + text
    return "\n".join(lines)


def flag_columns(menu: Menu, flags: str) -> str:
    """A row's flags as RouterOS 7 prints them in ``print detail``: one column per flag group, the
    first of its letters the row has (a generated, active policy shows ``D``; the default template
    ``T  *``), blank where it has none; without groups, the letters left-aligned."""
    if not menu.flag_groups:
        return flags.ljust(_flag_width(menu))
    return "".join(next((f for f in group if f in flags), " ") for group in menu.flag_groups)


def _flag_width(menu: Menu) -> int:
    if menu.flag_groups:
        return len(menu.flag_groups)
    return int(menu.has_disabled) + int("dynamic" in menu.by_name) + int(bool(menu.factory)) + len(menu.flags)


def _detail_text(menu: Menu, prop: Prop | None, text: str) -> str:
    if prop is None:
        return quote(text)
    if prop.name in menu.quoted or (not prop.runtime and isinstance(prop.type, Str | Secret)):
        return quote(text, always=True)
    return quote(text)


def _detail_pairs(menu: Menu, values: Mapping[str, str]) -> list[str]:
    """``name=value`` of a detail item: a property printed under another name where RouterOS does
    (an active peer's local port is its first ``port=``), and ``detail_echo`` properties printed a
    second time after the last of them, as RouterOS 7 prints an active peer's SPIs (captured)."""
    pairs = [
        f"{menu.detail_labels.get(k, k)}={_detail_text(menu, menu.prop(k), v)}" for k, v in values.items()
    ]
    echo = [k for k in menu.detail_echo if k in values]
    if echo:
        at = list(values).index(echo[-1]) + 1
        pairs[at:at] = [f"{k}={_detail_text(menu, menu.prop(k), values[k])}" for k in echo]
    return pairs


def _table_flag_groups(menu: Menu, rows: Sequence[PrintRow]) -> list[str]:
    """The flag columns of a RouterOS 7 table: only the flags some row has (``Flags: R - RESPONDER``
    on a hub whose peers are all responders, no natt-peer), a menu's flag groups sharing a column."""
    used = set("".join(r.flags for r in rows))
    groups = menu.flag_groups or ("X", "D", "*", *(letter for letter, _ in menu.flags))
    return [g for g in ("".join(f for f in group if f in used) for group in groups) if g]


def _numeric(values: Iterable[str]) -> bool:
    present = [v for v in values if v]
    return bool(present) and all(v.isascii() and v.isdigit() for v in present)


def render_table(menu: Menu, rows: Sequence[PrintRow], columns: Sequence[str], show_ids: bool) -> str:
    """RouterOS 7's table (v7-hub-spoke.print.txt, ``active-peers print``): the legend names the
    flags the rows have, in capitals; a column per flag group in use; numbers right-aligned."""
    lines = []
    groups = _table_flag_groups(menu, rows)
    if groups:
        names = _flag_names(menu)
        lines.append(_wrap_legend([", ".join(f"{f} - {names[f].upper()}" for f in g) for g in groups]))
    lines.append("Columns: " + ", ".join(c.upper() for c in columns))
    num = [r.id if show_ids else str(r.index) for r in rows]
    nw = max([len(n) for n in num] + [1])
    widths = [max([len(c)] + [len(r.values.get(c, "")) for r in rows]) for c in columns]
    right = [_numeric(r.values.get(c, "") for r in rows) for c in columns]
    flag_head = " " * len(groups) + " " if groups else ""
    head = "#".ljust(nw) + " " + flag_head + "  ".join(
        c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)
    )
    lines.append(head.rstrip())
    for n, r in zip(num, rows, strict=True):
        if r.comment:
            lines.append(f";;; {r.comment}")
        cells = "  ".join(
            r.values.get(c, "").rjust(w) if rj else r.values.get(c, "").ljust(w)
            for c, w, rj in zip(columns, widths, right, strict=True)
        )
        flags = "".join(next((f for f in g if f in r.flags), " ") for g in groups) + " " if groups else ""
        lines.append(f"{n.rjust(nw)} {flags}{cells}".rstrip())
    return "\n".join(lines) + "\n"


def render_detail(menu: Menu, rows: Sequence[PrintRow], show_ids: bool, terse: bool) -> str:
    lines = []
    lg = legend(menu)
    if lg and not terse:
        lines.append(lg)
    for r in rows:
        n = r.id if show_ids else str(r.index)
        pairs = _detail_pairs(menu, r.values)
        flags = flag_columns(menu, r.flags)
        if terse:
            if r.comment:
                pairs.insert(0, f"comment={quote(r.comment)}")
            lines.append(f"{n.rjust(2)} {flags} " + " ".join(pairs))
            continue
        prefix = f"{n.rjust(2)} {flags} "
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


def render_value_list(menu: Menu, rows: Sequence[PrintRow]) -> str:
    """``print value-list``: one line per property, the items' values side by side."""
    names: list[str] = []
    for r in rows:
        names.extend(k for k in r.values if k not in names)
    if not names:
        return ""
    kw = max(len(k) for k in names)
    widths = [max(len(r.values.get(k, "")) for k in names) for r in rows]
    out = []
    for k in names:
        cells = "  ".join(r.values.get(k, "").ljust(w) for r, w in zip(rows, widths, strict=True))
        out.append(f"{k.rjust(kw + 2)}: {cells}".rstrip())
    return "\n".join(out) + "\n"


def render_as_value(menu: Menu, rows: Sequence[PrintRow]) -> str:
    """``print as-value``: the RouterOS array text, ``.id=*1;name=…``, one item per line."""
    return "".join(";".join(f"{k}={v}" for k, v in json_row(menu, r).items()) + "\n" for r in rows)


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

def _atoms(line: str) -> list[str]:
    """The line cut where a fold may go: an escape (``\\x``, ``\\HH``) stays whole, so it is never split
    and the fold's own backslash never pairs with an escape's (``\\"`` then ``\\"`` was cut after
    ``\\"\\``, leaving an even run of backslashes that does not continue the line)."""
    out: list[str] = []
    i = 0
    while i < len(line):
        n = 1
        if line[i] == "\\":
            n = 3 if re.fullmatch(r"[0-9A-Fa-f]{2}", line[i + 1:i + 3]) else 2
        out.append(line[i:i + n])
        i += n
    return out


def fold(line: str, width: int = EXPORT_WIDTH) -> list[str]:
    """Fold one export line into physical lines of at most ``width`` columns, RouterOS style.

    The fold goes after the last space or ``=`` that fits; a token longer than the line is cut
    where it must. A continuation line starts with four spaces, which the reader strips, so no
    continuation may begin with a space of the text itself.
    """
    atoms = _atoms(line)
    out: list[str] = []
    indent = ""
    start = 0
    while True:
        room = width - len(indent) - 1  # the trailing backslash
        end, used = start, 0
        while end < len(atoms) and used + len(atoms[end]) <= room:
            used += len(atoms[end])
            end += 1
        if end == len(atoms):
            out.append(indent + "".join(atoms[start:]))
            return out
        starts = [j for j in range(end, start, -1) if atoms[j] != " "]  # a continuation may start here
        if not starts:  # a run of spaces wider than the line: leave it whole
            out.append(indent + "".join(atoms[start:]))
            return out
        cut = next((j for j in starts if atoms[j - 1] in (" ", "=")), starts[0])
        out.append(indent + "".join(atoms[start:cut]) + "\\")
        start = cut
        indent = "    "


def _pairs(menu: Menu, values: Mapping[str, str], sensitive: bool) -> list[str]:
    out = []
    for name in sorted(values):
        prop = menu.by_name[name]
        if prop.read_only or (prop.secret and not sensitive):
            continue
        out.append(f"{name}={quote(values[name])}")
    return out


def _full(menu: Menu, item: Item) -> dict[str, str]:
    """Every writable value of an item with the schema defaults filled in (``export verbose``)."""
    out = {p.name: p.default for p in menu.props if not p.read_only and p.default is not None}
    out.update(item.values)
    return {k: v for k, v in out.items() if v is not None}


def export_menu(menu: Menu, items: Sequence[Item], sensitive: bool, verbose: bool = False) -> list[str]:
    """The export lines of one menu: compact (only what differs from the defaults), or ``verbose``
    (every value, defaults included, as RouterOS's ``export verbose``)."""
    lines: list[str] = []
    by_key = {f[menu.key]: f for f in menu.factory if menu.key in f} if len(menu.factory) > 1 else {}
    for pos, item in enumerate(items):
        # several default objects (/ip service, /user group) are each named: ``set www port=8080``
        name = item.values.get(menu.key) if by_key and menu.key else None
        factory = by_key.get(name, {}) if name is not None else menu.factory[0] if menu.factory else {}
        if menu.kind == "single":
            pairs = _pairs(menu, _full(menu, item) if verbose else item.values, sensitive)
            if pairs:
                lines.append("set " + " ".join(pairs))
            continue
        if item.default:
            if verbose:
                diff = {k: v for k, v in _full(menu, item).items() if k != menu.key}
            else:
                diff = {k: v for k, v in item.values.items() if factory.get(k) != v}
                for k, v in factory.items():  # factory values the user reset to the schema default
                    if k not in item.values and menu.by_name[k].default != v:
                        diff[k] = menu.by_name[k].default or ""
            pairs = _pairs(menu, diff, sensitive)
            if pairs:
                selector = (quote(name) if name is not None else "0" if menu.ordered and pos == 0
                            else "[ find default=yes ]")
                lines.append(f"set {selector} " + " ".join(pairs))
            continue
        lines.append(
            "add " + " ".join(_pairs(menu, _full(menu, item) if verbose else item.values, sensitive))
        )
    if menu.ordered:
        for pos, item in enumerate(items):
            if item.default and pos:
                lines.append(f"move [ find default=yes ] destination={pos + 1}")
    return lines


def render_export(state: State, sensitive: bool, paths: Sequence[str] = EXPORT_ORDER, *,
                  verbose: bool = False, terse: bool = False) -> str:
    """The export of ``paths``; ``terse`` writes the full menu path on every line and never folds
    (one command per line, for grep and diff), as RouterOS's ``export terse``."""
    out = ["# ipsecd configuration export" + (" (with secrets)" if sensitive else "")]
    for path in paths:
        menu = MENUS[path]
        lines = export_menu(menu, state.get(path, []), sensitive, verbose)
        if not lines:
            continue
        if terse:
            out.extend(f"{path} {line}" for line in lines)
        else:
            out.append(path)
            out.extend(physical for line in lines for physical in fold(line))
    return "\n".join(out) + "\n"
