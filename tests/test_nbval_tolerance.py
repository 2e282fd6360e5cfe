"""tests/nbval_tolerance.py: numbers within tolerance pass, outside fail, changed text fails."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.nbval_tolerance import NUMBER, Tolerance, compare_text, tolerance_from_tags

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["hide-cell"], None),
        (["nbval-tolerance-2%"], Tolerance(relative=0.02)),
        (["nbval-tolerance-0.5%"], Tolerance(relative=0.005)),
        (["nbval-tolerance-abs-0.01"], Tolerance(absolute=0.01)),
        (["nbval-tolerance-abs-1e-6"], Tolerance(absolute=1e-6)),
        (["nbval-tolerance-10%", "nbval-tolerance-abs-3"], Tolerance(0.1, 3.0)),
        (["nbval-tolerance-1%", "nbval-tolerance-count-2"], Tolerance(0.01, 0.0, 2)),
    ],
)
def test_tags_declare_the_tolerance(tags, expected):
    assert tolerance_from_tags(tags) == expected


@pytest.mark.parametrize("tag", ["nbval-tolerance-2", "nbval-tolerance-two%", "nbval-tolerance-"])
def test_a_malformed_tolerance_tag_is_an_error_not_silently_exact(tag):
    with pytest.raises(ValueError, match=re.escape(f"cell tag {tag!r}: expected 'nbval-tol")):
        tolerance_from_tags([tag])


def test_numbers_as_pages_print_them():
    text = "step 1,500: 0.9899 acc, loss -2.5e-03, [37, 11, 124], conv2d 28x28, digits 0-9 .5"
    assert NUMBER.findall(text) == [
        "1,500", "0.9899", "-2.5e-03", "37", "11", "124", "28", "0", "9", ".5"
    ]


TWO_PERCENT = Tolerance(relative=0.02)


def test_a_number_inside_the_tolerance_passes():
    assert compare_text("test accuracy 0.9772", "test accuracy 0.9751", TWO_PERCENT) is None
    assert compare_text("121 of 10,000 misread", "123 of 10,000 misread", TWO_PERCENT) is None


def test_a_number_outside_the_tolerance_fails_and_says_which():
    reason = compare_text("121 of 10,000 misread", "242 of 10,000 misread", TWO_PERCENT)
    assert reason == "number 1 moved beyond the cell's tolerance (2 %): 121 became 242"


def test_the_absolute_tolerance_covers_numbers_near_zero():
    either = Tolerance(relative=0.02, absolute=0.005)
    assert compare_text("gap 0.001", "gap 0.004", either) is None
    assert compare_text("gap 0.001", "gap 0.007", either) is not None


def test_a_count_tolerance_covers_whole_numbers_only():
    counts = Tolerance(relative=0.01, count=2)
    stored = "accuracy 0.985 (15 of 1000 misread)"
    assert compare_text(stored, "accuracy 0.984 (17 of 1000 misread)", counts) is None
    assert compare_text(stored, "accuracy 0.984 (18 of 1000 misread)", counts) is not None
    # the decimals still follow the 1 %, however loose the count is
    assert compare_text(stored, "accuracy 0.960 (15 of 1000 misread)", counts) is not None


def test_changed_text_fails_even_when_the_numbers_agree():
    reason = compare_text("accuracy 0.97\nloss 0.1", "accuracy 0.97\nerror 0.1", TWO_PERCENT)
    assert reason == "text differs on line 2: 'loss #' became 'error #' (# = a number)"
    assert compare_text("a 1\nb 2", "a 1", TWO_PERCENT) == "text differs: 2 lines became 1"


def test_an_extra_or_missing_number_fails():
    assert compare_text("digits [1, 2, 3]", "digits [1, 2]", TWO_PERCENT) is not None


def test_column_widths_that_follow_the_numbers_do_not_count():
    stored = "width   accuracy\n4       0.9130\n32      0.9712"
    fresh = "width  accuracy\n4      0.913\n32     0.9713"
    assert compare_text(stored, fresh, TWO_PERCENT) is None


def _notebook(tmp_path: Path, printed: str, stored: str, tags: list[str]) -> Path:
    cell = nbformat.v4.new_code_cell(f"print({printed!r})", metadata={"tags": tags})
    cell.execution_count = 1
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored + "\n")]
    path = tmp_path / "check.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    return path


def _nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
         "-p", "tests.nbval_tolerance", "-p", "no:cacheprovider", "-q", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize(
    ("printed", "stored", "tags", "passes"),
    [
        ("accuracy 0.9751", "accuracy 0.9772", ["nbval-tolerance-1%"], True),
        ("accuracy 0.8751", "accuracy 0.9772", ["nbval-tolerance-1%"], False),
        ("accuracy 0.9751", "accuracy 0.9772", [], False),  # untagged: exact, as nbval is
        ("precision 0.9772", "accuracy 0.9772", ["nbval-tolerance-1%"], False),
    ],
)
def test_nbval_uses_the_cells_tolerance(tmp_path, printed, stored, tags, passes):
    result = _nbval(_notebook(tmp_path, printed, stored, tags))
    assert (result.returncode == 0) is passes, result.stdout[-2000:]
