"""The package's layering, checked: imports only go down, and nothing imports itself round.

    command line   lecture31.cli, every __main__            may import anything below
    demos          lecture31.demos.*                        library and runtime
    library        the exercises, tiers, cluster, report    library and runtime
    runtime        lecture31._runtime.*                     runtime only

Read from the source (every import, also those inside functions), not from sys.modules, so an
import that only runs on some path counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lecture31"
NAME = "lecture31"

# Issue 17's limits: the tree stays readable at a glance, and no module is a book.
MAX_TOP_LEVEL_ENTRIES = 14
MAX_MODULE_LINES = 450


def moduleName(path: Path) -> str:
    parts = [NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {moduleName(path): path for path in sorted(PACKAGE.rglob("*.py"))}
# The benchmark suite's modules (top-level ones, as pytest imports them) keep the same size cap.
BENCH = PACKAGE.parent / "bench"
SIZED = {**MODULES, **{f"bench/{path.name}": path for path in sorted(BENCH.glob("*.py"))}}


def _resolve(importer: str, node: ast.ImportFrom) -> list[str]:
    """The package modules one ``from ... import ...`` reaches (submodules where named)."""
    if node.level:
        isPackage = MODULES[importer].name == "__init__.py"
        base = importer.split(".")
        base = base if isPackage else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target != NAME and not target.startswith(NAME + "."):
        return []
    reached = []
    for alias in node.names:
        submodule = f"{target}.{alias.name}"
        reached.append(submodule if submodule in MODULES else target)
    return reached


def importsOf(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.update(_resolve(module, node))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == NAME)
    found.discard(module)
    return {name for name in found if name in MODULES}


GRAPH = {module: importsOf(module) for module in MODULES}


def layerOf(module: str) -> int:
    """3 command line, 2 demos, 1 library, 0 runtime."""
    if module == f"{NAME}.cli" or module.endswith(".__main__"):
        return 3
    if module.startswith(f"{NAME}.demos"):
        return 2
    if module.startswith(f"{NAME}._runtime"):
        return 0
    return 1


LAYER_NAMES = {3: "command line", 2: "demos", 1: "library", 0: "runtime"}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    onStack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        onStack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in onStack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                onStack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_size_cap_sees_the_bench_conftest_and_its_modules():
    assert {"bench/conftest.py", "bench/compare.py"} <= set(SIZED)


def test_the_walk_sees_the_package_and_its_imports():
    assert f"{NAME}.pipeline.staged" in MODULES
    assert f"{NAME}._runtime.dispatch" in GRAPH[f"{NAME}.pipeline.staged"]
    # An import inside a function counts: the cycle detector would miss the old ones otherwise.
    assert f"{NAME}.cluster" in GRAPH[f"{NAME}.tiers.matrix"]


def test_no_import_cycles_in_the_package():
    assert cycles(GRAPH) == []


def test_the_cycle_detector_finds_a_cycle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_down_the_layers(module):
    upward = {
        other: LAYER_NAMES[layerOf(other)]
        for other in GRAPH[module]
        if layerOf(other) > layerOf(module)
    }
    assert upward == {}, f"{module} ({LAYER_NAMES[layerOf(module)]}) imports {upward}"


def test_every_exercise_keeps_the_main_its_homework_asks_for_without_a_demo():
    for exercise in ("tiered", "fanout", "breaker", "pipeline", "tiers"):
        prefix = f"{NAME}.{exercise}"
        reached = set().union(*(GRAPH[m] for m in MODULES if m.startswith(prefix)))
        assert not {m for m in reached if layerOf(m) >= 2}, exercise


def test_the_top_level_folder_has_at_most_fourteen_entries():
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= MAX_TOP_LEVEL_ENTRIES, sorted(entries)


@pytest.mark.parametrize("module", sorted(SIZED))
def test_no_module_is_over_450_lines(module):
    lines = len(SIZED[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines"


def test_the_package_is_marked_typed():
    assert (PACKAGE / "py.typed").is_file()


def test_the_gate_imports_none_of_the_code_it_measures():
    """The gate runs from the tree it measures (issue 32): a broken exercise there must be a
    side that failed (exit 3), not a gate that cannot start."""
    measured = ("tiered", "fanout", "breaker", "pipeline", "tiers", "cluster", "demos")
    reached: set[str] = set()
    todo = [module for module in MODULES if module.startswith(f"{NAME}.gate")]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(GRAPH[module])
    assert {m for m in reached if m.split(".")[1:2] and m.split(".")[1] in measured} == set()
