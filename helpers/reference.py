"""NumPy reference implementations of the maths in Chapter 3.

Each function here is the plain-array version of something a Keras layer or loss computes:
convolution and pooling (``Conv2D``, ``MaxPooling2D``, ``AveragePooling2D``), softmax and the
losses, a two-layer network's forward and backward pass, the ``SimpleRNN`` and ``LSTM``
recurrences with Keras' own weight layouts, and the GAN value function. Chapter 3 derives each
formula and the unit tests check every function against Keras and SciPy. They are written to
be read, not to be fast: use the Keras layers for real work.

Shapes follow Keras: images are ``(height, width)`` or ``(batch, height, width, channels)``
(NHWC), convolution kernels ``(kernel_height, kernel_width)`` or
``(kernel_height, kernel_width, in_channels, out_channels)``, sequences
``(batch, time, features)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np

Padding = Literal["valid", "same", "full"] | int | tuple[int, int]

__all__ = [
    "avg_pool2d",
    "conv2d",
    "conv_output_size",
    "convolve2d",
    "cross_entropy",
    "gan_value",
    "generator_loss",
    "log_softmax",
    "lstm",
    "lstm_step",
    "max_pool2d",
    "mlp_forward",
    "mlp_gradients",
    "numerical_gradient",
    "optimal_discriminator",
    "sigmoid",
    "simple_rnn",
    "softmax",
    "squared_error",
]


# --------------------------------------------------------------------------------------------
# input checks


def _float_array(name: str, value: object) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def _pair(name: str, value: object) -> tuple[int, int]:
    """An int or a pair of ints, each at least 1 (strides, pool and kernel sizes)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
        )
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be at least 1, got {value!r}")
    return pair


def _check_padding(padding: object, allowed: tuple[str, ...]) -> None:
    if isinstance(padding, str):
        if padding not in allowed:
            raise ValueError(f"padding must be one of {allowed} or a number, got {padding!r}")
        return
    if isinstance(padding, bool):
        raise TypeError(f"padding must be one of {allowed}, an int or a pair, got {padding!r}")
    values = padding if isinstance(padding, (tuple, list)) else (padding,)
    if isinstance(padding, (tuple, list)) and len(values) != 2:
        raise ValueError(f"padding as a pair must have 2 entries, got {padding!r}")
    for v in values:
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(
                f"padding must be one of {allowed}, an int or a pair of ints, got {padding!r}"
            )
        if v < 0:
            raise ValueError(f"padding must be non-negative, got {padding!r}")


def _pads(n: int, k: int, stride: int, padding: Padding, axis: int) -> tuple[int, int]:
    """Zeros added before and after one spatial axis."""
    if padding == "valid":
        return 0, 0
    if padding == "full":
        return k - 1, k - 1
    if padding == "same":
        # Keras/TensorFlow: output ceil(n / stride); odd padding puts the extra zero after.
        out = -(-n // stride)
        total = max((out - 1) * stride + k - n, 0)
        return total // 2, total - total // 2
    if isinstance(padding, (tuple, list)):
        p = int(padding[axis])
        return p, p
    return int(padding), int(padding)


# --------------------------------------------------------------------------------------------
# convolution


def conv_output_size(n: int, k: int, padding: Padding = "valid", stride: int = 1) -> int:
    """Output length of a convolution or pooling along one axis (Chapter 3, 3.3.1).

    ``floor((n + p_before + p_after - k) / stride) + 1``; "same" gives ``ceil(n / stride)``
    and "full" pads ``k - 1`` on both sides.
    """
    for name, value in (("n", n), ("k", k), ("stride", stride)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value!r}")
    _check_padding(padding, ("valid", "same", "full"))
    if isinstance(padding, (tuple, list)):
        raise TypeError(f"conv_output_size works on one axis: padding must be an int, "
                        f"got {padding!r}")
    before, after = _pads(int(n), int(k), int(stride), padding, 0)
    padded = n + before + after
    if padded < k:
        raise ValueError(
            f"kernel of size {k} does not fit an input of size {n} with padding {padding!r}"
        )
    return (padded - k) // stride + 1


def _windows(
    x: np.ndarray, size: tuple[int, int], stride: tuple[int, int], pads, fill: float
) -> np.ndarray:
    """Every window of an NHWC array: shape (batch, out_h, out_w, channels, kh, kw)."""
    (top, bottom), (left, right) = pads
    padded = np.pad(
        x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill
    )
    views = np.lib.stride_tricks.sliding_window_view(padded, size, axis=(1, 2))
    return views[:, :: stride[0], :: stride[1]]


def conv2d(
    x: object,
    kernel: object,
    bias: object | None = None,
    stride: int | tuple[int, int] = 1,
    padding: Padding = "valid",
    flip_kernel: bool = False,
) -> np.ndarray:
    """2-D cross-correlation as ``keras.layers.Conv2D`` computes it (Chapter 3, 3.3.1).

    ``y[i, j, o] = sum_m sum_n sum_c x[s*i + m, s*j + n, c] * k[m, n, c, o] + b[o]`` on the
    zero-padded input. ``x`` is (H, W) with a (kh, kw) kernel, or NHWC with a
    (kh, kw, in_channels, out_channels) kernel. ``flip_kernel=True`` turns it into true
    convolution (the kernel rotated by 180 degrees), as in :func:`convolve2d`.
    """
    image = _float_array("x", x)
    weights = _float_array("kernel", kernel)
    if image.ndim == 2 and weights.ndim == 2:
        single = True
        image = image[None, :, :, None]
        weights = weights[:, :, None, None]
    elif image.ndim == 4 and weights.ndim == 4:
        single = False
    else:
        raise ValueError(
            "expected x (height, width) with kernel (kh, kw), or x (batch, height, width, "
            f"channels) with kernel (kh, kw, in_channels, out_channels); got x {image.shape} "
            f"and kernel {weights.shape}"
        )
    if image.shape[-1] != weights.shape[2]:
        raise ValueError(
            f"kernel expects {weights.shape[2]} input channels but x has {image.shape[-1]}"
        )
    if min(weights.shape) < 1 or min(image.shape) < 1:
        raise ValueError(f"x {image.shape} and kernel {weights.shape} must not be empty")
    strides = _pair("stride", stride)
    _check_padding(padding, ("valid", "same", "full"))
    kh, kw = weights.shape[:2]
    pads = tuple(
        _pads(image.shape[1 + a], (kh, kw)[a], strides[a], padding, a) for a in (0, 1)
    )
    for a, (n, k) in enumerate(((image.shape[1], kh), (image.shape[2], kw))):
        if n + sum(pads[a]) < k:
            raise ValueError(
                f"kernel {kh}x{kw} does not fit input {image.shape[1]}x{image.shape[2]} "
                f"with padding {padding!r}"
            )
    if flip_kernel:
        weights = weights[::-1, ::-1]
    windows = _windows(image, (kh, kw), strides, pads, 0.0)
    out = np.einsum("bijcmn,mnco->bijo", windows, weights, optimize=True)
    if bias is not None:
        b = _float_array("bias", bias)
        if b.shape != (weights.shape[3],) and not (single and b.ndim == 0):
            raise ValueError(
                f"bias must have shape ({weights.shape[3]},), one per output channel, "
                f"got {b.shape}"
            )
        out = out + b.reshape(-1)
    return out[0, :, :, 0] if single else out


def convolve2d(
    x: object,
    kernel: object,
    bias: object | None = None,
    stride: int | tuple[int, int] = 1,
    padding: Padding = "valid",
) -> np.ndarray:
    """True 2-D convolution, the kernel flipped in both axes (Chapter 3, 3.3.1).

    ``y[i, j] = sum_m sum_n x[i - m, j - n] * k[m, n]``, written on the valid region as
    :func:`conv2d` with ``flip_kernel=True``; it matches ``scipy.signal.convolve2d``.
    """
    return conv2d(x, kernel, bias=bias, stride=stride, padding=padding, flip_kernel=True)


# --------------------------------------------------------------------------------------------
# pooling


def _pool(x, pool_size, stride, padding, reduce: Literal["max", "mean"]) -> np.ndarray:
    image = _float_array("x", x)
    if image.ndim not in (2, 4):
        raise ValueError(
            f"x must be (height, width) or (batch, height, width, channels), got {image.shape}"
        )
    single = image.ndim == 2
    if single:
        image = image[None, :, :, None]
    size = _pair("pool_size", pool_size)
    strides = size if stride is None else _pair("stride", stride)
    _check_padding(padding, ("valid", "same"))
    if not isinstance(padding, str):
        raise ValueError(f"pooling padding must be 'valid' or 'same', got {padding!r}")
    pads = tuple(
        _pads(image.shape[1 + a], size[a], strides[a], padding, a) for a in (0, 1)
    )
    for a in (0, 1):
        if image.shape[1 + a] + sum(pads[a]) < size[a]:
            raise ValueError(
                f"pool {size[0]}x{size[1]} does not fit input "
                f"{image.shape[1]}x{image.shape[2]} with padding {padding!r}"
            )
    if reduce == "max":
        out = _windows(image, size, strides, pads, -np.inf).max(axis=(-2, -1))
    else:
        # Keras averages over the real pixels only: padded zeros are not counted.
        total = _windows(image, size, strides, pads, 0.0).sum(axis=(-2, -1))
        ones = np.ones_like(image[..., :1])
        count = _windows(ones, size, strides, pads, 0.0).sum(axis=(-2, -1))
        out = total / count
    return out[0, :, :, 0] if single else out


def max_pool2d(
    x: object,
    pool_size: int | tuple[int, int] = 2,
    stride: int | tuple[int, int] | None = None,
    padding: Literal["valid", "same"] = "valid",
) -> np.ndarray:
    """Max pooling as ``keras.layers.MaxPooling2D`` (Chapter 3, 3.3.2).

    For 2x2 windows and stride 2: ``p[i, j] = max over a, b in {0, 1} of s[2i + a, 2j + b]``.
    ``stride`` defaults to ``pool_size``.
    """
    return _pool(x, pool_size, stride, padding, "max")


def avg_pool2d(
    x: object,
    pool_size: int | tuple[int, int] = 2,
    stride: int | tuple[int, int] | None = None,
    padding: Literal["valid", "same"] = "valid",
) -> np.ndarray:
    """Average pooling as ``keras.layers.AveragePooling2D`` (Chapter 3, 3.3.2).

    With ``padding="same"`` border windows average only the pixels that exist, as Keras does.
    """
    return _pool(x, pool_size, stride, padding, "mean")


# --------------------------------------------------------------------------------------------
# softmax and losses


def _axis(axis: object, ndim: int) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array with {ndim} dimensions")
    return int(axis)


def log_softmax(z: object, axis: int = -1) -> np.ndarray:
    """``z - logsumexp(z)``, computed stably by subtracting the maximum (Chapter 3, 3.3.3)."""
    logits = _float_array("z", z)
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


def _targets_like(y_true: object, scores: np.ndarray, name: str) -> np.ndarray:
    targets = _float_array("y_true", y_true)
    if targets.shape != scores.shape:
        raise ValueError(
            f"y_true and {name} must have the same shape (batch, classes), "
            f"got {targets.shape} and {scores.shape}"
        )
    return targets


def cross_entropy(
    y_true: object, y_pred: object, from_logits: bool = True, epsilon: float = 1e-7
) -> np.ndarray:
    """Per-example categorical cross-entropy ``-sum_k y_k log p_k`` (Chapter 3, 3.3.3).

    ``y_true`` is one-hot (or any distribution) with the shape of ``y_pred``. With
    ``from_logits=True`` ``y_pred`` holds raw scores and the softmax is taken here via
    log-sum-exp; with ``from_logits=False`` it holds probabilities, clipped to
    ``[epsilon, 1 - epsilon]`` as Keras does.
    """
    scores = _float_array("y_pred", y_pred)
    if scores.ndim == 0:
        raise ValueError("y_pred must have a class axis, got a scalar")
    targets = _targets_like(y_true, scores, "y_pred")
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
    prediction = _float_array("y_pred", y_pred)
    if prediction.ndim == 0:
        raise ValueError("y_pred must have at least one axis, got a scalar")
    targets = _targets_like(y_true, prediction, "y_pred")
    return ((targets - prediction) ** 2).mean(axis=-1)


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: object, epsilon: float = 1e-6
) -> np.ndarray:
    """Central finite differences ``(f(x + e) - f(x - e)) / 2e``, entry by entry (Chapter 3)."""
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    point = _float_array("x", x).copy()
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


# --------------------------------------------------------------------------------------------
# a two-layer network and backpropagation

_MLP_KEYS = ("w1", "b1", "w2", "b2")


def _mlp_params(params: Mapping[str, object], x: np.ndarray) -> dict[str, np.ndarray]:
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping with keys {_MLP_KEYS}, got {type(params)}")
    missing = [key for key in _MLP_KEYS if key not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; expected keys {_MLP_KEYS}")
    p = {key: _float_array(key, params[key]) for key in _MLP_KEYS}
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
    inputs = _float_array("x", x)
    p = _mlp_params(params, inputs)
    return np.tanh(inputs @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def mlp_gradients(
    params: Mapping[str, object], x: object, y_true: object
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean softmax cross-entropy of :func:`mlp_forward` and its gradients by backprop.

    Chapter 3, 3.3.4: the backward pass applies the chain rule layer by layer, starting from
    ``(softmax(z) - y) / batch`` at the logits.
    """
    inputs = _float_array("x", x)
    p = _mlp_params(params, inputs)
    hidden = np.tanh(inputs @ p["w1"] + p["b1"])
    logits = hidden @ p["w2"] + p["b2"]
    targets = _targets_like(y_true, logits, "the network's logits")
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


# --------------------------------------------------------------------------------------------
# recurrent networks


def sigmoid(z: object) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-z))``, without overflow (Chapter 3)."""
    values = _float_array("z", z)
    out = np.empty_like(values)
    positive = values >= 0
    out[positive] = 1 / (1 + np.exp(-values[positive]))
    exp_z = np.exp(values[~positive])
    out[~positive] = exp_z / (1 + exp_z)
    return out


def _sequence(x: object) -> np.ndarray:
    inputs = _float_array("x", x)
    if inputs.ndim != 3:
        raise ValueError(f"x must be (batch, time, features), got {inputs.shape}")
    return inputs


def _recurrent_weights(
    inputs: np.ndarray, kernel, recurrent_kernel, bias, gates: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    w = _float_array("kernel", kernel)
    u = _float_array("recurrent_kernel", recurrent_kernel)
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
    b = np.zeros(gates * units) if bias is None else _float_array("bias", bias)
    if b.shape != (gates * units,):
        raise ValueError(f"bias must have shape ({gates * units},), got {b.shape}")
    return w, u, b, units


def _initial(name: str, value: object, batch: int, units: int) -> np.ndarray:
    if value is None:
        return np.zeros((batch, units))
    state = _float_array(name, value)
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
    inputs = _float_array("x_t", x_t)
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


# --------------------------------------------------------------------------------------------
# generative adversarial networks


def _probabilities(name: str, value: object) -> np.ndarray:
    array = _float_array(name, value)
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
    data = _float_array("p_data", p_data)
    model = _float_array("p_model", p_model)
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
