"""GitHub Actions output (pytest11 entry point `synthetics_github`): the step summary and error
annotations, written only when `GITHUB_ACTIONS=true` and only by the controller process.

- The Markdown summary goes to the file named by `$GITHUB_STEP_SUMMARY`: the run's verdict, the
  target, a table of every documented target with its measured value against its threshold, the
  failed checks with their reasons, what the history plugin recorded and which alerts fired, and
  any remediation the redeploy plugin carried out. GitHub drops a step's summary whole when it is
  over 1 MiB (1,048,576 bytes, the file as a whole), so the summary is cut to fit what is left of
  that budget: failing rows are kept first and a line says how many rows were left out.
- Each failed check becomes one `::error` workflow command. GitHub shows at most 10 error
  annotations per step (and 50 per job); beyond `ERROR_ANNOTATIONS_PER_STEP - 1` failures the
  last annotation names how many more failed, so nothing fails silently.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from synthetics.history.plugin import SUMMARY
from synthetics.plugin import is_controller
from synthetics.reporting.results import RESULTS, CheckResult, Results
from synthetics.scrub import scrub
from synthetics.selfheal.plugin import REMEDIATION

__all__ = [
    "ERROR_ANNOTATIONS_PER_STEP", "STEP_SUMMARY_LIMIT_BYTES", "error_annotations", "escape_data",
    "escape_property", "step_summary", "write_step_summary",
]

#: GitHub's limit on one step's summary file ("supports content up to a size of 1024k").
STEP_SUMMARY_LIMIT_BYTES = 1024 * 1024
#: GitHub shows at most 10 error annotations per step (and 50 annotations per job).
ERROR_ANNOTATIONS_PER_STEP = 10
#: Longest annotation message written; GitHub truncates long ones anyway.
ANNOTATION_MESSAGE_CHARS = 4000

_ICON = {"pass": "✅ pass", "fail": "❌ fail", "insufficient": "⚠️ insufficient evidence",
         "skipped": "⏭️ skipped", "not run": "— not run"}


def escape_data(text: str) -> str:
    """Escape a workflow command's message (%, CR, LF) as the runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (also : and ,)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def error_annotations(failed: Sequence[CheckResult],
                limit: int = ERROR_ANNOTATIONS_PER_STEP) -> list[str]:
    """`::error` lines for the failed checks, at most `limit` of them."""
    lines = []
    shown = failed if len(failed) <= limit else failed[: limit - 1]
    for c in shown:
        message = scrub(c.message or "failed")[:ANNOTATION_MESSAGE_CHARS]
        lines.append(f"::error file={escape_property(_file_of(c.nodeid))},"
                     f"title={escape_property('synthetic check failed: ' + c.name)}::"
                     f"{escape_data(message)}")
    rest = failed[len(shown):]
    if rest:
        names = ", ".join(c.name for c in rest)
        if len(names) > ANNOTATION_MESSAGE_CHARS:
            names = names[: ANNOTATION_MESSAGE_CHARS - 1] + "…"
        title = escape_property(f"{len(rest)} more synthetic checks failed")
        text = (f"GitHub shows {limit} error annotations per step; also failed: {names}. "
                "See the step summary and the report artifact.")
        lines.append(f"::error title={title}::{escape_data(text)}")
    return lines


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def step_summary(results: Results, notes: Sequence[str] = (),
                 remediation: Mapping[str, Any] | None = None,
                 budget: int = STEP_SUMMARY_LIMIT_BYTES) -> str:
    """The Markdown step summary, at most `budget` bytes (UTF-8)."""
    failed = results.failed
    ok = not failed
    head = [f"## {'✅' if ok else '❌'} Victory36 synthetic checks: "
            f"{'all targets met' if ok else f'{len(failed)} failed'}", ""]
    worker = results.worker
    head.append(f"Target: **{scrub(worker.description)}**" if worker.builtin
                else f"Target: `{scrub(worker.description)}`")
    counts = ", ".join(f"{n} {k}" for k, n in sorted(
        {c.status: sum(1 for d in results.checks.values() if d.status == c.status)
         for c in results.checks.values()}.items()))
    head += [f"Checks: {counts or 'none ran'}", ""]
    if remediation:
        head += ["### Remediation", "", f"**{_cell(remediation.get('status', ''))}**: "
                 f"{_cell(remediation.get('headline', ''))}", ""]
        head += [f"- {_cell(d)}" for d in remediation.get("details", [])[:20]] + [""]
    rows = results.target_rows()
    rows.sort(key=lambda r: r["verdict"] != "fail")  # failing rows survive a cut
    sections = [
        (["### Targets", "", "| verdict | check | subject | measured | threshold |",
          "|---|---|---|---|---|"],
         [f"| {_ICON.get(r['verdict'], r['verdict'])} | `{r['check']}` | `{r['subject']}` "
          f"| {_cell(r['measured'])} | {_cell(r['threshold'])} |" for r in rows]),
        (["", "### Failed checks", ""],
         [f"- `{c.name}`: {_cell(scrub(c.message))}" for c in failed]),
        (["", "### History and alerts", ""], [f"- {_cell(scrub(n))}" for n in notes]),
    ]
    return _fit(head, sections, budget)


_CUT = ("_{} more lines left out to stay within GitHub's 1 MiB step-summary limit; "
        "see summary.json and the report artifact._")


def _fit(head: list[str], sections: Sequence[tuple[list[str], list[str]]], budget: int) -> str:
    """Join `head` and each (title lines, item lines) section, keeping items in order while they
    fit in `budget` bytes; a section that lost items ends with a line saying how many."""
    reserve = len(_CUT.format(10 ** 9).encode("utf-8")) + 2
    out = list(head)
    used = len("\n".join(out).encode("utf-8")) + 1
    for title, items in sections:
        if not items:
            continue
        cost = len("\n".join(title).encode("utf-8")) + 1
        if used + cost + reserve > budget:
            break
        out += title
        used += cost
        kept = 0
        for item in items:
            cost = len(item.encode("utf-8")) + 1
            if used + cost + reserve > budget:
                break
            out.append(item)
            used += cost
            kept += 1
        if kept < len(items):
            note = _CUT.format(len(items) - kept)
            out.append(note)
            used += len(note.encode("utf-8")) + 1
    text = "\n".join(out) + "\n\n"
    encoded = text.encode("utf-8")
    if len(encoded) > budget:  # only when the head alone is over budget
        text = encoded[: max(0, budget - 4)].decode("utf-8", "ignore") + "…\n"
    return text


def write_step_summary(path: str | os.PathLike[str], text: str) -> None:
    """Append `text` to the step summary file (other steps' tools may have written to it)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _notes(config: pytest.Config) -> list[str]:
    notes = config.stash.get(SUMMARY, None)
    return list(notes) if notes else []


def _remediation(config: pytest.Config) -> dict[str, Any] | None:
    outcome = config.stash.get(REMEDIATION, None)
    if outcome is None:
        return None
    data = outcome.as_dict()
    return data if isinstance(data, dict) else None


def report(config: pytest.Config, results: Results, environ: Mapping[str, str],
           write: Callable[[str], None]) -> None:
    """Write the step summary and the annotations when running in GitHub Actions."""
    if environ.get("GITHUB_ACTIONS") != "true" or not is_controller(config):
        return
    for line in error_annotations(results.failed):
        write(line)
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        used = Path(path).stat().st_size
    except OSError:
        used = 0
    budget = STEP_SUMMARY_LIMIT_BYTES - used
    if budget < 1024:
        write("synthetics: the step summary is already near GitHub's 1 MiB limit; "
              "nothing added")
        return
    write_step_summary(path, step_summary(results, _notes(config), _remediation(config),
                                          budget))


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    results = config.stash.get(RESULTS, None)
    if results is None:
        return

    def write(line: str) -> None:  # workflow commands must start a line of stdout
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    terminalreporter.ensure_newline()
    report(config, results, os.environ, write)
