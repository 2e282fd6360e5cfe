"""Section 4.1's race over several seeds: the Keras example against the book's race recipe.

The chapter races the two once, with seed 0. So that the speed-up it reports is a comparison
and not one lucky draw, ``make bench`` also runs :func:`race` here (both recipes, the same clock,
the same process, seeds 0, 1 and 2 by default) and stores the medians and the spread in
``book/bench.json``; the "Run times" appendix shows them. No notebook reads them. With each
seed it also trains the race recipe with one of its choices at a time taken back to the Keras
example's (:func:`ablation_recipes`), so that the appendix can show what each choice buys in
seconds per epoch and in epochs to 99.0 %.
``python -m booktools.race`` runs it on its own and prints the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

TARGET_RATIO = 5.0
"""The median speed-up to 99.0 % the bench holds the race recipe to."""

FINAL_ACCURACY = 0.992
"""The test accuracy the race recipe must end with, in every seed."""


def _spread(values: Sequence[float | None]) -> dict[str, float | None]:
    known = [value for value in values if value is not None]
    if len(known) < len(values) or not known:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(known), "min": min(known), "max": max(known)}


def ablation_recipes() -> list[tuple[str, object]]:
    """Section 4.1's race recipe with one of its choices at a time taken back to the Keras
    example's, each named by what changed. Everything else stays the race recipe's: two epochs
    of all 60,000 images, checked every quarter epoch, with no stop at the target, so that the
    final accuracy is comparable too. Call it after :func:`helpers.environment.prepare`."""
    from helpers import race as contest
    from helpers.models import small_cnn

    ours = contest.RACE_RECIPE
    return [
        ("batch 128 instead of 256", replace(ours, batch_size=128)),
        ("Adam at 0.001 throughout instead of the one-cycle schedule",
         replace(ours, peak_learning_rate=None)),
        ("Adam's default beta_1, beta_2 (0.9, 0.999) instead of (0.7, 0.9)",
         replace(ours, beta_1=0.9, beta_2=0.999)),
        ("the Keras example's network instead of the race network",
         replace(ours, build=lambda: small_cnn(name="keras_example"))),
    ]


def _record(recipe, result, images: int, target: float = 0.99) -> dict[str, object]:
    """One run as the bench stores it; ``to_target_epochs`` is the epoch (in quarters, or
    whatever the recipe's checks are) of the first check at or above ``target``."""
    first = next((index for index, (_, accuracy) in enumerate(result.curve)
                  if accuracy >= target), None)
    return {
        "seed": result.seed,
        "reached_s": result.reached_s,
        "epochs": result.epochs,
        "to_target_epochs": None if first is None else (first + 1) / recipe.checks_per_epoch,
        "seconds": round(result.seconds, 2),
        "step_ms": round(result.step_ms, 2),
        "epoch_s": round(result.step_ms * recipe.steps_per_epoch(images) / 1000, 2),
        "test_accuracy": result.test_accuracy,
    }


def _reached(value: float | None) -> str:
    return "did not reach 99.0 %" if value is None else f"99.0 % after {round(value)} s"


def race(seeds: Sequence[int] = (0, 1, 2), ablation: bool = True) -> dict[str, object]:
    """Run both recipes for each seed, alternating them, and summarise per recipe and ratio.

    With ``ablation``, each seed also trains every recipe of :func:`ablation_recipes`, in the
    same process and by the same clock, and the result holds them under ``"ablation"``."""
    from helpers.environment import prepare

    prepare(seed=seeds[0])
    from helpers import race as contest
    from helpers.data import load_mnist

    (train_images, train_labels), (test_images, test_labels) = load_mnist()
    recipes = [contest.KERAS_EXAMPLE, contest.RACE_RECIPE]
    runs: dict[str, list[dict[str, object]]] = {recipe.name: [] for recipe in recipes}
    changes = ablation_recipes() if ablation else []
    changed: dict[str, list[dict[str, object]]] = {change: [] for change, _ in changes}
    for seed in seeds:
        for recipe in recipes:
            result = contest.run(recipe, seed, train_images, train_labels, test_images,
                                 test_labels)
            runs[recipe.name].append(_record(recipe, result, len(train_images)))
            print(f"race: {recipe.name}, seed {seed}: {_reached(result.reached_s)}, "
                  f"test accuracy {result.test_accuracy:.4f}", flush=True)
        for change, recipe in changes:
            result = contest.run(recipe, seed, train_images, train_labels, test_images,
                                 test_labels)
            changed[change].append(_record(recipe, result, len(train_images)))
            print(f"race: {change}, seed {seed}: {_reached(result.reached_s)}, "
                  f"test accuracy {result.test_accuracy:.4f}", flush=True)
    example, ours = (runs[recipe.name] for recipe in recipes)
    ratios = [None if a["reached_s"] is None or b["reached_s"] is None
              else a["reached_s"] / b["reached_s"] for a, b in zip(example, ours, strict=True)]
    from booktools.bench import machine

    outcome: dict[str, object] = {
        "machine": machine()["cpu_model"],
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seeds": list(seeds),
        "recipes": {
            name: {"runs": each, "reached_s": _spread([run["reached_s"] for run in each]),
                   "test_accuracy": _spread([run["test_accuracy"] for run in each])}
            for name, each in runs.items()
        },
        "ratio": {"per_seed": ratios, **_spread(ratios)},
        "target_ratio": TARGET_RATIO,
        "final_accuracy": FINAL_ACCURACY,
    }
    if ablation:
        outcome["ablation"] = {change: {"runs": each} for change, each in changed.items()}
    return outcome


def problems(result: Mapping[str, object]) -> list[str]:
    """What the race missed: a recipe that never reached 99 %, a median speed-up under
    :data:`TARGET_RATIO`, or a race-recipe run that ended under :data:`FINAL_ACCURACY`."""
    found = []
    ratio = result["ratio"]
    if ratio["median"] is None:
        found.append("race: a recipe did not reach 99.0 % in some seed, so there is no ratio")
    elif ratio["median"] < result["target_ratio"]:
        found.append(f"race: median speed-up {ratio['median']:.1f}x, "
                     f"target {result['target_ratio']:.0f}x")
    for run in result["recipes"]["race recipe"]["runs"]:
        if run["test_accuracy"] < result["final_accuracy"]:
            found.append(f"race: the race recipe ended at {100 * run['test_accuracy']:.2f} % "
                         f"with seed {run['seed']}, below {100 * result['final_accuracy']:.1f} %")
    return found


def table(result: Mapping[str, object]) -> str:
    """The race as a Markdown table: one row per recipe and seed, then the speed-ups."""
    rows = ["| recipe | seed | s per epoch | epochs | s of training to 99.0 % | "
            "final test accuracy |", "|---|---:|---:|---:|---:|---:|"]
    for name, summary in result["recipes"].items():
        for run in summary["runs"]:
            reached = "never" if run["reached_s"] is None else f"{run['reached_s']:.1f}"
            rows.append(f"| {name} | {run['seed']} | {run['epoch_s']:.1f} | {run['epochs']} | "
                        f"{reached} | {100 * run['test_accuracy']:.2f} % |")
    ratio = result["ratio"]
    per_seed = ", ".join("none" if value is None else f"{value:.1f}x"
                         for value in ratio["per_seed"])
    if ratio["median"] is None:
        summary = f"Speed-up per seed: {per_seed}."
    else:
        summary = (f"Speed-up to 99.0 % (the Keras example's time over the race recipe's, seed by "
                   f"seed): median **{ratio['median']:.1f}x**, from {ratio['min']:.1f}x to "
                   f"{ratio['max']:.1f}x ({per_seed}).")
    if result.get("machine"):
        summary += f" Raced on {result['machine']}"
        summary += f", {result['measured_at']}." if result.get("measured_at") else "."
    return "\n".join(rows) + "\n\n" + summary


def ablation_table(result: Mapping[str, object]) -> str | None:
    """What each change of the race recipe costs, as a Markdown table: the race recipe's own
    runs first, then one row per change, with the median seconds per epoch, the epochs to
    99.0 % of every seed, the median training seconds to 99.0 % and the final accuracies after
    the two epochs; ``None`` when the race ran without its ablation."""
    if not result.get("ablation"):
        return None
    seeds = ", ".join(str(seed) for seed in result["seeds"])
    rows = [f"| recipe | s per epoch (median) | epochs to 99.0 % (seeds {seeds}) | "
            "s of training to 99.0 % (median) | test accuracy after 2 epochs (min to max) |",
            "|---|---:|---:|---:|---:|"]
    entries = [("the race recipe", result["recipes"]["race recipe"]["runs"])]
    entries += [(change, summary["runs"]) for change, summary in result["ablation"].items()]
    for name, runs in entries:
        epochs = ", ".join("never" if run.get("to_target_epochs") is None
                           else f"{run['to_target_epochs']:g}" for run in runs)
        reached = _spread([run["reached_s"] for run in runs])["median"]
        accuracies = [100 * run["test_accuracy"] for run in runs]
        rows.append(
            f"| {name} | {statistics.median(run['epoch_s'] for run in runs):.1f} | {epochs} | "
            f"{'not in every seed' if reached is None else f'{reached:.1f}'} | "
            f"{min(accuracies):.2f} to {max(accuracies):.2f} % |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booktools.race", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--skip-ablation", action="store_true",
        help="do not also train the race recipe with one change at a time undone",
    )
    parser.add_argument(
        "--update", metavar="BENCH_JSON",
        help="store the result as the race of this bench file (e.g. book/bench.json)",
    )
    args = parser.parse_args(argv)
    result = race(args.seeds, ablation=not args.skip_ablation)
    if args.update:
        from booktools import bench

        path = Path(args.update)
        data = bench.load(path)
        data["race"] = result
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(table(result))
    if (ablated := ablation_table(result)) is not None:
        print("\n" + ablated)
    found = problems(result)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
