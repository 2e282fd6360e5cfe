"""The ``SimpleRNN`` and ``LSTM`` recurrences in NumPy, with Keras' own weight layouts
(Chapter 3, Section 3.3.5). Sequences are ``(batch, time, features)``."""

from __future__ import annotations

import numpy as np

from helpers.reference._arrays import float_array
from helpers.reference.activations import sigmoid


def _sequence(x: object) -> np.ndarray:
    inputs = float_array("x", x)
    if inputs.ndim != 3:
        raise ValueError(f"x must be (batch, time, features), got {inputs.shape}")
    return inputs


def _recurrent_weights(
    inputs: np.ndarray, kernel, recurrent_kernel, bias, gates: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    w = float_array("kernel", kernel)
    u = float_array("recurrent_kernel", recurrent_kernel)
    if u.ndim != 2 or u.shape[1] != gates * u.shape[0]:
        raise ValueError(
            f"recurrent_kernel must be (units, {gates} * units), got {u.shape}"
        )
    units = u.shape[0]
    if w.shape != (inputs.shape[2], gates * units):
        raise ValueError(
            f"kernel must be (features, {gates} * units) = "
            f"({inputs.shape[2]}, {gates * units}), got {w.shape}"
        )
    b = np.zeros(gates * units) if bias is None else float_array("bias", bias)
    if b.shape != (gates * units,):
        raise ValueError(f"bias must have shape ({gates * units},), got {b.shape}")
    return w, u, b, units


def _initial(name: str, value: object, batch: int, units: int) -> np.ndarray:
    if value is None:
        return np.zeros((batch, units))
    state = float_array(name, value)
    if state.shape != (batch, units):
        raise ValueError(f"{name} must have shape ({batch}, {units}), got {state.shape}")
    return state


def simple_rnn(
    x: object,
    kernel: object,
    recurrent_kernel: object,
    bias: object | None = None,
    initial_state: object | None = None,
    return_sequences: bool = False,
) -> np.ndarray:
    """``h_t = tanh(x_t W + h_{t-1} U + b)`` with ``keras.layers.SimpleRNN``'s weights.

    Chapter 3, 3.3.5. ``kernel`` is W (features, units), ``recurrent_kernel`` U
    (units, units). Returns the last state (batch, units), or every state
    (batch, time, units) with ``return_sequences=True``.
    """
    inputs = _sequence(x)
    w, u, b, units = _recurrent_weights(inputs, kernel, recurrent_kernel, bias, 1)
    h = _initial("initial_state", initial_state, inputs.shape[0], units)
    states = []
    for t in range(inputs.shape[1]):
        h = np.tanh(inputs[:, t] @ w + h @ u + b)
        states.append(h)
    return np.stack(states, axis=1) if return_sequences else h


def lstm_step(
    x_t: object,
    h: object,
    c: object,
    kernel: object,
    recurrent_kernel: object,
    bias: object | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """One LSTM step with ``keras.layers.LSTM``'s weights; returns ``(h, c, gates)``.

    Chapter 3, 3.3.5. Keras stores the four gates side by side in the order input ``i``,
    forget ``f``, candidate cell ``g`` (Keras calls it ``c``) and output ``o``:
    ``c_t = f * c_{t-1} + i * g`` and ``h_t = o * tanh(c_t)``.
    """
    inputs = float_array("x_t", x_t)
    if inputs.ndim != 2:
        raise ValueError(f"x_t must be (batch, features), got {inputs.shape}")
    w, u, b, units = _recurrent_weights(inputs[:, None], kernel, recurrent_kernel, bias, 4)
    h_prev = _initial("h", h, inputs.shape[0], units)
    c_prev = _initial("c", c, inputs.shape[0], units)
    z = inputs @ w + h_prev @ u + b
    z_i, z_f, z_g, z_o = np.split(z, 4, axis=-1)
    gates = {"i": sigmoid(z_i), "f": sigmoid(z_f), "g": np.tanh(z_g), "o": sigmoid(z_o)}
    c_new = gates["f"] * c_prev + gates["i"] * gates["g"]
    h_new = gates["o"] * np.tanh(c_new)
    return h_new, c_new, gates


def lstm(
    x: object,
    kernel: object,
    recurrent_kernel: object,
    bias: object | None = None,
    initial_state: tuple[object, object] | None = None,
    return_sequences: bool = False,
) -> np.ndarray:
    """Run :func:`lstm_step` over a (batch, time, features) sequence (Chapter 3, 3.3.5).

    Matches ``keras.layers.LSTM`` (default tanh/sigmoid activations) given its
    ``kernel``, ``recurrent_kernel`` and ``bias``; ``initial_state`` is ``(h0, c0)``.
    """
    inputs = _sequence(x)
    _, _, _, units = _recurrent_weights(inputs, kernel, recurrent_kernel, bias, 4)
    if initial_state is None:
        h = c = None
    elif isinstance(initial_state, (tuple, list)) and len(initial_state) == 2:
        h, c = initial_state
    else:
        raise ValueError("initial_state must be a pair (h0, c0)")
    h = _initial("h0", h, inputs.shape[0], units)
    c = _initial("c0", c, inputs.shape[0], units)
    states = []
    for t in range(inputs.shape[1]):
        h, c, _ = lstm_step(inputs[:, t], h, c, kernel, recurrent_kernel, bias)
        states.append(h)
    return np.stack(states, axis=1) if return_sequences else h
