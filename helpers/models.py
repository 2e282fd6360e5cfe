"""Model builders the book reuses, written with backend-neutral Keras 3 only.

Import this module after :func:`helpers.environment.prepare` has chosen the backend.
"""

from __future__ import annotations

import keras
from keras import layers


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def small_cnn(
    input_shape: tuple[int, int, int] = (28, 28, 1),
    num_classes: int = 10,
    filters: tuple[int, int] = (32, 64),
    dropout: float = 0.5,
    name: str = "small_cnn",
) -> keras.Model:
    """Two convolution + max-pooling blocks and a softmax classifier (Chapter 1).

    This is the layout of the well-known Keras MNIST convnet example. The first layer rescales
    uint8 pixels to [0, 1], so the model takes raw images. The output is a probability per
    class (softmax), to be trained with ``SparseCategoricalCrossentropy()`` *without*
    ``from_logits=True``; Chapter 4 shows what goes wrong when the two are mixed.
    """
    if not (isinstance(input_shape, tuple) and len(input_shape) == 3):
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    for size in input_shape:
        _positive_int("each entry of input_shape", size)
    if min(input_shape[:2]) < 10:
        raise ValueError(
            f"input images must be at least 10x10 pixels for two 3x3 conv + 2x2 pool blocks, "
            f"got {input_shape[0]}x{input_shape[1]}"
        )
    _positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if not (isinstance(filters, tuple) and len(filters) == 2):
        raise ValueError(f"filters must be a pair of ints, got {filters!r}")
    for count in filters:
        _positive_int("each entry of filters", count)
    if not (isinstance(dropout, float | int) and 0.0 <= dropout < 1.0):
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(filters[0], 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(2),
            layers.Conv2D(filters[1], 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(dropout),
            layers.Dense(num_classes, activation="softmax", name="probabilities"),
        ],
        name=name,
    )
