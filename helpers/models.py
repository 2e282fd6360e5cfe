"""Model builders the book reuses, written with backend-neutral Keras 3 only.

Import this module after :func:`helpers.environment.prepare` has chosen the backend.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings

import keras
import numpy as np
from keras import layers

from helpers.environment import native_stderr_silenced


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _seed(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"seed must be a non-negative int, got {value!r}")
    return value


def _uint8_digits(images: object, name: str) -> np.ndarray:
    """``images`` as uint8 digits of shape (n, 28, 28, 1); (n, 28, 28) gains the channel."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[1:3] != (28, 28):
        raise ValueError(
            f"{name} must be uint8 digits of shape (n, 28, 28) or (n, 28, 28, 1), got "
            f"dtype {images.dtype} and shape {images.shape}"
        )
    return images if images.ndim == 4 else images[..., None]


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


# --------------------------------------------------------------------------- Section 4.1


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
    _positive_int("steps", steps)
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


# --------------------------------------------------------------------------- Section 4.3: GANs


def _optional_num_classes(num_classes: object) -> int | None:
    if num_classes is None:
        return None
    _positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"num_classes must be None or at least 2, got {num_classes}")
    return num_classes


def gan_generator(
    latent_dim: int = 64,
    num_classes: int | None = None,
    width: int = 32,
    name: str = "generator",
) -> keras.Model:
    """A DCGAN-style generator: latent vector (and label) in, 28x28x1 image in [-1, 1] out.

    A dense layer makes ``2 * width`` feature maps of 7x7; two rounds of nearest-neighbour
    ``UpSampling2D`` and a 3x3 ``Conv2D`` bring them to 14x14 with ``width`` maps and to
    28x28 with ``width // 2`` maps (LeakyReLU 0.2 after each); a 5x5 convolution with
    ``tanh`` makes the image. ``UpSampling2D`` + ``Conv2D`` is used instead of
    ``Conv2DTranspose``: it avoids checkerboard artefacts and is fast on every backend's CPU.
    There is no batch normalisation, so the generator computes the same function in training
    and in inference mode, also while it is frozen (see :class:`GANTrainer`).

    With ``num_classes`` set the generator is conditional: its inputs are
    ``[latent (batch, latent_dim) float, label (batch,) int]`` and the label's learned
    embedding (``latent_dim`` numbers) is concatenated to the latent vector.
    """
    _positive_int("latent_dim", latent_dim)
    num_classes = _optional_num_classes(num_classes)
    _positive_int("width", width)
    if width < 2:
        raise ValueError(f"width must be at least 2, got {width}")

    latent = keras.Input((latent_dim,), name="latent")
    inputs = [latent]
    x = latent
    if num_classes is not None:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        embedded = layers.Embedding(num_classes, latent_dim, name="label_embedding")(label)
        x = layers.Concatenate(name="latent_and_label")([latent, embedded])
    x = layers.Dense(7 * 7 * 2 * width, name="project")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((7, 7, 2 * width))(x)
    for filters in (width, width // 2):
        x = layers.UpSampling2D(2)(x)
        x = layers.Conv2D(filters, 3, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    image = layers.Conv2D(1, 5, padding="same", activation="tanh", name="image")(x)
    return keras.Model(inputs if num_classes is not None else latent, image, name=name)


def gan_discriminator(
    num_classes: int | None = None,
    width: int = 32,
    dropout: float = 0.3,
    name: str = "discriminator",
) -> keras.Model:
    """A DCGAN-style discriminator: 28x28x1 image in [-1, 1] (and label) in, one logit out.

    Two 3x3 convolutions with stride 2 (``width`` then ``2 * width`` maps, LeakyReLU 0.2,
    dropout) and a dense layer give one number: a logit, positive for "real". Train it with
    ``BinaryCrossentropy(from_logits=True)``. It has no batch normalisation, so a batch may
    mix real and generated images.

    With ``num_classes`` set it is conditional: its inputs are
    ``[image (batch, 28, 28, 1), label (batch,) int]``, and it is a *projection
    discriminator* (Miyato and Koyama, 2018): the logit gets a second term, the dot product
    of the flattened features with a learned embedding of the label, so "is this a real
    image of *this* digit" is built into the output rather than left for the layers to find.
    """
    num_classes = _optional_num_classes(num_classes)
    _positive_int("width", width)
    if not (isinstance(dropout, float | int) and 0.0 <= dropout < 1.0):
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")

    image = keras.Input((28, 28, 1), name="image")
    x = image
    for filters in (width, 2 * width):
        x = layers.Conv2D(filters, 3, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Dropout(dropout)(x)
    features = layers.Flatten(name="features")(x)
    logit = layers.Dense(1, name="logit")(features)
    if num_classes is None:
        return keras.Model(image, logit, name=name)
    label = keras.Input((), dtype="int32", name="label")
    embedded = layers.Embedding(num_classes, 7 * 7 * 2 * width, name="label_embedding")(label)
    projection = layers.Dot(axes=1, name="projection")([features, embedded])
    logit = layers.Add(name="conditional_logit")([logit, projection])
    return keras.Model([image, label], logit, name=name)


def to_gan_range(images: np.ndarray) -> np.ndarray:
    """uint8 images (n, 28, 28) or (n, 28, 28, 1) -> float32 (n, 28, 28, 1) in [-1, 1]."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255), got dtype {images.dtype}")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
        raise ValueError(
            f"images must have shape (n, 28, 28) or (n, 28, 28, 1), got {images.shape}"
        )
    return images.astype("float32") / 127.5 - 1.0


def from_gan_range(images: object) -> np.ndarray:
    """Generator output in [-1, 1] -> uint8 images in 0..255 (what the classifiers take)."""
    images = np.asarray(keras.ops.convert_to_numpy(images), dtype="float32")
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype("uint8")


class GANTrainer:
    """Trains a generator and a discriminator against each other, on any Keras 3 backend.

    Only ``compile`` and ``train_on_batch`` are used, so the same code runs on TensorFlow,
    JAX and PyTorch. Two models are compiled, each with its own Adam optimizer and
    ``BinaryCrossentropy(from_logits=True)``:

    * ``discriminator_model``: (real images, latent vectors) -> the discriminator's logits for
      the real images and for the generator's images. Its targets are "real"
      (``real_label``, 0.9 by default: one-sided label smoothing) and "fake" (0). The
      generator is frozen here, so only the discriminator learns.
    * ``combined``: latent vectors -> generator -> discriminator, trained to make the
      discriminator say "real" (1). The discriminator is frozen here, so only the generator
      learns.

    Which variables a ``train_on_batch`` updates is decided by the ``trainable`` flags when
    that model's training function is first built (TensorFlow) or at every call (JAX,
    PyTorch), so :meth:`discriminator_step` and :meth:`generator_step` set both models'
    ``trainable`` flags themselves before each call; :meth:`step` runs the two halves once
    each. A frozen batch normalisation layer runs in inference mode, which is why
    :func:`gan_generator` has none.

    For a conditional GAN (both models built with ``num_classes``) every call also takes the
    labels of the real images; generated images get random labels. Latent vectors and labels
    are drawn with ``keras.random.SeedGenerator`` objects seeded from ``seed``.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        learning_rate: float = 2e-4,
        beta_1: float = 0.5,
        real_label: float = 0.9,
        seed: int = 0,
        discriminator_learning_rate: float | None = None,
    ) -> None:
        if not isinstance(generator, keras.Model) or not isinstance(discriminator, keras.Model):
            raise ValueError(
                "generator and discriminator must be keras.Model instances, got "
                f"{type(generator).__name__} and {type(discriminator).__name__}"
            )
        if len(generator.inputs) != len(discriminator.inputs) or len(generator.inputs) > 2:
            raise ValueError(
                "generator and discriminator must both be unconditional (1 input) or both "
                f"conditional (2 inputs: data and label), got {len(generator.inputs)} and "
                f"{len(discriminator.inputs)} inputs"
            )
        latent_shape = tuple(generator.inputs[0].shape[1:])
        if len(latent_shape) != 1 or latent_shape[0] is None:
            raise ValueError(
                "the generator's first input must be (batch, latent_dim), "
                f"got {generator.inputs[0].shape}"
            )
        image_shape = tuple(generator.outputs[0].shape[1:])
        if image_shape != tuple(discriminator.inputs[0].shape[1:]):
            raise ValueError(
                f"the generator makes images of shape {image_shape} but the discriminator "
                f"takes {tuple(discriminator.inputs[0].shape[1:])}"
            )
        if discriminator_learning_rate is None:
            discriminator_learning_rate = learning_rate
        for label, value in (
            ("learning_rate", learning_rate),
            ("discriminator_learning_rate", discriminator_learning_rate),
            ("beta_1", beta_1),
        ):
            if isinstance(value, bool) or not isinstance(value, float | int) or not value > 0:
                raise ValueError(f"{label} must be a positive number, got {value!r}")
        if beta_1 >= 1:
            raise ValueError(f"beta_1 must be below 1, got {beta_1!r}")
        if not (isinstance(real_label, float | int) and 0.5 < real_label <= 1.0):
            raise ValueError(f"real_label must be in (0.5, 1], got {real_label!r}")
        _seed(seed)

        self.generator, self.discriminator = generator, discriminator
        self.latent_dim = int(latent_shape[0])
        self.image_shape = image_shape
        self.conditional = len(generator.inputs) == 2
        self.num_classes: int | None = None
        if self.conditional:
            names = [each.name for each in generator.layers]
            if "label_embedding" not in names:
                raise ValueError(
                    "a conditional generator needs an Embedding layer named 'label_embedding' "
                    f"(as gan_generator builds it) to know the number of classes; it has {names}"
                )
            self.num_classes = int(generator.get_layer("label_embedding").input_dim)
        self.real_label = float(real_label)
        self._built: set[str] = set()
        self._training_seed = keras.random.SeedGenerator(seed)
        self._sampling_seed = keras.random.SeedGenerator(seed + 1)

        def compile_model(model: keras.Model, rate: float) -> None:
            model.compile(
                optimizer=keras.optimizers.Adam(rate, beta_1=beta_1),
                loss=keras.losses.BinaryCrossentropy(from_logits=True),
            )

        def inputs_like(model: keras.Model, prefix: str) -> list:
            return [
                keras.Input(tuple(each.shape[1:]), dtype=each.dtype, name=f"{prefix}_{index}")
                for index, each in enumerate(model.inputs)
            ]

        def call(model: keras.Model, inputs: list):
            return model(inputs if self.conditional else inputs[0])

        # discriminator_model: real images (and labels), latent vectors (and labels) -> logits
        real = inputs_like(discriminator, "real")
        latent = inputs_like(generator, "latent")
        fake_image = call(generator, latent)
        images = layers.Concatenate(axis=0, name="real_then_fake")([real[0], fake_image])
        if self.conditional:
            labels = layers.Concatenate(axis=0, name="labels")([real[1], latent[1]])
            logits = discriminator([images, labels])
        else:
            logits = discriminator(images)
        self.discriminator_model = keras.Model(
            real + latent, logits, name="real_and_generated_to_discriminator"
        )
        latent = inputs_like(generator, "latent")
        logits = call(discriminator, [call(generator, latent), *latent[1:]])
        self.combined = keras.Model(latent, logits, name="generator_then_discriminator")

        self._freeze(generator)
        compile_model(self.discriminator_model, discriminator_learning_rate)
        self._freeze(discriminator)
        compile_model(self.combined, learning_rate)
        self._freeze(None)

    # ------------------------------------------------------------------ helpers

    def _quiet_first_call(self, model: keras.Model):
        """Silence native stderr while ``model``'s training function is built (first call).

        TensorFlow's graph optimiser prints a harmless C++ "remapper failed" line for the
        LeakyReLU gradients of these models, straight to the process's stderr, where Python
        cannot catch it; in a notebook it would land on the page. Errors still raise.
        """
        if model.name in self._built:
            return contextlib.nullcontext()
        self._built.add(model.name)
        return native_stderr_silenced()

    def _freeze(self, model: keras.Model | None) -> None:
        """Freeze ``model`` (the generator or the discriminator), unfreeze the other."""
        self.generator.trainable = model is not self.generator
        self.discriminator.trainable = model is not self.discriminator

    def _labels(self, labels: object, count: int, what: str) -> np.ndarray | None:
        if not self.conditional:
            if labels is not None:
                raise ValueError(f"this GAN is unconditional, so {what} takes no labels")
            return None
        if labels is None:
            raise ValueError(f"this GAN is conditional: {what} needs labels, got None")
        labels = np.asarray(labels)
        if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"labels must be {count} ints (shape ({count},)), got shape {labels.shape} "
                f"and dtype {labels.dtype}"
            )
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(
                f"labels must be in 0..{self.num_classes - 1}, got {labels.min()}..{labels.max()}"
            )
        return labels.astype("int32")

    def _random_inputs(self, count: int) -> list[np.ndarray]:
        # As NumPy arrays: on PyTorch a model called on a list that mixes NumPy arrays (the
        # real images) and torch tensors fails ("cannot mix tensors and non-tensors").
        latent = keras.random.normal((count, self.latent_dim), seed=self._training_seed)
        if not self.conditional:
            return [keras.ops.convert_to_numpy(latent)]
        labels = keras.random.randint((count,), 0, self.num_classes, seed=self._training_seed)
        labels = keras.ops.convert_to_numpy(labels).astype("int32")
        return [keras.ops.convert_to_numpy(latent), labels]

    def latent_vectors(self, count: int) -> np.ndarray:
        """``count`` standard-normal latent vectors, drawn from the trainer's sampling seed."""
        _positive_int("count", count)
        latent = keras.random.normal((count, self.latent_dim), seed=self._sampling_seed)
        return keras.ops.convert_to_numpy(latent)

    # ------------------------------------------------------------------ training

    def discriminator_step(self, real_images: np.ndarray, labels: object = None) -> float:
        """One update of the discriminator on ``real_images`` and as many generated images.

        ``real_images`` are uint8 (scaled with :func:`to_gan_range`) or floats already in
        [-1, 1]; ``labels`` are their classes (conditional GANs only). Returns the
        discriminator's loss (mean over the real and the generated half).
        """
        real_images = np.asarray(real_images)
        if real_images.dtype == np.uint8:
            real_images = to_gan_range(real_images)
        if real_images.ndim != 1 + len(self.image_shape) or real_images.shape[1:] != (
            self.image_shape
        ):
            raise ValueError(
                f"real_images must have shape (n, {', '.join(map(str, self.image_shape))}), "
                f"got {real_images.shape}"
            )
        count = len(real_images)
        if count < 1:
            raise ValueError("real_images must hold at least one image, got an empty batch")
        labels = self._labels(labels, count, "discriminator_step")
        real = [real_images.astype("float32")] + ([labels] if self.conditional else [])
        targets = np.concatenate(
            [np.full((count, 1), self.real_label, "float32"), np.zeros((count, 1), "float32")]
        )
        self._freeze(self.generator)
        try:
            with self._quiet_first_call(self.discriminator_model):
                loss = self.discriminator_model.train_on_batch(
                    real + self._random_inputs(count), targets
                )
        finally:
            self._freeze(None)
        return float(loss)

    def generator_step(self, batch_size: int) -> float:
        """One update of the generator through the frozen discriminator; returns its loss."""
        _positive_int("batch_size", batch_size)
        inputs = self._random_inputs(batch_size)
        targets = np.ones((batch_size, 1), "float32")
        self._freeze(self.discriminator)
        try:
            with self._quiet_first_call(self.combined):
                loss = self.combined.train_on_batch(inputs, targets)
        finally:
            self._freeze(None)
        return float(loss)

    def step(self, real_images: np.ndarray, labels: object = None) -> dict[str, float]:
        """A discriminator step on ``real_images`` then a generator step of the same size."""
        d_loss = self.discriminator_step(real_images, labels)
        g_loss = self.generator_step(len(real_images))
        return {"d_loss": d_loss, "g_loss": g_loss}

    # ------------------------------------------------------------------ sampling

    def sample(self, latent: int | np.ndarray, labels: object = None) -> np.ndarray:
        """Generated images in [-1, 1] as a NumPy array of shape (n, 28, 28, 1).

        ``latent`` is a number of images (latent vectors are then drawn from the trainer's
        sampling seed, see :meth:`latent_vectors`) or an array (n, latent_dim) of latent
        vectors: pass the same array again and again to watch the same samples improve.
        ``labels`` (conditional GANs only) are the classes to draw, one per image.
        """
        if isinstance(latent, int) and not isinstance(latent, bool):
            latent = self.latent_vectors(latent)
        latent = np.asarray(keras.ops.convert_to_numpy(latent), dtype="float32")
        if latent.ndim != 2 or latent.shape[1] != self.latent_dim or len(latent) < 1:
            raise ValueError(
                f"latent must be a count or an array (n, {self.latent_dim}), "
                f"got shape {latent.shape}"
            )
        labels = self._labels(labels, len(latent), "sample")
        inputs = [latent, labels] if self.conditional else latent
        images = self.generator.predict(inputs, batch_size=500, verbose=0)
        return keras.ops.convert_to_numpy(images)


# --------------------------------------------------------------------------- Fréchet distance


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature vectors (rows).

    ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b))`` with the sample means ``mu`` and
    covariances ``S`` (the FID of Heusel et al., 2017, when the features come from an
    Inception network; Section 4.3 uses a small MNIST classifier's features instead). 0 for
    identical sets; it grows with the difference of means and spreads. The tests check it
    against ``scipy.linalg.sqrtm`` applied to the formula as written.
    """

    arrays = []
    for label, features in (("features_a", features_a), ("features_b", features_b)):
        features = np.asarray(keras.ops.convert_to_numpy(features), dtype="float64")
        if features.ndim != 2:
            raise ValueError(
                f"{label} must be 2-D (samples, features), got shape {features.shape}"
            )
        if features.shape[0] < 2:
            raise ValueError(
                f"{label} needs at least 2 rows (samples) for a covariance, "
                f"got {features.shape[0]}"
            )
        if not np.all(np.isfinite(features)):
            raise ValueError(f"{label} must be finite, got NaN or infinity")
        arrays.append(features)
    a, b = arrays
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"features_a and features_b must have the same number of columns, "
            f"got {a.shape[1]} and {b.shape[1]}"
        )
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    # Tr sqrtm(S_a S_b) = Tr sqrtm(R S_a R) with R = sqrtm(S_b): the second matrix is
    # symmetric, so two symmetric eigendecompositions give the trace about four times faster
    # than scipy.linalg.sqrtm on the product, and without its complex rounding. Clipping at 0
    # removes the tiny negative eigenvalues of singular covariances (fewer rows than columns).
    values, vectors = np.linalg.eigh(cov_b)
    root_b = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = root_b @ cov_a @ root_b
    trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)))
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(distance, 0.0))


class DigitJudge:
    """Scores generated digits with a trained MNIST classifier (Sections 4.3 and 4.4).

    ``classifier`` is a softmax classifier of uint8 28x28 digits with a layer named
    ``feature_layer`` (a :func:`fast_cnn`); ``real_images`` are the real digits the Fréchet
    distance compares with (the MNIST test set). Their features are computed once, here.
    """

    def __init__(
        self, classifier: keras.Model, real_images: np.ndarray, feature_layer: str = "features"
    ) -> None:
        self.classifier = classifier
        self.features = feature_extractor(classifier, feature_layer)
        self.real_features = self.features.predict(
            _uint8_digits(real_images, "real_images"), batch_size=1000, verbose=0
        )

    def __call__(self, images: object, wanted: object = None) -> dict[str, object]:
        """A report on ``images`` (uint8 digits; see :func:`from_gan_range`).

        Keys: ``histogram`` (how many were classified as each digit), ``confident`` (the
        share classified with probability at least 0.9), ``frechet`` (the Fréchet distance
        of their features to the real images'), and, when ``wanted`` gives the digit each
        image was asked to be, ``per_digit`` (for each digit, the share of the images asked
        for it that were classified as it).
        """
        images = _uint8_digits(images, "images")
        probabilities = self.classifier.predict(images, batch_size=1000, verbose=0)
        predicted = probabilities.argmax(axis=1)
        classes = probabilities.shape[1]
        report: dict[str, object] = {
            "histogram": np.bincount(predicted, minlength=classes),
            "confident": float(np.mean(probabilities.max(axis=1) >= 0.9)),
            "frechet": frechet_distance(
                self.features.predict(images, batch_size=1000, verbose=0), self.real_features
            ),
        }
        if wanted is not None:
            wanted = np.asarray(wanted)
            if wanted.shape != (len(images),):
                raise ValueError(
                    f"wanted must give one digit per image, shape ({len(images)},), got "
                    f"shape {wanted.shape}"
                )
            report["per_digit"] = np.array(
                [np.mean(predicted[wanted == digit] == digit) if np.any(wanted == digit)
                 else np.nan for digit in range(classes)]
            )
        return report


def _judge_inputs(train_images: object, train_labels: object) -> tuple[np.ndarray, np.ndarray]:
    images = _uint8_digits(train_images, "train_images")
    if images.shape[3] != 1:
        raise ValueError(f"train_images must have one channel, got shape {images.shape}")
    labels = np.asarray(train_labels)
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"train_labels must be one integer label per image, shape ({len(images)},), got "
            f"dtype {labels.dtype} and shape {labels.shape}"
        )
    if len(labels) == 0 or labels.min() < 0 or labels.max() > 9:
        raise ValueError("train_labels must be digits from 0 to 9 (and not empty)")
    return images, labels


def judge_classifier(
    train_images: object,
    train_labels: object,
    *,
    epochs: int = 2,
    batch_size: int = 128,
    seed: int = 0,
    cache: bool = True,
    data_dir: str | os.PathLike | None = None,
) -> tuple[keras.Model, bool]:
    """The classifier behind Sections 4.3 and 4.4's :class:`DigitJudge`, trained once.

    The recipe: ``keras.utils.set_random_seed(seed)``, a :func:`fast_cnn`, and ``epochs``
    epochs of Adam with :func:`one_cycle_schedule` at ``batch_size`` on ``train_images``
    (uint8, shape (n, 28, 28) or (n, 28, 28, 1)) and ``train_labels`` (digits 0 to 9).

    Both sections need the same network, so with ``cache=True`` its weights are kept under
    ``helpers.data.model_directory(data_dir)``, in a file named after a hash of
    the recipe, the data, the Keras version and the backend: the section that runs second
    loads them instead of training for another minute. The file is written whole or not at
    all; one that cannot be read is reported with a warning, removed and trained again.
    Returns ``(classifier, loaded_from_cache)``, the classifier compiled with the accuracy
    metric either way, so ``classifier.evaluate`` works on it.
    """
    images, labels = _judge_inputs(train_images, train_labels)
    epochs = _positive_int("epochs", epochs)
    batch_size = _positive_int("batch_size", batch_size)
    seed = _seed(seed)
    if not isinstance(cache, bool):
        raise ValueError(f"cache must be True or False, got {cache!r}")

    from helpers.data import array_sha256, model_directory, replaced_whole

    recipe = {
        "model": "fast_cnn",
        "optimizer": "adam + one_cycle_schedule",
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "images": array_sha256(images),
        "labels": array_sha256(labels),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    path = model_directory(data_dir) / f"judge-{key}.weights.h5"

    steps = epochs * int(np.ceil(len(images) / batch_size))

    def compiled(classifier: keras.Model) -> keras.Model:
        classifier.compile(
            optimizer=keras.optimizers.Adam(one_cycle_schedule(steps)),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return classifier

    if cache and path.exists():
        classifier = fast_cnn(name="judge")  # the file holds the layers' weights only
        try:
            classifier.load_weights(path)
        except Exception as error:  # a truncated or foreign file: train again
            warnings.warn(
                f"cached judge weights {path} could not be read ({error}); training again",
                stacklevel=2,
            )
            path.unlink(missing_ok=True)
        else:
            return compiled(classifier), True

    keras.utils.set_random_seed(seed)
    classifier = compiled(fast_cnn(name="judge"))
    classifier.fit(images, labels, epochs=epochs, batch_size=batch_size, verbose=0)
    if cache:
        weights_only = fast_cnn(name="judge")  # without the optimizer's state
        weights_only.set_weights(classifier.get_weights())
        with replaced_whole(path, suffix=".part.weights.h5") as temporary:
            weights_only.save_weights(temporary)
    return classifier, False
