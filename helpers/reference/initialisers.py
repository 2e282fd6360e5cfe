"""Glorot and He initialisation in NumPy (Chapter 3, Section 3.4).

A unit's pre-activation is a sum over ``fan_in`` inputs, so with independent zero-mean weights
its variance is ``fan_in * Var(w) * E[x**2]``. Keeping that variance the same from layer to
layer gives the two rules:

* Glorot and Bengio (2010), for activations that are roughly linear at 0 (tanh): average the
  forward and backward conditions, ``Var(w) = 2 / (fan_in + fan_out)``. As a uniform
  distribution on ``[-limit, limit]`` (variance ``limit**2 / 3``): ``limit = sqrt(6 / (fan_in
  + fan_out))``, Keras' ``GlorotUniform``, the default of its ``Dense`` and ``Conv2D`` layers.
* He et al. (2015), for ReLU, which zeroes half of its inputs and so halves ``E[x**2]``:
  ``Var(w) = 2 / fan_in``. Keras' ``HeNormal`` draws it from a normal truncated at two
  standard deviations, widened by ``1 / 0.8796...`` so that the truncated variance is still
  ``2 / fan_in``.

The draws use a NumPy generator, not Keras' random streams, so the tests compare
distributions (bounds, variances), not values.
"""

from __future__ import annotations

import math

import numpy as np

from helpers.checks import generator

# The standard deviation of a unit normal truncated to [-2, 2].
TRUNCATED_NORMAL_STD = 0.87962566103423978


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of this shape, as Keras computes them.

    A dense kernel ``(inputs, units)`` has ``fan_in = inputs`` and ``fan_out = units``; a
    convolution kernel ``(kh, kw, in_channels, out_channels)`` multiplies both by the
    receptive field ``kh * kw``, because each output sums over ``kh * kw * in_channels``
    inputs. A bias or other vector ``(n,)`` has both equal to ``n``.
    """
    shape = tuple(shape)
    if not shape or any(
        isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1
        for size in shape
    ):
        raise ValueError(f"shape must be a non-empty tuple of positive ints, got {shape!r}")
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


def glorot_uniform(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Weights uniform on ``[-limit, limit]``, ``limit = sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return generator(rng).uniform(-limit, limit, size=shape)


def he_normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Weights of variance ``2 / fan_in``: a normal truncated at two of its standard deviations.

    Values beyond the cut are drawn again, as Keras' truncated normal does.
    """
    fan_in, _ = fans(shape)
    rng = generator(rng)
    std = math.sqrt(2.0 / fan_in) / TRUNCATED_NORMAL_STD
    values = rng.normal(0.0, std, size=shape)
    outside = np.abs(values) > 2 * std
    while outside.any():
        values[outside] = rng.normal(0.0, std, size=int(outside.sum()))
        outside = np.abs(values) > 2 * std
    return values
