"""No module patches a library when it is imported: what a module needs from a clock (or any
other dependency) is passed in, and tests move the wall clock with time-machine instead.

The scan reads the code that runs at import (module and class bodies, not function bodies) of
the package, the checks and the root conftest, and reports every assignment to an attribute
(`schedule.datetime = ...`, `x.y = ...`), every item assigned into an imported module's
namespace (`os.environ[...] = ...` at import), and every `setattr`/`delattr` call there."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "src" / "synthetics").rglob("*.py"), *(ROOT / "checks").rglob("*.py"),
                  ROOT / "conftest.py"])


def _import_time(tree: ast.Module) -> Iterator[ast.AST]:
    """The nodes that run when the module is imported: not the bodies of functions."""
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            # its decorators and default values run at import, its body when it is called
            todo += getattr(node, "decorator_list", [])
            todo += [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
            continue
        todo += ast.iter_child_nodes(node)


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node


def import_time_patches(source: str) -> list[str]:
    """`line: code` for each place where importing `source` would change another object."""
    tree = ast.parse(source)
    imported = {alias.asname or alias.name.split(".")[0]
                for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                for alias in node.names}
    found = []
    for node in _import_time(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for part in (target.elts if isinstance(target, ast.Tuple | ast.List) else [target]):
                root = _root(part)
                if isinstance(part, ast.Attribute) or (
                        isinstance(part, ast.Subscript) and isinstance(root, ast.Name)
                        and root.id in imported):
                    found.append(f"{node.lineno}: {ast.unparse(node)}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("setattr", "delattr")):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return sorted(set(found))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_patches_another_when_imported(path: Path) -> None:
    assert import_time_patches(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("code", [
    "import schedule\nschedule.datetime = object()",
    "import schedule\nsetattr(schedule, 'datetime', object())",
    "import datetime as _dt\nimport types\n_shim = types.SimpleNamespace()\n"
    "_shim.datetime = _dt.datetime",
    "from schedule import Job\nJob.should_run = True",
    "import os\nos.environ['TZ'] = 'UTC'",
    "import schedule\ndelattr(schedule, 'datetime')",
    "import a.b\na.b.c += 1",
    "import schedule\nschedule.datetime, x = 1, 2",
    "import schedule\nif True:\n    try:\n        schedule.datetime = 1\n    except Exception:\n"
    "        pass",
    "import schedule\nclass A:\n    schedule.datetime = 1",
    "import schedule\n@setattr(schedule, 'x', 1) or (lambda f: f)\ndef f():\n    pass",
    "import schedule\ndef f(x=setattr(schedule, 'x', 1)):\n    pass",
])
def test_the_scan_finds_a_patch(code: str) -> None:
    assert import_time_patches(code)


@pytest.mark.parametrize("code", [
    "import schedule\ndef f():\n    schedule.datetime = 1",  # a function: runs when called
    "import threading\n_local = threading.local()\nCLOCK: float = 1.0",
    "class A:\n    x = 1\n    def __init__(self):\n        self.x = 2\n"
    "        setattr(self, 'y', 3)",
    "import os\nTABLE = {}\nTABLE['a'] = os.sep",  # its own dict, not another module's
])
def test_the_scan_passes_code_that_changes_nothing_else(code: str) -> None:
    assert import_time_patches(code) == []
