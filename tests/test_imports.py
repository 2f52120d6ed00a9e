"""The house's floors hold: imports run down only, no cycle, every module imports alone.

The graph is read from the source (``ast``): an edge for every ``import`` of a package
module, at the top or inside a function (a lazy import is still a cycle a reader must
untangle). Cycles ignore imports under ``if TYPE_CHECKING:``, which never run; the floor
check counts them, since a type named from a floor above is still a dependency on it.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The floors, lowest first: a package may import its own floor and the ones below.
FLOORS = ("formulations", "demand", "solver", "bundleopt")
PACKAGES = FLOORS


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if "migrations" in parts:       # alembic scripts, run by alembic only
                continue
            out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path, known: set[str], type_checking: bool = False) -> set[str]:
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found: set[str] = set()

    def add(target: str) -> None:
        while target and target not in known:       # `from pkg.mod import func`
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if not type_checking and isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                for a in child.names:
                    add(a.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    mod = ".".join(base[: len(base) - child.level + 1] + (
                        [child.module] if child.module else []))
                else:
                    mod = child.module or ""
                for a in child.names:
                    full = f"{mod}.{a.name}"
                    add(full if full in known else mod)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = dfs(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = dfs(n)
            if found:
                return found
    return None


def test_no_import_cycle() -> None:
    mods = _modules()
    graph = {name: _imports(name, path, set(mods)) for name, path in mods.items()}
    assert graph["formulations.scenario"], "the graph reader found no imports at all"
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    names = sorted(_modules())
    code = ("import importlib, sys\n"
            f"for n in {names!r}:\n"
            "    importlib.import_module(n)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]


def _floor(module: str) -> int:
    return FLOORS.index(module.split(".")[0])


def _upward(mods: dict[str, Path]) -> list[str]:
    return sorted(f"{name} imports {target}"
                  for name, path in mods.items()
                  for target in _imports(name, path, set(mods), type_checking=True)
                  if _floor(target) > _floor(name))


def test_no_import_runs_up_a_floor() -> None:
    """formulations ← demand ← solver ← bundleopt: nothing below imports anything above."""
    mods = _modules()
    assert not _upward(mods), "imports that run up a floor:\n" + "\n".join(_upward(mods))


def test_the_floor_check_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    lazy = tmp_path / "lazy.py"
    lazy.write_text("from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    from bundleopt.cli import main\n"
                    "def f():\n    from solver.api import solve\n")
    found = _upward({"formulations.lazy": lazy, "bundleopt.cli": lazy, "solver.api": lazy})
    assert "formulations.lazy imports bundleopt.cli" in found
    assert "formulations.lazy imports solver.api" in found


def _private_imports(name: str, path: Path) -> list[str]:
    """``from our_pkg.mod import _name`` where our_pkg is another top-level package of ours."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            top = node.module.split(".")[0]
            if top in FLOORS and top != name.split(".")[0]:
                out += [f"{name}: from {node.module} import {a.name}"
                        for a in node.names if a.name.startswith("_")]
    return out


def test_no_private_name_is_imported_across_packages() -> None:
    bad = [line for name, path in _modules().items() for line in _private_imports(name, path)]
    assert not bad, "\n".join(bad)


def test_the_architecture_page_names_every_module() -> None:
    """docs/architecture.md says what each module owns, package by package; a module its
    package's section does not name is a module a new maintainer cannot place."""
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for pkg in FLOORS:
        section = page.split(f"### `{pkg}/`", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT / pkg)
            if "migrations" in rel.parts or rel.as_posix() == "__init__.py":
                continue
            names = {rel.as_posix(), rel.name, rel.stem}
            if not any(f"`{n}`" in section or f"{n}`" in section for n in names):
                missing.append(f"{pkg}/{rel.as_posix()}")
    assert not missing, "docs/architecture.md does not name: " + ", ".join(missing)
