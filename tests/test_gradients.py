"""helpers.gradients: input gradients and Grad-CAM against finite differences and known models.

Only the backend Keras runs on is exercised (TensorFlow on the book's machine); the dispatch
itself is tested by pretending to be another backend.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from helpers import gradients
from helpers.environment import prepare
from helpers.gradients import SUPPORTED_BACKENDS, grad_cam, input_gradient
from helpers.reference import numerical_gradient

ENV = prepare(seed=0)  # the backend conftest.py chose, and its report


def _float64_mlp() -> keras.Model:
    """4x4 grey images -> tanh layer -> 3-class softmax, all in float64 for finite differences."""
    prepare(seed=1, backend=ENV.backend)
    return keras.Sequential(
        [
            keras.Input((4, 4, 1), dtype="float64"),
            layers.Flatten(dtype="float64"),
            layers.Dense(5, activation="tanh", dtype="float64"),
            layers.Dense(3, activation="softmax", dtype="float64", name="probabilities"),
        ]
    )


# Finite differences need float64 to agree to 1e-6. TensorFlow computes the float64 model in
# float64; JAX computes in float32 unless JAX_ENABLE_X64 is set, and Keras' torch backend
# multiplies float64 matrices in float32. There the step and the tolerance are larger.
_ONES = keras.ops.ones((2, 2), dtype="float64")
FLOAT64 = keras.backend.standardize_dtype(keras.ops.matmul(_ONES, _ONES).dtype) == "float64"
STEP, RTOL, ATOL = (1e-6, 1e-6, 1e-9) if FLOAT64 else (1e-2, 2e-2, 1e-4)


def _probabilities(model: keras.Model, image: np.ndarray) -> np.ndarray:
    batch = keras.ops.convert_to_tensor(image[None], dtype=image.dtype.name)
    return keras.ops.convert_to_numpy(model(batch, training=False))[0]


@pytest.fixture(scope="module")
def mlp() -> keras.Model:
    return _float64_mlp()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, size=(2, 4, 4, 1))


def test_output_gradient_matches_finite_differences(mlp, images):
    classes = np.array([0, 2])
    gradient = input_gradient(mlp, images, classes)
    assert gradient.shape == images.shape
    for image, cls, row in zip(images, classes, gradient, strict=True):
        expected = numerical_gradient(lambda x, c=cls: _probabilities(mlp, x)[c], image, STEP)
        np.testing.assert_allclose(row, expected, rtol=RTOL, atol=ATOL)


def test_loss_gradient_matches_finite_differences_and_the_chain_rule(mlp, images):
    labels = np.array([1, 0])
    gradient = input_gradient(mlp, images, labels, quantity="loss")
    for image, label, row in zip(images, labels, gradient, strict=True):
        expected = numerical_gradient(
            lambda x, c=label: -np.log(_probabilities(mlp, x)[c]), image, STEP
        )
        np.testing.assert_allclose(row, expected, rtol=RTOL, atol=ATOL)
    # d(-log p)/dx = -(dp/dx) / p
    output_gradient = input_gradient(mlp, images, labels)
    chosen = keras.ops.convert_to_numpy(mlp(images))[np.arange(2), labels]
    np.testing.assert_allclose(
        gradient, -output_gradient / chosen[:, None, None, None], rtol=RTOL, atol=ATOL
    )


def test_float32_model_with_rescaling_matches_finite_differences():
    prepare(seed=2, backend=ENV.backend)
    model = keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            layers.Rescaling(1.0 / 255),
            layers.Flatten(),
            layers.Dense(6, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    )
    image = np.random.default_rng(1).uniform(0, 255, size=(4, 4, 1))
    gradient = input_gradient(model, image[None], 1)[0]
    expected = numerical_gradient(lambda x: _probabilities(model, x)[1], image, epsilon=0.5)
    np.testing.assert_allclose(gradient, expected, rtol=2e-2, atol=1e-6)
    assert gradient.dtype == np.float32


def test_linear_model_gradient_is_its_weight_column():
    prepare(seed=3, backend=ENV.backend)
    model = keras.Sequential(
        [keras.Input((4, 4, 1)), layers.Flatten(), layers.Dense(3, name="linear")]
    )
    kernel = model.get_layer("linear").get_weights()[0]
    images = np.random.default_rng(2).uniform(0, 1, size=(3, 4, 4, 1))
    gradient = input_gradient(model, images, [2, 0, 2])
    for row, cls in zip(gradient, [2, 0, 2], strict=True):
        # exact in exact arithmetic; 1e-6 leaves room for a backend's fused float32 kernels
        np.testing.assert_allclose(row, kernel[:, cls].reshape(4, 4, 1), rtol=1e-6, atol=1e-7)


def test_batches_give_the_same_gradient_as_one_pass(mlp, images):
    many = np.concatenate([images, images[::-1], images])
    whole = input_gradient(mlp, many, 1, quantity="loss")
    chunked = input_gradient(mlp, many, 1, quantity="loss", batch_size=4)
    # Other batch sizes sum in another order: float64's last bits where the backend computes in
    # float64, float32's (kernels chosen by batch size) where it does not.
    np.testing.assert_allclose(chunked, whole, rtol=1e-12 if FLOAT64 else 1e-5)


def test_unknown_backend_names_the_supported_ones(monkeypatch, mlp, images):
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    with pytest.raises(NotImplementedError, match=r"\('tensorflow', 'jax', 'torch'\).*'numpy'"):
        input_gradient(mlp, images, 0)
    assert SUPPORTED_BACKENDS == ("tensorflow", "jax", "torch")


def test_dispatch_picks_the_running_backends_implementation(monkeypatch, mlp, images):
    calls = []
    real = gradients._GRADIENT_BY_BACKEND[ENV.backend]
    other = next(name for name in SUPPORTED_BACKENDS if name != ENV.backend)

    def pretend(model, inputs, score_fn):
        calls.append(inputs.shape)
        return real(model, inputs, score_fn)

    monkeypatch.setattr(keras.backend, "backend", lambda: other)
    monkeypatch.setitem(gradients._GRADIENT_BY_BACKEND, other, pretend)
    via_other = input_gradient(mlp, images, 1)
    monkeypatch.undo()
    np.testing.assert_array_equal(via_other, input_gradient(mlp, images, 1))
    assert calls == [images.shape]


# --------------------------------------------------------------------------------------------
# Grad-CAM


def _known_cam_model() -> keras.Model:
    """Conv 'conv' copies the image into channel 0 (ReLU) and zeros channel 1; global average
    pooling; class 0 rises with channel 0, class 1 falls with it."""
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            layers.Conv2D(2, 3, padding="same", activation="relu", name="conv"),
            layers.MaxPooling2D(2, name="pool"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(2, activation="softmax", name="probabilities"),
        ]
    )
    kernel = np.zeros((3, 3, 1, 2), "float32")
    kernel[1, 1, 0, 0] = 1.0
    model.get_layer("conv").set_weights([kernel, np.zeros(2, "float32")])
    dense = np.array([[1.0, -1.0], [0.0, 0.0]], "float32")
    model.get_layer("probabilities").set_weights([dense, np.zeros(2, "float32")])
    return model


def test_grad_cam_of_a_known_model_is_the_evidence_it_uses():
    model = _known_cam_model()
    images = np.random.default_rng(3).uniform(0, 1, size=(2, 6, 6, 1)).astype("float32")
    # pooling passes gradients to the maximum of each 2x2 block only, so use the layer before
    heat = grad_cam(model, images, 0, "conv")
    assert heat.shape == (2, 6, 6)
    expected = images[..., 0] / images.max(axis=(1, 2, 3))[:, None, None]
    np.testing.assert_allclose(heat, expected, rtol=1e-5)
    # class 1 is evidence against channel 0 everywhere: nothing speaks for it
    np.testing.assert_array_equal(grad_cam(model, images, 1, "conv"), 0.0)


def test_grad_cam_upsamples_a_coarse_layer_to_the_input_size_in_0_1():
    model = _known_cam_model()
    images = np.random.default_rng(4).uniform(0, 1, size=(3, 6, 6, 1))
    heat = grad_cam(model, images, [0, 0, 1], "pool", batch_size=2)
    assert heat.shape == (3, 6, 6)
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    np.testing.assert_allclose(heat[:2].max(axis=(1, 2)), 1.0)
    np.testing.assert_array_equal(heat[2], 0.0)


def test_grad_cam_refuses_a_layer_that_a_skip_connection_goes_around():
    inputs = keras.Input((6, 6, 1))
    features = layers.Conv2D(2, 3, name="conv")(inputs)
    pooled = layers.GlobalAveragePooling2D()(features)
    skip = layers.Flatten()(inputs)
    outputs = layers.Dense(2, activation="softmax")(layers.Concatenate()([pooled, skip]))
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="skip connection"):
        grad_cam(model, np.zeros((1, 6, 6, 1)), 0, "conv")


# --------------------------------------------------------------------------------------------
# bad arguments


@pytest.mark.parametrize(
    ("images", "class_index", "kwargs", "message"),
    [
        (np.zeros((4, 4, 1)), 0, {}, r"a batch of shape \(n, 4, 4, 1\).*images\[None\]"),
        (np.zeros((1, 5, 4, 1)), 0, {}, r"takes images of shape \(n, 4, 4, 1\), got shape"),
        (np.zeros((0, 4, 4, 1)), 0, {}, "at least one image"),
        (np.array([[["a"]]]), 0, {}, "images must be numeric"),
        (np.zeros((2, 4, 4, 1)), 3, {}, r"in \[0, 2\] for a model with 3 classes, got 3"),
        (np.zeros((2, 4, 4, 1)), -1, {}, r"class index in \[0, 2\].*got -1"),
        (np.zeros((2, 4, 4, 1)), [0, 1, 2], {}, r"one class per image \(2\), got shape \(3,\)"),
        (np.zeros((2, 4, 4, 1)), 1.0, {}, "class_index must be an int"),
        (np.zeros((2, 4, 4, 1)), 0, {"quantity": "logit"}, "quantity must be 'output' or 'loss'"),
        (np.zeros((2, 4, 4, 1)), 0, {"from_logits": "yes"}, "from_logits must be True or False"),
        (np.zeros((2, 4, 4, 1)), 0, {"batch_size": 0}, "batch_size must be a positive int"),
    ],
)
def test_input_gradient_rejects_bad_arguments(mlp, images, class_index, kwargs, message):
    with pytest.raises(ValueError, match=message):
        input_gradient(mlp, images, class_index, **kwargs)


def test_input_gradient_rejects_models_it_cannot_read():
    with pytest.raises(ValueError, match="model must be a keras.Model, got function"):
        input_gradient(lambda x: x, np.zeros((1, 4, 4, 1)), 0)
    unbuilt = keras.Sequential([layers.Dense(3)])
    with pytest.raises(ValueError, match="build it with keras.Input"):
        input_gradient(unbuilt, np.zeros((1, 4)), 0)
    inputs = keras.Input((4,))
    two_outputs = keras.Model(inputs, [layers.Dense(2)(inputs), layers.Dense(3)(inputs)])
    with pytest.raises(ValueError, match="one input and one output, got 1 inputs and 2 outputs"):
        input_gradient(two_outputs, np.zeros((1, 4)), 0)
    segmenter = keras.Sequential([keras.Input((4, 4, 1)), layers.Conv2D(2, 1)])
    with pytest.raises(ValueError, match=r"one score per class.*\(None, 4, 4, 2\)"):
        input_gradient(segmenter, np.zeros((1, 4, 4, 1)), 0)


def test_grad_cam_rejects_unknown_and_flat_layers():
    model = _known_cam_model()
    with pytest.raises(ValueError, match=r"no layer named 'conv9'; its layers are \['conv', 'p"):
        grad_cam(model, np.zeros((1, 6, 6, 1)), 0, "conv9")
    with pytest.raises(ValueError, match=r"spatial output.*'gap' outputs shape \(None, 2\)"):
        grad_cam(model, np.zeros((1, 6, 6, 1)), 0, "gap")
    with pytest.raises(ValueError, match=r"class index in \[0, 1\]"):
        grad_cam(model, np.zeros((1, 6, 6, 1)), 2, "conv")
    with pytest.raises(ValueError, match="images must be a batch"):
        grad_cam(model, np.zeros((6, 6, 1)), 0, "conv")


# weight_gradients: the gradient of a batch's mean cross-entropy with respect to every weight


def _mean_loss(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    probabilities = keras.ops.convert_to_numpy(model(images, training=False))
    return float(-np.log(probabilities[np.arange(len(labels)), labels]).mean())


def test_weight_gradients_match_finite_differences_and_the_loss(mlp, images):
    labels = np.array([2, 1])
    found, loss = gradients.weight_gradients(mlp, images, labels)
    assert list(found) == [v.path.removeprefix(f"{mlp.name}/") for v in mlp.trainable_variables]
    assert loss == pytest.approx(_mean_loss(mlp, images, labels), rel=1e-6)
    for variable in mlp.trainable_variables:
        start = keras.ops.convert_to_numpy(variable).astype("float64")

        def loss_at(value, variable=variable):
            variable.assign(value)
            return _mean_loss(mlp, images, labels)

        expected = numerical_gradient(loss_at, start.copy(), STEP)
        variable.assign(start)
        key = variable.path.removeprefix(f"{mlp.name}/")
        assert found[key].shape == start.shape
        np.testing.assert_allclose(found[key], expected, rtol=RTOL, atol=ATOL)


def test_weight_gradients_of_the_last_layer_are_the_chain_rule_and_change_nothing():
    # softmax regression: d(mean CE)/dW = x^T (p - y) / n and d/db = mean(p - y)  (Chapter 3)
    prepare(seed=4, backend=ENV.backend)
    model = keras.Sequential(
        [keras.Input((3, 3, 1)), layers.Flatten(), layers.Dense(4, activation="softmax",
                                                                name="softmax")]
    )
    rng = np.random.default_rng(5)
    images, labels = rng.normal(size=(6, 3, 3, 1)).astype("float32"), rng.integers(0, 4, 6)
    before = [w.copy() for w in model.get_weights()]
    found, _ = gradients.weight_gradients(model, images, labels)
    p = keras.ops.convert_to_numpy(model(images)).astype("float64")
    delta = (p - np.eye(4)[labels]) / len(labels)
    np.testing.assert_allclose(found["softmax/kernel"], images.reshape(6, 9).T @ delta,
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(found["softmax/bias"], delta.sum(axis=0), rtol=1e-5, atol=1e-7)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_weight_gradients_leave_batch_normalisation_and_dropout_in_inference_mode():
    prepare(seed=6, backend=ENV.backend)
    model = keras.Sequential(
        [keras.Input((4, 4, 1)), layers.Flatten(), layers.BatchNormalization(),
         layers.Dropout(0.5), layers.Dense(3, activation="softmax")]
    )
    images = np.random.default_rng(7).normal(3.0, 2.0, size=(8, 4, 4, 1)).astype("float32")
    statistics = [keras.ops.convert_to_numpy(v).copy() for v in model.non_trainable_variables]
    first, _ = gradients.weight_gradients(model, images, 0)
    second, _ = gradients.weight_gradients(model, images, 0)
    for path in first:  # no dropout mask drawn: the same gradients twice
        np.testing.assert_array_equal(first[path], second[path])
    for old, variable in zip(statistics, model.non_trainable_variables, strict=True):
        np.testing.assert_array_equal(old, keras.ops.convert_to_numpy(variable))


@pytest.mark.parametrize(
    ("labels", "kwargs", "message"),
    [
        (5, {}, r"labels must be a class index in \[0, 2\]"),
        ([0, 1, 2], {}, r"labels must be an int or hold one class per image \(2\)"),
        (0, {"from_logits": 1}, "from_logits must be True or False"),
    ],
)
def test_weight_gradients_reject_bad_arguments(mlp, images, labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gradients.weight_gradients(mlp, images, labels, **kwargs)


def test_weight_gradients_need_weights_and_a_known_backend(monkeypatch, mlp, images):
    frozen = keras.Sequential([keras.Input((4, 4, 1)), layers.Flatten(),
                               layers.Dense(3, activation="softmax")])
    frozen.trainable = False
    with pytest.raises(ValueError, match="has no trainable weights"):
        gradients.weight_gradients(frozen, images, 0)
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    with pytest.raises(NotImplementedError, match="'numpy'"):
        gradients.weight_gradients(mlp, images, 0)
