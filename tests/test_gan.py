"""Section 4.3's GAN machinery: builders, GANTrainer, the [-1, 1] scaling, frechet_distance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from helpers.environment import prepare

ENV = prepare(seed=0)

import keras  # noqa: E402 - after prepare() chose the backend

from helpers.models import (  # noqa: E402
    GANTrainer,
    frechet_distance,
    from_gan_range,
    gan_discriminator,
    gan_generator,
    to_gan_range,
)

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
        (np.zeros((2, 32, 32), "uint8"), r"shape \(n, 28, 28\) or \(n, 28, 28, 1\), got \(2, 32"),
    ],
)
def test_to_gan_range_rejects_bad_images(images, message):
    with pytest.raises(ValueError, match=message):
        to_gan_range(images)


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


# --------------------------------------------------------------------------- Fréchet distance


def test_frechet_distance_of_identical_sets_is_zero():
    features = np.random.default_rng(0).normal(size=(500, 6))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(("shift", "dims"), [(0.5, 3), (2.0, 10)])
def test_frechet_distance_of_a_shifted_set_is_the_squared_shift(shift, dims):
    features = np.random.default_rng(1).normal(size=(400, dims))
    assert frechet_distance(features, features + shift) == pytest.approx(shift**2 * dims, rel=1e-6)


def test_frechet_distance_matches_an_independent_computation():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4)) + 1.0
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr sqrtm(Sa Sb) is the sum of the square roots of the eigenvalues of Sa Sb (real, >= 0)
    trace_root = np.sum(np.sqrt(np.linalg.eigvals(cov_a @ cov_b).real))
    mean_term = np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2)
    expected = mean_term + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    # and scipy's sqrtm of a diagonal product is the element-wise square root
    np.testing.assert_allclose(linalg.sqrtm(np.diag([4.0, 9.0])), np.diag([2.0, 3.0]))


def test_frechet_distance_matches_scipy_sqrtm_when_covariances_are_singular():
    # As in Section 4.3: fewer samples than features, so the covariances are singular.
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(20, 30)), rng.normal(size=(50, 30)) * 1.5 + 0.2
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.real(linalg.sqrtm(cov_a @ cov_b))
    mean_term = np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2)
    expected = mean_term + np.trace(cov_a + cov_b - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_between_known_gaussians():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(40_000, 2)) * [1.0, 2.0]  # N(0, diag(1, 4))
    b = rng.normal(size=(40_000, 2)) * [3.0, 1.0] + [1.0, 0.0]  # N((1, 0), diag(9, 1))
    # closed form for diagonal covariances: |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2
    expected = 1.0 + (1.0 - 3.0) ** 2 + (2.0 - 1.0) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros(5), np.zeros((5, 1)), r"features_a must be 2-D .* got shape \(5,\)"),
        (np.zeros((5, 2)), np.zeros((1, 2)), "features_b needs at least 2 rows .* got 1"),
        (np.zeros((5, 2)), np.zeros((5, 3)), "same number of columns, got 2 and 3"),
        (np.full((5, 2), np.nan), np.zeros((5, 2)), "features_a must be finite"),
    ],
)
def test_frechet_distance_rejects_bad_features(a, b, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(a, b)


def _tiny_classifier():
    # Classifies by mean brightness: dark images are 0, bright ones 1 (and never 2).
    inputs = keras.Input((28, 28, 1))
    features = keras.layers.Flatten(name="features")(keras.layers.Rescaling(1 / 255)(inputs))
    mean = keras.layers.Dense(1, kernel_initializer="ones", use_bias=False)(features)
    logits = keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(
        [[-1.0, 1.0, -50.0]]), bias_initializer=keras.initializers.Constant([392, -392, 0]))(mean)
    return keras.Model(inputs, keras.layers.Softmax()(logits))


def test_digit_judge_reports_histogram_confidence_distance_and_per_digit():
    from helpers.models import DigitJudge

    rng = np.random.default_rng(0)
    dark = rng.integers(0, 40, (10, 28, 28), dtype=np.uint8)
    bright = rng.integers(215, 256, (10, 28, 28), dtype=np.uint8)
    judge = DigitJudge(_tiny_classifier(), np.concatenate([dark, bright]))
    # Ask for 0 from the dark images (right) and 2 from the bright ones (all read as 1).
    report = judge(np.concatenate([dark, bright]), wanted=np.array([0] * 10 + [2] * 10))
    assert report["histogram"].tolist() == [10, 10, 0]
    assert report["confident"] == 1.0
    assert report["frechet"] == pytest.approx(0.0, abs=1e-6)
    assert report["per_digit"][0] == 1.0 and report["per_digit"][2] == 0.0
    assert np.isnan(report["per_digit"][1])  # nothing was asked for the digit 1
    assert judge(dark)["frechet"] > 1.0
    with pytest.raises(ValueError, match="images must be uint8 digits"):
        judge(dark.astype("float32"))
    with pytest.raises(ValueError, match=r"wanted must give one digit per image, shape \(10,\)"):
        judge(dark, wanted=[0, 1])


def test_training_keeps_tensorflow_graph_noise_off_stderr():
    # TensorFlow's optimiser prints "remapper failed" for these models on their first
    # training call, below Python; GANTrainer silences that call so notebooks stay clean.
    import subprocess
    import sys

    script = (
        "from helpers.environment import prepare\n"
        "prepare(seed=0)\n"
        "import numpy as np\n"
        "from helpers.models import GANTrainer, gan_discriminator, gan_generator\n"
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
