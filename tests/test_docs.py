"""The README stays short and true, and docs/ stays in step with the code.

The README is read in five minutes: at most 200 lines, with a Layout that names every module
under its folder, and links into docs/ that resolve. docs/options.md shows every option table the
code declares, as `synthetics.settings.markdown_table` renders it, under its own heading.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import synthetics
from synthetics import settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PACKAGE = ROOT / "src" / "synthetics"

#: Each module that declares `OPTIONS`, and the heading of docs/options.md its table sits under.
OPTION_SECTIONS = {
    "synthetics.settings": "Checks",
    "synthetics.reporting.report": "Reports",
    "synthetics.history.plugin": "History and alerts",
    "synthetics.history.alertmanager": "Alertmanager",
    "synthetics.reporting.metrics": "Metrics",
    "synthetics.selfheal.settings": "Self-healing",
    "synthetics.schedule.review": "Evening review",
}


def section(text: str, heading: str) -> str:
    """The body of the `## heading` section of a Markdown text (empty when there is none)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    return match.group(1) if match else ""


def layout_entries(readme: str) -> tuple[set[str], dict[str, set[str]]]:
    """The file names the Layout block lists in the core of src/synthetics/ and per family
    folder: a line indented two spaces opens a family when its name ends in `/`, and every
    deeper line belongs to the entry above it."""
    block = re.search(r"```\n(.*?)```", section(readme, "Layout"), re.S)
    assert block, "README's Layout lost its tree"
    core: set[str] = set()
    families: dict[str, set[str]] = {}
    in_package, family = False, ""
    for line in block.group(1).splitlines():
        indent = len(line) - len(line.lstrip(" "))
        first = line.split()[0] if line.strip() else ""
        if indent == 0:
            in_package, family = first == "src/synthetics/", ""
            continue
        if not in_package:
            continue
        if indent == 2:
            family = first.rstrip("/") if first.endswith("/") else ""
        names = set(re.findall(r"\b\w+\.py\b", line))
        (families.setdefault(family, set()) if family else core).update(names)
    return core, families


def modules() -> list[Path]:
    """Every module file of the package (a folder's `__init__.py` is the folder itself)."""
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def test_readme_is_read_in_five_minutes() -> None:
    lines = README.read_text().count("\n")
    assert lines <= 200, f"README.md has {lines} lines; move detail into docs/"


@pytest.mark.parametrize("module", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layout_names_every_module_under_its_folder(module: Path) -> None:
    core, families = layout_entries(README.read_text())
    where = module.relative_to(PACKAGE)
    if len(where.parts) == 1:
        assert module.name in core, f"README's Layout does not list {where} in src/synthetics/"
    else:
        folder = where.parts[0]
        assert module.name in families.get(folder, set()), (
            f"README's Layout does not list {where} under {folder}/")


def test_layout_reader_tells_core_from_family() -> None:
    core, families = layout_entries(
        "## Layout\n\n```\ncheck/\nsrc/synthetics/  x\n  a.py  b.py too\n  fam/  f\n"
        "    c.py  d.py\n         e.py continued\n  g.py\ntests/  h.py\n```\n")
    assert core == {"a.py", "b.py", "g.py"}
    assert families == {"fam": {"c.py", "d.py", "e.py"}}


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def local_links(path: Path) -> list[tuple[str, str]]:
    """(file, anchor) of every link in `path` that points inside the repository."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    found = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        found.append((file, anchor))
    return found


DOC_FILES = [README, *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_local_link_resolves(doc: Path) -> None:
    links = local_links(doc)
    for file, anchor in links:
        target = (doc.parent / file).resolve() if file else doc
        assert target.is_file(), f"{doc.name} links to {file}, which does not exist"
        if anchor:
            assert anchor in anchors(target), f"{doc.name} links to {file}#{anchor}: no heading"


def test_readme_indexes_every_page_of_docs() -> None:
    linked = {file for file, _ in local_links(README) if file.startswith("docs/")}
    pages = {f"docs/{p.name}" for p in DOCS.glob("*.md")}
    assert pages and linked == pages


def test_link_reader_sees_missing_files_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\n## Some: `thing`\n\n[x](b.md#gone) [y](#some-thing)\n"
                                   "[z](https://example.com/q) [w](missing.md)\n")
    (tmp_path / "b.md").write_text("# B\n")
    assert local_links(tmp_path / "a.md") == [("b.md", "gone"), ("", "some-thing"),
                                              ("missing.md", "")]
    assert anchors(tmp_path / "a.md") == {"a", "some-thing"}
    assert "gone" not in anchors(tmp_path / "b.md")


def declaring_modules() -> list[str]:
    """Every module of the package with an `OPTIONS` table of `Option`s."""
    found = []
    for info in pkgutil.walk_packages(synthetics.__path__, "synthetics."):
        options = getattr(importlib.import_module(info.name), "OPTIONS", None)
        if isinstance(options, tuple) and options and \
                all(isinstance(o, settings.Option) for o in options):
            found.append(info.name)
    return found


def test_every_option_table_has_a_section_in_docs() -> None:
    assert set(declaring_modules()) == set(OPTION_SECTIONS), (
        "a module declares OPTIONS: give its table a section in docs/options.md and here")


@pytest.mark.parametrize("module", sorted(OPTION_SECTIONS))
def test_docs_options_shows_the_table_under_its_heading(module: str) -> None:
    table = settings.markdown_table(importlib.import_module(module).OPTIONS)
    body = section((DOCS / "options.md").read_text(), OPTION_SECTIONS[module])
    assert table in body, (
        f"docs/options.md, section {OPTION_SECTIONS[module]!r}, is out of step with "
        f"{module}.OPTIONS; paste:\n{table}")


def test_option_defaults_read_as_words() -> None:
    table = settings.markdown_table((
        settings.Option("a", "--a", "", True), settings.Option("b", "--b", "", False),
        settings.Option("c", "--c", "", ()), settings.Option("d", "--d", "", ("W", "X")),
        settings.Option("e", "--e", "", None), settings.Option("f", "--f", "", 2.5)))
    defaults = [row.rsplit("|", 2)[1].strip() for row in table.splitlines()[2:]]
    assert defaults == ["on", "off", "—", "W, X", "—", "2.5"]
