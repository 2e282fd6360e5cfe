"""helpers.reference's building blocks (Section 3.4), each against Keras on the current backend.

Activations and their derivatives, initialisers, dropout, batch normalisation, the optimisers'
update rules and the cosine schedule, and backpropagation through convolution and max
pooling. Gradients are compared with the ones the backend computes (through
helpers.gradients, so on every backend) and with finite differences.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.environment import prepare
from helpers.gradients import input_gradient
from helpers.models import one_cycle_schedule
from helpers.reference import (
    adam_step,
    batch_normalization,
    conv2d,
    conv2d_gradients,
    cosine_decay,
    depthwise_conv2d,
    dropout,
    fans,
    glorot_uniform,
    he_normal,
    max_pool2d,
    max_pool2d_gradient,
    numerical_gradient,
    relu,
    relu_derivative,
    separable_conv2d,
    sgd_step,
    sigmoid,
    sigmoid_derivative,
    tanh_derivative,
)

ENV = prepare(seed=0)  # the backend conftest.py chose, and its report

TOLERANCE = 1e-5  # float32 Keras against float64 NumPy
FAST = settings(max_examples=25, deadline=None)


def to_numpy(tensor) -> np.ndarray:
    return keras.ops.convert_to_numpy(tensor)


def score_model(layer: keras.layers.Layer, input_shape: tuple, weights: np.ndarray):
    """Input -> layer -> Flatten -> one output ``sum(weights * layer(x))``, for input_gradient.

    The gradient of that output with respect to the input is backpropagation through the
    layer with ``weights`` as the upstream gradient.
    """
    inputs = keras.Input(input_shape)
    flat = keras.layers.Flatten()(layer(inputs))
    score = keras.layers.Dense(1, use_bias=False)
    model = keras.Model(inputs, score(flat))
    score.set_weights([weights.reshape(-1, 1).astype("float32")])
    return model


# ---------------------------------------------------------------------------- activations


def test_activations_match_keras():
    z = np.linspace(-30, 30, 241).astype("float32")
    np.testing.assert_allclose(relu(z), to_numpy(keras.activations.relu(z)), atol=TOLERANCE)
    np.testing.assert_allclose(sigmoid(z), to_numpy(keras.activations.sigmoid(z)),
                               atol=TOLERANCE)


@pytest.mark.parametrize(
    ("name", "derivative"),
    [("relu", relu_derivative), ("sigmoid", sigmoid_derivative), ("tanh", tanh_derivative)],
)
def test_derivatives_match_the_backends_gradient_and_finite_differences(name, derivative):
    rng = np.random.default_rng(0)
    z = rng.uniform(-6, 6, size=(3, 5)).astype("float32")
    z[0, 0] = 0.0  # ReLU's kink: every backend takes the derivative there as 0
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Activation(name)(inputs))
    backend = np.stack(
        [input_gradient(model, z, unit)[:, unit] for unit in range(5)], axis=1
    )
    np.testing.assert_allclose(derivative(z), backend, atol=TOLERANCE)
    function = {"relu": relu, "sigmoid": sigmoid, "tanh": np.tanh}[name]
    away_from_kink = z.astype("float64").copy()
    away_from_kink[0, 0] = 0.5
    finite = numerical_gradient(lambda v: float(function(v).sum()), away_from_kink)
    np.testing.assert_allclose(derivative(away_from_kink), finite, atol=1e-6)


def test_the_sigmoid_saturates_and_the_relu_dies_where_its_input_is_negative():
    assert sigmoid_derivative(0.0) == 0.25
    assert sigmoid_derivative(np.array([10.0]))[0] < 5e-5
    assert tanh_derivative(0.0) == 1.0
    np.testing.assert_array_equal(relu_derivative([-2.0, 0.0, 3.0]), [0.0, 0.0, 1.0])
    with pytest.raises(TypeError, match="z must be a numeric array"):
        relu(["a"])


# ---------------------------------------------------------------------------- initialisers


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((784, 128), (784, 128)), ((3, 3, 16, 32), (144, 288)), ((5, 2, 4), (10, 20)),
     ((7,), (7, 7))],
)
def test_fans_count_what_each_unit_sums_over(shape, expected):
    assert fans(shape) == expected


@pytest.mark.parametrize("bad", [(), (0, 3), (2.5, 3), (True, 2)])
def test_fans_reject_bad_shapes(bad):
    with pytest.raises(ValueError, match="shape must be a non-empty tuple of positive ints"):
        fans(bad)


def test_glorot_uniform_has_the_bounds_and_variance_of_keras():
    shape = (5, 5, 32, 64)
    fan_in, fan_out = fans(shape)
    limit = math.sqrt(6 / (fan_in + fan_out))
    ours = glorot_uniform(shape, np.random.default_rng(0))
    theirs = to_numpy(keras.initializers.GlorotUniform(seed=0)(shape))
    for sample in (ours, theirs):
        assert sample.shape == shape
        assert np.abs(sample).max() <= limit * (1 + 1e-6)
        assert np.abs(sample).max() > 0.99 * limit
        # 51,200 draws: the variance is within 2 % of limit**2 / 3 = 2 / (fan_in + fan_out)
        assert sample.var() == pytest.approx(2 / (fan_in + fan_out), rel=0.02)


def test_he_normal_has_the_cut_and_variance_of_keras():
    shape = (5, 5, 32, 64)
    fan_in, _ = fans(shape)
    ours = he_normal(shape, np.random.default_rng(0))
    theirs = to_numpy(keras.initializers.HeNormal(seed=0)(shape))
    cut = 2 * math.sqrt(2 / fan_in) / 0.87962566103423978
    assert np.abs(ours).max() <= cut
    # Keras on PyTorch draws four candidates per value and keeps the first inside the cut, or
    # the first of the four when none is (a chance of 0.0455**4, about 4 in a million), so a
    # few values may lie beyond it; TensorFlow and JAX redraw until every value is inside.
    beyond = np.mean(np.abs(theirs) > cut * (1 + 1e-5))
    assert beyond == 0 if keras.backend.backend() != "torch" else beyond < 1e-4
    for sample in (ours, theirs):
        assert sample.var() == pytest.approx(2 / fan_in, rel=0.02)
        assert abs(sample.mean()) < 0.01 * math.sqrt(2 / fan_in)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        he_normal((3, 3), 0)


# ---------------------------------------------------------------------------- dropout


def test_dropout_in_inference_is_the_identity_as_in_keras():
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    np.testing.assert_array_equal(dropout(x, 0.5, training=False), x)
    np.testing.assert_array_equal(to_numpy(keras.layers.Dropout(0.5)(x, training=False)), x)


def test_dropout_in_training_zeroes_a_share_and_scales_the_rest_as_keras_does():
    rate, x = 0.3, np.full((200, 500), 2.0, dtype="float32")
    ours = dropout(x, rate, training=True, rng=np.random.default_rng(0))
    theirs = to_numpy(keras.layers.Dropout(rate, seed=0)(x, training=True))
    for sample in (ours, theirs):
        kept = sample != 0
        np.testing.assert_allclose(sample[kept], 2.0 / (1 - rate), rtol=1e-6)
        # 100,000 coin flips: the dropped share is within 0.5 % of the rate, and the mean
        # (the expectation inverted dropout preserves) within 1 % of the input's
        assert 1 - kept.mean() == pytest.approx(rate, abs=0.005)
        assert sample.mean() == pytest.approx(2.0, rel=0.01)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rate": 1.0, "training": True}, r"rate must be a number in \[0, 1\), got 1.0"),
        ({"rate": -0.1, "training": False}, r"rate must be a number in \[0, 1\)"),
        ({"rate": 0.5, "training": 1}, "training must be True or False, got 1"),
        ({"rate": 0.5, "training": True}, "training=True needs rng"),
    ],
)
def test_dropout_rejects_bad_settings(arguments, message):
    with pytest.raises(ValueError, match=message):
        dropout(np.ones(3), **arguments)


# ---------------------------------------------------------------------------- batch norm


def batch_norm_layer(shape, momentum, epsilon, rng):
    channels = shape[-1]
    layer = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon)
    layer.build((None, *shape[1:]))
    weights = [rng.uniform(0.5, 2, channels), rng.normal(size=channels),
               rng.normal(size=channels), rng.uniform(0.5, 2, channels)]
    layer.set_weights([w.astype("float32") for w in weights])
    return layer, weights


@FAST
@given(
    shape=st.sampled_from([(8, 3), (4, 5, 5, 2), (2, 3, 4, 6)]),
    momentum=st.sampled_from([0.0, 0.9, 0.99]),
    epsilon=st.sampled_from([1e-3, 1e-5, 0.1]),
    seed=st.integers(0, 2**16),
)
def test_batch_normalization_matches_keras_in_both_modes(shape, momentum, epsilon, seed):
    rng = np.random.default_rng(seed)
    layer, (gamma, beta, mean, variance) = batch_norm_layer(shape, momentum, epsilon, rng)
    x = rng.normal(3.0, 2.0, size=shape).astype("float32")
    y, new_mean, new_variance = batch_normalization(
        x, gamma, beta, mean, variance, training=True, momentum=momentum, epsilon=epsilon)
    np.testing.assert_allclose(y, to_numpy(layer(x, training=True)), atol=1e-4)
    np.testing.assert_allclose(new_mean, to_numpy(layer.moving_mean), atol=TOLERANCE)
    np.testing.assert_allclose(new_variance, to_numpy(layer.moving_variance), rtol=1e-4)
    # inference uses the moving statistics just updated, and leaves them as they are
    y, same_mean, same_variance = batch_normalization(
        x, gamma, beta, new_mean, new_variance, training=False, momentum=momentum,
        epsilon=epsilon)
    np.testing.assert_allclose(y, to_numpy(layer(x, training=False)), atol=1e-4)
    np.testing.assert_array_equal(same_mean, new_mean)
    np.testing.assert_array_equal(same_variance, new_variance)


def test_batch_normalization_in_training_gives_each_channel_mean_beta_and_std_gamma():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(64, 4))
    gamma, beta = np.array([1.0, 2.0, 0.5, 1.0]), np.array([0.0, 1.0, -1.0, 3.0])
    y, _, _ = batch_normalization(x, gamma, beta, np.zeros(4), np.ones(4), training=True,
                                  epsilon=1e-12)
    np.testing.assert_allclose(y.mean(axis=0), beta, atol=1e-9)
    np.testing.assert_allclose(y.std(axis=0), gamma, rtol=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gamma": np.ones(2)}, r"gamma must have one entry per channel, shape \(3,\), got \(2,\)"),
        ({"moving_variance": -np.ones(3)}, "moving_variance must not be negative"),
        ({"momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
        ({"epsilon": 0}, "epsilon must be a positive number"),
        ({"training": "yes"}, "training must be True or False"),
        ({"x": np.ones(3)}, r"x must be \(batch, ..., channels\)"),
    ],
)
def test_batch_normalization_rejects_bad_input(change, message):
    arguments = {"x": np.ones((4, 3)), "gamma": np.ones(3), "beta": np.zeros(3),
                 "moving_mean": np.zeros(3), "moving_variance": np.ones(3), "training": True}
    with pytest.raises(ValueError, match=message):
        batch_normalization(**{**arguments, **change})


# ---------------------------------------------------------------------------- optimisers

STEPS = 6


def keras_trajectory(optimizer, start, gradients):
    variable = keras.Variable(start.astype("float32"))
    path = []
    for gradient in gradients:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
        path.append(to_numpy(variable).astype("float64"))
    return path


def fixed_gradients():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 4)), list(rng.normal(size=(STEPS, 3, 4)).astype("float32"))


@pytest.mark.parametrize(
    "settings_",
    [{"momentum": 0.0}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True},
     {"momentum": 0.5, "weight_decay": 0.1}],
    ids=["plain", "momentum", "nesterov", "weight-decay"],
)
def test_sgd_step_follows_keras_step_by_step(settings_):
    start, gradients = fixed_gradients()
    theirs = keras_trajectory(keras.optimizers.SGD(learning_rate=0.1, **settings_), start,
                              gradients)
    weights, velocity = start, np.zeros_like(start)
    for step, gradient in enumerate(gradients):
        weights, velocity = sgd_step(weights, gradient, velocity, learning_rate=0.1,
                                     **settings_)
        np.testing.assert_allclose(weights, theirs[step], rtol=TOLERANCE, atol=TOLERANCE)


@pytest.mark.parametrize("weight_decay", [None, 0.05])
def test_adam_step_follows_keras_adam_and_adamw_step_by_step(weight_decay):
    start, gradients = fixed_gradients()
    settings_ = {"learning_rate": 0.01, "beta_1": 0.7, "beta_2": 0.9}
    optimizer = (keras.optimizers.Adam(**settings_) if weight_decay is None
                 else keras.optimizers.AdamW(weight_decay=weight_decay, **settings_))
    theirs = keras_trajectory(optimizer, start, gradients)
    weights, m, s = start, np.zeros_like(start), np.zeros_like(start)
    for step, gradient in enumerate(gradients, start=1):
        weights, m, s = adam_step(weights, gradient, m, s, step, weight_decay=weight_decay,
                                  **settings_)
        np.testing.assert_allclose(weights, theirs[step - 1], rtol=TOLERANCE, atol=TOLERANCE)


def test_adams_first_step_moves_every_weight_by_the_learning_rate():
    # bias correction: m and s are exactly g and g**2 after one step, so the step is lr * sign
    gradient = np.array([1e-3, -5.0, 200.0])
    weights, _, _ = adam_step(np.zeros(3), gradient, np.zeros(3), np.zeros(3), step=1,
                              learning_rate=0.01, epsilon=1e-12)
    np.testing.assert_allclose(weights, -0.01 * np.sign(gradient), rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: adam_step(np.zeros(2), np.zeros(3), np.zeros(2), np.zeros(2), 1),
         r"gradient must have the shape of weights \(2,\), got \(3,\)"),
        (lambda: adam_step(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), 0),
         "step must be an int of at least 1"),
        (lambda: sgd_step(np.zeros(2), np.zeros(2), np.zeros(2), momentum=1.0),
         r"momentum must be a number in \[0, 1\)"),
        (lambda: sgd_step(np.zeros(2), np.zeros(2), np.zeros(2), learning_rate=-1),
         "learning_rate must be a number in"),
    ],
)
def test_optimiser_steps_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "arguments",
    [{"initial_learning_rate": 0.1, "decay_steps": 50},
     {"initial_learning_rate": 0.1, "decay_steps": 50, "alpha": 0.1},
     {"initial_learning_rate": 0.001, "decay_steps": 40, "alpha": 0.01, "warmup_target": 0.01,
      "warmup_steps": 10},
     {"initial_learning_rate": 0.001, "decay_steps": 40, "warmup_target": 0.01}],
    ids=["cosine", "floor", "warm-up", "no-warm-up-steps"],
)
def test_cosine_decay_matches_keras_at_every_step(arguments):
    schedule = keras.optimizers.schedules.CosineDecay(**arguments)
    steps = np.arange(0, 70)
    theirs = np.array([float(to_numpy(schedule(int(step)))) for step in steps])
    np.testing.assert_allclose(cosine_decay(steps, **arguments), theirs, rtol=1e-5, atol=1e-9)


def test_cosine_decay_is_section_4_1s_one_cycle_schedule():
    schedule = one_cycle_schedule(200, peak=0.01, start=0.001, warmup_fraction=0.25, alpha=0.01)
    steps = np.arange(0, 201)
    theirs = np.array([float(to_numpy(schedule(int(step)))) for step in steps])
    ours = cosine_decay(steps, 0.001, 150, alpha=0.01, warmup_target=0.01, warmup_steps=50)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert ours.argmax() == 50 and ours[-1] == pytest.approx(1e-4)


# ---------------------------------------------------------------------------- conv backprop


def scalar_loss(upstream):
    """L(y) = sum(upstream * y), whose gradient with respect to y is upstream."""
    return lambda y: float(np.sum(upstream * y))


@FAST
@given(
    stride=st.sampled_from([1, 2, (1, 2)]),
    padding=st.sampled_from(["valid", "same", "full", 1]),
    kernel_size=st.sampled_from([(1, 1), (2, 2), (3, 2)]),
    seed=st.integers(0, 2**16),
)
def test_conv2d_gradients_match_finite_differences(stride, padding, kernel_size, seed):
    rng = np.random.default_rng(seed)
    x, kernel = rng.normal(size=(2, 5, 6, 2)), rng.normal(size=(*kernel_size, 2, 3))
    upstream = rng.normal(size=conv2d(x, kernel, stride=stride, padding=padding).shape)
    d_input, d_kernel = conv2d_gradients(x, kernel, upstream, stride=stride, padding=padding)
    loss = scalar_loss(upstream)
    np.testing.assert_allclose(
        d_input, numerical_gradient(lambda v: loss(conv2d(v, kernel, stride=stride,
                                                          padding=padding)), x), atol=1e-6)
    np.testing.assert_allclose(
        d_kernel, numerical_gradient(lambda k: loss(conv2d(x, k, stride=stride,
                                                           padding=padding)), kernel),
        atol=1e-6)


def test_the_input_gradient_is_a_full_correlation_with_the_flipped_kernel():
    rng = np.random.default_rng(0)
    x, kernel = rng.normal(size=(2, 7, 6, 3)), rng.normal(size=(3, 2, 3, 4))
    upstream = rng.normal(size=conv2d(x, kernel).shape)
    d_input, d_kernel = conv2d_gradients(x, kernel, upstream)
    flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2)  # (kh, kw, out, in)
    np.testing.assert_allclose(d_input, conv2d(upstream, flipped, padding="full"), atol=1e-12)
    # and the kernel gradient correlates the input with the upstream gradient, per channel
    by_channels = conv2d(x.transpose(3, 1, 2, 0), upstream.transpose(1, 2, 0, 3))
    np.testing.assert_allclose(d_kernel, by_channels.transpose(1, 2, 0, 3), atol=1e-12)
    single, _ = conv2d_gradients(x[0, :, :, 0], kernel[:, :, 0, 0],
                                 np.ones(conv2d(x[0, :, :, 0], kernel[:, :, 0, 0]).shape))
    assert single.shape == (7, 6)


@pytest.mark.parametrize(("stride", "padding"), [(1, "valid"), (2, "same"), (1, "same")])
def test_conv2d_input_gradient_matches_the_backend(stride, padding):
    rng = np.random.default_rng(1)
    x, kernel = rng.normal(size=(2, 7, 7, 2)).astype("float32"), rng.normal(size=(3, 3, 2, 4))
    layer = keras.layers.Conv2D(4, 3, strides=stride, padding=padding, use_bias=False)
    upstream = rng.normal(size=conv2d(x, kernel, stride=stride, padding=padding).shape[1:])
    model = score_model(layer, x.shape[1:], upstream)
    layer.set_weights([kernel.astype("float32")])
    backend = input_gradient(model, x, 0)
    ours, _ = conv2d_gradients(x, kernel, np.broadcast_to(upstream, (2, *upstream.shape)),
                               stride=stride, padding=padding)
    np.testing.assert_allclose(ours, backend, atol=1e-4)


@pytest.mark.parametrize(
    ("pool_size", "stride", "padding"), [(2, None, "valid"), (2, None, "same"), (3, 1, "valid")]
)
def test_max_pool2d_gradient_matches_the_backend_and_finite_differences(pool_size, stride,
                                                                       padding):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 7, 7, 3)).astype("float32")  # no ties between window entries
    pooled = max_pool2d(x, pool_size, stride, padding)
    upstream = rng.normal(size=pooled.shape[1:])
    layer = keras.layers.MaxPooling2D(pool_size, strides=stride, padding=padding)
    backend = input_gradient(score_model(layer, x.shape[1:], upstream), x, 0)
    full_upstream = np.broadcast_to(upstream, pooled.shape)
    ours = max_pool2d_gradient(x, full_upstream, pool_size, stride, padding)
    np.testing.assert_allclose(ours, backend, atol=1e-5)
    finite = numerical_gradient(
        lambda v: float(np.sum(full_upstream * max_pool2d(v, pool_size, stride, padding))),
        x.astype("float64"))
    np.testing.assert_allclose(ours, finite, atol=1e-5)


def test_max_pooling_passes_the_gradient_to_one_input_a_window():
    x = np.random.default_rng(3).normal(size=(6, 6))
    gradient = max_pool2d_gradient(x, np.ones((3, 3)))
    assert np.count_nonzero(gradient) == 9  # one of the four inputs of each 2x2 window
    winners = x.reshape(3, 2, 3, 2).transpose(0, 2, 1, 3).reshape(3, 3, 4).argmax(axis=-1)
    rows, cols = np.nonzero(gradient)
    assert sorted(zip(rows // 2, cols // 2, (rows % 2) * 2 + cols % 2, strict=True)) == sorted(
        (i, j, winners[i, j]) for i in range(3) for j in range(3))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: conv2d_gradients(np.ones((5, 5)), np.ones((3, 3)), np.ones((2, 2))),
         r"upstream must have the shape of the convolution's output, \(3, 3\), got \(2, 2\)"),
        (lambda: max_pool2d_gradient(np.ones((1, 4, 4, 2)), np.ones((1, 2, 2, 1))),
         r"upstream must have the shape of the pooling's output, \(1, 2, 2, 2\)"),
        (lambda: conv2d_gradients(np.ones((5, 5)), np.ones((3, 3, 1, 1)), np.ones((3, 3))),
         "expected x \\(height, width\\) with kernel \\(kh, kw\\)"),
    ],
)
def test_backpropagation_rejects_a_wrong_upstream_gradient(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------ depthwise-separable convolution


@FAST
@given(
    seed=st.integers(0, 2**16),
    channels=st.integers(1, 3),
    multiplier=st.integers(1, 2),
    filters=st.integers(1, 4),
    kernel_size=st.sampled_from([1, 2, 3]),
    stride=st.sampled_from([1, 2]),
    padding=st.sampled_from(["valid", "same"]),
)
def test_depthwise_and_separable_conv2d_match_keras(seed, channels, multiplier, filters,
                                                    kernel_size, stride, padding):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 6, 7, channels)).astype("float32")
    depthwise = keras.layers.DepthwiseConv2D(kernel_size, strides=stride, padding=padding,
                                             depth_multiplier=multiplier)
    separable = keras.layers.SeparableConv2D(filters, kernel_size, strides=stride,
                                             padding=padding, depth_multiplier=multiplier)
    depthwise.build(x.shape)
    separable.build(x.shape)
    d_kernel = rng.normal(size=(kernel_size, kernel_size, channels, multiplier))
    d_bias = rng.normal(size=channels * multiplier)
    p_kernel = rng.normal(size=(1, 1, channels * multiplier, filters))
    p_bias = rng.normal(size=filters)
    depthwise.set_weights([d_kernel.astype("float32"), d_bias.astype("float32")])
    separable.set_weights([w.astype("float32") for w in (d_kernel, p_kernel, p_bias)])
    np.testing.assert_allclose(
        depthwise_conv2d(x, d_kernel, d_bias, stride=stride, padding=padding),
        to_numpy(depthwise(x)), atol=1e-4)
    np.testing.assert_allclose(
        separable_conv2d(x, d_kernel, p_kernel, p_bias, stride=stride, padding=padding),
        to_numpy(separable(x)), atol=1e-4)


def test_depthwise_conv2d_is_one_conv2d_per_channel_and_mixes_nothing():
    rng = np.random.default_rng(7)
    x, kernel = rng.normal(size=(2, 6, 6, 3)), rng.normal(size=(3, 3, 3, 2))
    out = depthwise_conv2d(x, kernel)
    for c in range(3):
        for d in range(2):
            np.testing.assert_allclose(
                out[..., 2 * c + d],
                conv2d(x[..., c:c + 1], kernel[:, :, c:c + 1, d:d + 1])[..., 0], atol=1e-12)
    changed = x.copy()
    changed[..., 1] += 1.0  # only channel 1 changes: only its two outputs move
    moved = np.abs(depthwise_conv2d(changed, kernel) - out).max(axis=(0, 1, 2)) > 0
    assert moved.tolist() == [False, False, True, True, False, False]
    single_image, single_kernel = x[0, :, :, 0], kernel[:, :, 0, 0]
    np.testing.assert_allclose(depthwise_conv2d(single_image, single_kernel, 0.5),
                               conv2d(single_image, single_kernel, 0.5), atol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: depthwise_conv2d(np.ones((1, 5, 5)), np.ones((3, 3))),
         r"expected x \(height, width\) with kernel \(kh, kw\), or x \(batch, height, width"),
        (lambda: depthwise_conv2d(np.ones((1, 5, 5, 2)), np.ones((3, 3, 3, 1))),
         "kernel expects 3 input channels but x has 2"),
        (lambda: depthwise_conv2d(np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 2)), np.ones(2)),
         r"bias must have shape \(4,\), one per output channel"),
        (lambda: depthwise_conv2d(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1))),
         "kernel 3x3 does not fit input 2x2"),
        (lambda: separable_conv2d(np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 1)),
                                  np.ones((3, 3, 2, 4))),
         r"pointwise_kernel must have shape \(1, 1, 2, filters\)"),
        (lambda: separable_conv2d(np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 1)),
                                  np.ones((1, 1, 2, 4)), np.ones(3)),
         r"bias must have shape \(4,\)"),
    ],
)
def test_depthwise_and_separable_conv2d_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
