"""Softmax and the two losses of Chapter 3 (Section 3.3.3) in NumPy, checked against Keras."""

from __future__ import annotations

import numpy as np

from helpers.reference._arrays import float_array, targets_like


def _axis(axis: object, ndim: int) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array with {ndim} dimensions")
    return int(axis)


def log_softmax(z: object, axis: int = -1) -> np.ndarray:
    """``z - logsumexp(z)``, computed stably by subtracting the maximum (Chapter 3, 3.3.3)."""
    logits = float_array("z", z)
    if logits.ndim == 0:
        raise ValueError("z must have at least one dimension (the classes), got a scalar")
    axis = _axis(axis, logits.ndim)
    if not np.all(np.isfinite(logits)):
        raise ValueError("z must be finite; it contains inf or nan")
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(z: object, axis: int = -1) -> np.ndarray:
    """``exp(z_k) / sum_j exp(z_j)`` without overflow (Chapter 3, 3.3.3)."""
    return np.exp(log_softmax(z, axis=axis))


def cross_entropy(
    y_true: object, y_pred: object, from_logits: bool = True, epsilon: float = 1e-7
) -> np.ndarray:
    """Per-example categorical cross-entropy ``-sum_k y_k log p_k`` (Chapter 3, 3.3.3).

    ``y_true`` is one-hot (or any distribution) with the shape of ``y_pred``. With
    ``from_logits=True`` ``y_pred`` holds raw scores and the softmax is taken here via
    log-sum-exp; with ``from_logits=False`` it holds probabilities, clipped to
    ``[epsilon, 1 - epsilon]`` as Keras does.
    """
    scores = float_array("y_pred", y_pred)
    if scores.ndim == 0:
        raise ValueError("y_pred must have a class axis, got a scalar")
    targets = targets_like(y_true, scores, "y_pred")
    if not isinstance(from_logits, bool):
        raise TypeError(f"from_logits must be True or False, got {from_logits!r}")
    if from_logits:
        log_p = log_softmax(scores)
    else:
        if np.any(scores < 0) or np.any(scores > 1):
            raise ValueError(
                "with from_logits=False, y_pred must be probabilities in [0, 1]; "
                f"got values from {scores.min():.3g} to {scores.max():.3g}. "
                "Pass from_logits=True for raw scores."
            )
        probabilities = scores / scores.sum(axis=-1, keepdims=True)
        log_p = np.log(np.clip(probabilities, epsilon, 1 - epsilon))
    return -(targets * log_p).sum(axis=-1)


def squared_error(y_true: object, y_pred: object) -> np.ndarray:
    """Per-example mean squared error over the last axis, as Keras' ``"mse"`` (Chapter 3)."""
    prediction = float_array("y_pred", y_pred)
    if prediction.ndim == 0:
        raise ValueError("y_pred must have at least one axis, got a scalar")
    targets = targets_like(y_true, prediction, "y_pred")
    return ((targets - prediction) ** 2).mean(axis=-1)
