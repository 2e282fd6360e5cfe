"""The GAN of Sections 4.3 and 4.4: generator, discriminator and a backend-neutral trainer.

Section 4.3 writes the two half-steps of a GAN in the chapter; :class:`GANTrainer` is the same
training step, lifted here because Section 4.4 trains a conditional GAN with it. Import this
module after :func:`helpers.environment.prepare` has chosen the backend.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import keras
import numpy as np
from keras import layers

from helpers.checks import generator, positive_int, random_seed, uint8_digits
from helpers.environment import native_stderr_silenced


def _optional_num_classes(num_classes: object) -> int | None:
    if num_classes is None:
        return None
    positive_int("num_classes", num_classes)
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
    positive_int("latent_dim", latent_dim)
    num_classes = _optional_num_classes(num_classes)
    positive_int("width", width)
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


def _layer_seed() -> int:
    """A seed drawn from Python's ``random`` exactly as Keras draws a layer's default one.

    Given explicitly, it gives the layer its own random stream on every backend. Left out,
    Keras' PyTorch backend draws dropout masks from torch's global generator, which every
    model in the process shares, so two GANs trained in turn do not get the same masks even
    when built from the same seed; TensorFlow and JAX, which seed each layer this way anyway,
    give exactly the results they gave before.
    """
    return random.randint(1, int(1e9))  # keras.src.random.seed_generator.make_default_seed


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
    positive_int("width", width)
    if not (isinstance(dropout, float | int) and 0.0 <= dropout < 1.0):
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")

    image = keras.Input((28, 28, 1), name="image")
    x = image
    for filters in (width, 2 * width):
        x = layers.Conv2D(filters, 3, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Dropout(dropout, seed=_layer_seed() if dropout > 0 else None)(x)
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
    return uint8_digits(images, "images").astype("float32") / 127.5 - 1.0


def from_gan_range(images: object) -> np.ndarray:
    """Generator output in [-1, 1] -> uint8 images in 0..255 (what the classifiers take)."""
    images = np.asarray(keras.ops.convert_to_numpy(images), dtype="float32")
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype("uint8")


def shuffled_batches(
    count: int, batch_size: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Endless batches of indices into ``count`` examples, for a GAN's training loop.

    Each pass over the examples is a fresh ``rng.permutation(count)``, cut into whole batches
    of ``batch_size``; the few examples left at the end of a pass wait for the next one. The
    first permutation is drawn at the first ``next()``, so ``rng`` is used exactly as by the
    loop Sections 4.3 and 4.4 would otherwise write out.
    """
    count = positive_int("count", count)
    batch_size = positive_int("batch_size", batch_size)
    if batch_size > count:
        raise ValueError(f"batch_size ({batch_size}) must not exceed count ({count})")
    rng = generator(rng)

    def passes() -> Iterator[np.ndarray]:
        while True:
            order = rng.permutation(count)
            for start in range(0, count - batch_size + 1, batch_size):
                yield order[start:start + batch_size]

    return passes()  # a generator inside, so that bad arguments fail here, not at next()


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
        random_seed(seed)

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
        positive_int("count", count)
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
        positive_int("batch_size", batch_size)
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
