"""helpers.judge: the Fréchet distance, DigitJudge, and the one judge Sections 4.3 and 4.4 share."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from scipy import linalg

from helpers.environment import prepare
from helpers.judge import DigitJudge, frechet_distance, judge_classifier

ENV = prepare(seed=0)  # the backend conftest.py chose, and its report

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


# --------------------------------------------------------------------------- Fréchet distance


def test_frechet_distance_of_identical_sets_is_zero():
    features = np.random.default_rng(0).normal(size=(500, 6))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(("shift", "dims"), [(0.5, 3), (2.0, 10)])
def test_frechet_distance_of_a_shifted_set_is_the_squared_shift(shift, dims):
    features = np.random.default_rng(1).normal(size=(400, dims))
    assert frechet_distance(features, features + shift) == pytest.approx(shift**2 * dims, rel=1e-6)


def test_frechet_distance_matches_an_independent_computation():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4)) + 1.0
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr sqrtm(Sa Sb) is the sum of the square roots of the eigenvalues of Sa Sb (real, >= 0)
    trace_root = np.sum(np.sqrt(np.linalg.eigvals(cov_a @ cov_b).real))
    mean_term = np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2)
    expected = mean_term + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    # and scipy's sqrtm of a diagonal product is the element-wise square root
    np.testing.assert_allclose(linalg.sqrtm(np.diag([4.0, 9.0])), np.diag([2.0, 3.0]))


def test_frechet_distance_matches_scipy_sqrtm_when_covariances_are_singular():
    # As in Section 4.3: fewer samples than features, so the covariances are singular.
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(20, 30)), rng.normal(size=(50, 30)) * 1.5 + 0.2
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.real(linalg.sqrtm(cov_a @ cov_b))
    mean_term = np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2)
    expected = mean_term + np.trace(cov_a + cov_b - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_between_known_gaussians():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(40_000, 2)) * [1.0, 2.0]  # N(0, diag(1, 4))
    b = rng.normal(size=(40_000, 2)) * [3.0, 1.0] + [1.0, 0.0]  # N((1, 0), diag(9, 1))
    # closed form for diagonal covariances: |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2
    expected = 1.0 + (1.0 - 3.0) ** 2 + (2.0 - 1.0) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros(5), np.zeros((5, 1)), r"features_a must be 2-D .* got shape \(5,\)"),
        (np.zeros((5, 2)), np.zeros((1, 2)), "features_b needs at least 2 rows .* got 1"),
        (np.zeros((5, 2)), np.zeros((5, 3)), "same number of columns, got 2 and 3"),
        (np.full((5, 2), np.nan), np.zeros((5, 2)), "features_a must be finite"),
    ],
)
def test_frechet_distance_rejects_bad_features(a, b, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(a, b)


def _tiny_classifier():
    # Classifies by mean brightness: dark images are 0, bright ones 1 (and never 2).
    inputs = keras.Input((28, 28, 1))
    features = keras.layers.Flatten(name="features")(keras.layers.Rescaling(1 / 255)(inputs))
    mean = keras.layers.Dense(1, kernel_initializer="ones", use_bias=False)(features)
    logits = keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(
        [[-1.0, 1.0, -50.0]]), bias_initializer=keras.initializers.Constant([392, -392, 0]))(mean)
    return keras.Model(inputs, keras.layers.Softmax()(logits))


def test_digit_judge_reports_histogram_confidence_distance_and_per_digit():
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 40, (10, 28, 28), dtype=np.uint8)
    bright = rng.integers(215, 256, (10, 28, 28), dtype=np.uint8)
    judge = DigitJudge(_tiny_classifier(), np.concatenate([dark, bright]))
    # Ask for 0 from the dark images (right) and 2 from the bright ones (all read as 1).
    report = judge(np.concatenate([dark, bright]), wanted=np.array([0] * 10 + [2] * 10))
    assert report["histogram"].tolist() == [10, 10, 0]
    assert report["confident"] == 1.0
    assert report["frechet"] == pytest.approx(0.0, abs=1e-6)
    assert report["per_digit"][0] == 1.0 and report["per_digit"][2] == 0.0
    assert np.isnan(report["per_digit"][1])  # nothing was asked for the digit 1
    assert judge(dark)["frechet"] > 1.0
    with pytest.raises(ValueError, match="images must be uint8 digits"):
        judge(dark.astype("float32"))
    with pytest.raises(ValueError, match=r"wanted must give one digit per image, shape \(10,\)"):
        judge(dark, wanted=[0, 1])


def test_the_judge_is_the_race_network_read_at_its_convolutional_features(digits):
    images, labels = digits
    classifier, _ = judge_classifier(images, labels, cache=False, **RECIPE)
    assert classifier.count_params() == 422_810  # helpers.race.race_cnn
    judge = DigitJudge(classifier, images)
    assert judge.features.output.shape == (None, 800)  # its flattened 5x5x32 feature maps
    with pytest.raises(ValueError, match="classifier must be a keras.Model"):
        DigitJudge("not a model", images)


def test_a_trained_judge_is_the_cached_classifier_tested_on_the_test_digits(digits, tmp_path):
    images, labels = digits
    train, test = slice(0, 128), slice(128, None)
    judge = DigitJudge.trained(images[train], labels[train], images[test], labels[test],
                               data_dir=tmp_path, **RECIPE)
    classifier, loaded = judge_classifier(images[train], labels[train], data_dir=tmp_path,
                                          **RECIPE)
    assert loaded is True and same_weights(judge.classifier, classifier)
    _, evaluated = classifier.evaluate(images[test][..., None], labels[test], verbose=0)
    assert judge.test_accuracy == pytest.approx(evaluated, abs=1e-6)
    np.testing.assert_allclose(judge.real_features, DigitJudge(classifier, images[test])
                               .real_features, rtol=1e-6)
    assert DigitJudge(classifier, images[test]).test_accuracy is None
    with pytest.raises(ValueError, match=r"labels must be one class per image: got labels of "
                                         r"shape \(3,\) for 64 images"):
        DigitJudge.trained(images[train], labels[train], images[test], labels[:3],
                           data_dir=tmp_path, **RECIPE)
