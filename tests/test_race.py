"""helpers.race (Section 4.1's clock and recipes) and booktools.race (the race over seeds)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from booktools import bench
from booktools import race as over_seeds
from helpers import race


def test_race_cnn_is_the_network_the_chapter_counts():
    model = race.race_cnn()
    assert model.count_params() == 624 + 6_944 + 410_112 + 5_130
    assert model.output_shape == (None, 10)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Rescaling", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense",
        "Dense"]


def test_max_pooling_and_relu_commute():
    # Section 4.1 measures both orders; they compute the same function.
    values = np.random.default_rng(0).normal(size=(2, 24, 24, 3)).astype("float32")
    pool, relu = keras.layers.MaxPooling2D(2), keras.layers.ReLU()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(relu(pool(values))),
                                  keras.ops.convert_to_numpy(pool(relu(values))))


def test_recipes_state_the_race_as_the_chapter_describes_it():
    assert race.KERAS_EXAMPLE.steps_per_epoch(60_000) == 422  # 54,000 images in batches of 128
    assert race.RACE_RECIPE.steps_per_epoch(60_000) == 235  # 60,000 in batches of 256
    optimizer = race.RACE_RECIPE.optimizer(60_000)
    assert (optimizer.beta_1, optimizer.beta_2) == (0.7, 0.9)
    schedule = race.RACE_RECIPE.learning_rate(60_000)  # two epochs: 470 steps
    rates = [float(keras.ops.convert_to_numpy(schedule(step))) for step in (0, 470 // 4, 470)]
    assert np.allclose(rates, [0.001, 0.01, 0.0001])
    assert race.KERAS_EXAMPLE.learning_rate(60_000) == 0.001


def _digits(count, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count)
    images = np.zeros((count, 28, 28), dtype="uint8")
    for index, label in enumerate(labels):  # a bright bar whose row is the label
        images[index, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
    return images, labels


def test_run_times_training_and_checks_accuracy_on_the_test_images():
    (train_images, train_labels), (test_images, test_labels) = _digits(512, 0), _digits(200, 1)
    recipe = race.Recipe(name="tiny", build=race.race_cnn, batch_size=64, epochs=2,
                         checks_per_epoch=2, peak_learning_rate=0.01)
    result = race.run(recipe, 0, train_images, train_labels, test_images, test_labels)
    assert (result.recipe, result.seed, result.steps, result.epochs) == ("tiny", 0, 16, 2)
    assert len(result.curve) == 4  # after every 4 steps
    assert result.seconds > 0 and result.step_ms > 0
    assert result.test_accuracy == result.curve[-1][1] > 0.9  # the bars are easy
    assert result.reached_s is None or result.reached_s <= result.seconds


def test_a_recipe_that_stops_at_the_target_stops_at_its_first_check_above_it():
    (train_images, train_labels), (test_images, test_labels) = _digits(512, 0), _digits(200, 1)
    recipe = race.Recipe(name="tiny", build=race.race_cnn, batch_size=64, epochs=5,
                         checks_per_epoch=2, peak_learning_rate=0.01, stop_at_target=True)
    result = race.run(recipe, 0, train_images, train_labels, test_images, test_labels,
                      target=0.5)
    assert result.reached_s == result.curve[-1][0] == result.seconds
    assert [accuracy >= 0.5 for _, accuracy in result.curve].index(True) == len(result.curve) - 1


def test_a_validation_split_keeps_the_last_images_out_of_training():
    assert race.KERAS_EXAMPLE.steps_per_epoch(60_000) == 422
    (train_images, train_labels), (test_images, test_labels) = _digits(640, 0), _digits(100, 1)
    recipe = race.Recipe(name="tiny", build=race.race_cnn, batch_size=64, epochs=1,
                         checks_per_epoch=1, validation_split=0.5)
    assert race.run(recipe, 0, train_images, train_labels, test_images, test_labels).steps == 5


def test_run_rejects_mismatched_data():
    images, labels = _digits(10, 0)
    with pytest.raises(ValueError, match="labels must match the images"):
        race.run(race.RACE_RECIPE, 0, images, labels[:5], images, labels)
    with pytest.raises(ValueError, match="train_images must be uint8 digits"):
        race.run(race.RACE_RECIPE, 0, images.astype("float32"), labels, images, labels)
    with pytest.raises(ValueError, match="target must be an accuracy"):
        race.run(race.RACE_RECIPE, 0, images, labels, images, labels, target=99)


def _result(example_reached, ours_reached, ours_accuracy=0.993):
    def runs(reached, accuracy):
        return [{"seed": seed, "reached_s": value, "epochs": 2, "seconds": 30.0,
                 "step_ms": 100.0, "epoch_s": 23.5, "test_accuracy": accuracy}
                for seed, value in enumerate(reached)]

    ratios = [None if a is None or b is None else a / b
              for a, b in zip(example_reached, ours_reached, strict=True)]
    return {
        "seeds": [0, 1, 2],
        "recipes": {"Keras example": {"runs": runs(example_reached, 0.991)},
                    "race recipe": {"runs": runs(ours_reached, ours_accuracy)}},
        "ratio": {"per_seed": ratios, **over_seeds._spread(ratios)},
        "target_ratio": over_seeds.TARGET_RATIO,
        "final_accuracy": over_seeds.FINAL_ACCURACY,
    }


def test_the_race_holds_the_median_ratio_and_the_final_accuracy():
    assert over_seeds.problems(_result([170, 180, 160], [20, 25, 40])) == []  # median 7.2x
    assert over_seeds.problems(_result([170, 180, 160], [40, 45, 30])) == [
        "race: median speed-up 4.2x, target 5x"]
    assert over_seeds.problems(_result([170, None, 160], [20, 25, 30])) == [
        "race: a recipe did not reach 99.0 % in some seed, so there is no ratio"]
    assert over_seeds.problems(_result([170, 180, 160], [20, 25, 30], 0.9915))[-1] == (
        "race: the race recipe ended at 99.15 % with seed 2, below 99.2 %")


def test_the_race_table_lists_every_run_and_the_spread():
    text = over_seeds.table(_result([170, 180, 160], [20, 25, 40]))
    assert "| race recipe | 1 | 23.5 | 2 | 25.0 | 99.30 % |" in text.splitlines()
    assert text.endswith("median **7.2x**, from 4.0x to 8.5x (8.5x, 7.2x, 4.0x).")


def test_each_ablation_recipe_changes_one_choice_of_the_race_recipe_to_the_examples():
    ours, example = race.RACE_RECIPE, race.KERAS_EXAMPLE
    changed_fields = []
    for change, recipe in over_seeds.ablation_recipes():
        differs = {name for name in ("batch_size", "peak_learning_rate", "beta_1", "beta_2")
                   if getattr(recipe, name) != getattr(ours, name)}
        for name in differs:  # taken back to the Keras example's value, not a third one
            assert getattr(recipe, name) == getattr(example, name), (change, name)
        if recipe.build is not ours.build:
            keras.utils.set_random_seed(0)
            assert recipe.build().count_params() == example.build().count_params(), change
            differs.add("network")
        # the schedule's length, the data and the checks stay the race recipe's
        assert (recipe.epochs, recipe.checks_per_epoch, recipe.validation_split,
                recipe.stop_at_target) == (ours.epochs, ours.checks_per_epoch,
                                           ours.validation_split, ours.stop_at_target)
        changed_fields.append(differs)
    assert changed_fields == [{"batch_size"}, {"peak_learning_rate"}, {"beta_1", "beta_2"},
                              {"network"}]


def test_a_run_records_the_epoch_of_its_first_check_at_the_target():
    result = race.RaceResult("race recipe", 0, 3.0, 40, 2, 6.0, 0.991,
                             curve=[(1.0, 0.97), (2.0, 0.985), (3.0, 0.990), (4.0, 0.99),
                                    (5.0, 0.989)])
    record = over_seeds._record(race.RACE_RECIPE, result, 60_000)
    assert record["to_target_epochs"] == 0.75  # the third check of four per epoch
    assert record["epoch_s"] == pytest.approx(0.15 * 235)  # 150 ms a step, 235 steps
    never = race.RaceResult("race recipe", 0, None, 40, 2, 6.0, 0.98, curve=[(1.0, 0.98)])
    assert over_seeds._record(race.RACE_RECIPE, never, 60_000)["to_target_epochs"] is None


def test_the_ablation_table_puts_the_race_recipe_first_and_says_never():
    result = _result([170, 180, 160], [20, 25, 40])
    assert over_seeds.ablation_table(result) is None  # a race run without its ablation
    for run, epochs in zip(result["recipes"]["race recipe"]["runs"], [1.5, 1.75, 2], strict=True):
        run["to_target_epochs"] = epochs
    seeds = [(0, 60.0, 2.0, 0.9901), (1, None, None, 0.988), (2, 55.0, 1.75, 0.9905)]
    slower = [{"seed": seed, "reached_s": reached, "to_target_epochs": epochs, "epoch_s": 30.0,
               "test_accuracy": accuracy} for seed, reached, epochs, accuracy in seeds]
    result["ablation"] = {"batch 128 instead of 256": {"runs": slower}}
    lines = over_seeds.ablation_table(result).splitlines()
    assert lines[0].startswith("| recipe | s per epoch (median) | epochs to 99.0 % (seeds 0, 1, 2)")
    assert lines[2] == "| the race recipe | 23.5 | 1.5, 1.75, 2 | 25.0 | 99.30 to 99.30 % |"
    assert lines[3] == ("| batch 128 instead of 256 | 30.0 | 2, never, 1.75 | not in every seed | "
                        "98.80 to 99.05 % |")


def test_make_bench_stores_the_race_with_the_notebooks(tmp_path, monkeypatch):
    monkeypatch.setattr(
        bench, "measure", lambda path, keep=None: bench.Measurement("01_a", 5.0, 2**20)
    )
    raced = {**_result([170, 180, 160], [20, 25, 40]), "machine": "Test CPU",
             "measured_at": "2026-12-01 15:29 UTC"}
    monkeypatch.setattr(over_seeds, "race", lambda: raced)
    output = tmp_path / "bench.json"
    assert bench.main(["book/01_a.ipynb", "--output", str(output), "--skip-book"]) == 0
    stored = json.loads(output.read_text())["race"]
    assert stored["ratio"]["median"] == pytest.approx(7.2)
    assert over_seeds.table(stored).endswith("Raced on Test CPU, 2026-12-01 15:29 UTC.")
