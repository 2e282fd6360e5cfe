"""The committed notebooks, read as files: what strict nbval and the website rely on.

nbval compares a cell only if it has a stored output and no `nbval-ignore-output` tag, and
compares its numbers within the tolerance its tags declare; the prose takes its numbers from
glued outputs. These checks keep all of that true without running a kernel.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from booktools import bench, expressions
from tests.nbval_tolerance import tolerance_from_tags

BOOK = Path(__file__).resolve().parents[1] / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
IGNORED_SHARE = 0.15  # at most this share of a notebook's code cells may go uncompared


def _code_cells(path: Path) -> list:
    notebook = nbformat.read(path, as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip()]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 12


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_cell_has_a_stored_output_to_compare(path):
    unrun = [index for index, cell in enumerate(_code_cells(path)) if cell.execution_count is None]
    assert unrun == [], f"code cells {unrun} have no stored output: strict nbval skips them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_few_cells_ignore_their_output_and_each_says_why(path):
    cells = _code_cells(path)
    ignored = [c for c in cells if "nbval-ignore-output" in c.metadata.get("tags", [])]
    assert len(ignored) <= IGNORED_SHARE * len(cells), (
        f"{len(ignored)} of {len(cells)} code cells ignore their output; at most "
        f"{IGNORED_SHARE:.0%}: compare their numbers within a tolerance instead"
    )
    for cell in ignored:
        assert cell.metadata.get("nbval_ignore_reason", "").strip(), (
            f"cell {cell.get('id')} ignores its output without an 'nbval_ignore_reason'"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tolerance_tags_parse(path):
    for cell in _code_cells(path):
        tolerance_from_tags(list(cell.metadata.get("tags", [])))  # raises on a malformed tag


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_reader_notebook_reads_the_bench(path):
    pattern = re.compile(
        r"helpers\.bench|from helpers import [^\n]*\bbench\b|bench\.json|booktools"
    )
    offending = [cell.get("id") for cell in _code_cells(path) if pattern.search(cell.source)]
    assert offending == [], "compare within the notebook's own run, not against another run"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_the_prose_quotes_is_glued_and_stored_for_jupyterlab(path):
    """Each ``{eval}`glued.name``` names a glued output, and the cell stores its value."""
    assert expressions.check(path) == []


JUPYTERLAB_UNREADABLE = re.compile(r"\{glue(?::\w+)?\}`|\{doc\}`|\{cite(?::\w+)?\}`|\{\{")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_uses_no_markup_that_jupyterlab_shows_raw(path):
    """No glue role, ``{doc}``, ``{cite}`` or ``{{ substitution }}``: JupyterLab shows them as
    written (tests/test_jupyterlab.py looks at the rendered page itself)."""
    notebook = nbformat.read(path, as_version=4)
    found = [
        (index, match.group(0))
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown"
        for match in JUPYTERLAB_UNREADABLE.finditer(cell.source)
    ]
    assert found == [], f"write a Markdown link, an (author, year) link or {{eval}}: {found}"


def test_every_chapter_opens_with_the_last_benchs_run_time():
    assert bench.run_time_line_problems(bench.load()) == []


def _fit_calls(source: str):
    """Each ``.fit(...)`` call in ``source``, with the line before it and the rest of its line."""
    for match in re.finditer(r"\.fit\(", source):
        depth, end = 1, match.end()
        while depth and end < len(source):
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            end += 1
        line_end = source.find("\n", end)
        after = source[end:line_end if line_end >= 0 else None]
        previous_end = source.rfind("\n", 0, match.start())
        before = ""
        if previous_end > 0:
            before = source[source.rfind("\n", 0, previous_end) + 1:previous_end]
        yield source[match.start():end], before + "\n" + after


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_training_run_shows_progress_to_a_reader(path):
    # One switch decides (helpers.environment.training_verbosity): progress bars for a reader,
    # quiet under make. A run that does not use it says why in a "# quiet:" comment on the
    # line before the call or after it; the scikit-learn models' fit has no progress to show.
    unswitched = []
    for cell in _code_cells(path):
        for call, rest in _fit_calls(cell.source):
            if "verbose" not in call:
                continue  # scikit-learn, statsmodels
            if "verbose=training_verbosity()" in call or "# quiet:" in rest:
                continue
            unswitched.append(" ".join(call.split())[:80])
    assert unswitched == [], f"fit calls without the progress switch: {unswitched}"
