"""The package's import graph is the one the README states, and it has no cycle.

The imports are read from the source (``ast``), deferred ones inside functions included, since a
deferred import is still a dependency: it only hides it from the reader. Importing
``spectral_edge.a.b`` also runs ``spectral_edge/a/__init__.py``, so a module depends on the
packages above what it imports too (but not on its own packages, which are already loading).
Imports under ``if TYPE_CHECKING:`` are for type checkers only and are left out.

The README's Layout section names every part of the package (a top-level module or subpackage)
and states, one line per part, what it may import; ``errors`` and ``_version`` may be imported
by every part and import nothing. The stated arrows must be exactly the real ones.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "spectral_edge"
LEAVES = {"errors", "_version"}  # imported by every part, importing nothing


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["spectral_edge", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imported_names(tree: ast.Module, module: str, is_package: bool):
    """Every module name an import statement names, outside ``if TYPE_CHECKING:``."""

    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
                continue
            if isinstance(child, ast.Import):
                yield from (alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: from the module's package, up level - 1
                    package = module if is_package else module.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                for alias in child.names:  # `from pkg import submodule` names the submodule
                    full = f"{base}.{alias.name}"
                    yield full if full in MODULES else base
            yield from walk(child)

    yield from walk(tree)


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (with their packages, see the docstring)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        own = {module.rsplit(".", k)[0] for k in range(module.count(".") + 1)}
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in _imported_names(tree, module, path.name == "__init__.py"):
            if not name.startswith("spectral_edge"):
                continue
            target = _resolve(name)
            if target is None or target == module:
                continue
            graph[module].add(target)
            package = target.rpartition(".")[0]
            while package and package not in own:
                graph[module].add(package)
                package = package.rpartition(".")[0]
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(MODULES):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def part(module: str) -> str:
    """The part of the package a module belongs to: its top-level module or subpackage."""
    return module.split(".")[1]


def part_graph() -> dict[str, set[str]]:
    parts: dict[str, set[str]] = defaultdict(set)
    for module, targets in import_graph().items():
        if module == "spectral_edge":
            continue
        for target in targets:
            if target != "spectral_edge" and part(target) != part(module):
                parts[part(module)].add(part(target))
    return parts


def _layout_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Layout\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def readme_parts() -> set[str]:
    """The parts the README's layout tree names (``name.py`` or ``name/`` under src/)."""
    tree = re.findall(r"```\n(.*?)```", _layout_section(), re.DOTALL)[0]
    inside = tree.split("src/spectral_edge/\n", 1)[1]
    return set(re.findall(r"^  (\w+)(?:\.py|/)", inside, re.MULTILINE))


def readme_arrows() -> dict[str, set[str]]:
    """``part, part -> part, part`` lines of the layout section's second block (continuation
    lines indented); ``(nothing)`` for none."""
    block = re.findall(r"```\n(.*?)```", _layout_section(), re.DOTALL)[1]
    arrows: dict[str, set[str]] = {}
    sources: list[str] = []
    for line in block.splitlines():
        if "->" in line:
            left, right = line.split("->")
            sources = [s.strip() for s in left.split(",")]
            for source in sources:
                arrows[source] = set()
        right = line.split("->")[-1].replace("(nothing)", "")
        for source in sources:
            arrows[source] |= {t.strip() for t in right.split(",") if t.strip()}
    return arrows


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_nothing_imports_the_package_root():
    """The root loads public names lazily from the modules; a module importing the root would
    close a cycle through that table (and pay for the root's imports)."""
    importers = sorted(m for m, targets in import_graph().items() if "spectral_edge" in targets)
    assert importers == [], f"import what you need from its module, not the root: {importers}"


def test_errors_and_version_import_nothing_of_the_package():
    graph = part_graph()
    assert {leaf: graph.get(leaf, set()) for leaf in LEAVES} == {leaf: set() for leaf in LEAVES}


def test_the_readme_layout_names_every_part_of_the_package():
    actual = {part(m) for m in MODULES if m != "spectral_edge"}
    named = readme_parts()
    assert actual - named == set(), "parts missing from the README's layout"
    assert named - actual == set(), "the README's layout names parts that do not exist"


def test_the_readme_states_the_dependency_arrows_exactly():
    stated = readme_arrows()
    actual = {p: targets - LEAVES for p, targets in part_graph().items() if p not in LEAVES}
    parts = {part(m) for m in MODULES if m != "spectral_edge"} - LEAVES
    assert set(stated) == parts, "every part (but errors, _version) has one README line"
    wrong = {
        p: {
            "imported, not stated": sorted(actual.get(p, set()) - stated[p]),
            "stated, not imported": sorted(stated[p] - actual.get(p, set())),
        }
        for p in sorted(parts)
        if actual.get(p, set()) != stated[p]
    }
    assert wrong == {}, "update the README's dependency lines, or the imports"


def test_core_imports_nothing_else_of_the_package():
    """The mathematics stands alone (stated in the README, and the point of the layering)."""
    assert part_graph().get("core", set()) <= LEAVES


@pytest.mark.parametrize(
    "graph, cycle",
    [
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"a": {"b"}, "b": set()}, None),
    ],
)
def test_find_cycle_finds_one(monkeypatch, graph, cycle):
    monkeypatch.setitem(globals(), "MODULES", dict.fromkeys(graph, Path()))
    assert find_cycle(graph) == cycle
