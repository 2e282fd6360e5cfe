"""Activation functions and their derivatives in NumPy (Chapter 3, Section 3.4).

Checked against ``keras.activations`` and against the gradients each Keras backend computes.
The derivatives are what backpropagation multiplies by at each unit: a sigmoid's is at most
0.25 and vanishes for large ``|z|`` (saturation); a ReLU's is 1 for ``z > 0`` and 0 otherwise
(a unit whose input is negative for every example passes no gradient: a dead unit).
"""

from __future__ import annotations

import numpy as np

from helpers.reference._arrays import float_array


def sigmoid(z: object) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-z))``, without overflow (Chapter 3, 3.3.5 and 3.4)."""
    values = float_array("z", z)
    out = np.empty_like(values)
    positive = values >= 0
    out[positive] = 1 / (1 + np.exp(-values[positive]))
    exp_z = np.exp(values[~positive])
    out[~positive] = exp_z / (1 + exp_z)
    return out


def sigmoid_derivative(z: object) -> np.ndarray:
    """``sigmoid(z) * (1 - sigmoid(z))``: at most 0.25, at ``z = 0``."""
    s = sigmoid(z)
    return s * (1 - s)


def tanh_derivative(z: object) -> np.ndarray:
    """``1 - tanh(z)**2``: 1 at ``z = 0``, vanishing for large ``|z|``."""
    return 1 - np.tanh(float_array("z", z)) ** 2


def relu(z: object) -> np.ndarray:
    """``max(z, 0)``, as ``keras.activations.relu``."""
    return np.maximum(float_array("z", z), 0.0)


def relu_derivative(z: object) -> np.ndarray:
    """1 where ``z > 0``, else 0 (at ``z = 0`` every Keras backend takes 0, and so does this)."""
    return (float_array("z", z) > 0).astype(np.float64)
