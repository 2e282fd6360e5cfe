"""The input checks the reference modules share: real numeric arrays, and targets shaped like
the scores they are compared with."""

from __future__ import annotations

import numpy as np


def float_array(name: str, value: object) -> np.ndarray:
    """``value`` as a float64 array, or a TypeError naming ``name`` if it is not real numbers."""
    array = np.asarray(value)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def targets_like(y_true: object, scores: np.ndarray, name: str) -> np.ndarray:
    """``y_true`` as float64, or a ValueError if its shape is not that of ``scores``."""
    targets = float_array("y_true", y_true)
    if targets.shape != scores.shape:
        raise ValueError(
            f"y_true and {name} must have the same shape (batch, classes), "
            f"got {targets.shape} and {scores.shape}"
        )
    return targets


def number_in(
    name: str, value: object, low: float, high: float, high_included: bool = False
) -> float:
    """``value`` as a float, if it is a real number from ``low`` to ``high``."""
    number = not isinstance(value, bool) and isinstance(value, int | float | np.floating)
    inside = number and low <= value and (value <= high if high_included else value < high)
    if not inside:
        bracket = "]" if high_included else ")"
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}{bracket}, got {value!r}")
    return float(value)
