"""Backpropagation in NumPy (Chapter 3, Section 3.3.4): a two-layer network's forward and
backward pass, and the finite differences that check any gradient."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from helpers.reference._arrays import float_array, targets_like
from helpers.reference.losses import cross_entropy, softmax


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: object, epsilon: float = 1e-6
) -> np.ndarray:
    """Central finite differences ``(f(x + e) - f(x - e)) / 2e``, entry by entry (Chapter 3)."""
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    point = float_array("x", x).copy()
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon!r}")
    gradient = np.zeros_like(point)
    flat_point, flat_gradient = point.reshape(-1), gradient.reshape(-1)
    for index in range(flat_point.size):
        saved = flat_point[index]
        flat_point[index] = saved + epsilon
        above = float(f(point))
        flat_point[index] = saved - epsilon
        below = float(f(point))
        flat_point[index] = saved
        flat_gradient[index] = (above - below) / (2 * epsilon)
    return gradient



_MLP_KEYS = ("w1", "b1", "w2", "b2")


def _mlp_params(params: Mapping[str, object], x: np.ndarray) -> dict[str, np.ndarray]:
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping with keys {_MLP_KEYS}, got {type(params)}")
    missing = [key for key in _MLP_KEYS if key not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; expected keys {_MLP_KEYS}")
    p = {key: float_array(key, params[key]) for key in _MLP_KEYS}
    if x.ndim != 2:
        raise ValueError(f"x must be (batch, features), got {x.shape}")
    d, h = x.shape[1], p["b1"].shape[0] if p["b1"].ndim == 1 else -1
    expected = {"w1": (d, h), "b1": (h,), "w2": (h, p["b2"].shape[0]), "b2": p["b2"].shape}
    if p["b1"].ndim != 1 or p["b2"].ndim != 1:
        raise ValueError(f"b1 and b2 must be vectors, got {p['b1'].shape} and {p['b2'].shape}")
    for key in ("w1", "w2"):
        if p[key].shape != expected[key]:
            raise ValueError(f"{key} must have shape {expected[key]}, got {p[key].shape}")
    return p


def mlp_forward(params: Mapping[str, object], x: object) -> np.ndarray:
    """Logits of ``Dense(tanh) -> Dense`` with Keras' (in, out) weights (Chapter 3, 3.3.4)."""
    inputs = float_array("x", x)
    p = _mlp_params(params, inputs)
    return np.tanh(inputs @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def mlp_gradients(
    params: Mapping[str, object], x: object, y_true: object
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean softmax cross-entropy of :func:`mlp_forward` and its gradients by backprop.

    Chapter 3, 3.3.4: the backward pass applies the chain rule layer by layer, starting from
    ``(softmax(z) - y) / batch`` at the logits.
    """
    inputs = float_array("x", x)
    p = _mlp_params(params, inputs)
    hidden = np.tanh(inputs @ p["w1"] + p["b1"])
    logits = hidden @ p["w2"] + p["b2"]
    targets = targets_like(y_true, logits, "the network's logits")
    batch = inputs.shape[0]
    loss = float(cross_entropy(targets, logits).mean())
    d_logits = (softmax(logits) - targets) / batch
    d_hidden = d_logits @ p["w2"].T
    d_pre = d_hidden * (1 - hidden**2)
    gradients = {
        "w2": hidden.T @ d_logits,
        "b2": d_logits.sum(axis=0),
        "w1": inputs.T @ d_pre,
        "b1": d_pre.sum(axis=0),
    }
    return loss, gradients
