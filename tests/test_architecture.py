"""Import contracts (DESIGN.md §1): arrows point down only, and no module of a package imports itself
back through its siblings.

Every import counts, module-level or inside a function (a lazy import that dodges a cycle is still a
cycle); only ``if TYPE_CHECKING:`` blocks are exempt, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "ipsecd"

# layer -> the layers of ours it must never import
FORBIDDEN = {
    "util": {"wire", "crypto", "pki", "policy", "ike", "dataplane", "daemon", "mgmt", "cli"},
    "wire": {"crypto", "pki", "policy", "ike", "dataplane", "daemon", "mgmt", "cli"},
    "crypto": {"pki", "policy", "ike", "dataplane", "daemon", "mgmt", "cli"},
    "pki": {"policy", "ike", "dataplane", "daemon", "mgmt", "cli"},
    "policy": {"ike", "dataplane", "daemon", "mgmt", "cli"},
    "ike": {"dataplane", "daemon", "mgmt", "cli"},
    "dataplane": {"ike", "daemon", "mgmt", "cli"},
    "mgmt": {"ike", "dataplane", "daemon", "cli"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """The ipsecd modules ``path`` imports at run time (absolute names)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ipsecd"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            if mod.startswith("ipsecd"):
                found.add(mod)
                # `from pkg import module` imports the submodule
                for alias in node.names:
                    if (SRC / Path(*mod.split("."), alias.name)).with_suffix(".py").exists() or (
                        SRC / Path(*mod.split("."), alias.name) / "__init__.py"
                    ).exists():
                        found.add(f"{mod}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    found.discard(name)
    return found


MODULES = {_module_name(p): _imports(p) for p in sorted(PKG.rglob("*.py"))}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_point_down(layer: str) -> None:
    bad = sorted(
        f"{mod} imports {imp}"
        for mod, imps in MODULES.items()
        if _layer(mod) == layer
        for imp in imps
        if _layer(imp) in FORBIDDEN[layer]
    )
    assert not bad, "\n".join(bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components (Tarjan) of more than one module inside one package."""
    graph = {
        m: {i for i in imps if i in MODULES and i.rpartition(".")[0] == m.rpartition(".")[0]}
        for m, imps in MODULES.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles_within_a_package() -> None:
    assert _cycles() == []


def test_the_checker_sees_a_cycle() -> None:
    """The contract cannot pass vacuously: the parser finds the imports that make a cycle."""
    assert "ipsecd.policy.types" in MODULES["ipsecd.policy.events"]
    assert "ipsecd.policy.types" in MODULES["ipsecd.dataplane.base"]
