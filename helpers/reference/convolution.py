"""Convolution and pooling in NumPy (Chapter 3, Sections 3.3.1 and 3.3.2), checked against
``Conv2D``, ``MaxPooling2D`` and ``AveragePooling2D`` and against SciPy; depthwise-separable
convolution (``DepthwiseConv2D``, ``SeparableConv2D``) and backpropagation through convolution
and max pooling (Section 3.4).

Shapes follow Keras: images are ``(height, width)`` or ``(batch, height, width, channels)``
(NHWC), kernels ``(kernel_height, kernel_width)`` or
``(kernel_height, kernel_width, in_channels, out_channels)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from helpers.reference._arrays import float_array

Padding = Literal["valid", "same", "full"] | int | tuple[int, int]


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


def _fitting_pads(image: np.ndarray, window, strides, padding, what: str):
    """The zeros before and after each spatial axis, once the window is known to fit."""
    pads = tuple(
        _pads(image.shape[1 + a], window[a], strides[a], padding, a) for a in (0, 1)
    )
    for a in (0, 1):
        if image.shape[1 + a] + sum(pads[a]) < window[a]:
            raise ValueError(
                f"{what} {window[0]}x{window[1]} does not fit input "
                f"{image.shape[1]}x{image.shape[2]} with padding {padding!r}"
            )
    return pads


def _conv_operands(x: object, kernel: object) -> tuple[np.ndarray, np.ndarray, bool]:
    """x as NHWC and the kernel as (kh, kw, in, out), and whether they came as one 2-D image."""
    image = float_array("x", x)
    weights = float_array("kernel", kernel)
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
    return image, weights, single


def _with_bias(out: np.ndarray, bias: object | None, single: bool) -> np.ndarray:
    """``out`` (NHWC) plus one bias per output channel (a number, for one 2-D image)."""
    if bias is None:
        return out
    b = float_array("bias", bias)
    if b.shape != (out.shape[-1],) and not (single and b.ndim == 0):
        raise ValueError(
            f"bias must have shape ({out.shape[-1]},), one per output channel, got {b.shape}"
        )
    return out + b.reshape(-1)


def _conv_geometry(image: np.ndarray, weights: np.ndarray, stride: object, padding: object):
    """The strides and the zeros added before and after each spatial axis."""
    strides = _pair("stride", stride)
    _check_padding(padding, ("valid", "same", "full"))
    return strides, _fitting_pads(image, weights.shape[:2], strides, padding, "kernel")


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
    image, weights, single = _conv_operands(x, kernel)
    strides, pads = _conv_geometry(image, weights, stride, padding)
    if flip_kernel:
        weights = weights[::-1, ::-1]
    windows = _windows(image, weights.shape[:2], strides, pads, 0.0)
    out = np.einsum("bijcmn,mnco->bijo", windows, weights, optimize=True)
    out = _with_bias(out, bias, single)
    return out[0, :, :, 0] if single else out


def depthwise_conv2d(
    x: object,
    kernel: object,
    bias: object | None = None,
    stride: int | tuple[int, int] = 1,
    padding: Padding = "valid",
) -> np.ndarray:
    """``keras.layers.DepthwiseConv2D``: every input channel correlated with its own filters.

    ``x`` is NHWC and ``kernel`` is Keras' ``(kh, kw, channels, multiplier)`` (or one 2-D image
    and one 2-D kernel, as for :func:`conv2d`, which it then equals): output channel
    ``c * multiplier + d`` is input channel ``c`` correlated with ``kernel[:, :, c, d]``, so
    nothing is mixed across channels. A standard convolution's ``kh * kw * channels *
    out_channels`` multiply-adds per position become ``kh * kw * channels * multiplier``
    (Section 3.4). ``bias`` has one entry per output channel.
    """
    image, weights, single = _conv_operands(x, kernel)
    strides, pads = _conv_geometry(image, weights, stride, padding)
    windows = _windows(image, weights.shape[:2], strides, pads, 0.0)
    out = np.einsum("bijcmn,mncd->bijcd", windows, weights, optimize=True)
    out = _with_bias(out.reshape(*out.shape[:3], -1), bias, single)
    return out[0, :, :, 0] if single else out


def separable_conv2d(
    x: object,
    depthwise_kernel: object,
    pointwise_kernel: object,
    bias: object | None = None,
    stride: int | tuple[int, int] = 1,
    padding: Padding = "valid",
) -> np.ndarray:
    """``keras.layers.SeparableConv2D``: :func:`depthwise_conv2d`, then a 1x1 convolution.

    The depthwise step looks at each ``kh x kw`` neighbourhood channel by channel; the
    pointwise step, ``pointwise_kernel`` of Keras' shape ``(1, 1, channels * multiplier,
    filters)``, mixes the channels at every position. ``stride`` and ``padding`` belong to
    the depthwise step, ``bias`` (one per filter) to the pointwise one.
    """
    depthwise = depthwise_conv2d(x, depthwise_kernel, stride=stride, padding=padding)
    pointwise = float_array("pointwise_kernel", pointwise_kernel)
    if pointwise.ndim != 4 or pointwise.shape[:2] != (1, 1) or (
        pointwise.shape[2] != depthwise.shape[-1]
    ):
        raise ValueError(
            f"pointwise_kernel must have shape (1, 1, {depthwise.shape[-1]}, filters), one "
            f"row per depthwise output channel, got {pointwise.shape}"
        )
    return conv2d(depthwise, pointwise, bias)


def _upstream(upstream: object, shape: tuple[int, ...], single: bool, what: str) -> np.ndarray:
    """The gradient arriving at the layer's output, checked against the output's shape."""
    gradient = float_array("upstream", upstream)
    expected = shape[1:3] if single else shape
    if gradient.shape != expected:
        raise ValueError(
            f"upstream must have the shape of the {what}'s output, {expected}, got "
            f"{gradient.shape}"
        )
    return gradient[None, :, :, None] if single else gradient


def _scatter(windows_shape, pads, strides, image_shape, pieces) -> np.ndarray:
    """Add each window position's share back onto the (padded) input, then drop the padding.

    ``pieces(m, n)`` gives, for the offset ``(m, n)`` inside the window, the array (batch,
    out_h, out_w, channels) to add at input ``(s*i + m, s*j + n)``.
    """
    (top, bottom), (left, right) = pads
    batch, height, width, channels = image_shape
    out_h, out_w, kh, kw = windows_shape
    padded = np.zeros((batch, height + top + bottom, width + left + right, channels))
    for m in range(kh):
        for n in range(kw):
            rows = slice(m, m + strides[0] * (out_h - 1) + 1, strides[0])
            cols = slice(n, n + strides[1] * (out_w - 1) + 1, strides[1])
            padded[:, rows, cols, :] += pieces(m, n)
    return padded[:, top:top + height, left:left + width, :]


def conv2d_gradients(
    x: object,
    kernel: object,
    upstream: object,
    stride: int | tuple[int, int] = 1,
    padding: Padding = "valid",
) -> tuple[np.ndarray, np.ndarray]:
    """Backpropagation through :func:`conv2d` (Chapter 3, Section 3.4): ``(dL/dx, dL/dk)``.

    ``upstream`` is ``dL/dy``, the gradient of the loss with respect to the convolution's
    output (its shape). Each output ``y[i, j, o]`` used the input window at ``(s*i, s*j)``, so

    * ``dL/dk[m, n, c, o] = sum over b, i, j of x[b, s*i + m, s*j + n, c] * dL/dy[b, i, j, o]``:
      the correlation of the input with the upstream gradient;
    * ``dL/dx[b, s*i + m, s*j + n, c] += k[m, n, c, o] * dL/dy[b, i, j, o]``: every output hands
      its gradient back to the pixels it read, weighted by the kernel. With stride 1 and no
      padding this is ``conv2d(dL/dy, k flipped in both axes with its channel axes swapped,
      padding="full")``: a full correlation with the flipped kernel, as the tests check.

    The bias, if any, gets ``dL/dy`` summed over everything but the channel axis.
    """
    image, weights, single = _conv_operands(x, kernel)
    strides, pads = _conv_geometry(image, weights, stride, padding)
    windows = _windows(image, weights.shape[:2], strides, pads, 0.0)
    output_shape = (*windows.shape[:3], weights.shape[3])
    gradient = _upstream(upstream, output_shape, single, "convolution")
    d_kernel = np.einsum("bijcmn,bijo->mnco", windows, gradient, optimize=True)
    d_input = _scatter(
        windows.shape[1:3] + weights.shape[:2], pads, strides, image.shape,
        lambda m, n: np.einsum("bijo,co->bijc", gradient, weights[m, n], optimize=True),
    )
    if single:
        return d_input[0, :, :, 0], d_kernel[:, :, 0, 0]
    return d_input, d_kernel


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


def _pool_geometry(x, pool_size, stride, padding):
    """x as NHWC, whether it came as one 2-D image, the window, the strides and the pads."""
    image = float_array("x", x)
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
    pads = _fitting_pads(image, size, strides, padding, "pool")
    return image, single, size, strides, pads


def _pool(x, pool_size, stride, padding, reduce: Literal["max", "mean"]) -> np.ndarray:
    image, single, size, strides, pads = _pool_geometry(x, pool_size, stride, padding)
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


def max_pool2d_gradient(
    x: object,
    upstream: object,
    pool_size: int | tuple[int, int] = 2,
    stride: int | tuple[int, int] | None = None,
    padding: Literal["valid", "same"] = "valid",
) -> np.ndarray:
    """Backpropagation through :func:`max_pool2d` (Chapter 3, Section 3.4): ``dL/dx``.

    A window's output is its largest input, so the window's upstream gradient goes to that
    one input and the others get nothing (the first in row order where several tie; with
    overlapping windows an input collects from each window it wins). Max pooling therefore
    passes a sparse gradient: with 2x2 windows, three inputs in four get zero.
    """
    image, single, size, strides, pads = _pool_geometry(x, pool_size, stride, padding)
    windows = _windows(image, size, strides, pads, -np.inf)
    gradient = _upstream(upstream, windows.shape[:4], single, "pooling")
    winner = windows.reshape(*windows.shape[:4], -1).argmax(axis=-1)
    d_input = _scatter(
        windows.shape[1:3] + size, pads, strides, image.shape,
        lambda m, n: np.where(winner == m * size[1] + n, gradient, 0.0),
    )
    return d_input[0, :, :, 0] if single else d_input
