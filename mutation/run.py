"""`make mutate`: mutation testing of the verdict paths with mutmut, module by module.

For each module of mutation/config.toml (or only `--module NAME`), a scratch folder
.mutation/NAME gets a copy of the project with a [tool.mutmut] section that mutates that one file
and runs its fast tests; `mutmut run` does the work there. Then every mutant of the module's
functions is read back with its status and diff, the score is printed, and each survivor is
looked up in mutation/survivors.txt, the tracked list of equivalent mutants. A survivor that is
not listed there is printed with its diff, and the command fails.

A survivor is identified by what stays stable while the code around it changes: the module, the
function (Class.method for a method), and the lines the mutation removes and adds, white space
collapsed. mutmut's own numbering (`x_percentile__mutmut_7`) is not used as a key: it shifts
whenever the function changes.

survivors.txt holds blocks separated by blank lines:

    [stats] percentile
      fraction = position - low
    - if fraction == 0 or ordered[high] == ordered[low]:
    + if fraction == 0 or ordered[high] <= ordered[low]:
    reason: ordered is sorted, so ordered[high] < ordered[low] never holds.

The first line names the module and the function, the indented one is the line just before the
change (two identical changes in one function differ there), then the removed and added lines.

`python mutation/run.py --module stats --print-survivors` prints every survivor of a run in that
form (diff included), ready to triage.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # mutmut depends on toml there
    import toml as tomllib

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "mutation" / "config.toml"
SURVIVORS = ROOT / "mutation" / "survivors.txt"
SCRATCH = ROOT / ".mutation"
#: Copied into each scratch folder: the package, the tests and what they read.
COPY = ("src", "tests", "checks", "conftest.py", "README.md")
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
TARGET_SCORE = 90.0


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's name, e.g. synthetics.stats.x_percentile__mutmut_7
    status: str  # mutmut's status: killed, survived, no tests, timeout, ...
    function: str  # percentile, or BalanceResult.describe
    context: str  # the line just before the change, to tell identical changes apart
    removed: tuple[str, ...]
    added: tuple[str, ...]
    diff: str

    def key(self, module: str) -> str:
        return block_key(module, self.function, self.context, self.removed, self.added)

    def block(self, module: str) -> str:
        return self.key(module)


def block_key(module: str, function: str, context: str, removed: tuple[str, ...],
              added: tuple[str, ...]) -> str:
    return "\n".join([f"[{module}] {function}", f"  {context or '(none)'}",
                      *(f"- {x}" for x in removed),
                      *(f"+ {x}" for x in added)])


def _collapse(line: str) -> str:
    return " ".join(line.split())


def function_of(name: str) -> str:
    """percentile for ...x_percentile__mutmut_3; BalanceResult.describe for a method."""
    mangled = name.partition("__mutmut_")[0].rpartition(".")[2]
    if "ǁ" in mangled:
        _, cls, method = mangled.split("ǁ", 2)
        return f"{cls}.{method}"
    return mangled[2:] if mangled.startswith("x_") else mangled


def changed_lines(diff: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(the context line just before the change, the lines removed, the lines added)."""
    context, removed, added = "", [], []
    for line in diff.splitlines():
        if line.startswith(("---", "+++", "@@")):
            continue
        if line.startswith("-"):
            removed.append(_collapse(line[1:]))
        elif line.startswith("+"):
            added.append(_collapse(line[1:]))
        elif not removed and not added and line.strip():
            context = _collapse(line)
    return context, tuple(removed), tuple(added)


# -- the tracked list of equivalent mutants ----------------------------------------------------
def read_survivors(path: Path = SURVIVORS) -> dict[str, tuple[int, str]]:
    """{key: (how many such mutants, reason)} from survivors.txt."""
    entries: dict[str, tuple[int, str]] = {}
    if not path.exists():
        return entries
    blocks = re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))
    for number, block in enumerate(blocks, 1):
        lines = [x for x in block.strip().splitlines() if x.strip() and not x.startswith("#")]
        if not lines:
            continue
        head = re.fullmatch(r"\[(\w+)\] (\S+)", lines[0].strip())
        if head is None:
            raise SystemExit(f"{path.name}, block {number}: expected '[module] function', "
                             f"got {lines[0]!r}")
        context = next((_collapse(x) for x in lines[1:] if x.startswith("  ")), "")
        context = "" if context == "(none)" else context
        removed = tuple(_collapse(x[2:]) for x in lines if x.startswith("- "))
        added = tuple(_collapse(x[2:]) for x in lines if x.startswith("+ "))
        reason = " ".join(x.partition(":")[2].strip() for x in lines if x.startswith("reason:"))
        if not reason:
            raise SystemExit(f"{path.name}, block {number} ({lines[0]}): no 'reason:' line; "
                             "every recorded survivor says why it is equivalent")
        key = block_key(head.group(1), head.group(2), context, removed, added)
        count, _ = entries.get(key, (0, ""))
        entries[key] = (count + 1, reason)
    return entries


# -- running mutmut ------------------------------------------------------------------------------
def load_config() -> dict[str, dict[str, object]]:
    with CONFIG.open("rb") as f:
        modules: dict[str, dict[str, object]] = tomllib.load(f)["module"]
    return modules


def prepare(name: str, spec: dict[str, object], fresh: bool) -> Path:
    work = SCRATCH / name
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for item in COPY:
        source, target = ROOT / item, work / item
        if source.is_dir():
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(
                "__pycache__", "node_modules", "*.pyc"))
        elif source.exists():
            shutil.copy2(source, target)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = {
        "source_paths": ["src"],
        "only_mutate": [spec["file"]],
        "also_copy": [x for x in COPY if x not in ("src", "tests")],
        "pytest_add_cli_args_test_selection": list(spec["tests"]),  # type: ignore[call-overload]
        "pytest_add_cli_args": ["-p", "no:randomly", "-p", "no:cacheprovider"],
        "use_git_change_detection": False,
        # A mutant that loops for ever is a kill; 5x its tests' clean time (not 15x) finds it
        # sooner on a busy 2-core machine.
        "timeout_multiplier": 5.0,
        "timeout_constant": 2.0,
    }
    lines = ["", "[tool.mutmut]"]
    for key, value in section.items():
        lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    (work / "pyproject.toml").write_text(pyproject + "\n".join(lines) + "\n", encoding="utf-8")
    return work


def wanted(spec: dict[str, object], mutant: str) -> bool:
    patterns = spec.get("functions")
    if not patterns:
        return True
    mangled = mutant.partition("__mutmut_")[0].rpartition(".")[2]
    return any(fnmatch.fnmatchcase(mangled, p) for p in patterns)  # type: ignore[attr-defined]


def module_name(spec: dict[str, object]) -> str:
    path = Path(str(spec["file"])).relative_to("src").with_suffix("")
    return ".".join(path.parts)


def run_mutmut(name: str, spec: dict[str, object], work: Path, children: int) -> float:
    module = module_name(spec)
    patterns = [f"{module}.{p}__mutmut_*" for p in spec.get("functions", [])]  # type: ignore[attr-defined]
    log = SCRATCH / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run([str(Path(sys.executable).parent / "mutmut"), "run",
                               "--max-children", str(children), *patterns],
                              cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env,
                              check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"mutmut run for {name} exited {proc.returncode}; the end of {log}:\n"
                         f"{tail}")
    return elapsed


READ_RESULTS = """
import json, sys
from pathlib import Path
from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
path = Path(sys.argv[1])
data = SourceFileMutationData(path=path)
data.load()
out = {}
for name, code in data.exit_code_by_key.items():
    status = status_by_exit_code[code]
    diff = "" if status == "killed" else get_diff_for_mutant(name, path=path)
    out[name] = [status, diff]
print(json.dumps(out))
"""


def read_results(spec: dict[str, object], work: Path) -> list[Mutant]:
    proc = subprocess.run([sys.executable, "-c", READ_RESULTS, str(spec["file"])], cwd=work,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"cannot read mutmut's results in {work}: {proc.stderr[-2000:]}")
    mutants = []
    for name, (status, diff) in json.loads(proc.stdout).items():
        if not wanted(spec, name):
            continue
        context, removed, added = changed_lines(diff)
        mutants.append(Mutant(name, status, function_of(name), context, removed, added, diff))
    return mutants


# -- the report ------------------------------------------------------------------------------
def judge(name: str, mutants: list[Mutant], known: dict[str, tuple[int, str]],
          verbose: bool) -> tuple[list[Mutant], set[str], str]:
    """(new survivors, keys of recorded equivalents seen, one-line score)."""
    counts = Counter(m.status for m in mutants)
    tested = [m for m in mutants if m.status not in ("skipped", "not checked")]
    killed = sum(1 for m in tested if m.status in KILLED)
    survivors = [m for m in tested if m.status not in KILLED]
    budget = {k: n for k, (n, _) in known.items() if k.startswith(f"[{name}] ")}
    seen: set[str] = set()
    new: list[Mutant] = []
    for m in survivors:
        key = m.key(name)
        if budget.get(key, 0) > 0:
            budget[key] -= 1
            seen.add(key)
        else:
            new.append(m)
    equivalent = len(survivors) - len(new)
    score = 100.0 * killed / len(tested) if tested else 100.0
    adjusted = (100.0 * killed / (len(tested) - equivalent)
                if len(tested) > equivalent else 100.0)
    others = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in
                       ("killed", "survived"))
    line = (f"{name:12} {killed:4}/{len(tested):<4} killed = {score:5.1f}%  "
            f"({equivalent} recorded equivalent -> {adjusted:5.1f}% of the rest; "
            f"{len(new)} new survivor{'s' if len(new) != 1 else ''}"
            f"{'; ' + others if others else ''})")
    if verbose:  # the recorded ones; the new ones are printed at the end in any case
        for m in survivors:
            if m not in new:
                print(f"\n# {m.name}: {m.status} (recorded)\n{m.block(name)}\n{m.diff}")
    return new, seen, line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", default=[],
                        help="only this module of mutation/config.toml (repeatable)")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2,
                        help="mutants tested at once (default: one per CPU)")
    parser.add_argument("--keep", action="store_true",
                        help="keep earlier results in .mutation/ (mutmut re-tests only what "
                             "changed) instead of starting afresh")
    parser.add_argument("--report-only", action="store_true",
                        help="do not run mutmut; report the results already in .mutation/")
    parser.add_argument("--print-survivors", action="store_true",
                        help="print every survivor with its diff, not only the new ones")
    args = parser.parse_args(argv)
    modules = load_config()
    unknown = [m for m in args.module if m not in modules]
    if unknown:
        print(f"unknown module {', '.join(unknown)}; known: {', '.join(modules)}",
              file=sys.stderr)
        return 4
    chosen = args.module or list(modules)
    known = read_survivors()
    SCRATCH.mkdir(exist_ok=True)
    started = time.monotonic()
    lines: list[str] = []
    new_all: list[tuple[str, Mutant]] = []
    stale: list[str] = []
    for name in chosen:
        spec = modules[name]
        work = SCRATCH / name
        elapsed = 0.0
        if not args.report_only:
            work = prepare(name, spec, fresh=not args.keep)
            print(f"mutating {spec['file']} ...", flush=True)
            elapsed = run_mutmut(name, spec, work, args.children)
        mutants = read_results(spec, work)
        new, seen, line = judge(name, mutants, known, args.print_survivors)
        lines.append(f"{line}  [{elapsed:.0f} s]")
        print(lines[-1], flush=True)
        new_all += [(name, m) for m in new]
        stale += [k for k in known if k.startswith(f"[{name}] ") and k not in seen]
    print(f"\nmutation score per module (target {TARGET_SCORE:g}% killed), "
          f"{time.monotonic() - started:.0f} s in all:")
    print("\n".join(lines))
    if stale:
        print(f"\n{len(stale)} recorded survivor(s) no longer survive (killed, or the code "
              f"changed): remove them from {SURVIVORS.relative_to(ROOT)}:")
        for key in stale:
            print("  " + key.replace("\n", "\n  "))
    if new_all:
        print(f"\n{len(new_all)} NEW SURVIVOR(S): kill each with a test, or, if it is truly "
              f"equivalent, add its block with a 'reason:' line to "
              f"{SURVIVORS.relative_to(ROOT)}:")
        for name, m in new_all:
            print(f"\n# {m.name}: {m.status}\n{m.block(name)}\nreason: ?\n{m.diff}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
