"""helpers.attacks: FGSM and PGD on tiny models, the loss-threshold membership attack."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers
from sklearn.metrics import auc, roc_curve

from helpers.attacks import (
    MembershipAttack,
    fgsm,
    loss_threshold_attack,
    per_example_loss,
    pgd,
)
from helpers.environment import prepare

ENV = prepare(seed=0)  # the backend conftest.py chose, and its report


def _linear(activation: str | None = "softmax", seed: int = 0) -> keras.Model:
    """Raw 0-255 pixels of 4x4 images, rescaled, then one Dense layer to 3 classes."""
    prepare(seed=seed, backend=ENV.backend)
    return keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            layers.Rescaling(1.0 / 255),
            layers.Flatten(),
            layers.Dense(3, activation=activation, name="scores"),
        ]
    )


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return _linear()


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(6, 4, 4, 1)).astype("float32")
    images[0, 0, :2, 0] = (0.0, 255.0)  # pixels at both ends of the range
    return images, rng.integers(0, 3, size=6)


def test_fgsm_moves_each_pixel_by_at_most_epsilon_within_the_range(model, data):
    images, labels = data
    adversarial = fgsm(model, images, labels, epsilon=8.0)
    assert adversarial.shape == images.shape and adversarial.dtype == np.float32
    assert np.abs(adversarial - images).max() <= 8.0 + 1e-4
    assert adversarial.min() >= 0.0 and adversarial.max() <= 255.0
    moved = np.abs(adversarial - images)
    # away from the range's ends every pixel moves by exactly epsilon (the gradient is dense)
    inside = (images >= 8.0) & (images <= 247.0)
    np.testing.assert_allclose(moved[inside], 8.0, atol=1e-4)


def test_fgsm_raises_the_loss_of_a_linear_softmax_model(model, data):
    # cross-entropy is convex in the input of a linear softmax model, so
    # loss(x + d) >= loss(x) + gradient . d = loss(x) + epsilon * |gradient|_1 > loss(x)
    images, labels = data
    before = per_example_loss(model, images, labels)
    after = per_example_loss(model, fgsm(model, images, labels, epsilon=4.0), labels)
    assert (after > before).all()
    np.testing.assert_array_equal(fgsm(model, images, labels, epsilon=0.0), images)


def test_fgsm_on_logits_matches_fgsm_on_probabilities(model, data):
    images, labels = data
    logits = _linear(activation=None)
    logits.set_weights(model.get_weights())
    np.testing.assert_allclose(
        fgsm(logits, images, labels, 5.0, from_logits=True),
        fgsm(model, images, labels, 5.0),
        atol=1e-4,
    )


def test_fgsm_in_the_unit_range(model, data):
    images, labels = data
    unit = keras.Sequential([keras.Input((4, 4, 1)), *model.layers[1:]])  # no rescaling
    adversarial = fgsm(unit, images / 255.0, labels, 0.05, pixel_range=(0.0, 1.0))
    assert np.abs(adversarial - images / 255.0).max() <= 0.05 + 1e-6
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0


def test_pgd_stays_in_the_ball_and_the_range_and_raises_the_loss(model, data):
    images, labels = data
    adversarial = pgd(model, images, labels, epsilon=8.0, step_size=2.0, steps=6, seed=1)
    assert np.abs(adversarial - images).max() <= 8.0 + 1e-4
    assert adversarial.min() >= 0.0 and adversarial.max() <= 255.0
    before = per_example_loss(model, images, labels)
    assert (per_example_loss(model, adversarial, labels) > before).all()
    again = pgd(model, images, labels, epsilon=8.0, step_size=2.0, steps=6, seed=1)
    np.testing.assert_array_equal(adversarial, again)


def test_one_pgd_step_from_the_centre_is_fgsm(model, data):
    images, labels = data
    one_step = pgd(model, images, labels, 6.0, step_size=6.0, steps=1, random_start=False)
    np.testing.assert_allclose(one_step, fgsm(model, images, labels, 6.0), atol=1e-4)


def test_per_example_loss_is_the_cross_entropy_of_the_true_label(model, data):
    images, labels = data
    probabilities = keras.ops.convert_to_numpy(model(images))
    expected = -np.log(probabilities[np.arange(len(labels)), labels])
    losses = per_example_loss(model, images, labels, batch_size=4)
    assert losses.shape == (6,)
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    logits = _linear(activation=None)
    logits.set_weights(model.get_weights())
    np.testing.assert_allclose(
        per_example_loss(logits, images, labels, from_logits=True), expected, rtol=1e-5
    )
    with pytest.raises(ValueError, match="not probabilities.*pass from_logits=True"):
        per_example_loss(logits, images, labels)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": -1.0}, "epsilon must be finite and >= 0, got -1.0"),
        ({"epsilon": float("nan")}, "epsilon must be finite and >= 0"),
        ({"epsilon": "8"}, "epsilon must be a number"),
        ({"labels": [0, 1]}, r"one class per image \(6\), got shape \(2,\)"),
        ({"labels": 1}, r"labels must hold one label per image \(6\)"),
        ({"labels": [0, 1, 2, 3, 0, 1]}, r"class index in \[0, 2\].*got 3"),
        ({"pixel_range": (255, 0)}, "low < high"),
        ({"pixel_range": 255}, r"pair \(low, high\)"),
        ({"pixel_range": (0, 1)}, r"images must lie in pixel_range \[0, 1\].*0-255 pixels"),
    ],
)
def test_fgsm_rejects_bad_arguments(model, data, kwargs, message):
    images, labels = data
    arguments = {"labels": labels, "epsilon": 8.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        fgsm(model, images, **arguments)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be a positive int"),
        ({"step_size": -0.5}, "step_size must be finite and >= 0"),
        ({"seed": -3}, "seed must be a non-negative int"),
        ({"random_start": "yes"}, "random_start must be True or False"),
    ],
)
def test_pgd_rejects_bad_arguments(model, data, kwargs, message):
    images, labels = data
    arguments = {"epsilon": 8.0, "step_size": 2.0, "steps": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        pgd(model, images, labels, **arguments)


# --------------------------------------------------------------------------------------------
# membership inference


def test_identical_loss_distributions_give_a_coin_flip():
    rng = np.random.default_rng(0)
    same = loss_threshold_attack(rng.exponential(size=3000), rng.exponential(size=2000))
    assert isinstance(same, MembershipAttack)
    assert same.auc == pytest.approx(0.5, abs=0.03)
    assert same.balanced_accuracy < 0.55
    losses = rng.exponential(size=100)
    tied = loss_threshold_attack(losses, losses)
    assert tied.auc == 0.5
    assert tied.balanced_accuracy == pytest.approx(0.5)


def test_separated_losses_are_found_perfectly_and_the_threshold_splits_them():
    rng = np.random.default_rng(1)
    members, others = rng.uniform(0, 1, size=50), rng.uniform(2, 3, size=80)
    result = loss_threshold_attack(members, others)
    assert result.auc == 1.0 and result.balanced_accuracy == 1.0
    assert (members <= result.threshold).all() and (others > result.threshold).all()
    assert "auc=1.000" in repr(result)
    # a model that fits unseen images *better* than its training set: AUC 0, no useful threshold
    assert loss_threshold_attack(others, members).auc == 0.0


def test_a_partial_overlap_gives_an_auc_in_between():
    rng = np.random.default_rng(2)
    result = loss_threshold_attack(rng.normal(0.0, 1.0, 4000), rng.normal(1.0, 1.0, 4000))
    # for two unit normals one standard deviation apart, AUC = Phi(1 / sqrt 2) = 0.760
    assert result.auc == pytest.approx(0.760, abs=0.02)
    assert result.threshold == pytest.approx(0.5, abs=0.2)  # where the two densities cross


def test_the_roc_curve_agrees_with_sklearn_and_is_read_at_a_false_positive_rate():
    rng = np.random.default_rng(3)
    members, others = rng.normal(0.0, 1.0, 300), rng.normal(1.0, 1.0, 200)
    result = loss_threshold_attack(members, others)
    truth = np.r_[np.ones(300), np.zeros(200)]
    # the curve sklearn draws (it drops the points between corners) is on the stored one
    fpr, tpr, _ = roc_curve(truth, -np.r_[members, others])
    stored = set(zip(result.false_positive_rates.tolist(), result.true_positive_rates.tolist(),
                     strict=True))
    assert set(zip(fpr.tolist(), tpr.tolist(), strict=True)) <= stored
    assert auc(result.false_positive_rates, result.true_positive_rates) == pytest.approx(
        result.auc)
    for rate in (0.0, 0.01, 0.05, 0.5, 1.0):
        # by hand: accuse each image whose loss is at most t, for every t; the most members
        # caught while at most `rate` of the others are accused
        caught = [np.mean(members <= t) for t in np.r_[members, others, -np.inf]
                  if np.mean(others <= t) <= rate]
        assert result.true_positive_rate_at(rate) == pytest.approx(max(caught))
        assert result.true_positive_rate_at(rate) == pytest.approx(tpr[fpr <= rate].max())
    assert result.true_positive_rate_at(1.0) == 1.0
    assert "false_positive_rates" not in repr(result)
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match="false_positive_rate must be a number from 0 to 1"):
            result.true_positive_rate_at(bad)


@pytest.mark.parametrize(
    ("members", "others", "message"),
    [
        ([], [1.0], r"member_losses must be a non-empty 1-D array of losses, got shape \(0,\)"),
        ([[1.0, 2.0]], [1.0], r"member_losses must be a non-empty 1-D.*shape \(1, 2\)"),
        ([1.0], [np.nan], "nonmember_losses must be finite"),
        ([1.0], ["a"], "nonmember_losses must be numbers"),
    ],
)
def test_loss_threshold_attack_rejects_bad_losses(members, others, message):
    with pytest.raises(ValueError, match=message):
        loss_threshold_attack(members, others)
