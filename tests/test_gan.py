"""helpers.gan: the builders, GANTrainer and the [-1, 1] scaling of Sections 4.3 and 4.4."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers.environment import prepare
from helpers.gan import (
    GANTrainer,
    from_gan_range,
    gan_discriminator,
    gan_generator,
    shuffled_batches,
    to_gan_range,
)

ENV = prepare(seed=0)  # the backend conftest.py chose, and its report

LATENT, WIDTH, CLASSES, BATCH = 8, 4, 3, 8


def tiny_gan(num_classes=None, seed=0, **trainer_kwargs):
    keras.utils.set_random_seed(seed)
    generator = gan_generator(latent_dim=LATENT, num_classes=num_classes, width=WIDTH)
    discriminator = gan_discriminator(num_classes=num_classes, width=WIDTH)
    return GANTrainer(generator, discriminator, seed=seed, **trainer_kwargs)


def toy_batch(num_classes=None):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(BATCH, 28, 28)).astype("uint8")
    labels = None if num_classes is None else rng.integers(0, num_classes, BATCH)
    return images, labels


def snapshot(model):
    return [np.array(v.numpy(), copy=True) for v in model.weights]


def changed(before, model):
    after = snapshot(model)
    return [not np.array_equal(b, a) for b, a in zip(before, after, strict=True)]


# --------------------------------------------------------------------------- builders


def generator_params(latent, width, classes=None):
    embedding = 0 if classes is None else classes * latent
    inputs = latent if classes is None else 2 * latent
    project = inputs * 7 * 7 * 2 * width + 7 * 7 * 2 * width
    up14 = 3 * 3 * (2 * width) * width + width
    up28 = 3 * 3 * width * (width // 2) + width // 2
    image = 5 * 5 * (width // 2) * 1 + 1
    return embedding + project + up14 + up28 + image


def discriminator_params(width, classes=None):
    conv1 = 3 * 3 * 1 * width + width  # 28x28 -> 14x14
    conv2 = 3 * 3 * width * 2 * width + 2 * width  # 14x14 -> 7x7
    logit = 7 * 7 * 2 * width + 1
    projection = 0 if classes is None else classes * 7 * 7 * 2 * width  # label embedding
    return conv1 + conv2 + logit + projection


@pytest.mark.parametrize("classes", [None, CLASSES])
def test_generator_shapes_inputs_and_parameter_count(classes):
    generator = gan_generator(latent_dim=LATENT, num_classes=classes, width=WIDTH)
    assert generator.output_shape == (None, 28, 28, 1)
    assert generator.count_params() == generator_params(LATENT, WIDTH, classes)
    latent = np.random.default_rng(0).normal(size=(5, LATENT)).astype("float32")
    if classes is None:
        assert [tuple(i.shape) for i in generator.inputs] == [(None, LATENT)]
        images = generator(latent)
    else:
        assert [tuple(i.shape) for i in generator.inputs] == [(None, LATENT), (None,)]
        images = generator([latent, np.array([0, 1, 2, 0, 1])])
    images = keras.ops.convert_to_numpy(images)
    assert images.shape == (5, 28, 28, 1)
    assert images.min() >= -1.0 and images.max() <= 1.0  # tanh


def test_default_builders_parameter_counts():
    assert gan_generator().count_params() == generator_params(64, 32)
    assert gan_generator(num_classes=10).count_params() == generator_params(64, 32, 10)
    assert gan_discriminator().count_params() == discriminator_params(32)
    assert gan_discriminator(num_classes=10).count_params() == discriminator_params(32, 10)


def test_the_label_changes_a_conditional_generator_output():
    generator = gan_generator(latent_dim=LATENT, num_classes=CLASSES, width=WIDTH)
    latent = np.ones((2, LATENT), "float32")
    images = keras.ops.convert_to_numpy(generator([latent, np.array([0, 1])]))
    assert not np.allclose(images[0], images[1])


@pytest.mark.parametrize("classes", [None, CLASSES])
def test_discriminator_shapes_inputs_and_parameter_count(classes):
    discriminator = gan_discriminator(num_classes=classes, width=WIDTH)
    assert discriminator.output_shape == (None, 1)
    assert discriminator.count_params() == discriminator_params(WIDTH, classes)
    images = np.zeros((3, 28, 28, 1), "float32")
    if classes is None:
        assert len(discriminator.inputs) == 1
        logits = discriminator(images)
    else:
        assert [tuple(i.shape) for i in discriminator.inputs] == [(None, 28, 28, 1), (None,)]
        logits = discriminator([images, np.array([0, 1, 2])])
    assert keras.ops.convert_to_numpy(logits).shape == (3, 1)


def test_the_label_changes_a_conditional_discriminator_logit():
    discriminator = gan_discriminator(num_classes=CLASSES, width=WIDTH)
    images = np.random.default_rng(0).uniform(-1, 1, size=(1, 28, 28, 1)).astype("float32")
    logits = [discriminator([images, np.array([k])]) for k in range(CLASSES)]
    logits = [float(keras.ops.convert_to_numpy(each)[0, 0]) for each in logits]
    assert len(set(logits)) == CLASSES


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: gan_generator(latent_dim=0), "latent_dim must be a positive int, got 0"),
        (lambda: gan_generator(num_classes=1), "num_classes must be None or at least 2, got 1"),
        (lambda: gan_generator(num_classes=2.5), "num_classes must be a positive int"),
        (lambda: gan_generator(width=1), "width must be at least 2, got 1"),
        (lambda: gan_discriminator(width=-3), "width must be a positive int, got -3"),
        (lambda: gan_discriminator(dropout=1.0), r"dropout must be in \[0, 1\), got 1.0"),
        (lambda: gan_discriminator(num_classes=True), "num_classes must be a positive int"),
    ],
)
def test_builders_reject_bad_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# --------------------------------------------------------------------------- scaling


def test_gan_range_round_trip():
    images = np.arange(256, dtype="uint8").reshape(1, 16, 16)
    images = np.pad(images, ((0, 0), (6, 6), (6, 6)))
    scaled = to_gan_range(images)
    assert scaled.shape == (1, 28, 28, 1) and scaled.dtype == np.float32
    assert scaled.min() == -1.0 and scaled.max() == 1.0
    np.testing.assert_array_equal(from_gan_range(scaled)[..., 0], images)
    np.testing.assert_array_equal(from_gan_range(np.array([-3.0, 0.0, 2.0])), [0, 128, 255])


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((2, 28, 28), "float32"), "images must be uint8"),
        (np.zeros((2, 32, 32), "uint8"), r"or \(n, 28, 28, 1\), got dtype uint8 and shape \(2, 32"),
    ],
)
def test_to_gan_range_rejects_bad_images(images, message):
    with pytest.raises(ValueError, match=message):
        to_gan_range(images)


# --------------------------------------------------------------------------- batches


def test_shuffled_batches_match_the_loop_the_sections_wrote():
    # the loop 4.3 and 4.4 wrote out before this helper existed
    rng = np.random.default_rng(0)
    order, position, written = rng.permutation(10), 0, []
    for _ in range(8):
        if position + 3 > len(order):
            order, position = rng.permutation(10), 0
        written.append(order[position:position + 3])
        position += 3
    batches = shuffled_batches(10, 3, np.random.default_rng(0))
    for expected in written:
        np.testing.assert_array_equal(next(batches), expected)
    # every pass is a permutation: three whole batches of distinct indices, one left over
    batches = shuffled_batches(10, 3, np.random.default_rng(1))
    for _ in range(4):
        one_pass = np.concatenate([next(batches) for _ in range(3)])
        assert len(set(one_pass.tolist())) == 9 and one_pass.max() < 10


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((0, 1, np.random.default_rng(0)), "count must be a positive int, got 0"),
        ((5, 6, np.random.default_rng(0)), r"batch_size \(6\) must not exceed count \(5\)"),
        ((5, 2, 0), "rng must be a numpy.random.Generator .*got int"),
    ],
)
def test_shuffled_batches_reject_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        shuffled_batches(*arguments)


# --------------------------------------------------------------------------- the trainer


@pytest.fixture(scope="module", params=[None, CLASSES], ids=["unconditional", "conditional"])
def trainer(request):
    return tiny_gan(num_classes=request.param)


def test_each_half_of_a_step_updates_only_its_own_model(trainer):
    images, labels = toy_batch(trainer.num_classes)
    generator, discriminator = trainer.generator, trainer.discriminator

    g_before, d_before = snapshot(generator), snapshot(discriminator)
    trainer.discriminator_step(images, labels)
    assert all(changed(d_before, discriminator)), "every discriminator weight should move"
    assert not any(changed(g_before, generator)), "the generator must stay frozen"

    g_before, d_before = snapshot(generator), snapshot(discriminator)
    trainer.generator_step(BATCH)
    assert all(changed(g_before, generator)), "every generator weight should move"
    assert not any(changed(d_before, discriminator)), "the discriminator must stay frozen"

    # both halves leave both models trainable again
    assert generator.trainable and discriminator.trainable


def test_step_returns_finite_losses(trainer):
    images, labels = toy_batch(trainer.num_classes)
    for _ in range(3):
        losses = trainer.step(images, labels)
    assert set(losses) == {"d_loss", "g_loss"}
    assert all(np.isfinite(value) and value > 0 for value in losses.values())


@pytest.mark.parametrize("classes", [None, CLASSES])
def test_each_half_lowers_its_own_loss(classes):
    images, labels = toy_batch(classes)
    trainer = tiny_gan(num_classes=classes, learning_rate=2e-3)
    d_losses = [trainer.discriminator_step(images, labels) for _ in range(30)]
    assert np.mean(d_losses[-5:]) < 0.7 * np.mean(d_losses[:5])
    g_losses = [trainer.generator_step(BATCH) for _ in range(30)]
    assert np.mean(g_losses[-5:]) < 0.6 * np.mean(g_losses[:5])


def test_same_seed_same_samples(trainer):
    other = tiny_gan(num_classes=trainer.num_classes)
    again = tiny_gan(num_classes=trainer.num_classes)
    different = tiny_gan(num_classes=trainer.num_classes, seed=1)
    labels = None if trainer.num_classes is None else np.array([0, 1, 2, 1])
    first, second = other.sample(4, labels), again.sample(4, labels)
    assert first.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, different.sample(4, labels))
    # the sampling seed moves on, and a fixed latent array gives the same images again
    assert not np.allclose(first, other.sample(4, labels))
    latent = other.latent_vectors(4)
    np.testing.assert_allclose(other.sample(latent, labels), other.sample(latent, labels))


def test_dropout_masks_belong_to_each_discriminator():
    # Two discriminators built from the same seed drop the same units when called in turn. On
    # PyTorch an unseeded Dropout draws from torch's global generator, so the second would get
    # the next masks, not the same ones, and Section 4.3's side-by-side check would fail.
    keras.utils.set_random_seed(0)
    first = gan_discriminator(width=WIDTH, dropout=0.5)
    keras.utils.set_random_seed(0)
    second = gan_discriminator(width=WIDTH, dropout=0.5)
    images = np.random.default_rng(0).uniform(-1, 1, size=(4, 28, 28, 1)).astype("float32")
    for _ in range(2):
        a = keras.ops.convert_to_numpy(first(images, training=True))
        b = keras.ops.convert_to_numpy(second(images, training=True))
        np.testing.assert_array_equal(a, b)
    again = keras.ops.convert_to_numpy(first(images, training=True))
    assert not np.array_equal(a, again)  # each call draws new masks: dropout is on


@pytest.mark.parametrize("classes", [None, CLASSES])
def test_two_gans_from_one_seed_train_alike(classes):
    # As Section 4.3 trains its own GAN and GANTrainer side by side: step in turn, end equal.
    one, two = tiny_gan(num_classes=classes), tiny_gan(num_classes=classes)
    images, labels = toy_batch(classes)
    for _ in range(2):
        one.step(images, labels)
        two.step(images, labels)
    for a, b in zip(one.discriminator.weights + one.generator.weights,
                    two.discriminator.weights + two.generator.weights, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                   rtol=1e-5, atol=1e-6)


def test_adam_moves_an_embedding_row_as_each_backend_does():
    # The label embeddings of both conditional models get their first Adam step here. A row
    # looked up k times in a batch should move one step (the learning rate), as it does on JAX
    # and PyTorch; on TensorFlow the embedding's gradient is sparse (tf.IndexedSlices), Keras'
    # Adam squares each of the k slices before adding them, and the row moves sqrt(k) steps.
    # The run-times page lists this difference; the test says when Keras changes it.
    embedding = keras.layers.Embedding(3, 2, embeddings_initializer="zeros")
    model = keras.Sequential([keras.Input((), dtype="int32"), embedding])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    model.train_on_batch(np.array([0, 0, 0, 0, 1], "int32"), np.ones((5, 2), "float32"))
    moved = keras.ops.convert_to_numpy(embedding.embeddings)[:, 0]
    seen_four_times = 0.2 if keras.backend.backend() == "tensorflow" else 0.1  # sqrt(4) steps
    np.testing.assert_allclose(moved, [seen_four_times, 0.1, 0.0], atol=1e-4)


def test_trainer_rejects_mismatched_models_and_bad_settings():
    plain_g = gan_generator(latent_dim=LATENT, width=WIDTH)
    plain_d = gan_discriminator(width=WIDTH)
    conditional_d = gan_discriminator(num_classes=CLASSES, width=WIDTH)
    with pytest.raises(ValueError, match="both be unconditional .1 input. or both conditional"):
        GANTrainer(plain_g, conditional_d)
    with pytest.raises(ValueError, match="must be keras.Model instances, got list"):
        GANTrainer(plain_g.layers, plain_d)
    for kwargs, message in [
        ({"learning_rate": 0}, "learning_rate must be a positive number, got 0"),
        ({"beta_1": 1.0}, "beta_1 must be below 1"),
        ({"real_label": 0.4}, r"real_label must be in \(0.5, 1\], got 0.4"),
        ({"seed": -1}, "seed must be a non-negative int, got -1"),
    ]:
        with pytest.raises(ValueError, match=message):
            GANTrainer(plain_g, plain_d, **kwargs)


def test_trainer_rejects_bad_batches_and_labels(trainer):
    images, labels = toy_batch(trainer.num_classes)
    if trainer.num_classes is None:
        with pytest.raises(ValueError, match="unconditional, so discriminator_step takes no"):
            trainer.discriminator_step(images, np.zeros(BATCH, int))
    else:
        with pytest.raises(ValueError, match="conditional: sample needs labels, got None"):
            trainer.sample(2)
        with pytest.raises(ValueError, match=r"labels must be in 0..2, got 0..3"):
            trainer.sample(2, np.array([0, 3]))
        with pytest.raises(ValueError, match=r"labels must be 2 ints \(shape \(2,\)\)"):
            trainer.sample(2, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"real_images must have shape \(n, 28, 28, 1\)"):
        trainer.discriminator_step(np.zeros((BATCH, 28, 29, 1), "float32"), labels)
    with pytest.raises(ValueError, match=r"latent must be a count or an array \(n, 8\)"):
        trainer.sample(np.zeros((2, 5)), None if labels is None else labels[:2])
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        trainer.generator_step(0)


def test_training_keeps_tensorflow_graph_noise_off_stderr():
    # TensorFlow's optimiser prints "remapper failed" for these models on their first
    # training call, below Python; GANTrainer silences that call so notebooks stay clean.
    import subprocess
    import sys

    script = (
        "from helpers.environment import prepare\n"
        "prepare(seed=0)\n"
        "import numpy as np\n"
        "from helpers.gan import GANTrainer, gan_discriminator, gan_generator\n"
        "trainer = GANTrainer(gan_generator(latent_dim=8, width=4), gan_discriminator(width=4))\n"
        "for _ in range(3):\n"
        "    trainer.step(np.zeros((4, 28, 28, 1), 'float32'))\n"
        "print('trained')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "trained"
    assert "remapper" not in done.stderr, done.stderr[-2000:]
