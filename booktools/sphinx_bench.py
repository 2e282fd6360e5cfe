"""A Sphinx extension that puts the measured run times of ``book/bench.json`` into the pages,
and the results of ``make test-backends`` (``book/backends.json``) next to them.

It defines MyST substitutions at build time, so the run-times page writes ``{{ bench_table }}``
and the site shows the latest numbers from ``make bench`` without the notebooks being re-run.
(A chapter's own run-time line is plain text that the bench writes into its opening cell, so
that JupyterLab shows it too: ``booktools.bench.write_run_time_lines``.) A missing or
unreadable bench file is a build warning (an error under ``-W``), never a silently empty
sentence.
"""

from __future__ import annotations

from typing import Any

from sphinx.util import logging

from booktools import bench

logger = logging.getLogger(__name__)


def substitutions(data: dict[str, Any]) -> dict[str, str]:
    """The substitution names and texts made from one bench file."""
    values: dict[str, str] = {}
    described = data["machine"]
    versions = ", ".join(f"{name} {number}" for name, number in described["versions"].items())
    values["bench_machine"] = (
        f"Measured {data['measured_at']} on {described['cpu_cores']} cores of "
        f"{described['cpu_model']} with {described['memory_gib']} GiB of memory "
        f"({described['system']}, Python {described['python']}, Keras backend "
        f"{described['keras_backend']}; {versions})."
    )
    values["bench_table"] = bench.report(data)
    values["bench_results_table"] = bench.results_report(data)
    values["bench_total_minutes"] = f"{data['total_s'] / 60:.1f}"
    # Today's budget for the CPU the numbers were measured on, whatever the file recorded then.
    budget = bench.total_budget_s(str(described.get("cpu_model", "")))
    values["bench_total_budget_minutes"] = f"{budget / 60:.0f}"
    if data.get("race"):
        from booktools import race

        values["race_table"] = race.table(data["race"])
        values["race_ablation_table"] = race.ablation_table(data["race"]) or (
            "The last race ran without its ablation (`python -m booktools.race "
            "--skip-ablation`, or before the ablation was part of it)."
        )
    else:
        values["race_table"] = (
            "The last `make bench` did not race the recipes over seeds (it ran with "
            "`--skip-race`, or before the race was part of it)."
        )
        values["race_ablation_table"] = "No race, so no ablation either."
    return values


def backend_substitutions(
    data: dict[str, Any], tensorflow: dict[str, Any] | None = None
) -> dict[str, str]:
    """The substitutions made from a ``make test-backends`` file; ``tensorflow``, a bench file,
    adds TensorFlow's column when it was measured on the same CPU (else a sentence says why
    it is left out)."""
    from booktools import backends

    same_cpu = (tensorflow is not None
                and tensorflow["machine"].get("cpu_model") == data["machine"].get("cpu_model"))
    values = {"backends_machine": backends.describe(data)}
    values["backends_table"] = backends.table(data, tensorflow if same_cpu else None)
    if same_cpu:
        values["backends_tensorflow_column"] = (
            "The TensorFlow column is the last `make bench` on the same CPU "
            f"({tensorflow['measured_at']}): each notebook executed once, its outputs "
            "compared with the page by `make test`."
        )
    else:
        values["backends_tensorflow_column"] = (
            "TensorFlow's times are in the table at the top of this page; they were measured "
            "on another CPU, so they are not set beside these."
        )
    slow = backends.slow(data)
    values["backends_over_budget"] = (
        "Over the 5-minute budget on another backend: " + "; ".join(slow) + "."
        if slow
        else "Every notebook that passed stayed within the 5-minute budget on every backend."
    )
    return values


def _add_substitutions(app, config) -> None:
    from booktools import backends

    merged = dict(config.myst_substitutions or {})
    try:
        data = bench.load()
    except (FileNotFoundError, ValueError) as exc:
        logger.warning(f"run times unavailable: {exc}")
        data = None
    else:
        merged.update(substitutions(data))
    try:
        merged.update(backend_substitutions(backends.load(), data))
    except (FileNotFoundError, ValueError) as exc:
        logger.warning(f"results on the other backends unavailable: {exc}")
    config.myst_substitutions = merged


def setup(app) -> dict[str, Any]:
    app.connect("config-inited", _add_substitutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
