"""The GAN value function, its optimal discriminator and the generator's losses in NumPy
(Chapter 3, Section 3.3.6)."""

from __future__ import annotations

import numpy as np

from helpers.reference._arrays import float_array


def _probabilities(name: str, value: object) -> np.ndarray:
    array = float_array(name, value)
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    if np.any(array < 0) or np.any(array > 1) or np.any(np.isnan(array)):
        raise ValueError(f"{name} must hold probabilities in [0, 1]")
    return array


def gan_value(d_real: object, d_fake: object, epsilon: float = 1e-12) -> float:
    """Monte Carlo estimate of ``V(D, G) = E log D(x) + E log(1 - D(G(z)))`` (Chapter 3, 3.3.6).

    ``d_real`` are the discriminator's outputs on real data, ``d_fake`` on generated data.
    """
    real = _probabilities("d_real", d_real)
    fake = _probabilities("d_fake", d_fake)
    return float(
        np.log(np.maximum(real, epsilon)).mean() + np.log(np.maximum(1 - fake, epsilon)).mean()
    )


def optimal_discriminator(p_data: object, p_model: object) -> np.ndarray:
    """``D*(x) = p_data(x) / (p_data(x) + p_g(x))`` from two densities (Chapter 3, 3.3.6)."""
    data = float_array("p_data", p_data)
    model = float_array("p_model", p_model)
    if data.shape != model.shape:
        raise ValueError(
            f"p_data and p_model must have the same shape, got {data.shape} and {model.shape}"
        )
    if np.any(data < 0) or np.any(model < 0):
        raise ValueError("densities must be non-negative")
    total = data + model
    if np.any(total == 0):
        raise ValueError("D* is undefined where both densities are zero")
    return data / total


def generator_loss(
    d_fake: object, non_saturating: bool = True, epsilon: float = 1e-12
) -> float:
    """The generator's loss on ``D(G(z))`` (Chapter 3, 3.3.6).

    Non-saturating: ``-E log D(G(z))``; the minimax original: ``E log(1 - D(G(z)))``.
    """
    fake = _probabilities("d_fake", d_fake)
    if not isinstance(non_saturating, bool):
        raise TypeError(f"non_saturating must be True or False, got {non_saturating!r}")
    if non_saturating:
        return float(-np.log(np.maximum(fake, epsilon)).mean())
    return float(np.log(np.maximum(1 - fake, epsilon)).mean())
