"""Dropout and batch normalisation in NumPy: the two layers that compute one thing while a
model trains and another when it predicts (Chapter 3, Section 3.4).

Both are checked against the Keras layers in both modes: ``keras.layers.Dropout`` (which
draws its own random mask, so the test compares what a mask can do, not the mask) and
``keras.layers.BatchNormalization`` (exactly, including the update of its moving statistics).
"""

from __future__ import annotations

import numpy as np

from helpers.reference._arrays import float_array, number_in


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def dropout(
    x: object, rate: float, training: bool, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Inverted dropout: in training, each value is zeroed with probability ``rate`` and the
    survivors are divided by ``1 - rate``; in inference, ``x`` unchanged.

    Dividing in training keeps the expectation: ``E[output] = (1 - rate) * x / (1 - rate) =
    x``, so the network that predicts (with every unit) sees activations of the size it was
    trained on, with nothing to rescale at inference. ``rng`` (a NumPy generator) draws the
    mask; it is needed only in training.
    """
    values = float_array("x", x)
    rate = number_in("rate", rate, 0, 1)
    if not _flag("training", training) or rate == 0:
        return values.copy()
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            "training=True needs rng, a numpy.random.Generator (np.random.default_rng(seed)), "
            f"to draw the mask; got {type(rng).__name__}"
        )
    keep = rng.random(values.shape) >= rate
    return np.where(keep, values / (1 - rate), 0.0)


def batch_normalization(
    x: object,
    gamma: object,
    beta: object,
    moving_mean: object,
    moving_variance: object,
    training: bool,
    momentum: float = 0.99,
    epsilon: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``keras.layers.BatchNormalization`` on channels-last ``x``: returns ``(y, moving_mean,
    moving_variance)``, the last two as they are after this call.

    Training: each channel is normalised with the mean ``mu`` and the (biased) variance
    ``var`` of this batch, over every axis but the last, then scaled and shifted by the
    learned ``gamma`` and ``beta``: ``y = gamma * (x - mu) / sqrt(var + epsilon) + beta``.
    The moving statistics move towards the batch's: ``moving = momentum * moving + (1 -
    momentum) * batch``. Inference: the same formula with the moving statistics, which are
    returned unchanged. With Keras' default momentum of 0.99, the moving statistics keep
    0.99 of their start (mean 0, variance 1) after one step and still 0.99**100 = 0.37 of it
    after a hundred, which is why a network evaluated after a few steps of training predicts
    poorly even when its training batches are already going well.
    """
    values = float_array("x", x)
    if values.ndim < 2:
        raise ValueError(f"x must be (batch, ..., channels), got shape {values.shape}")
    channels = values.shape[-1]
    named = {"gamma": gamma, "beta": beta, "moving_mean": moving_mean,
             "moving_variance": moving_variance}
    params = {}
    for name, value in named.items():
        params[name] = float_array(name, value)
        if params[name].shape != (channels,):
            raise ValueError(
                f"{name} must have one entry per channel, shape ({channels},), got "
                f"{params[name].shape}"
            )
    if np.any(params["moving_variance"] < 0):
        raise ValueError("moving_variance must not be negative")
    momentum = number_in("momentum", momentum, 0, 1)
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not epsilon > 0:
        raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
    mean, variance = params["moving_mean"], params["moving_variance"]
    if _flag("training", training):
        axes = tuple(range(values.ndim - 1))
        mean, variance = values.mean(axis=axes), values.var(axis=axes)
        new_mean = params["moving_mean"] * momentum + mean * (1 - momentum)
        new_variance = params["moving_variance"] * momentum + variance * (1 - momentum)
    else:
        new_mean, new_variance = params["moving_mean"].copy(), params["moving_variance"].copy()
    y = params["gamma"] * (values - mean) / np.sqrt(variance + epsilon) + params["beta"]
    return y, new_mean, new_variance
