"""Measure how long each chapter takes and how much memory it needs, and hold it to budget.

``python -m booktools.bench`` (``make bench``) executes every notebook once in a fresh kernel,
records wall time and the kernel's peak resident memory, writes ``book/bench.json``, prints a
table, and exits non-zero naming any notebook over budget. A notebook that fails is recorded
as failed, with its error's last line, and the others still run: a failure never loses the
run. A notebook can also hand the bench numbers it measured (Section 4.1's race to 99 % test
accuracy, for example) by defining a dict ``bench_results`` that maps a description to a
number; they are stored with its run. The
appendix page "Run times" reads the same file, and the bench writes each chapter's run-time
line from it (plain text in the opening cell, so JupyterLab shows it as the website does), so
the times the book states are measured, not typed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "book" / "bench.json"

NOTEBOOK_BUDGET_S = 5 * 60
TOTAL_BUDGET_S = 15 * 60
MEMORY_BUDGET_BYTES = 4 * 1024**3

SLOWER_CPUS_TOTAL_BUDGET_S = {"AMD EPYC": 25 * 60}
"""CPUs on which the book's convolutional networks train markedly slower than on the 2-core
Intel Xeon the budgets were set on (1.4x to 1.9x on the AMD EPYCs measured, by generation), and
the total each is held to.
One notebook's budget stays 5 minutes everywhere."""


def total_budget_s(cpu_model: str) -> int:
    """The budget for all notebooks together on the CPU named ``cpu_model``."""
    for name, budget in SLOWER_CPUS_TOTAL_BUDGET_S.items():
        if name.lower() in cpu_model.lower():
            return budget
    return TOTAL_BUDGET_S


RESULTS_NAME = "bench_results"
"""The variable a notebook defines to hand its own measurements to the bench."""

_RESULTS_PROBE = (
    "import json as _bench_json\n"
    f"print(_bench_json.dumps(globals().get({RESULTS_NAME!r})))"
)


@dataclass(frozen=True)
class Measurement:
    """One notebook's run: wall time in seconds, the kernel's peak resident memory, and the
    numbers the notebook put in ``bench_results`` (``None`` when it defines none). A notebook
    that failed has the last line of its error in ``error`` and the time until it failed."""

    notebook: str
    wall_s: float
    peak_rss_bytes: int
    results: dict[str, float] | None = None
    error: str | None = None


def check_results(notebook: str, results: object) -> dict[str, float] | None:
    """``results`` as a dict of descriptions to finite numbers, or a clear ``ValueError``."""
    if results is None:
        return None
    if not isinstance(results, dict) or not results:
        raise ValueError(
            f"{notebook}: {RESULTS_NAME} must be a non-empty dict of description -> number, "
            f"got {results!r}"
        )
    checked = {}
    for key, value in results.items():
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"{notebook}: {RESULTS_NAME} keys must be descriptions, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValueError(
                f"{notebook}: {RESULTS_NAME}[{key!r}] must be a finite number, got {value!r}"
            )
        if value in (float("inf"), float("-inf")):
            raise ValueError(
                f"{notebook}: {RESULTS_NAME}[{key!r}] must be a finite number, got {value!r}"
            )
        checked[key] = float(value)
    return checked


def last_line(error: BaseException) -> str:
    """The last non-empty line of an error's message (nbclient puts the cell's error there),
    without terminal colour codes; the error's type when the message is empty."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        process = psutil.Process(pid)
        processes = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for each in processes:
        try:
            total += each.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class _PeakMemory:
    """Samples a process tree's resident memory in a background thread and keeps the maximum."""

    def __init__(self, pid: int, every_s: float = 0.1):
        self.pid, self.every_s, self.peak = pid, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(self.pid))
            self._stop.wait(self.every_s)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _tree_rss(self.pid))


def measure(path: str | os.PathLike, timeout_s: int = 900,
            keep: str | os.PathLike | None = None) -> Measurement:
    """Execute one notebook in a fresh kernel (from its own folder) without saving it over
    the committed one; with ``keep`` (a folder), write the executed copy there under the same
    name, so that ``python -m tests.nbval_tolerance`` can compare it with the page."""
    import nbformat
    from nbclient import NotebookClient

    notebook = Path(path)
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise ValueError(f"expected the path of an existing .ipynb file, got {str(path)!r}")
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout_s,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    with client.setup_kernel():
        pid = client.km.provisioner.process.pid
        started, index = time.perf_counter(), 0
        try:
            with _PeakMemory(pid) as memory:
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
        except Exception as error:  # noqa: BLE001  (a cell's error, a timeout, a dead kernel)
            wall = time.perf_counter() - started
            return Measurement(notebook.stem, round(wall, 1), memory.peak,
                               error=f"cell {index}: {last_line(error)}")
        wall = time.perf_counter() - started
        if keep is not None:
            Path(keep).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, Path(keep) / notebook.name)  # before the probe cell is added
        probe = nbformat.v4.new_code_cell(_RESULTS_PROBE)  # after the clock stopped
        nb.cells.append(probe)  # the in-memory copy only; the file is never written
        client.execute_cell(probe, len(nb.cells) - 1)
    printed = "".join(out.get("text", "") for out in probe.outputs if out.output_type == "stream")
    results = check_results(notebook.stem, json.loads(printed))
    return Measurement(notebook.stem, round(wall, 1), memory.peak, results)


def over_budget(
    measurements: Iterable[Measurement],
    notebook_budget_s: float = NOTEBOOK_BUDGET_S,
    total_budget_s: float = TOTAL_BUDGET_S,
    memory_budget_bytes: int = MEMORY_BUDGET_BYTES,
) -> list[str]:
    """One message per failed notebook and broken budget, naming the notebook; empty when all
    ran and every budget is kept."""
    runs = list(measurements)
    problems = []
    for run in runs:
        if run.error is not None:
            problems.append(f"{run.notebook}: failed after {run.wall_s:.0f} s: {run.error}")
        if run.wall_s > notebook_budget_s:
            problems.append(
                f"{run.notebook}: ran {run.wall_s:.0f} s, budget {notebook_budget_s:.0f} s"
            )
        if run.peak_rss_bytes > memory_budget_bytes:
            problems.append(
                f"{run.notebook}: peak memory {run.peak_rss_bytes / 2**30:.2f} GiB, "
                f"budget {memory_budget_bytes / 2**30:.2f} GiB"
            )
    total = sum(run.wall_s for run in runs)
    if total > total_budget_s:
        problems.append(f"all notebooks: ran {total:.0f} s together, budget {total_budget_s:.0f} s")
    return problems


def machine() -> dict[str, object]:
    """What the numbers were measured on: cores, CPU model, backend and library versions."""
    from importlib.metadata import PackageNotFoundError, version

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("keras", "tensorflow-cpu", "jax", "torch", "numpy", "jupyter-book"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return {
        "cpu_cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": _memory_gib(),
        "system": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "versions": versions,
    }


def _memory_gib() -> float:
    import psutil

    return round(psutil.virtual_memory().total / 2**30, 1)


def report(data: Mapping[str, object]) -> str:
    """The Markdown table ``make bench`` prints (the appendix shows the same numbers)."""
    rows = [
        "| notebook | wall time (s) | peak memory (MiB) |",
        "|---|---:|---:|",
    ]
    for run in data["notebooks"]:
        wall = f"{run['wall_s']:.0f}"
        if run.get("error"):
            wall = f"failed after {wall}: {run['error']}"
        rows.append(f"| {run['notebook']} | {wall} | {run['peak_rss_bytes'] / 2**20:.0f} |")
    rows.append(f"| **all notebooks** | **{data['total_s']:.0f}** | |")
    if data.get("book_build_s") is not None:
        rows.append(f"| `make book` (site build) | {data['book_build_s']:.0f} | |")
    return "\n".join(rows)


def results_report(data: Mapping[str, object]) -> str:
    """The numbers notebooks recorded in ``bench_results``, as a Markdown table."""
    rows = ["| notebook | measurement | value |", "|---|---|---:|"]
    for run in data["notebooks"]:
        for key, value in (run.get("results") or {}).items():
            rows.append(f"| {run['notebook']} | {key} | {value:g} |")
    if len(rows) == 2:
        return "No notebook recorded results of its own in this bench run."
    return "\n".join(rows)


def read_results(path: str | os.PathLike, what: str, key: str, command: str) -> dict:
    """Read a results file (``what``: "bench", "backends") that must hold ``key`` and
    ``"machine"``; say which command writes it when it is missing."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no {what} results at {file}: run `{command}` first")
    data = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or key not in data or "machine" not in data:
        raise ValueError(f"{file} is not a {what} file: expected keys '{key}' and 'machine'")
    return data


def load(path: str | os.PathLike = DEFAULT_OUTPUT) -> dict[str, object]:
    """Read a bench file written by :func:`main`."""
    return read_results(path, "bench", "notebooks", "make bench")


def run_time_sentence(data: Mapping[str, object], notebook: str) -> str:
    """A sentence for a chapter's opening: its measured run time and the machine (Chapter 1)."""
    for run in data["notebooks"]:
        if run["notebook"] == notebook:
            cores = data["machine"]["cpu_cores"]
            if run.get("error"):
                return (
                    f"This chapter failed in the last `make bench` ({data['measured_at']}), "
                    f"after {run['wall_s'] / 60:.1f} minutes on a {cores}-core CPU: "
                    f"{run['error']}"
                )
            return (
                f"Measured run time: {run['wall_s'] / 60:.1f} minutes on a {cores}-core CPU "
                f"without a GPU (budget {data['budgets']['notebook_s'] / 60:.0f} minutes), "
                f"in the last `make bench` ({data['measured_at']}); the outputs below come "
                "from the run committed with the page, whose own time is printed at its end."
            )
    known = ", ".join(run["notebook"] for run in data["notebooks"])
    raise ValueError(f"no measurement for {notebook!r}; measured notebooks: {known}")


RUN_TIME_LINE = "**Run time.** "
"""How the line in each chapter's opening cell starts that :func:`write_run_time_lines` writes."""


def _run_time_line_index(lines: list[str], notebook: str) -> int:
    found = [index for index, line in enumerate(lines) if line.startswith(RUN_TIME_LINE)]
    if len(found) != 1:
        raise ValueError(
            f"{notebook}: its opening cell must have exactly one line starting with "
            f"{RUN_TIME_LINE!r}, found {len(found)}"
        )
    return found[0]


def run_time_line(data: Mapping[str, object], notebook: str) -> str:
    """The opening cell's run-time line for ``notebook``, as plain Markdown (no substitution,
    so that JupyterLab shows the same sentence as the website)."""
    return RUN_TIME_LINE + " ".join(run_time_sentence(data, notebook).split())


def write_run_time_lines(data: Mapping[str, object], book: Path = ROOT / "book") -> None:
    """Rewrite every measured chapter's run-time line from ``data`` (a bench file's content)."""
    from booktools import notebooks

    for run in data["notebooks"]:
        path = book / f"{run['notebook']}.ipynb"
        if not path.is_file():
            continue
        content = notebooks.read(path)
        lines = "".join(content["cells"][0]["source"]).split("\n")
        lines[_run_time_line_index(lines, run["notebook"])] = run_time_line(data, run["notebook"])
        text = "\n".join(lines)
        content["cells"][0]["source"] = text.splitlines(keepends=True)
        notebooks.write(path, content)


def run_time_line_problems(data: Mapping[str, object], book: Path = ROOT / "book") -> list[str]:
    """Chapters whose run-time line is not the one ``data`` gives (empty: none)."""
    from booktools import notebooks

    problems = []
    for path in sorted(book.glob("[0-9]*.ipynb")):
        lines = "".join(notebooks.read(path)["cells"][0]["source"]).split("\n")
        try:
            line = lines[_run_time_line_index(lines, path.stem)]
            wanted = run_time_line(data, path.stem)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if line != wanted:
            problems.append(
                f"{path.stem}: its run-time line is not the last bench's; run "
                "`python -m booktools.bench --lines-only` (it rewrites them from book/bench.json)"
            )
    return problems


def _time_book_build() -> float:
    """Seconds for a clean `jupyter-book build` (what `make book` does on a fresh clone)."""
    import tempfile

    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    with tempfile.TemporaryDirectory(prefix="bench-book-") as output:
        started = time.perf_counter()
        subprocess.run(
            [str(jupyter_book), "build", str(ROOT), "--quiet", "--path-output", output],
            check=True, capture_output=True,
        )
        return round(time.perf_counter() - started, 1)


def clear_model_cache() -> Path:
    """Remove the trained models that chapters cache with the data, and return the folder.

    The bench measures the book as a first-time reader runs it, in order: Section 4.3 trains
    the GAN judge and Section 4.4 reuses it within the same run, but no run starts from a
    model that an earlier run left behind.
    """
    from helpers.data import model_directory

    folder = model_directory()
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booktools.bench", description=__doc__)
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: book/*.ipynb)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="where to write the JSON")
    parser.add_argument("--skip-book", action="store_true", help="do not time the site build")
    parser.add_argument(
        "--skip-race", action="store_true",
        help="do not run Section 4.1's race over seeds and its ablation (booktools.race; "
             "about 10 minutes on a 2-core CPU)",
    )
    parser.add_argument(
        "--update", action="store_true",
        help="keep the other notebooks' entries of the existing file; replace only those run now",
    )
    parser.add_argument(
        "--keep", metavar="FOLDER",
        help="also write each executed notebook into FOLDER (to compare with the committed "
             "outputs: python -m tests.nbval_tolerance book/X.ipynb FOLDER/X.ipynb)",
    )
    parser.add_argument(
        "--lines-only", action="store_true",
        help="run nothing: rewrite each chapter's run-time line from the existing file",
    )
    args = parser.parse_args(argv)
    if args.lines_only:
        write_run_time_lines(load(args.output))
        return 0
    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "book").glob("[0-9]*.ipynb"))
    if args.update and Path(args.output).is_file():
        recorded = load(args.output)["machine"].get("cpu_model")
        here = machine()["cpu_model"]
        if recorded != here:
            # One file describes one machine: its CPU, date and totals. Keeping another CPU's
            # measurements beside this one's would print them under this CPU's name.
            print(f"--update: {args.output} was measured on {recorded!r}, this is {here!r}; "
                  "the other notebooks' times would be labelled with this CPU. Run the whole "
                  "bench here (make bench) instead.", file=sys.stderr)
            return 2
    clear_model_cache()
    measurements = []
    for path in paths:
        run = measure(path, keep=args.keep)
        print(f"{run.notebook}: {run.wall_s:.0f} s, {run.peak_rss_bytes / 2**20:.0f} MiB"
              + (f", FAILED: {run.error}" if run.error else ""), flush=True)
        for key, value in (run.results or {}).items():
            print(f"  {key}: {value:g}", flush=True)
        measurements.append(run)
    previous = load(args.output) if args.update and Path(args.output).is_file() else None
    if previous is not None:
        fresh = {run.notebook for run in measurements}
        kept = [Measurement(**run) for run in previous["notebooks"]
                if run["notebook"] not in fresh]
        measurements = sorted(kept + measurements, key=lambda run: run.notebook)
    described = machine()
    total_budget = total_budget_s(described["cpu_model"])
    data = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": described,
        "budgets": {
            "notebook_s": NOTEBOOK_BUDGET_S,
            "total_s": total_budget,
            "memory_bytes": MEMORY_BUDGET_BYTES,
        },
        "notebooks": [asdict(run) for run in measurements],
        "total_s": round(sum(run.wall_s for run in measurements), 1),
        "book_build_s": None,
        "race": None if previous is None else previous.get("race"),
    }
    output = Path(args.output)
    output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")  # keep them first
    if output.resolve() == DEFAULT_OUTPUT.resolve():
        write_run_time_lines(data)
    problems = over_budget(measurements, total_budget_s=total_budget)
    if not args.skip_race:
        from booktools import race

        data["race"] = race.race()
        problems += race.problems(data["race"])
        output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if not args.skip_book:
        try:
            data["book_build_s"] = _time_book_build()
        except subprocess.CalledProcessError as error:
            detail = (error.stderr or b"").decode(errors="replace").strip().splitlines()[-5:]
            problems.append(
                "make book: the site build failed, so it was not timed (the notebook "
                f"measurements are saved in {output}); its last lines:\n  " + "\n  ".join(detail)
            )
        output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(report(data))
    print(results_report(data))
    if data["race"] is not None:
        from booktools import race

        print(race.table(data["race"]))
        if (ablated := race.ablation_table(data["race"])) is not None:
            print("\n" + ablated)
    for problem in problems:
        print(f"bench: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
