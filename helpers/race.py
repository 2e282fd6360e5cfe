"""Section 4.1's race to 99 % test accuracy: the clock and the two recipes it compares.

The chapter runs the race once, with one seed each; ``make bench`` runs the same code over
several seeds (``booktools.race``), so both time the recipes with the same clock. Import this
module after :func:`helpers.environment.prepare` has chosen the backend.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers

from helpers.checks import random_seed, uint8_digits
from helpers.environment import training_verbosity
from helpers.models import one_cycle_schedule, small_cnn


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    """The class ``model`` gives each image, from plain (eager) calls on batches."""
    return np.concatenate([
        keras.ops.convert_to_numpy(model(images[start:start + batch_size], training=False))
        .argmax(axis=1)
        for start in range(0, len(images), batch_size)
    ])


class RaceClock(keras.callbacks.Callback):
    """Counts the seconds of training steps only: from the start to the end of each step.

    Everything between steps (the accuracy checks, setting up a ``fit``) is outside the
    clock. ``seconds`` is the total so far and ``steps`` the number of steps timed.
    """

    def __init__(self):
        super().__init__()
        self.seconds, self.steps = 0.0, 0

    def on_train_batch_begin(self, batch, logs=None):
        self._started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds += time.perf_counter() - self._started
        self.steps += 1


def race_cnn(filters: tuple[int, int] = (24, 32), units: int = 512,
             name: str = "race_cnn") -> keras.Model:
    """Section 4.1's racing network: a 5x5 and a 3x3 convolution with ReLU, each max-pooled.

    A dense layer of ``units`` and a softmax follow; there is no dropout and no batch
    normalisation. It takes raw uint8 images of shape (28, 28, 1) and outputs probabilities.
    """
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(filters[0], 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(filters[1], 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(units, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ],
        name=name,
    )


@dataclass(frozen=True)
class Recipe:
    """How one contestant trains: its network, batch size, epochs, optimizer and data."""

    name: str
    build: object
    batch_size: int
    epochs: int
    checks_per_epoch: int
    peak_learning_rate: float | None = None  # None: Adam at its default 0.001 throughout
    warmup_fraction: float = 0.25
    beta_1: float = 0.9
    beta_2: float = 0.999
    validation_split: float = 0.0
    stop_at_target: bool = False

    def steps_per_epoch(self, images: int) -> int:
        return int(np.ceil(int(images * (1 - self.validation_split)) / self.batch_size))

    def learning_rate(self, images: int):
        """Adam's default 0.001, or the one-cycle schedule over all the recipe's steps."""
        if self.peak_learning_rate is None:
            return 0.001
        return one_cycle_schedule(self.epochs * self.steps_per_epoch(images),
                                  peak=self.peak_learning_rate,
                                  warmup_fraction=self.warmup_fraction)

    def optimizer(self, images: int) -> keras.optimizers.Optimizer:
        return keras.optimizers.Adam(self.learning_rate(images), beta_1=self.beta_1,
                                     beta_2=self.beta_2)


KERAS_EXAMPLE = Recipe(
    name="Keras example", build=lambda: small_cnn(name="keras_example"), batch_size=128,
    epochs=15, checks_per_epoch=2, validation_split=0.1, stop_at_target=True,
)
"""The Keras ``mnist_convnet`` example: Adam at 0.001, batch 128, 15 epochs at most on 90 % of
the training images; it stops at the check where it first reaches 99 %."""

RACE_RECIPE = Recipe(
    name="race recipe", build=race_cnn, batch_size=256, epochs=2, checks_per_epoch=4,
    peak_learning_rate=0.01, beta_1=0.7, beta_2=0.9,
)
"""Section 4.1's recipe: :func:`race_cnn`, batch 256, two epochs of all 60,000 images, Adam with
beta_1 0.7 and beta_2 0.9 on a one-cycle schedule peaking at 0.01."""


@dataclass
class RaceResult:
    """One recipe's run: training seconds to the target (``None`` if never), the steps, epochs
    and seconds trained, the final test accuracy and the ``(seconds, accuracy)`` curve."""

    recipe: str
    seed: int
    reached_s: float | None
    steps: int
    epochs: int
    seconds: float
    test_accuracy: float
    curve: list[tuple[float, float]] = field(default_factory=list)
    model: keras.Model | None = field(default=None, repr=False)

    @property
    def step_ms(self) -> float:
        return 1000 * self.seconds / self.steps


def run(recipe: Recipe, seed: int, train_images, train_labels, test_images, test_labels,
        target: float = 0.99, verbose: int | None = None) -> RaceResult:
    """Train ``recipe`` from ``seed``, timed by a :class:`RaceClock`, checking test accuracy.

    Each epoch visits the training images in a new random order, in ``checks_per_epoch``
    stretches of whole batches, one ``fit`` call each; after each stretch the test accuracy is
    measured outside the clock. ``reached_s`` is the training time at the first check at or
    above ``target``; a recipe with ``stop_at_target`` stops there. Training in stretches
    rather than checking from a callback inside one long ``fit`` keeps the checks cheap: on the
    TensorFlow backend, running the model during ``fit`` stalls the input pipeline for
    15-20 s at an epoch boundary on a 2-core CPU (measured for Section 4.1); outside the
    clock, but it made the section a minute longer. ``verbose`` goes to ``fit``; by default
    :func:`helpers.environment.training_verbosity` decides (a progress bar for a reader, quiet
    under ``make``).
    """
    random_seed(seed)
    train_images = uint8_digits(train_images, "train_images")
    test_images = uint8_digits(test_images, "test_images")
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    if train_labels.shape != (len(train_images),) or test_labels.shape != (len(test_images),):
        raise ValueError(
            f"labels must match the images: got {train_labels.shape} labels for "
            f"{len(train_images)} training images and {test_labels.shape} for "
            f"{len(test_images)} test images"
        )
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must be an accuracy in (0, 1], got {target!r}")
    verbose = training_verbosity() if verbose is None else verbose
    # validation_split keeps the last part of the training images out, as Keras does; no
    # validation pass is run, since nothing reads it.
    kept = int(len(train_images) * (1 - recipe.validation_split))
    images, labels = train_images[:kept], train_labels[:kept]
    keras.utils.set_random_seed(seed)
    model = recipe.build()
    model.compile(optimizer=recipe.optimizer(len(train_images)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    per_epoch = recipe.steps_per_epoch(len(train_images))
    every = per_epoch // recipe.checks_per_epoch
    bounds = [every * k for k in range(recipe.checks_per_epoch)] + [per_epoch]
    order_rng = np.random.default_rng(seed)
    clock, curve, reached, epochs = RaceClock(), [], None, 0
    for _ in range(recipe.epochs):
        epochs += 1
        order = order_rng.permutation(kept)
        for first, last in zip(bounds[:-1], bounds[1:], strict=True):
            stretch = order[first * recipe.batch_size:last * recipe.batch_size]
            model.fit(images[stretch], labels[stretch], batch_size=recipe.batch_size, epochs=1,
                      shuffle=False, verbose=verbose, callbacks=[clock])
            accuracy = float(np.mean(predict(model, test_images) == test_labels))
            curve.append((clock.seconds, accuracy))
            if reached is None and accuracy >= target:
                reached = clock.seconds
                if recipe.stop_at_target:
                    break
        if reached is not None and recipe.stop_at_target:
            break
    return RaceResult(recipe.name, seed, reached, clock.steps, epochs, clock.seconds,
                      curve[-1][1], curve, model)
