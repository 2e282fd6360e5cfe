"""Attacks on a trained classifier: adversarial examples and membership inference (Chapter 5).

* :func:`fgsm` (Goodfellow et al., 2015) and :func:`pgd` (Madry et al., 2018) move each pixel
  by at most ``epsilon`` in the direction that raises the cross-entropy loss, using the input
  gradient of :func:`helpers.gradients.input_gradient` (on every backend; the unit tests run
  on all three).
* :func:`per_example_loss` and :func:`loss_threshold_attack` measure how much a model leaks
  about its training set: an attacker who guesses "member" when the loss is low (Yeom et al.,
  2018) does better than a coin flip exactly when the model fits its training images better
  than unseen ones.

Units: attacks work in the model's *input* units, given by ``pixel_range``. The book's MNIST
models take raw pixels in [0, 255] (the first layer rescales by 1/255), which is the default;
``epsilon=0.1 * 255`` on those models is the ``epsilon=0.1`` of papers that use [0, 1]. The
adversarial images are float arrays, not rounded to whole grey levels.

Import this module after :func:`helpers.environment.prepare` has chosen the backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from helpers.checks import class_indices, classifier_shapes, model_images, positive_int, random_seed
from helpers.gradients import input_gradient

__all__ = ["MembershipAttack", "fgsm", "loss_threshold_attack", "per_example_loss", "pgd"]


def _check_range(pixel_range: object) -> tuple[float, float]:
    try:
        low, high = (float(value) for value in pixel_range)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(
            f"pixel_range must be a pair (low, high) such as (0, 255), got {pixel_range!r}"
        ) from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"pixel_range must be finite with low < high, got {pixel_range!r}")
    return low, high


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return float(value)


def _prepare(
    model: keras.Model, images: object, labels: object, pixel_range: object
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    expected, num_classes = classifier_shapes(model)
    array = model_images(model, images, expected)
    targets = class_indices("labels", labels, len(array), num_classes)
    if np.ndim(labels) == 0:
        raise ValueError(f"labels must hold one label per image ({len(array)}), got {labels!r}")
    low, high = _check_range(pixel_range)
    if array.min() < low or array.max() > high:
        raise ValueError(
            f"images must lie in pixel_range [{low:g}, {high:g}], got values from "
            f"{array.min():g} to {array.max():g}; the book's MNIST models take 0-255 pixels, "
            "so pass pixel_range=(0, 1) only for a model that takes [0, 1] inputs"
        )
    return array, targets, (low, high)


def fgsm(
    model: keras.Model,
    images: object,
    labels: object,
    epsilon: float,
    *,
    pixel_range: tuple[float, float] = (0, 255),
    from_logits: bool = False,
    batch_size: int = 128,
) -> np.ndarray:
    """The fast gradient sign method: one step of size ``epsilon`` up the loss.

    ``x_adv = clip(x + epsilon * sign(d loss / d x), *pixel_range)`` with the sparse
    categorical cross-entropy of the true ``labels`` (one per image; ``from_logits`` as for
    the Keras loss). ``epsilon`` is in the model's input units, so every pixel moves by at
    most ``epsilon`` and stays in ``pixel_range``. Returns a float array of the images' shape.
    """
    array, targets, (low, high) = _prepare(model, images, labels, pixel_range)
    epsilon = _non_negative("epsilon", epsilon)
    gradient = input_gradient(
        model, array, targets, quantity="loss", from_logits=from_logits, batch_size=batch_size
    )
    return np.clip(array + epsilon * np.sign(gradient), low, high).astype(array.dtype)


def pgd(
    model: keras.Model,
    images: object,
    labels: object,
    epsilon: float,
    step_size: float,
    steps: int,
    seed: int = 0,
    *,
    pixel_range: tuple[float, float] = (0, 255),
    random_start: bool = True,
    from_logits: bool = False,
    batch_size: int = 128,
) -> np.ndarray:
    """Projected gradient descent on the loss (Madry et al.): ``steps`` FGSM steps of
    ``step_size``, each followed by projection onto the L-infinity ball of radius
    ``epsilon`` around the original images and clipping to ``pixel_range``.

    With ``random_start`` (the default) the search starts at a uniformly random point of the
    ball, drawn with ``numpy.random.default_rng(seed)``, so the result is reproducible. A
    common choice is ``step_size = 2.5 * epsilon / steps``. Units and arguments as in
    :func:`fgsm`. Returns a float array of the images' shape, within ``epsilon`` of
    ``images`` in every pixel.
    """
    array, targets, (low, high) = _prepare(model, images, labels, pixel_range)
    epsilon = _non_negative("epsilon", epsilon)
    step_size = _non_negative("step_size", step_size)
    steps = positive_int("steps", steps)
    seed = random_seed(seed)
    if not isinstance(random_start, bool):
        raise ValueError(f"random_start must be True or False, got {random_start!r}")
    lower = np.maximum(array - epsilon, low)
    upper = np.minimum(array + epsilon, high)
    adversarial = array.copy()
    if random_start:
        noise = np.random.default_rng(seed).uniform(-epsilon, epsilon, size=array.shape)
        adversarial = np.clip(array + noise, lower, upper).astype(array.dtype)
    for _ in range(steps):
        gradient = input_gradient(
            model,
            adversarial,
            targets,
            quantity="loss",
            from_logits=from_logits,
            batch_size=batch_size,
        )
        stepped = adversarial + step_size * np.sign(gradient)
        adversarial = np.clip(stepped, lower, upper).astype(array.dtype)
    return adversarial


def per_example_loss(
    model: keras.Model,
    images: object,
    labels: object,
    *,
    from_logits: bool = False,
    batch_size: int = 256,
) -> np.ndarray:
    """The cross-entropy of each image's true label under the model, shape ``(n,)``.

    The model outputs probabilities (softmax), as the book's models do; pass
    ``from_logits=True`` for a model that outputs logits. Computed by
    ``keras.losses.sparse_categorical_crossentropy`` on ``model.predict``, which clips
    probabilities to ``[1e-7, 1 - 1e-7]``, so no loss exceeds about 16.1.
    """
    expected, num_classes = classifier_shapes(model)
    array = model_images(model, images, expected)
    targets = class_indices("labels", labels, len(array), num_classes)
    if np.ndim(labels) == 0:
        raise ValueError(f"labels must hold one label per image ({len(array)}), got {labels!r}")
    if not isinstance(from_logits, bool):
        raise ValueError(f"from_logits must be True or False, got {from_logits!r}")
    batch_size = positive_int("batch_size", batch_size)
    outputs = np.asarray(model.predict(array, batch_size=batch_size, verbose=0))
    if not from_logits:
        sums = outputs.sum(axis=1)
        if outputs.min() < 0 or outputs.max() > 1 or not np.allclose(sums, 1.0, atol=1e-3):
            raise ValueError(
                "model outputs are not probabilities (rows should be in [0, 1] and sum to 1, "
                f"they sum to {sums.min():.3g}..{sums.max():.3g}); for a model that outputs "
                "logits pass from_logits=True"
            )
    losses = keras.losses.sparse_categorical_crossentropy(
        targets, outputs, from_logits=from_logits
    )
    return keras.ops.convert_to_numpy(losses).astype("float64")


@dataclass(frozen=True, eq=False)
class MembershipAttack:
    """What the loss-threshold membership attack achieves.

    ``auc``: the ROC AUC of the score ``-loss`` for telling members from non-members (0.5 is
    guessing, 1 perfect). ``threshold``: guess "member" when ``loss <= threshold``; it is
    the threshold with the best ``balanced_accuracy`` (the mean of the true-positive and
    true-negative rates, so unequal group sizes do not flatter it).
    ``false_positive_rates`` and ``true_positive_rates``: the ROC curve itself, one point per
    threshold (``sklearn.metrics.roc_curve`` with ``drop_intermediate=False``), from accusing
    no one to accusing everyone; :meth:`true_positive_rate_at` reads it at one
    false-positive rate.
    """

    auc: float
    threshold: float
    balanced_accuracy: float
    false_positive_rates: np.ndarray = field(repr=False)
    true_positive_rates: np.ndarray = field(repr=False)

    def true_positive_rate_at(self, false_positive_rate: float) -> float:
        """The share of members caught when at most ``false_positive_rate`` of others are."""
        if isinstance(false_positive_rate, bool) or not 0 <= false_positive_rate <= 1:
            raise ValueError(
                f"false_positive_rate must be a number from 0 to 1, got {false_positive_rate!r}"
            )
        allowed = self.false_positive_rates <= false_positive_rate
        return float(self.true_positive_rates[allowed].max())

    def __repr__(self) -> str:
        return (
            f"MembershipAttack(auc={self.auc:.3f}, threshold={self.threshold:.4g}, "
            f"balanced_accuracy={self.balanced_accuracy:.3f})"
        )


def _losses(name: str, values: object) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numbers, got dtype {array.dtype}")
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of losses, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got NaN or infinity")
    return array.astype("float64")


def loss_threshold_attack(member_losses: object, nonmember_losses: object) -> MembershipAttack:
    """The loss-threshold membership inference attack, scored on known members and others.

    ``member_losses`` are per-example losses (see :func:`per_example_loss`) on images the
    model was trained on, ``nonmember_losses`` on images it never saw; the groups may differ
    in size. Returns a :class:`MembershipAttack` with the ROC AUC
    (``sklearn.metrics.roc_auc_score`` with membership score ``-loss``) and the best
    balanced-accuracy threshold, and the ROC curve. Tied losses count as half right, so two
    identical groups give an AUC of exactly 0.5.
    """
    members = _losses("member_losses", member_losses)
    others = _losses("nonmember_losses", nonmember_losses)
    truth = np.concatenate([np.ones(len(members)), np.zeros(len(others))])
    scores = -np.concatenate([members, others])
    auc = float(roc_auc_score(truth, scores))
    fpr, tpr, thresholds = roc_curve(truth, scores, drop_intermediate=False)
    balanced = (tpr + 1.0 - fpr) / 2.0
    best = int(np.argmax(balanced))
    return MembershipAttack(
        auc=auc,
        threshold=float(-thresholds[best]),
        balanced_accuracy=float(balanced[best]),
        false_positive_rates=fpr,
        true_positive_rates=tpr,
    )
