"""helpers.models.judge_classifier: Sections 4.3 and 4.4 share one trained judge, via a cache."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from helpers.environment import prepare

ENV = prepare(seed=0)

import keras  # noqa: E402 - after prepare() chose the backend

from helpers.models import judge_classifier  # noqa: E402

RECIPE = {"epochs": 1, "batch_size": 64}


@pytest.fixture(scope="module")
def digits():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 192)
    images = rng.integers(0, 60, (192, 28, 28)).astype("uint8")
    for index, label in enumerate(labels):  # a bright bar whose row gives the label away
        images[index, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
    return images, labels


def cached_files(tmp_path):
    return sorted(path.name for path in (tmp_path / "models").iterdir())


def same_weights(a, b):
    pairs = zip(a.get_weights(), b.get_weights(), strict=True)
    return all(np.array_equal(x, y) for x, y in pairs)


def test_trains_once_then_loads_the_same_network(digits, tmp_path):
    images, labels = digits
    trained, loaded = judge_classifier(images, labels, data_dir=tmp_path, **RECIPE)
    assert loaded is False
    files = cached_files(tmp_path)
    assert len(files) == 1 and files[0].startswith("judge-") and files[0].endswith(".weights.h5")
    keras.layers.Conv2D(4, 3)  # shift Keras' automatic layer names: loading must not care
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. about skipped optimizer state
        again, loaded = judge_classifier(images, labels, data_dir=tmp_path, **RECIPE)
    assert loaded is True and again is not trained
    assert same_weights(trained, again)
    np.testing.assert_array_equal(
        trained.predict(images[:32], verbose=0), again.predict(images[:32], verbose=0)
    )
    assert cached_files(tmp_path) == files


def test_training_is_reproducible_and_learns(digits, tmp_path):
    images, labels = digits
    first, _ = judge_classifier(images, labels, cache=False, **RECIPE)
    second, _ = judge_classifier(images, labels, cache=False, **RECIPE)
    assert same_weights(first, second)
    accuracy = np.mean(first.predict(images, verbose=0).argmax(axis=1) == labels)
    assert accuracy > 0.5, accuracy  # ten classes: chance is 0.1
    assert not (tmp_path / "models").exists()


def test_another_recipe_or_data_gets_its_own_file(digits, tmp_path):
    images, labels = digits
    judge_classifier(images, labels, data_dir=tmp_path, **RECIPE)
    judge_classifier(images, labels, data_dir=tmp_path, seed=1, **RECIPE)
    judge_classifier(images[:96], labels[:96], data_dir=tmp_path, **RECIPE)
    assert len(cached_files(tmp_path)) == 3


def test_a_corrupt_cache_file_is_replaced(digits, tmp_path):
    images, labels = digits
    reference, _ = judge_classifier(images, labels, data_dir=tmp_path, **RECIPE)
    (name,) = cached_files(tmp_path)
    (tmp_path / "models" / name).write_bytes(b"not an HDF5 file")
    with pytest.warns(UserWarning, match="could not be read"):
        retrained, loaded = judge_classifier(images, labels, data_dir=tmp_path, **RECIPE)
    assert loaded is False and same_weights(reference, retrained)
    assert cached_files(tmp_path) == [name]  # the new file, and no temporary left behind
    _, loaded = judge_classifier(images, labels, data_dir=tmp_path, **RECIPE)
    assert loaded is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train_images": "float"}, "uint8 digits"),
        ({"train_images": "rgb"}, "one channel"),
        ({"train_labels": "short"}, "one integer label per image"),
        ({"train_labels": "eleven"}, "digits from 0 to 9"),
        ({"epochs": 0}, "epochs must be a positive int"),
        ({"batch_size": 1.5}, "batch_size must be a positive int"),
        ({"seed": -1}, "seed must be a non-negative int"),
        ({"cache": "yes"}, "cache must be True or False"),
    ],
)
def test_bad_input_is_named(digits, tmp_path, change, message):
    images, labels = digits
    arguments = {"train_images": images, "train_labels": labels, "data_dir": tmp_path}
    for name, value in change.items():
        if value == "float":
            value = images.astype("float32")
        elif value == "rgb":
            value = np.repeat(images[..., None], 3, axis=3)
        elif value == "short":
            value = labels[:-1]
        elif value == "eleven":
            value = np.where(labels == 0, 10, labels)
        arguments[name] = value
    with pytest.raises(ValueError, match=message):
        judge_classifier(**arguments)
    assert not (tmp_path / "models").exists()


def test_a_loaded_judge_is_compiled_and_evaluates_like_the_trained_one(digits, tmp_path):
    images, labels = digits
    trained, _ = judge_classifier(images, labels, data_dir=tmp_path, **RECIPE)
    loaded, from_cache = judge_classifier(images, labels, data_dir=tmp_path, **RECIPE)
    assert from_cache is True
    first = trained.evaluate(images, labels, verbose=0, return_dict=True)
    second = loaded.evaluate(images, labels, verbose=0, return_dict=True)
    assert first == pytest.approx(second, abs=1e-6) and "accuracy" in second
