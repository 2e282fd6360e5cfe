"""helpers.prose (numbers in the prose) and booktools.expressions (stored for JupyterLab)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from myst_nb.core.variables import format_plain_text

from booktools import expressions, notebooks
from helpers import prose


@pytest.mark.parametrize(
    "value", ["0.936", "99.28 %", 7, 0.25, np.float64(0.125), np.int64(3), "it's"]
)
def test_text_is_what_the_website_pastes(value):
    """as_text gives what MyST-NB's glue:text shows for the same value, and repr has no quotes."""
    from IPython.core.formatters import PlainTextFormatter

    text = prose.as_text(value)
    assert text == format_plain_text(PlainTextFormatter()(value), "")
    assert repr(text) == str(text)


def test_glue_records_the_value_and_glues_it(capsys):
    prose.glue("test_value", "1.5 %")
    assert prose.glued.test_value == "1.5 %"
    assert repr(prose.glued.test_value) == "1.5 %"
    assert "test_value" in dir(prose.glued)
    with pytest.raises(ValueError, match="a glued name must be a Python identifier, got 'a b'"):
        prose.glue("a b", 1)


def test_an_unknown_name_says_what_to_run(monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(AttributeError, match="run the code cell that computes it"):
        getattr(prose.glued, "never_glued_anywhere")  # noqa: B009


def test_a_name_glued_further_down_falls_back_to_the_committed_output(monkeypatch):
    """In JupyterLab (JPY_SESSION_NAME names the notebook) prose above its number still reads."""
    committed = prose.committed_values("04_3_gan")
    name = sorted(committed)[0]
    monkeypatch.setenv("JPY_SESSION_NAME", str(prose.BOOK / "04_3_gan.ipynb"))
    fresh = prose.Glued()
    assert getattr(fresh, name) == committed[name]


def test_another_chapters_value_comes_from_its_committed_outputs():
    committed = prose.committed_values(prose.BOOK / "04_3_gan.ipynb")
    assert "final_frechet" in committed
    assert prose.glued.of("04_3_gan", "final_frechet") == committed["final_frechet"]
    with pytest.raises(KeyError, match="04_3_gan glues no value named 'nothing'"):
        prose.glued.of("04_3_gan", "nothing")
    with pytest.raises(FileNotFoundError, match="expected a chapter such as '04_3_gan'"):
        prose.committed_values("09_missing")


def test_parse_accepts_the_two_forms_and_nothing_else():
    assert expressions.parse("glued.accuracy_60k") == (None, "accuracy_60k")
    assert expressions.parse('glued.of("04_3_gan", "final_frechet")') == (
        "04_3_gan", "final_frechet"
    )
    for expression in ["accuracy", "glued.a + 1", "glued.of('04_3_gan', 'x')", "__import__('os')"]:
        with pytest.raises(ValueError, match="unsupported inline expression"):
            expressions.parse(expression)


def _notebook(tmp_path, prose_text, glued=None):
    outputs = []
    for name, value in (glued or {}).items():
        outputs.append({
            "output_type": "display_data",
            "data": {"application/papermill.record/text/plain": repr(value)},
            "metadata": {"scrapbook": {"name": name,
                                       "mime_prefix": "application/papermill.record/"}},
        })
    path = tmp_path / "09_test.ipynb"
    notebooks.write(path, {
        "cells": [
            {"cell_type": "code", "execution_count": 1, "id": "a", "metadata": {},
             "outputs": outputs, "source": ["glue(...)"]},
            {"cell_type": "markdown", "id": "b", "metadata": {}, "source": [prose_text]},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    })
    return path


def test_update_stores_the_values_and_check_catches_a_stale_one(tmp_path):
    path = _notebook(tmp_path, "Accuracy {eval}`glued.acc`, twice {eval}`glued.acc`.",
                     {"acc": "99.1 %"})
    assert expressions.check(path) != []  # nothing stored yet
    assert expressions.update(path) == []
    stored = json.loads(path.read_text())["cells"][1]["metadata"]["user_expressions"]
    assert stored == [{"expression": "glued.acc", "result": {
        "data": {"text/plain": "99.1 %"}, "metadata": {}, "status": "ok"}}]
    assert expressions.check(path) == []
    content = notebooks.read(path)
    content["cells"][0]["outputs"][0]["data"]["application/papermill.record/text/plain"] = "'98 %'"
    notebooks.write(path, content)
    assert "differ from the values its outputs glue" in expressions.check(path)[0]


def test_a_name_no_output_glues_is_a_problem(tmp_path):
    path = _notebook(tmp_path, 'See {eval}`glued.missing`, {eval}`len(x)` and '
                     '{eval}`glued.of("09_absent", "acc")`.', {"acc": "1"})
    problems = expressions.update(path)
    assert any("no notebook at" in p and "09_absent" in p for p in problems)
    assert any("quotes 'missing', which no output of 09_test glues" in p for p in problems)
    assert any("unsupported inline expression 'len(x)'" in p for p in problems)
    assert expressions.main(["--check", str(path)]) == 1
