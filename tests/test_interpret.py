"""helpers.interpret: occlusion maps, saliency, weight randomisation, rank correlation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from helpers.environment import prepare
from helpers.gradients import input_gradient
from helpers.interpret import (
    occlusion_sensitivity,
    randomize_weights,
    rank_correlation,
    saliency,
)

ENV = prepare(seed=0)  # the backend conftest.py chose, and its report


def _corner_model() -> keras.Model:
    """8x8 images; only the top-left 2x2 pixels reach the classifier, which says class 0
    the brighter they are."""
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Cropping2D(((0, 6), (0, 6)), name="corner"),
            layers.Flatten(),
            layers.Dense(2, activation="softmax", name="probabilities"),
        ]
    )
    kernel = np.tile(np.array([[0.5, -0.5]], "float32"), (4, 1))
    model.get_layer("probabilities").set_weights([kernel, np.zeros(2, "float32")])
    return model


def _predict(model: keras.Model):
    return lambda batch: keras.ops.convert_to_numpy(model(batch, training=False))


def test_occlusion_finds_the_only_pixels_a_model_looks_at():
    model = _corner_model()
    image = np.ones((8, 8, 1), "float32")
    drop = occlusion_sensitivity(_predict(model), image, 0, patch=2, stride=2)
    assert drop.shape == (8, 8)
    assert (drop[:2, :2] > 0.1).all()  # covering the corner removes the evidence for class 0
    # The ignored pixels: no drop. Not exactly 0.0: the unoccluded image is scored in a batch of
    # another size, and float32 kernels may round by batch size (oneDNN, ARM), so 1e-6.
    np.testing.assert_allclose(drop[2:, :], 0.0, atol=1e-6)
    np.testing.assert_allclose(drop[:, 2:], 0.0, atol=1e-6)
    # for class 1 the same corner is evidence against: covering it raises the probability
    assert (occlusion_sensitivity(_predict(model), image, 1, patch=2, stride=2)[:2, :2] < 0).all()


def test_overlapping_patches_concentrate_the_map_at_the_corner():
    model = _corner_model()
    image = np.ones((8, 8, 1), "float32")
    drop = occlusion_sensitivity(_predict(model), image, 0, patch=4, stride=2, batch_size=3)
    assert np.unravel_index(np.argmax(drop), drop.shape) == (0, 0)
    assert drop[:4, :4].sum() > 0.9 * drop.sum()
    np.testing.assert_allclose(drop[4:, :], 0.0, atol=1e-6)  # no patch there covers the corner
    same = occlusion_sensitivity(_predict(model), image, 0, patch=4, stride=2)
    # Batches of 3 and of 16 patches: float32 kernels chosen by batch size differ in the last
    # bits (3e-8 seen on an AMD EPYC), so float32's rounding, not exact equality.
    np.testing.assert_allclose(drop, same, rtol=1e-6, atol=1e-7)


def test_occlusion_covers_every_pixel_when_the_patches_do_not_divide_the_image():
    calls = []

    def brightness(batch: np.ndarray) -> np.ndarray:  # a NumPy "model": p(class 1) = mean pixel
        calls.append(len(batch))
        p = batch.mean(axis=(1, 2, 3))
        return np.stack([1 - p, p], axis=1)

    image = np.full((7, 9, 2), 0.5)
    drop = occlusion_sensitivity(brightness, image, 1, patch=3, stride=2, fill=0.0)
    assert drop.shape == (7, 9)
    # every patch darkens 9 of 63 pixels in both channels, a drop of 0.5 * 9 / 63 anywhere
    np.testing.assert_allclose(drop, 0.5 * 9 / 63)
    assert calls == [1, 3 * 4]  # rows start 0, 2, 4; columns 0, 2, 4, 6


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (np.ones((8, 8)), {}, r"one image \(height, width, channels\), got shape \(8, 8\)"),
        (np.ones((1, 8, 8, 1)), {}, "once per image"),
        (np.ones((8, 8, 1)), {"patch": 9}, "patch must fit in the 8x8 image"),
        (np.ones((8, 8, 1)), {"patch": 2, "stride": 3}, r"stride must be at most patch \(2\)"),
        (np.ones((8, 8, 1)), {"patch": 0}, "patch must be a positive int"),
        (np.ones((8, 8, 1)), {"fill": float("nan")}, "fill must be a finite number"),
        (np.ones((8, 8, 1)), {"class_index": 2}, r"class_index must be in \[0, 1\]"),
        (np.ones((8, 8, 1)), {"class_index": 0.5}, "class_index must be an int"),
    ],
)
def test_occlusion_rejects_bad_arguments(image, kwargs, message):
    model = _corner_model()
    arguments = {"class_index": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        occlusion_sensitivity(_predict(model), image, **arguments)


def test_occlusion_checks_what_predict_fn_returns():
    with pytest.raises(ValueError, match=r"one row of class probabilities per image, shape \(1,"):
        occlusion_sensitivity(lambda batch: np.ones(len(batch)), np.ones((8, 8, 1)), 0)


def test_saliency_is_the_largest_absolute_gradient_over_channels():
    prepare(seed=4, backend=ENV.backend)
    model = keras.Sequential(
        [keras.Input((3, 3, 2)), layers.Flatten(), layers.Dense(4, name="linear")]
    )
    kernel = model.get_layer("linear").get_weights()[0]
    images = np.random.default_rng(0).uniform(0, 1, size=(2, 3, 3, 2))
    maps = saliency(model, images, 3)
    assert maps.shape == (2, 3, 3)
    expected = np.abs(kernel[:, 3].reshape(3, 3, 2)).max(axis=-1)
    np.testing.assert_allclose(maps, np.stack([expected, expected]), rtol=1e-6)
    np.testing.assert_array_equal(maps, np.abs(input_gradient(model, images, 3)).max(axis=-1))


def _small_convnet() -> keras.Model:
    prepare(seed=5, backend=ENV.backend)
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            layers.Rescaling(1.0 / 255, name="rescale"),
            layers.Conv2D(3, 3, activation="relu", name="conv"),
            layers.BatchNormalization(name="norm"),
            layers.Flatten(name="flatten"),
            layers.Dense(2, activation="softmax", name="probabilities"),
        ],
        name="tiny",
    )


def _kernels(model: keras.Model) -> dict[str, list[np.ndarray]]:
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def test_randomize_weights_redraws_every_kernel_and_keeps_the_architecture():
    model = _small_convnet()
    before = _kernels(model)
    clone = randomize_weights(model, seed=7)
    assert clone is not model
    assert [(type(layer), layer.name) for layer in clone.layers] == [
        (type(layer), layer.name) for layer in model.layers
    ]
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    assert clone.output_shape == model.output_shape
    after = _kernels(clone)
    for name in ("conv", "probabilities"):
        assert not np.allclose(after[name][0], before[name][0])  # kernels redrawn
        np.testing.assert_array_equal(after[name][1], 0.0)  # biases back at their zero init
    for name, weights in _kernels(model).items():  # the original model is untouched
        for old, now in zip(before[name], weights, strict=True):
            np.testing.assert_array_equal(old, now)
    images = np.random.default_rng(1).uniform(0, 255, size=(2, 6, 6, 1))
    probabilities = keras.ops.convert_to_numpy(clone(images))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_randomize_weights_is_reproducible_by_seed():
    model = _small_convnet()
    first, again = randomize_weights(model, seed=3), randomize_weights(model, seed=3)
    other = randomize_weights(model, seed=4)
    for name in ("conv", "probabilities"):
        np.testing.assert_array_equal(_kernels(first)[name][0], _kernels(again)[name][0])
        assert not np.allclose(_kernels(first)[name][0], _kernels(other)[name][0])


def test_randomize_weights_of_chosen_layers_keeps_the_others():
    model = _small_convnet()
    model.get_layer("norm").set_weights([np.full(3, 2.0, "float32")] * 4)
    clone = randomize_weights(model, seed=0, layer_names=["probabilities"])
    original, changed = _kernels(model), _kernels(clone)
    assert not np.allclose(changed["probabilities"][0], original["probabilities"][0])
    for name in ("conv", "norm"):
        for old, new in zip(original[name], changed[name], strict=True):
            np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed must be a non-negative int"),
        ({"seed": True}, "seed must be a non-negative int"),
        ({"seed": 0, "layer_names": ["conv", "dense_9"]}, r"no layers named \['dense_9'\]"),
        ({"seed": 0, "layer_names": "conv"}, "layer_names must be a list of names"),
    ],
)
def test_randomize_weights_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        randomize_weights(_small_convnet(), **kwargs)


def test_rank_correlation_compares_orderings_not_values():
    a = np.arange(16.0).reshape(4, 4)
    assert rank_correlation(a, a) == pytest.approx(1.0)
    assert rank_correlation(a, np.exp(a)) == pytest.approx(1.0)  # same order, other values
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    noise = np.random.default_rng(0).permutation(16).reshape(4, 4)
    assert abs(rank_correlation(a, noise)) < 0.6


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.ones((2, 2)), np.ones((2, 3)), r"same shape, got \(2, 2\) and \(2, 3\)"),
        (np.ones((2, 2)), np.arange(4.0).reshape(2, 2), "map_a is constant"),
        (np.array([1.0]), np.array([2.0]), "at least two pixels"),
        (np.array([1.0, np.nan]), np.array([2.0, 1.0]), "must be finite"),
    ],
)
def test_rank_correlation_rejects_bad_maps(a, b, message):
    with pytest.raises(ValueError, match=message):
        rank_correlation(a, b)
