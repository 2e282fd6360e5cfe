"""The judge of Sections 4.3 and 4.4: how close generated digits are to real ones.

:func:`frechet_distance` compares two populations of features, :class:`DigitJudge` scores
generated digits with a trained classifier, and :func:`judge_classifier` trains that classifier
once and caches its weights, so the section that runs second reuses it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings

import keras
import numpy as np

from helpers.checks import positive_int, random_seed, uint8_digits
from helpers.environment import training_verbosity
from helpers.models import accuracy, feature_extractor
from helpers.race import RACE_RECIPE, race_cnn


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

    ``classifier`` is a softmax classifier of uint8 28x28 digits (the one
    :func:`judge_classifier` trains); the Fréchet distance compares the outputs of its layer
    named ``feature_layer``, by default its last ``Flatten`` layer (for that classifier, the
    800 numbers of its pooled convolutional feature maps, 5x5x32). ``real_images`` are the
    real digits the Fréchet distance compares with (the MNIST test set). Their features are
    computed once, here.
    """

    def __init__(
        self, classifier: keras.Model, real_images: np.ndarray, feature_layer: str | None = None
    ) -> None:
        if not isinstance(classifier, keras.Model) or len(classifier.layers) < 2:
            raise ValueError(
                "classifier must be a keras.Model with at least two layers, got "
                f"{type(classifier).__name__}"
            )
        if feature_layer is None:
            flattened = [each for each in classifier.layers
                         if isinstance(each, keras.layers.Flatten)]
            if not flattened:
                raise ValueError(
                    f"classifier {classifier.name!r} has no Flatten layer; name the layer "
                    "whose outputs are the features with feature_layer"
                )
            feature_layer = flattened[-1].name
        self.classifier = classifier
        self.test_accuracy: float | None = None  # set by DigitJudge.trained
        self.features = feature_extractor(classifier, feature_layer)
        self.real_features = self.features.predict(
            uint8_digits(real_images, "real_images"), batch_size=1000, verbose=0
        )

    @classmethod
    def trained(
        cls,
        train_images: object,
        train_labels: object,
        test_images: object,
        test_labels: object,
        **recipe: object,
    ) -> DigitJudge:
        """The judge of Sections 4.3 and 4.4, ready: its classifier trained (or loaded) and tested.

        The classifier is :func:`judge_classifier`'s (``recipe`` passes its keyword arguments
        on, e.g. ``cache=False``), trained on ``train_images`` and ``train_labels``; the
        Fréchet distance compares with ``test_images``, and ``test_accuracy`` is the
        classifier's accuracy on ``test_images`` and ``test_labels``
        (:func:`helpers.models.accuracy`).
        """
        classifier, _ = judge_classifier(train_images, train_labels, **recipe)
        judge = cls(classifier, test_images)
        judge.test_accuracy = accuracy(
            classifier, uint8_digits(test_images, "test_images"), test_labels
        )
        return judge

    def __call__(self, images: object, wanted: object = None) -> dict[str, object]:
        """A report on ``images`` (uint8 digits; see :func:`from_gan_range`).

        Keys: ``histogram`` (how many were classified as each digit), ``confident`` (the
        share classified with probability at least 0.9), ``frechet`` (the Fréchet distance
        of their features to the real images'), and, when ``wanted`` gives the digit each
        image was asked to be, ``per_digit`` (for each digit, the share of the images asked
        for it that were classified as it).
        """
        images = uint8_digits(images, "images")
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
    images = uint8_digits(train_images, "train_images")
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
    epochs: int = RACE_RECIPE.epochs,
    batch_size: int = RACE_RECIPE.batch_size,
    seed: int = 0,
    cache: bool = True,
    data_dir: str | os.PathLike | None = None,
) -> tuple[keras.Model, bool]:
    """The classifier behind Sections 4.3 and 4.4's :class:`DigitJudge`, trained once.

    The recipe is Section 4.1's race recipe (:data:`helpers.race.RACE_RECIPE`):
    ``keras.utils.set_random_seed(seed)``, a :func:`helpers.race.race_cnn`, and ``epochs``
    epochs (2) at ``batch_size`` (256) of Adam with beta_1 0.7, beta_2 0.9 and a one-cycle
    schedule peaking at 0.01, on ``train_images`` (uint8, shape (n, 28, 28) or
    (n, 28, 28, 1)) and ``train_labels`` (digits 0 to 9).

    Both sections need the same network, so with ``cache=True`` its weights are kept under
    ``helpers.data.model_directory(data_dir)``, in a file named after a hash of
    the recipe, the data, the Keras version and the backend: the section that runs second
    loads them instead of training again. The file is written whole or not at
    all; one that cannot be read is reported with a warning, removed and trained again.
    Returns ``(classifier, loaded_from_cache)``, the classifier compiled with the accuracy
    metric either way, so ``classifier.evaluate`` works on it.
    """
    images, labels = _judge_inputs(train_images, train_labels)
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    seed = random_seed(seed)
    if not isinstance(cache, bool):
        raise ValueError(f"cache must be True or False, got {cache!r}")

    from helpers.data import array_sha256, model_directory, replaced_whole

    recipe = {
        "model": "race_cnn",
        "optimizer": "adam(0.7, 0.9) + one_cycle_schedule(peak 0.01)",
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

    training = dataclasses.replace(RACE_RECIPE, epochs=epochs, batch_size=batch_size)

    def compiled(classifier: keras.Model) -> keras.Model:
        classifier.compile(
            optimizer=training.optimizer(len(images)),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return classifier

    if cache and path.exists():
        classifier = race_cnn(name="judge")  # the file holds the layers' weights only
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
    classifier = compiled(race_cnn(name="judge"))
    classifier.fit(images, labels, epochs=epochs, batch_size=batch_size,
                   verbose=training_verbosity())
    if cache:
        weights_only = race_cnn(name="judge")  # without the optimizer's state
        weights_only.set_weights(classifier.get_weights())
        with replaced_whole(path, suffix=".part.weights.h5") as temporary:
            weights_only.save_weights(temporary)
    return classifier, False
