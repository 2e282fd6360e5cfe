"""booktools.bench: budgets, the report, the bench file, and one real (tiny) measurement."""

from __future__ import annotations

import json

import nbformat
import pytest

from booktools import bench
from booktools.bench import Measurement


def _data(runs, book_build_s=12.0):
    return {
        "machine": {"cpu_cores": 2},
        "measured_at": "2026-11-26 09:00 UTC",
        "budgets": {"notebook_s": 300, "total_s": 1500, "memory_bytes": 4 * 2**30},
        "notebooks": [vars(run) for run in runs],
        "total_s": sum(run.wall_s for run in runs),
        "book_build_s": book_build_s,
    }


def test_within_budget_reports_nothing():
    runs = [Measurement("01_background", 150.0, 2**30), Measurement("02_x", 200.0, 2**31)]
    assert bench.over_budget(runs) == []


def test_each_broken_budget_is_named():
    runs = [
        Measurement("01_slow", 301.0, 2**30),
        Measurement("02_hungry", 10.0, 5 * 2**30),
        *(Measurement(f"0{i}_ok", 290.0, 2**30) for i in range(3, 8)),
    ]
    problems = bench.over_budget(runs)
    assert problems == [
        "01_slow: ran 301 s, budget 300 s",
        "02_hungry: peak memory 5.00 GiB, budget 4.00 GiB",
        "all notebooks: ran 1761 s together, budget 900 s",
    ]


def test_report_is_a_markdown_table_with_totals():
    table = bench.report(_data([Measurement("01_background", 151.4, 900 * 2**20)]))
    lines = table.splitlines()
    assert lines[0] == "| notebook | wall time (s) | peak memory (MiB) |"
    assert "| 01_background | 151 | 900 |" in lines
    assert "| **all notebooks** | **151** | |" in lines
    assert lines[-1] == "| `make book` (site build) | 12 | |"


def test_load_and_run_time(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(_data([Measurement("01_background", 150.0, 2**30)])))
    assert bench.load(path)["total_s"] == 150.0
    sentence = bench.run_time_sentence(bench.load(path), "01_background")
    assert sentence == (
        "Measured run time: 2.5 minutes on a 2-core CPU without a GPU (budget 5 minutes), "
        "in the last `make bench` (2026-11-26 09:00 UTC); the outputs below come "
        "from the run committed with the page, whose own time is printed at its end."
    )
    with pytest.raises(ValueError, match="no measurement for '09_x'; measured notebooks: 01_"):
        bench.run_time_sentence(bench.load(path), "09_x")


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `make bench` first"):
        bench.load(tmp_path / "absent.json")
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected keys 'notebooks' and 'machine'"):
        bench.load(tmp_path / "other.json")


def test_measure_runs_a_notebook_in_a_fresh_kernel(tmp_path):
    source = "import time\nblock = b'x' * (300 * 2**20)  # touched, so resident\ntime.sleep(0.5)"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    path = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, path)
    run = bench.measure(path)
    assert run.notebook == "tiny"
    assert 0.5 <= run.wall_s < 30
    assert run.peak_rss_bytes > 300 * 2**20
    assert nbformat.read(path, as_version=4).cells[0].outputs == []  # not saved


def test_measure_keeps_the_executed_copy_when_asked(tmp_path):
    cells = [nbformat.v4.new_code_cell("print(6 * 7)"),
             nbformat.v4.new_code_cell("bench_results = {'answer': 42}")]
    path = tmp_path / "kept.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    bench.measure(path, keep=tmp_path / "executed")
    kept = nbformat.read(tmp_path / "executed" / "kept.ipynb", as_version=4)
    assert [cell.source for cell in kept.cells] == [cell.source for cell in cells]  # no probe
    assert kept.cells[0].outputs[0]["text"] == "42\n"
    assert nbformat.read(path, as_version=4).cells[0].outputs == []  # the original untouched


def test_measure_collects_the_numbers_a_notebook_records(tmp_path):
    cells = [
        nbformat.v4.new_code_cell("seconds = 2.5"),
        nbformat.v4.new_code_cell("bench_results = {'time to 99 %': seconds, 'ratio': 2}"),
    ]
    path = tmp_path / "race.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    run = bench.measure(path)
    assert run.results == {"time to 99 %": 2.5, "ratio": 2.0}
    table = bench.results_report(_data([run]))
    assert "| race | time to 99 % | 2.5 |" in table.splitlines()
    assert bench.results_report(_data([Measurement("x", 1.0, 1)])).startswith("No notebook")


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ([1, 2], "must be a non-empty dict"),
        ({}, "must be a non-empty dict"),
        ({"": 1.0}, "keys must be descriptions"),
        ({"ratio": "fast"}, r"\['ratio'\] must be a finite number, got 'fast'"),
        ({"ratio": float("nan")}, "must be a finite number"),
        ({"ratio": float("inf")}, "must be a finite number"),
        ({"ratio": True}, "must be a finite number"),
    ],
)
def test_recorded_results_must_be_numbers_with_descriptions(results, message):
    with pytest.raises(ValueError, match="04_1_cnn: bench_results"):
        bench.check_results("04_1_cnn", results)
    with pytest.raises(ValueError, match=message):
        bench.check_results("04_1_cnn", results)


def test_measure_rejects_a_non_notebook(tmp_path):
    with pytest.raises(ValueError, match="expected the path of an existing .ipynb file"):
        bench.measure(tmp_path / "missing.ipynb")


def test_machine_names_cores_and_versions():
    described = bench.machine()
    assert described["cpu_cores"] >= 1
    assert "keras" in described["versions"]
    assert described["cpu_model"]


def test_sphinx_substitutions_come_from_the_bench_file():
    from booktools.sphinx_bench import substitutions

    data = _data([Measurement("01_background", 150.0, 2**30)])
    data["measured_at"] = "2026-11-26 09:00 UTC"
    data["machine"].update(
        cpu_model="Test CPU", memory_gib=24.0, system="Linux x86_64", python="3.11.7",
        keras_backend="tensorflow", versions={"keras": "3.15.1"},
    )
    values = substitutions(data)
    assert not any(name.startswith("run_time_") for name in values)  # plain text in chapters
    assert values["bench_table"] == bench.report(data)
    assert values["bench_results_table"].startswith("No notebook recorded")
    assert values["bench_total_minutes"] == "2.5"
    assert values["bench_total_budget_minutes"] == "15"  # the Intel budget for an unknown CPU
    data["machine"]["cpu_model"] = "AMD EPYC 7B13"
    assert substitutions(data)["bench_total_budget_minutes"] == "25"
    assert substitutions(data)["race_table"].startswith("The last `make bench` did not race")
    assert substitutions(data)["race_ablation_table"] == "No race, so no ablation either."
    assert values["bench_machine"] == (
        "Measured 2026-11-26 09:00 UTC on 2 cores of Test CPU with 24.0 GiB of memory "
        "(Linux x86_64, Python 3.11.7, Keras backend tensorflow; keras 3.15.1)."
    )


@pytest.fixture(autouse=True)
def _private_data_directory(tmp_path, monkeypatch):
    """bench.main clears the model cache: keep it away from the reader's real one."""
    monkeypatch.setenv("IMAGE_BOOK_DATA", str(tmp_path / "data"))


def test_a_run_starts_without_cached_models(tmp_path, monkeypatch):
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    (models / "judge-0123.weights.h5").write_bytes(b"weights of an earlier run")
    (tmp_path / "data" / "mnist.npz").write_bytes(b"data stays")
    seen = []
    monkeypatch.setattr(
        bench, "measure",
        lambda path, keep=None: seen.append(models.exists()) or Measurement("01_a", 5.0, 2**20),
    )
    output = tmp_path / "bench.json"
    quick = ["--skip-book", "--skip-race"]
    assert bench.main(["book/01_a.ipynb", "--output", str(output), *quick]) == 0
    assert seen == [False]
    assert (tmp_path / "data" / "mnist.npz").read_bytes() == b"data stays"


def test_update_replaces_only_the_notebooks_run_now(tmp_path, monkeypatch):
    output = tmp_path / "bench.json"
    old = [Measurement("01_a", 10.0, 2**20), Measurement("02_b", 20.0, 2**20)]
    data = {**_data(old), "measured_at": "earlier"}
    data["machine"]["cpu_model"] = bench.machine()["cpu_model"]  # the same CPU as this run's
    output.write_text(json.dumps(data))
    monkeypatch.setattr(bench, "measure", lambda path, keep=None: Measurement("02_b", 5.0, 2**21))
    quick = ["--skip-book", "--skip-race", "--update"]
    assert bench.main(["book/02_b.ipynb", "--output", str(output), *quick]) == 0
    runs = {run["notebook"]: run["wall_s"] for run in bench.load(output)["notebooks"]}
    assert runs == {"01_a": 10.0, "02_b": 5.0}
    assert bench.load(output)["total_s"] == 15.0


def test_update_refuses_a_file_measured_on_another_cpu(tmp_path, monkeypatch, capsys):
    output = tmp_path / "bench.json"
    data = _data([Measurement("01_a", 10.0, 2**20)])
    data["machine"]["cpu_model"] = "Some Other CPU"
    output.write_text(json.dumps(data))
    monkeypatch.setattr(bench, "measure", lambda path, keep=None: pytest.fail("nothing may run"))
    quick = ["--skip-book", "--skip-race", "--update"]
    assert bench.main(["book/01_a.ipynb", "--output", str(output), *quick]) == 2
    assert "was measured on 'Some Other CPU'" in capsys.readouterr().err
    assert bench.load(output)["notebooks"][0]["wall_s"] == 10.0  # left as it was


def test_a_failing_site_build_keeps_the_notebook_measurements(tmp_path, monkeypatch, capsys):
    import subprocess

    def broken_build():
        raise subprocess.CalledProcessError(1, ["jupyter-book"], stderr=b"syntax error in line 7")

    output = tmp_path / "bench.json"
    monkeypatch.setattr(bench, "measure", lambda path, keep=None: Measurement("01_a", 5.0, 2**20))
    monkeypatch.setattr(bench, "_time_book_build", broken_build)
    assert bench.main(["book/01_a.ipynb", "--output", str(output), "--skip-race"]) == 1
    saved = bench.load(output)
    assert [run["notebook"] for run in saved["notebooks"]] == ["01_a"]
    assert saved["book_build_s"] is None
    assert "the site build failed" in capsys.readouterr().err


def test_the_total_budget_follows_the_cpu_it_was_measured_on():
    assert bench.total_budget_s("Intel(R) Xeon(R) Processor") == 900
    assert bench.total_budget_s("AMD EPYC 7B13") == 1500
    assert bench.total_budget_s("Apple M2") == 900


def test_a_failing_notebook_is_recorded_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    cells = [nbformat.v4.new_code_cell("x = 1"),
             nbformat.v4.new_code_cell("assert x == 2, 'the distance did not fall'")]
    broken = tmp_path / "01_broken.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), broken)
    fine = tmp_path / "02_fine.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("y = 2")]), fine)

    run = bench.measure(broken)
    assert run.error == "cell 1: AssertionError: the distance did not fall"
    assert run.results is None and run.wall_s >= 0

    output = tmp_path / "bench.json"
    quick = ["--skip-book", "--skip-race"]
    assert bench.main([str(broken), str(fine), "--output", str(output), *quick]) == 1
    saved = bench.load(output)
    assert [(each["notebook"], each["error"]) for each in saved["notebooks"]] == [
        ("01_broken", "cell 1: AssertionError: the distance did not fall"),
        ("02_fine", None),
    ]
    err = capsys.readouterr().err
    assert "01_broken: failed after" in err and "the distance did not fall" in err
    assert "failed after" in bench.report(saved)
    assert bench.run_time_sentence(saved, "01_broken").startswith(
        "This chapter failed in the last `make bench`")


def test_the_bench_file_records_the_budget_of_its_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "measure",
                        lambda path, keep=None: Measurement("01_a", 1000.0, 2**20))
    monkeypatch.setattr(bench, "machine", lambda: {"cpu_model": "AMD EPYC 7B13", "cpu_cores": 2})
    output = tmp_path / "bench.json"
    quick = ["--skip-book", "--skip-race"]
    assert bench.main(["book/01_a.ipynb", "--output", str(output), *quick]) == 1
    assert bench.load(output)["budgets"]["total_s"] == 1500


def test_run_time_lines_are_written_into_the_opening_cell_and_checked(tmp_path):
    from booktools import notebooks

    data = _data([Measurement("01_background", 150.0, 2**30)])
    path = tmp_path / "01_background.ipynb"
    notebooks.write(path, {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {},
                                      "source": ["# 1. Title\n", "\n", "**Run time.** old\n",
                                                 "More words."]}],
                           "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    assert "not the last bench's" in bench.run_time_line_problems(data, tmp_path)[0]
    bench.write_run_time_lines(data, tmp_path)
    source = "".join(notebooks.read(path)["cells"][0]["source"])
    assert source == (
        "# 1. Title\n\n**Run time.** " + bench.run_time_sentence(data, "01_background")
        + "\nMore words."
    )
    assert bench.run_time_line_problems(data, tmp_path) == []
    notebooks.write(path, {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {},
                                      "source": ["no line"]}],
                           "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    assert "exactly one line starting with '**Run time.** ', found 0" in (
        bench.run_time_line_problems(data, tmp_path)[0]
    )
