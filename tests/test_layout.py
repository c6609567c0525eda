"""The package's layout: every `synthetics` import at module top, no import cycle, every module
importable on its own.

A function-level import that exists to break a cycle hides that two modules belong together or
that one concept is split; so the imports of `synthetics` modules are all at module level and
the graph they make has no cycle. The only function-level imports left defer a heavy
third-party library to first use, and each says so in a comment on its line or the one above.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "synthetics"

#: (module, imported module) pairs allowed inside a function: importing the second imports
#: httpcore, hence anyio, whose own pytest plugin must load first (`synthetics.deadline`).
DEFERRED = {("synthetics.deadline", "synthetics.deadline_transport")}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(node: ast.Import | ast.ImportFrom, importer: str) -> list[str]:
    """The modules `node` imports (for `from package import module`, the module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # a relative import, resolved against the importing module's package
        package = importer.split(".")
        is_package = MODULES[importer].name == "__init__.py"
        base = package[:len(package) - node.level + (1 if is_package else 0)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    names = [f"{source}.{alias.name}" for alias in node.names]
    return [name for name in names if name in MODULES] or [source]


def function_level_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
    return found


def module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: its body, `if` and `try` blocks
    included, functions and classes excluded."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If | ast.Try | ast.With):
            pending += [n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)]
            if isinstance(node, ast.Try):
                pending += [s for handler in node.handlers for s in handler.body]
    return found


def parsed(name: str) -> tuple[ast.Module, list[str]]:
    source = MODULES[name].read_text(encoding="utf-8")
    return ast.parse(source), source.splitlines()


def test_the_package_has_modules() -> None:
    assert {"synthetics.settings", "synthetics.cli", "synthetics.history.plugin",
            "synthetics.selfheal.heal"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_function_level_import_of_a_synthetics_module(name: str) -> None:
    tree, _ = parsed(name)
    offending = [f"line {node.lineno}: {target}"
                 for node in function_level_imports(tree)
                 for target in imported(node, name)
                 if target.split(".")[0] == "synthetics" and (name, target) not in DEFERRED]
    assert offending == [], (
        f"{name} imports these inside a function; import them at module top (and move "
        f"definitions if that makes a cycle): {offending}")


def commented(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or above the block of imports it belongs to."""
    i = lineno - 1
    while i > 0 and "#" not in lines[i] and lines[i].lstrip().startswith(("import ", "from ")):
        i -= 1
    return "#" in lines[i]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_deferred_import_says_why(name: str) -> None:
    tree, lines = parsed(name)
    silent = [node.lineno for node in function_level_imports(tree)
              if not commented(lines, node.lineno)]
    assert silent == [], f"{name}: a function-level import without a comment, lines {silent}"


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        tree, _ = parsed(name)
        graph[name] = {target for node in module_level_imports(tree)
                       for target in imported(node, name) if target in MODULES}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that ends where it starts, or None."""
    state: dict[str, str] = {}  # "open" while on the path, "done" once explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_the_module_level_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above cannot pass by not looking."""
    graph = import_graph()
    graph["synthetics.scrub"] = graph["synthetics.scrub"] | {"synthetics.cli"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_checks_see_function_level_and_module_level_imports() -> None:
    tree = ast.parse("import os\ntry:\n    from synthetics import scrub\nexcept ImportError:\n"
                     "    pass\ndef f():\n    from synthetics.settings import flag\n")
    assert [imported(n, "synthetics.cli") for n in function_level_imports(tree)] == [
        ["synthetics.settings"]]
    assert sorted(t for n in module_level_imports(tree) for t in imported(n, "synthetics.cli")
                  ) == ["os", "synthetics.scrub"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_alone_in_a_fresh_interpreter(name: str) -> None:
    """Whatever order the plugins load in, or when a command imports one module first."""
    result = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
