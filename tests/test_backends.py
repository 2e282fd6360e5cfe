"""booktools.backends: the failure line, the table, the file, and one real (tiny) nbval run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from booktools import backends
from booktools.backends import Run


def _data(runs_by_backend, cpu="Test CPU"):
    return {
        "measured_at": "2026-12-02 09:00 UTC",
        "machine": {"cpu_cores": 2, "cpu_model": cpu, "memory_gib": 24.0,
                    "system": "Linux x86_64", "python": "3.11.7"},
        "backends": {
            backend: {"versions": {"keras": "3.15.1", backend: "1.0"},
                      "notebooks": [vars(run) for run in runs]}
            for backend, runs in runs_by_backend.items()
        },
    }


NBVAL_FAILURE = """\
F                                                                        [100%]
=================================== FAILURES ===================================
\x1b[31m_____________ book/05_4_compute.ipynb::Cell 23 _____________\x1b[0m
Notebook cell execution failed
Cell 23: Cell execution caused an exception

Input:
strategy = tf.distribute.MirroredStrategy()

Traceback:
\x1b[0;31mNameError\x1b[0m                                 Traceback (most recent call last)
Cell In[24], line 1
----> 1 strategy = tf.distribute.MirroredStrategy()

NameError: name 'tf' is not defined
=========================== short test summary info ============================
FAILED book/05_4_compute.ipynb::Cell 23
1 failed, 22 passed in 61.20s (0:01:01)
"""


def test_failure_line_names_the_cell_and_the_last_exception():
    assert backends.failure_line(NBVAL_FAILURE) == (
        "code cell 23: NameError: name 'tf' is not defined")


TWO_FAILURES = """\
FF                                                                       [100%]
=================================== FAILURES ===================================
_____________ book/04_4_conditional_gan.ipynb::Cell 5 _____________
Notebook cell execution failed
Cell 5: Cell execution caused an exception

AssertionError: [0.97 0.74]
_____________ book/04_4_conditional_gan.ipynb::Cell 9 _____________
Notebook cell execution failed
Cell 9: Cell execution caused an exception

NameError: name 'final' is not defined
=========================== short test summary info ============================
FAILED book/04_4_conditional_gan.ipynb::Cell 5
FAILED book/04_4_conditional_gan.ipynb::Cell 9
2 failed, 12 passed in 300.00s (0:05:00)
"""


def test_failure_line_reports_the_first_failing_cell_with_its_own_exception():
    # the later NameError follows from the first failure; it must not be reported as its cause
    assert backends.failure_line(TWO_FAILURES) == "code cell 5: AssertionError: [0.97 0.74]"


def test_failure_line_without_an_exception_is_the_last_line():
    assert backends.failure_line("collected 0 items\n\nno tests ran in 0.01s\n") == (
        "no tests ran in 0.01s")
    assert backends.failure_line("") == "no output"


def test_table_has_a_column_per_backend_and_marks_failures_and_slow_runs():
    data = _data({
        "jax": [Run("01_background", True, 150.4), Run("03_4_building_blocks", True, 436.0)],
        "torch": [Run("01_background", False, 80.0, "Cell 3: ValueError: bad"),
                  Run("03_4_building_blocks", True, 209.0)],
    })
    lines = backends.table(data).splitlines()
    assert lines[0] == "| notebook | JAX | PyTorch |"
    assert lines[1] == "|---|---:|---:|"
    assert lines[2] == ("| 01_background | passed, 150 s "
                        "| **failed** after 80 s: Cell 3: ValueError: bad |")
    assert lines[3] == "| 03_4_building_blocks | passed, 436 s (over budget) | passed, 209 s |"
    assert lines[4] == ("| **all notebooks** | **2 of 2 passed, 586 s** "
                        "| **1 of 2 passed, 289 s** |")
    assert backends.problems(data) == [
        "01_background on PyTorch: failed after 80 s: Cell 3: ValueError: bad"]
    assert backends.slow(data) == [
        "03_4_building_blocks on JAX: 436 s, over the 5-minute budget"]


def test_table_sets_tensorflow_from_the_bench_file_beside_the_others():
    data = _data({"jax": [Run("01_background", True, 150.0)]})
    bench_file = {"notebooks": [{"notebook": "01_background", "wall_s": 123.0,
                                 "peak_rss_bytes": 2**30, "error": None}]}
    lines = backends.table(data, bench_file).splitlines()
    assert lines[0] == "| notebook | TensorFlow (`make bench`) | JAX |"
    assert lines[2] == "| 01_background | passed, 123 s | passed, 150 s |"
    assert lines[3] == "| **all notebooks** | **123 s** | **1 of 1 passed, 150 s** |"


def test_sphinx_substitutions_leave_out_tensorflow_measured_on_another_cpu():
    from booktools.sphinx_bench import backend_substitutions

    data = _data({"jax": [Run("01_background", True, 150.0)]}, cpu="CPU A")
    bench_file = {"machine": {"cpu_model": "CPU B"}, "measured_at": "x",
                  "notebooks": [{"notebook": "01_background", "wall_s": 1.0, "error": None}]}
    values = backend_substitutions(data, bench_file)
    assert "TensorFlow" not in values["backends_table"]
    assert "measured on another CPU" in values["backends_tensorflow_column"]
    assert values["backends_machine"] == (
        "Run 2026-12-02 09:00 UTC on 2 cores of CPU A (Linux x86_64, Python 3.11.7); "
        "JAX: keras 3.15.1, jax 1.0.")
    bench_file["machine"]["cpu_model"] = "CPU A"
    values = backend_substitutions(data, bench_file)
    assert values["backends_table"].splitlines()[0].startswith("| notebook | TensorFlow")
    assert values["backends_over_budget"].startswith("Every notebook that passed stayed")


def test_an_update_on_another_cpu_keeps_each_entry_with_its_own_cpu(monkeypatch, capsys):
    # A file from before entries recorded their CPU: its machine names the CPU of all of them.
    previous = _data({"jax": [Run("01_a", True, 100.0), Run("02_b", True, 50.0)],
                      "torch": [Run("01_a", True, 90.0)]}, cpu="CPU A")
    for result in previous["backends"].values():
        for entry in result["notebooks"]:
            del entry["cpu_model"]
    monkeypatch.setattr(backends, "python_of", lambda backend, root=None: Path(sys.executable))
    monkeypatch.setattr(backends, "versions", lambda backend, root=None: {"keras": "3"})
    monkeypatch.setattr(backends.bench, "machine", lambda: {
        "cpu_cores": 2, "cpu_model": "CPU B", "memory_gib": 24.0, "system": "Linux x86_64",
        "python": "3.11.7"})
    monkeypatch.setattr(backends, "run_notebook", lambda backend, notebook, root=None: Run(
        notebook.stem, True, 40.0, cpu_model="CPU B"))
    data = backends.run(["jax"], [Path("book/02_b.ipynb")], previous)
    cpus = {backend: [(run["notebook"], run["cpu_model"]) for run in result["notebooks"]]
            for backend, result in data["backends"].items()}
    assert cpus == {"jax": [("01_a", "CPU A"), ("02_b", "CPU B")], "torch": [("01_a", "CPU A")]}
    lines = backends.table(data).splitlines()
    assert lines[2] == "| 01_a | passed, 100 s on CPU A | passed, 90 s on CPU A |"
    assert lines[3] == "| 02_b | passed, 40 s | not run |"
    assert backends.describe(data).endswith(
        "A time marked with another CPU was measured there, in an earlier run that this one "
        "kept (CPU A), so it is not comparable with the rest.")


def test_python_of_names_the_missing_venv_and_rejects_unknown_backends(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no \.venv-jax for the jax backend.*"
                                                r"make \.venv-jax/\.installed"):
        backends.python_of("jax", tmp_path)
    with pytest.raises(ValueError, match="expected a Keras backend, one of"):
        backends.python_of("theano", tmp_path)


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="make test-backends"):
        backends.load(tmp_path / "none.json")
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"notebooks": []}))
    with pytest.raises(ValueError, match="not a backends file"):
        backends.load(foreign)


def _notebook(path: Path, *sources: str) -> Path:
    nbformat.write(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in sources]), path)
    return path


def test_a_real_lax_run_passes_a_good_notebook_and_names_a_failing_cell(tmp_path, monkeypatch):
    # The interpreter running these tests stands in for the backend's venv (it has nbval).
    monkeypatch.setattr(backends, "python_of", lambda backend, root=None: Path(sys.executable))
    good = _notebook(tmp_path / "good.ipynb", "x = 1 + 1", "print(x)")  # output not compared
    bad = _notebook(tmp_path / "bad.ipynb", "x = 2", "assert x == 3, f'x is {x}'")
    passed = backends.run_notebook("jax", good, tmp_path)
    assert passed.passed and passed.error is None and passed.wall_s > 0
    failed = backends.run_notebook("jax", bad, tmp_path)
    assert not failed.passed
    assert failed.error == "code cell 1: AssertionError: x is 2"


def test_a_failing_notebook_is_recorded_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMAGE_BOOK_DATA", str(tmp_path / "data"))  # main clears the model cache
    notebooks = [_notebook(tmp_path / f"0{i}_x.ipynb", "pass") for i in (1, 2)]

    def fake_run(backend, notebook, root=None):
        if backend == "torch" and notebook.stem == "01_x":
            return Run(notebook.stem, False, 3.0, "Cell 0: ValueError: no")
        return Run(notebook.stem, True, 2.0)

    monkeypatch.setattr(backends, "python_of", lambda backend, root=None: Path(sys.executable))
    monkeypatch.setattr(backends, "run_notebook", fake_run)
    monkeypatch.setattr(backends, "versions", lambda backend, root=None: {"keras": "3"})
    output = tmp_path / "backends.json"
    status = backends.main([*map(str, notebooks), "--output", str(output)])
    assert status == 1
    written = backends.load(output)
    assert [run["passed"] for run in written["backends"]["jax"]["notebooks"]] == [True, True]
    assert [run["passed"] for run in written["backends"]["torch"]["notebooks"]] == [False, True]
    assert "01_x on PyTorch: failed after 3 s: Cell 0: ValueError: no" in capsys.readouterr().err
    # --update re-runs one notebook and keeps the other's entry
    monkeypatch.setattr(backends, "run_notebook",
                        lambda backend, notebook, root=None: Run(notebook.stem, True, 1.0))
    assert backends.main([str(notebooks[0]), "--output", str(output), "--update"]) == 0
    torch = backends.load(output)["backends"]["torch"]["notebooks"]
    assert [(run["notebook"], run["passed"], run["wall_s"]) for run in torch] == [
        ("01_x", True, 1.0), ("02_x", True, 2.0)]
