"""Optimiser update rules and the cosine schedule in NumPy (Chapter 3, Section 3.4).

Each step function takes the weights, this step's gradient and the optimiser's state, and
returns the new weights and state, exactly as ``keras.optimizers.SGD``, ``Adam`` and ``AdamW``
update a variable (the tests apply both to the same gradients, step by step):

* SGD: ``w -= lr * g``. With momentum ``mu``, a velocity remembers past steps:
  ``v = mu * v - lr * g`` and ``w += v`` (Nesterov: ``w += mu * v - lr * g``, the step taken
  from where the velocity is about to carry the weights).
* Adam (Kingma and Ba, 2015): running means of the gradient and of its square,
  ``m = b1 * m + (1 - b1) * g`` and ``s = b2 * s + (1 - b2) * g**2``; both start at 0, so
  early on they are too small by the factors ``1 - b1**t`` and ``1 - b2**t``, and the step
  corrects for that: ``w -= lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(s) + eps)``.
* Decoupled weight decay (Loshchilov and Hutter, 2019; ``weight_decay=`` in Keras, AdamW):
  before the step, ``w -= lr * weight_decay * w``, a shrink that does not pass through Adam's
  per-weight scaling, unlike an L2 penalty added to the loss.
"""

from __future__ import annotations

import math

import numpy as np

from helpers.reference._arrays import float_array, number_in


def _same_shape(weights: object, gradient: object, **state: object) -> list[np.ndarray]:
    arrays = [float_array("weights", weights), float_array("gradient", gradient)]
    arrays += [float_array(name, value) for name, value in state.items()]
    names = ["weights", "gradient", *state]
    for name, array in zip(names[1:], arrays[1:], strict=True):
        if array.shape != arrays[0].shape:
            raise ValueError(
                f"{name} must have the shape of weights {arrays[0].shape}, got {array.shape}"
            )
    return arrays


def _decayed(weights: np.ndarray, learning_rate: float, weight_decay: float | None) -> np.ndarray:
    if weight_decay is None:
        return weights
    return weights - weights * number_in("weight_decay", weight_decay, 0, math.inf) * learning_rate


def sgd_step(
    weights: object,
    gradient: object,
    velocity: object,
    learning_rate: float = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One step of ``keras.optimizers.SGD``: returns ``(weights, velocity)``.

    ``velocity`` starts as zeros of the weights' shape; without momentum it stays zero.
    """
    w, g, v = _same_shape(weights, gradient, velocity=velocity)
    lr = number_in("learning_rate", learning_rate, 0, math.inf)
    mu = number_in("momentum", momentum, 0, 1)
    if not isinstance(nesterov, bool):
        raise ValueError(f"nesterov must be True or False, got {nesterov!r}")
    w = _decayed(w, lr, weight_decay)
    if mu == 0:
        return w - lr * g, v
    v = mu * v - lr * g
    return (w + mu * v - lr * g if nesterov else w + v), v


def adam_step(
    weights: object,
    gradient: object,
    m: object,
    s: object,
    step: int,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step ``step`` (1 for the first) of ``keras.optimizers.Adam``: returns ``(weights, m, s)``.

    ``m`` and ``s`` start as zeros; ``weight_decay`` makes it ``keras.optimizers.AdamW``.
    Keras' default epsilon is 1e-7, added to ``sqrt(s)`` (the paper's is 1e-8).
    """
    w, g, m, s = _same_shape(weights, gradient, m=m, s=s)
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 1:
        raise ValueError(f"step must be an int of at least 1 (the first step is 1), got {step!r}")
    lr = number_in("learning_rate", learning_rate, 0, math.inf)
    b1, b2 = number_in("beta_1", beta_1, 0, 1), number_in("beta_2", beta_2, 0, 1)
    eps = number_in("epsilon", epsilon, 0, math.inf)
    w = _decayed(w, lr, weight_decay)
    m = b1 * m + (1 - b1) * g
    s = b2 * s + (1 - b2) * g**2
    alpha = lr * math.sqrt(1 - b2**step) / (1 - b1**step)
    return w - alpha * m / (np.sqrt(s) + eps), m, s


def cosine_decay(
    step: object,
    initial_learning_rate: float,
    decay_steps: int,
    alpha: float = 0.0,
    warmup_target: float | None = None,
    warmup_steps: int = 0,
) -> np.ndarray:
    """The rate of ``keras.optimizers.schedules.CosineDecay`` at ``step`` (a number or array).

    Without warm-up: ``initial * ((1 - alpha) * (1 + cos(pi * t / decay_steps)) / 2 + alpha)``
    with ``t = min(step, decay_steps)``. With ``warmup_target``: a straight line from
    ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``, then the same cosine
    from ``warmup_target``, over the next ``decay_steps``; Section 4.1's one-cycle schedule is
    this with a high target.
    """
    steps = float_array("step", step)
    if np.any(steps < 0):
        raise ValueError("step must not be negative")
    initial = number_in("initial_learning_rate", initial_learning_rate, 0, math.inf)
    for name, value in (("decay_steps", decay_steps), ("warmup_steps", warmup_steps)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if decay_steps == 0:
        raise ValueError("decay_steps must be at least 1")
    alpha = number_in("alpha", alpha, 0, 1, high_included=True)

    def cosine(t: np.ndarray, start: float) -> np.ndarray:
        fraction = np.minimum(t, decay_steps) / decay_steps
        return start * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * fraction)) + alpha)

    if warmup_target is None:
        return cosine(steps, initial)
    target = number_in("warmup_target", warmup_target, 0, math.inf)
    if warmup_steps == 0:
        return cosine(steps, target)
    warming = steps < warmup_steps
    ramp = initial + (target - initial) * np.minimum(steps, warmup_steps) / warmup_steps
    return np.where(warming, ramp, cosine(steps - warmup_steps, target))
