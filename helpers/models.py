"""Model builders the book reuses, written with backend-neutral Keras 3 only.

The GAN lives in :mod:`helpers.gan` and the classifier that judges its digits in
:mod:`helpers.judge`. Import this module after :func:`helpers.environment.prepare` has chosen
the backend.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from helpers.checks import positive_int


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
        positive_int("each entry of input_shape", size)
    if min(input_shape[:2]) < 10:
        raise ValueError(
            f"input images must be at least 10x10 pixels for two 3x3 conv + 2x2 pool blocks, "
            f"got {input_shape[0]}x{input_shape[1]}"
        )
    positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if not (isinstance(filters, tuple) and len(filters) == 2):
        raise ValueError(f"filters must be a pair of ints, got {filters!r}")
    for count in filters:
        positive_int("each entry of filters", count)
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



def fast_cnn(name: str = "fast_cnn") -> keras.Model:
    """Section 4.1's fast MNIST classifier: two conv + batch norm + ReLU + max-pooling blocks.

    The convolutions have no bias (the batch normalisation that follows has its own shift).
    Like :func:`small_cnn` it takes raw uint8 images of shape (28, 28, 1) and outputs softmax
    probabilities. The flattened 5x5x64 feature maps are the layer named ``"features"``;
    :func:`feature_extractor` turns them into a model of their own (Section 4.3 compares
    generated and real digits in that space). Train it with :func:`one_cycle_schedule`.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")

    def conv_bn_relu(filters: int) -> list[layers.Layer]:
        return [
            layers.Conv2D(filters, 3, use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
        ]

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1.0 / 255),
            *conv_bn_relu(32),
            layers.MaxPooling2D(2),
            *conv_bn_relu(64),
            layers.MaxPooling2D(2),
            layers.Flatten(name="features"),
            layers.Dropout(0.25),
            layers.Dense(10, activation="softmax"),
        ],
        name=name,
    )


def feature_extractor(model: keras.Model, layer: str = "features") -> keras.Model:
    """A model from ``model``'s input to the output of its layer named ``layer``.

    With the defaults and a :func:`fast_cnn`, it maps uint8 images to their 1,600 penultimate
    features (the input of the final dropout and dense layers). The new model shares the
    weights of ``model``; it is not a copy.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    names = [each.name for each in model.layers]
    if layer not in names:
        raise ValueError(f"model {model.name!r} has no layer named {layer!r}; it has {names}")
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, model.get_layer(layer).output, name=f"{model.name}_{layer}")


def one_cycle_schedule(
    steps: int,
    peak: float = 0.01,
    start: float = 0.001,
    warmup_fraction: float = 0.25,
    alpha: float = 0.01,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Section 4.1's one-cycle learning rate: linear warm-up, then cosine decay.

    The rate climbs linearly from ``start`` to ``peak`` over the first
    ``int(steps * warmup_fraction)`` steps, then falls along a cosine to ``alpha * peak`` at
    step ``steps``. Give it to ``keras.optimizers.Adam``.
    """
    positive_int("steps", steps)
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (a warm-up and a decay), got {steps}")
    for label, value in (("peak", peak), ("start", start)):
        if isinstance(value, bool) or not isinstance(value, float | int) or not value > 0:
            raise ValueError(f"{label} must be a positive number, got {value!r}")
    if not (isinstance(warmup_fraction, float | int) and 0.0 <= warmup_fraction < 1.0):
        raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction!r}")
    if not (isinstance(alpha, float | int) and 0.0 <= alpha <= 1.0):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    warmup_steps = int(steps * warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=float(start),
        warmup_target=float(peak),
        warmup_steps=warmup_steps,
        decay_steps=steps - warmup_steps,
        alpha=float(alpha),
    )


def accuracy(model: keras.Model, images: object, labels: object, batch_size: int = 1000) -> float:
    """The share of ``images`` whose highest-scoring class is their label.

    Chapter 1 writes this as ``test_accuracy`` and checks it against this function; the later
    chapters call it. Works on probabilities and on logits alike (only the largest counts).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"labels must be one class per image: got labels of shape {labels.shape} for "
            f"{len(images)} images"
        )
    scores = model.predict(images, batch_size=positive_int("batch_size", batch_size), verbose=0)
    return float(np.mean(scores.argmax(axis=1) == labels))
