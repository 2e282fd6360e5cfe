"""The input rules the package applies where data enters it, each worded once.

Arrays and counts that come from a reader's code are checked here, so that a wrong shape,
dtype or range is a ``ValueError`` that says what was expected and what came. The checks of a
model and its inputs import Keras when they run, not when this module is imported, because
:mod:`helpers.environment` uses this module before it has chosen the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras


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


def generator(rng: object) -> np.random.Generator:
    """``rng`` if it is a NumPy random generator (``np.random.default_rng(seed)``)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got "
            f"{type(rng).__name__}"
        )
    return rng


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


def classifier_shapes(model: object) -> tuple[tuple, int]:
    """The model's input shape (without the batch axis) and its number of classes."""
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise ValueError(
            f"model {model.name!r} has no defined inputs and outputs; "
            "build it with keras.Input (a Functional or Sequential model starting with Input)"
        )
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"model must have one input and one output, got {len(inputs)} inputs "
            f"and {len(outputs)} outputs"
        )
    output_shape = tuple(outputs[0].shape)
    if len(output_shape) != 2 or output_shape[1] is None:
        raise ValueError(
            f"model must output one score per class, shape (batch, classes), "
            f"got output shape {output_shape}"
        )
    return tuple(inputs[0].shape[1:]), int(output_shape[1])


def _input_dtype(model: keras.Model) -> str:
    import keras

    dtype = keras.backend.standardize_dtype(model.inputs[0].dtype)
    return dtype if "float" in dtype else keras.backend.floatx()


def model_images(model: keras.Model, images: object, expected: tuple) -> np.ndarray:
    """Images as a float array of the model's input dtype, checked against its input shape."""
    array = np.asarray(images)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"images must be numeric, got dtype {array.dtype}")
    wanted = f"(n, {', '.join(str(size) for size in expected)})"
    if array.ndim != len(expected) + 1:
        raise ValueError(
            f"images must be a batch of shape {wanted} (rank {len(expected) + 1}), "
            f"got shape {array.shape}; for one image use images[None]"
        )
    pairs = zip(expected, array.shape[1:], strict=True)
    if any(want is not None and want != got for want, got in pairs):
        raise ValueError(
            f"model {model.name!r} takes images of shape {wanted}, got shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError("images must hold at least one image, got an empty batch")
    return array.astype(_input_dtype(model))


def class_indices(name: str, labels: object, count: int, num_classes: int) -> np.ndarray:
    """One class index per image: an int (the same class for all) or a sequence of ``count``."""
    array = np.asarray(labels)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be an int or a sequence of ints, got {labels!r}")
    if array.ndim == 0:
        array = np.full(count, int(array))
    if array.ndim != 1 or len(array) != count:
        raise ValueError(
            f"{name} must be an int or hold one class per image ({count}), "
            f"got shape {array.shape}"
        )
    if array.min() < 0 or array.max() >= num_classes:
        bad = array[(array < 0) | (array >= num_classes)][0]
        raise ValueError(
            f"{name} must be a class index in [0, {num_classes - 1}] for a model with "
            f"{num_classes} classes, got {bad}"
        )
    return array.astype("int64")
