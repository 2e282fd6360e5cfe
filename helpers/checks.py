"""The input rules the package applies where data enters it, each worded once.

Arrays and counts that come from a reader's code are checked here, so that a wrong shape,
dtype or range is a ``ValueError`` that says what was expected and what came.
"""

from __future__ import annotations

import numpy as np


def positive_int(name: str, value: object) -> int:
    """``value`` if it is an int of at least 1 (``name`` says which argument it was)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def random_seed(value: object) -> int:
    """``value`` if it is a usable random seed: an int of at least 0."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"seed must be a non-negative int, got {value!r}")
    return int(value)


def uint8_digits(images: object, name: str) -> np.ndarray:
    """``images`` as uint8 digits of shape (n, 28, 28, 1); (n, 28, 28) gains the channel."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[1:3] != (28, 28):
        raise ValueError(
            f"{name} must be uint8 digits of shape (n, 28, 28) or (n, 28, 28, 1), got "
            f"dtype {images.dtype} and shape {images.shape}"
        )
    if images.ndim == 4 and images.shape[3] != 1:
        raise ValueError(f"{name} must have one channel (grey digits), got shape {images.shape}")
    return images if images.ndim == 4 else images[..., None]
