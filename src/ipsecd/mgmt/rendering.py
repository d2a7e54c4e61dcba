"""The console's text (or JSON) for a command's outcome: what ``print``, ``find``, ``get`` and the
other verbs show. Used by the console (:mod:`.session`) and by scripts whose output is kept
(``Config.import_script(output=…)``, ``ipsecd run --config``)."""

from __future__ import annotations

from . import certificate
from .commands import Call, Outcome
from .schema import MENUS, Menu
from .views import (
    FLAG_PROPS,
    PrintRow,
    detail_values,
    json_row,
    render_as_value,
    render_detail,
    render_json,
    render_single,
    render_table,
    render_value_list,
)


def _text_rows(menu: Menu, rows: list[PrintRow]) -> list[PrintRow]:
    """Rows for text output: the read-only flag properties (default, dynamic, responder, a policy's
    active/invalid, an SA's seen-traffic …) are the flag letters there, not columns; JSON keeps them."""
    letters = {prop for _, prop in menu.flags} | set(FLAG_PROPS)
    return [PrintRow(r.index, r.id, r.flags, r.comment,
                     {k: v for k, v in r.values.items()
                      if k not in letters or menu.prop(k) is None or not menu.by_name[k].read_only})
            for r in rows]


def render(call: Call, out: Outcome, as_json: bool) -> str:
    """The console's text (or JSON) for the outcome of a call."""
    menu = MENUS.get(call.menu) or certificate.MENUS.get(call.menu)  # /certificate: not configuration
    if out.value is not None:
        return render_json([{"value": out.value}]) if as_json else out.value + "\n"
    if out.ids is not None and call.verb == "find":
        return render_json([{".id": i} for i in out.ids]) if as_json else ";".join(out.ids) + "\n"
    if out.values is not None:
        return render_json([out.values]) if as_json else render_single(out.values)
    if out.rows is None or menu is None:
        return out.text
    flags = call.flags
    if "count-only" in flags:
        return f"{len(out.rows)}\n"
    if as_json:
        return render_json(json_row(menu, r) for r in out.rows)
    rows = _text_rows(menu, out.rows)
    if "as-value" in flags:
        return render_as_value(menu, rows)
    if "value-list" in flags:
        return render_value_list(menu, rows)
    proplist = call.args.get("proplist")
    if "detail" in flags or "terse" in flags or not menu.columns:  # profiles print detail-style on RouterOS
        if proplist is None:
            for r in rows:
                r.values = detail_values(menu, r.values)
        return render_detail(menu, rows, "show-ids" in flags, "terse" in flags)
    # "brief" is the table itself; "without-paging" changes nothing here (there is no pager).
    columns = (
        [p.strip() for p in proplist.split(",") if p.strip()] if isinstance(proplist, str) else menu.columns
    )
    return render_table(menu, rows, list(columns), "show-ids" in flags)
