"""Run every notebook on the other two Keras backends, JAX and PyTorch, and record the result.

``python -m booktools.backends`` (``make test-backends``) runs each notebook top to bottom
under nbval in lax mode, once with ``KERAS_BACKEND=jax`` from ``.venv-jax`` and once with
``KERAS_BACKEND=torch`` from ``.venv-torch``: every cell must run and every assertion must
hold, but outputs are not compared with the committed (TensorFlow) ones, since numbers
legitimately differ between backends. It records, per backend and notebook, whether it passed,
its wall time (the whole nbval run: kernel start, every cell) and the last line of the error of
one that failed, with the date, the CPU and each backend's versions, in ``book/backends.json``;
the run-times page shows that file as a table. A failing notebook never loses the run: the
others still run, the file is written, and the command exits non-zero naming it. A notebook
slower than the 5-minute budget is reported, not failed: the budget is set on TensorFlow, and
the page says how far another backend is from it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from booktools import bench

ROOT = bench.ROOT
DEFAULT_OUTPUT = ROOT / "book" / "backends.json"
BACKENDS = ("jax", "torch")
"""The backends this command checks; TensorFlow, the default, is checked strictly by
``make test`` (nbval compares every output) and timed by ``make bench``."""

BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
VERSIONED = {"tensorflow": ("keras", "tensorflow-cpu"), "jax": ("keras", "jax", "jaxlib"),
             "torch": ("keras", "torch")}
CELL_TIMEOUT_S = 900


@dataclass(frozen=True)
class Run:
    """One notebook on one backend: passed or not, seconds, a failure's last line, and the CPU
    it ran on (an entry kept by ``--update`` from another machine's run keeps its own)."""

    notebook: str
    passed: bool
    wall_s: float
    error: str | None = None
    cpu_model: str | None = None


def python_of(backend: str, root: Path = ROOT) -> Path:
    """The interpreter of ``backend``'s own virtual environment, or a clear error."""
    if backend not in VERSIONED:
        raise ValueError(f"expected a Keras backend, one of {sorted(VERSIONED)}, got {backend!r}")
    venv = ".venv" if backend == "tensorflow" else f".venv-{backend}"
    python = root / venv / "bin" / "python"
    if not python.is_file():
        raise FileNotFoundError(
            f"no {venv} for the {backend} backend ({python} is missing): run "
            f"`make {venv}/.installed` (make test-backends does)"
        )
    return python


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION = re.compile(
    r"^(?:E\s+)?([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?::\s*(.*))?$")
_FAILED = re.compile(r"^FAILED \S+::(Cell \d+)")
_SECTION = re.compile(r"^_{3,} \S+::(Cell \d+) _{3,}$")
_SUMMARY = re.compile(r"^={3,} short test summary info ={3,}$")


def failure_line(output: str) -> str:
    """What went wrong, in one line, from an nbval run's output: the first failing cell and
    the last exception raised in that cell's own report (``"code cell 23: NameError: name
    'tf' is not defined"``, counting code cells from 0 as nbval does); the output's last
    non-empty line when it names no exception. Later cells that fail only because the first
    one did (a name it never defined) do not hide the cause."""
    lines = [_ANSI.sub("", line).rstrip() for line in output.splitlines()]
    lines = [line for line in lines if line.strip()]
    cell = next((m.group(1) for line in lines if (m := _FAILED.match(line))), None)
    report = lines
    if cell:
        starts = [i for i, line in enumerate(lines) if _SECTION.match(line)]
        first = next((i for i in starts if _SECTION.match(lines[i]).group(1) == cell), None)
        if first is not None:
            after = [i for i in starts if i > first]
            summary = next((i for i, line in enumerate(lines) if _SUMMARY.match(line)),
                           len(lines))
            report = lines[first:min(after + [summary])]
    exceptions = [m for line in report if (m := _EXCEPTION.match(line.strip()))]
    if exceptions:
        name, message = exceptions[-1].group(1), exceptions[-1].group(2)
        what = f"{name}: {message}" if message else name
    else:
        what = lines[-1].strip() if lines else "no output"
    # nbval counts code cells only, from 0: say so, as a cell's number in JupyterLab counts all
    return f"code {cell[0].lower()}{cell[1:]}: {what}" if cell else what


def nbval_command(python: Path, notebook: Path) -> list[str]:
    return [
        str(python), "-m", "pytest", "--nbval-lax", "--nbval-current-env",
        "--nbval-cell-timeout", str(CELL_TIMEOUT_S), "-p", "no:cacheprovider",
        "-q", "-rf", "--color=no", str(notebook),
    ]


def run_notebook(backend: str, notebook: Path, root: Path = ROOT) -> Run:
    """Run ``notebook`` under lax nbval on ``backend``, from that backend's venv."""
    python = python_of(backend, root)
    environment = {**os.environ, "KERAS_BACKEND": backend, "IMAGE_BOOK_PROGRESS": "0",
                   "PYTHONHASHSEED": "0"}
    started = time.perf_counter()
    finished = subprocess.run(nbval_command(python, notebook), cwd=root, env=environment,
                              capture_output=True, text=True)
    wall = round(time.perf_counter() - started, 1)
    cpu = bench.machine()["cpu_model"]
    if finished.returncode == 0:
        return Run(notebook.stem, True, wall, cpu_model=cpu)
    return Run(notebook.stem, False, wall, failure_line(finished.stdout + finished.stderr), cpu)


def versions(backend: str, root: Path = ROOT) -> dict[str, str]:
    """The versions of Keras and of ``backend``'s own packages in its venv."""
    probe = (
        "import json\nfrom importlib.metadata import version\n"
        f"print(json.dumps({{name: version(name) for name in {list(VERSIONED[backend])!r}}}))"
    )
    printed = subprocess.run([str(python_of(backend, root)), "-c", probe], check=True,
                             capture_output=True, text=True).stdout
    return json.loads(printed)


def problems(data: Mapping[str, object]) -> list[str]:
    """One message per notebook that failed on a backend; empty when every one passed."""
    found = []
    for backend, result in data["backends"].items():
        for run in result["notebooks"]:
            if not run["passed"]:
                found.append(f"{run['notebook']} on {BACKEND_NAMES[backend]}: failed after "
                             f"{run['wall_s']:.0f} s: {run['error']}")
    return found


def slow(data: Mapping[str, object], budget_s: float = bench.NOTEBOOK_BUDGET_S) -> list[str]:
    """The notebooks that passed on a backend but took longer than one notebook's budget."""
    return [f"{run['notebook']} on {BACKEND_NAMES[backend]}: {run['wall_s']:.0f} s, over the "
            f"{budget_s / 60:.0f}-minute budget"
            for backend, result in data["backends"].items()
            for run in result["notebooks"] if run["passed"] and run["wall_s"] > budget_s]


def table(data: Mapping[str, object], tensorflow: Mapping[str, object] | None = None) -> str:
    """The Markdown table of the run-times page: one row per notebook, one column per backend
    (TensorFlow's from the bench file ``tensorflow`` when given), plus the totals."""
    backends = list(data["backends"])
    notebooks = sorted({run["notebook"] for result in data["backends"].values()
                        for run in result["notebooks"]})
    header = ["notebook"]
    if tensorflow is not None:
        header.append("TensorFlow (`make bench`)")
    header += [BACKEND_NAMES[backend] for backend in backends]
    rows = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    by_backend = {backend: {run["notebook"]: run for run in data["backends"][backend]["notebooks"]}
                  for backend in backends}
    tf_runs = {run["notebook"]: run for run in (tensorflow or {}).get("notebooks", [])}

    here = data.get("machine", {}).get("cpu_model")

    def cell(run: Mapping[str, object] | None, passed: bool) -> str:
        if run is None:
            return "not run"
        seconds = f"{run['wall_s']:.0f} s"
        if run.get("cpu_model") and here and run["cpu_model"] != here:
            seconds += f" on {run['cpu_model']}"
        if not passed:
            return f"**failed** after {seconds}: {run['error']}"
        if run["wall_s"] > bench.NOTEBOOK_BUDGET_S:
            return f"passed, {seconds} (over budget)"
        return f"passed, {seconds}"

    for notebook in notebooks:
        row = [notebook]
        if tensorflow is not None:
            run = tf_runs.get(notebook)
            row.append(cell(run, run is not None and not run.get("error")))
        for backend in backends:
            run = by_backend[backend].get(notebook)
            row.append(cell(run, run is not None and run["passed"]))
        rows.append("| " + " | ".join(row) + " |")
    totals = ["**all notebooks**"]
    if tensorflow is not None:
        totals.append(f"**{sum(run['wall_s'] for run in tf_runs.values()):.0f} s**")
    for backend in backends:
        runs = data["backends"][backend]["notebooks"]
        passed = sum(run["passed"] for run in runs)
        totals.append(f"**{passed} of {len(runs)} passed, "
                      f"{sum(run['wall_s'] for run in runs):.0f} s**")
    rows.append("| " + " | ".join(totals) + " |")
    return "\n".join(rows)


def describe(data: Mapping[str, object]) -> str:
    """One sentence: when, on what, with which versions."""
    machine = data["machine"]
    parts = []
    for backend, result in data["backends"].items():
        listed = ", ".join(f"{name} {number}" for name, number in result["versions"].items())
        parts.append(f"{BACKEND_NAMES[backend]}: {listed}")
    others = sorted({run["cpu_model"] for result in data["backends"].values()
                     for run in result["notebooks"]
                     if run.get("cpu_model") and run["cpu_model"] != machine["cpu_model"]})
    elsewhere = ("" if not others else
                 " A time marked with another CPU was measured there, in an earlier run that "
                 "this one kept (" + ", ".join(others)
                 + "), so it is not comparable with the rest.")
    return (f"Run {data['measured_at']} on {machine['cpu_cores']} cores of "
            f"{machine['cpu_model']} ({machine['system']}, Python {machine['python']}); "
            + "; ".join(parts) + "." + elsewhere)


def load(path: str | os.PathLike = DEFAULT_OUTPUT) -> dict[str, object]:
    """Read a file written by :func:`main`."""
    return bench.read_results(path, "backends", "backends", "make test-backends")


def run(backends: Sequence[str], notebooks: Sequence[Path], previous: Mapping | None = None,
        root: Path = ROOT) -> dict[str, object]:
    """Run ``notebooks`` on each of ``backends``; with ``previous`` (an earlier file's content),
    keep its entries for the notebooks and backends not run now."""
    described = bench.machine()
    # An entry kept from ``previous`` keeps the CPU it ran on (files from before entries
    # recorded it have one CPU for all, in their "machine").
    recorded_on = (previous or {}).get("machine", {}).get("cpu_model")
    results = {backend: {**result, "notebooks": [{"cpu_model": recorded_on, **entry}
                                                 for entry in result["notebooks"]]}
               for backend, result in (previous or {}).get("backends", {}).items()}
    for backend in backends:
        python_of(backend, root)  # every venv is there before the first hour of notebooks
    for backend in backends:
        bench.clear_model_cache()  # each backend starts as a first-time reader does
        runs = []
        for notebook in notebooks:
            result = run_notebook(backend, notebook, root)
            print(f"{BACKEND_NAMES[backend]:>10} {result.notebook}: "
                  + ("passed" if result.passed else f"FAILED ({result.error})")
                  + f", {result.wall_s:.0f} s", flush=True)
            runs.append(result)
        fresh = {result.notebook for result in runs}
        kept = [Run(**entry) for entry in results.get(backend, {}).get("notebooks", [])
                if entry["notebook"] not in fresh]
        results[backend] = {
            "versions": versions(backend, root),
            "notebooks": [asdict(each) for each in sorted(kept + runs,
                                                           key=lambda each: each.notebook)],
        }
    bench.clear_model_cache()  # no other backend's run finds this one's judge
    ordered = {backend: results[backend] for backend in (*BACKENDS, "tensorflow")
               if backend in results}
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {key: described[key]
                    for key in ("cpu_cores", "cpu_model", "memory_gib", "system", "python")},
        "mode": "nbval --nbval-lax: every cell runs, every assertion holds; outputs not compared",
        "backends": ordered,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booktools.backends", description=__doc__)
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: book/*.ipynb)")
    parser.add_argument("--backend", action="append", choices=sorted(VERSIONED),
                        help="a backend to run (repeatable; default: jax and torch)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="where to write the JSON")
    parser.add_argument(
        "--update", action="store_true",
        help="keep the existing file's other entries; replace only the notebooks run now",
    )
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "book").glob("[0-9]*.ipynb"))
    for path in paths:
        if path.suffix != ".ipynb" or not path.is_file():
            parser.error(f"expected the path of an existing .ipynb file, got {str(path)!r}")
    output = Path(args.output)
    previous = None
    if args.update and output.is_file():
        previous = load(output)
        recorded, here = previous["machine"].get("cpu_model"), bench.machine()["cpu_model"]
        if recorded != here:
            # Each entry records its CPU, and the table names another one beside its time.
            print(f"--update: {output} was run on {recorded!r}, this is {here!r}; the entries "
                  "kept from it keep their CPU's name in the table.", file=sys.stderr)
    data = run(args.backend or list(BACKENDS), [path.resolve() for path in paths], previous)
    output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(table(data))
    for line in slow(data):
        print(f"test-backends: {line}")
    found = problems(data)
    for problem in found:
        print(f"test-backends: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
