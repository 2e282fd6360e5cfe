"""helpers.environment and helpers.models."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.environment import Environment, prepare

ENV = prepare(seed=0)

import keras  # noqa: E402 - after prepare() chose the backend

from helpers.models import small_cnn  # noqa: E402


def test_prepare_reports_the_backend_and_seeds_everything():
    assert isinstance(ENV, Environment)
    assert ENV.backend == keras.backend.backend()
    assert ENV.keras_version == keras.__version__
    assert f"on the {ENV.backend} backend" in repr(ENV)
    prepare(seed=3, backend=ENV.backend)
    first = (np.random.rand(), keras.ops.convert_to_numpy(keras.random.uniform((2,))))
    prepare(seed=3, backend=ENV.backend)
    second = (np.random.rand(), keras.ops.convert_to_numpy(keras.random.uniform((2,))))
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed must be a non-negative int"),
        ({"seed": 1.5}, "seed must be a non-negative int"),
        ({"backend": "theano"}, r"backend must be one of \('tensorflow', 'jax', 'torch'\)"),
    ],
)
def test_prepare_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        prepare(**kwargs)


def test_prepare_refuses_to_switch_backend_after_import():
    other = "jax" if ENV.backend != "jax" else "torch"
    with pytest.raises(RuntimeError, match="restart the kernel"):
        prepare(backend=other)


def test_small_cnn_shapes_and_parameter_count():
    model = small_cnn()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    # conv1 3*3*1*32+32, conv2 3*3*32*64+64, dense 5*5*64*10+10
    assert model.count_params() == 320 + 18496 + 16010
    probabilities = keras.ops.convert_to_numpy(model(np.zeros((2, 28, 28, 1), "uint8")))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_small_cnn_learns_a_toy_task():
    prepare(seed=0, backend=ENV.backend)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 60, size=(64, 12, 12, 1)).astype("uint8")
    labels = rng.integers(0, 2, size=64)
    images[labels == 1, 3:9, 3:9, 0] = 255  # class 1 has a bright square
    model = small_cnn(input_shape=(12, 12, 1), num_classes=2, filters=(4, 8), dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    before = model.evaluate(images, labels, verbose=0)
    model.fit(images, labels, epochs=15, batch_size=16, verbose=0)
    after = model.evaluate(images, labels, verbose=0)
    assert after < 0.5 * before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_shape": (28, 28)}, r"input_shape must be \(height, width, channels\)"),
        ({"input_shape": (8, 8, 1)}, "at least 10x10 pixels"),
        ({"input_shape": (28, 28, 0)}, "each entry of input_shape must be a positive int"),
        ({"num_classes": 1}, "num_classes must be at least 2"),
        ({"num_classes": "ten"}, "num_classes must be a positive int"),
        ({"filters": (32,)}, "filters must be a pair of ints"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ],
)
def test_small_cnn_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_cnn(**kwargs)
