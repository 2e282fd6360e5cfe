"""Which pixels a classifier relies on, and checks that an explanation explains (Chapter 5).

* :func:`occlusion_sensitivity` needs no gradients: it greys out one patch at a time and
  records how much the class probability drops (Zeiler and Fergus, 2014).
* :func:`saliency` is the gradient map of Simonyan et al. (2014), built on
  :func:`helpers.gradients.input_gradient`.
* :func:`randomize_weights` and :func:`rank_correlation` are the model-randomisation sanity
  check of Adebayo et al. (2018): a map that barely changes when the weights are replaced by
  random ones does not explain what the trained model learned.

Import this module after :func:`helpers.environment.prepare` has chosen the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import keras
import numpy as np
from scipy import stats

from helpers.checks import positive_int, random_seed
from helpers.gradients import input_gradient

__all__ = ["occlusion_sensitivity", "randomize_weights", "rank_correlation", "saliency"]


def _starts(size: int, patch: int, stride: int) -> list[int]:
    """Top-left corners along one axis; the last patch is moved in to touch the far edge."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def _class_probabilities(predict_fn: Callable, batch: np.ndarray, class_index: int) -> np.ndarray:
    output = np.asarray(predict_fn(batch))
    if output.ndim != 2 or output.shape[0] != len(batch):
        raise ValueError(
            f"predict_fn must return one row of class probabilities per image, shape "
            f"({len(batch)}, classes), got shape {output.shape}"
        )
    if not 0 <= class_index < output.shape[1]:
        raise ValueError(
            f"class_index must be in [0, {output.shape[1] - 1}] for {output.shape[1]} "
            f"classes, got {class_index}"
        )
    return output[:, class_index].astype("float64")


def occlusion_sensitivity(
    predict_fn: Callable[[np.ndarray], object],
    image: object,
    class_index: int,
    patch: int = 4,
    stride: int = 2,
    fill: float = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """How much the probability of ``class_index`` drops when each region is covered.

    ``image`` is one image ``(height, width, channels)`` in the model's input units;
    ``predict_fn`` maps a batch ``(n, height, width, channels)`` to probabilities
    ``(n, classes)`` as a NumPy array, for instance ``lambda x: model.predict(x, verbose=0)``.
    A ``patch`` x ``patch`` square of value ``fill`` slides over the image ``stride`` pixels
    at a time (the last row and column of patches touch the image's edge, so every pixel is
    covered; ``stride`` may not exceed ``patch``). Returns a float array ``(height, width)``:
    at each pixel, the mean over the patches that cover it of ``p(original) - p(occluded)``.
    Positive values mark evidence for the class, negative values evidence against it, and a
    pixel that the model ignores, in a patch of such pixels, scores exactly 0.
    """
    array = np.asarray(image)
    if array.ndim != 3:
        raise ValueError(
            f"image must be one image (height, width, channels), got shape {array.shape}; "
            "for a batch, call occlusion_sensitivity once per image"
        )
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"image must be numeric, got dtype {array.dtype}")
    if isinstance(class_index, bool) or not isinstance(class_index, int | np.integer):
        raise ValueError(f"class_index must be an int, got {class_index!r}")
    patch = positive_int("patch", patch)
    stride = positive_int("stride", stride)
    batch_size = positive_int("batch_size", batch_size)
    height, width = array.shape[:2]
    if patch > min(height, width):
        raise ValueError(f"patch must fit in the {height}x{width} image, got patch={patch}")
    if stride > patch:
        raise ValueError(
            f"stride must be at most patch ({patch}) so that every pixel is covered, "
            f"got stride={stride}"
        )
    if not isinstance(fill, int | float | np.number) or not np.isfinite(fill):
        raise ValueError(f"fill must be a finite number, got {fill!r}")

    image_f = array.astype("float32")
    base = _class_probabilities(predict_fn, image_f[None], int(class_index))[0]
    rows, columns = _starts(height, patch, stride), _starts(width, patch, stride)
    corners = [(r, c) for r in rows for c in columns]
    drop_sum = np.zeros((height, width))
    count = np.zeros((height, width))
    for first in range(0, len(corners), batch_size):
        block = corners[first : first + batch_size]
        batch = np.repeat(image_f[None], len(block), axis=0)
        for k, (r, c) in enumerate(block):
            batch[k, r : r + patch, c : c + patch, :] = fill
        drops = base - _class_probabilities(predict_fn, batch, int(class_index))
        for drop, (r, c) in zip(drops, block, strict=True):
            drop_sum[r : r + patch, c : c + patch] += drop
            count[r : r + patch, c : c + patch] += 1
    return drop_sum / count


def saliency(
    model: keras.Model, images: object, class_index: int | object, *, batch_size: int = 128
) -> np.ndarray:
    """Gradient saliency maps: ``|d output[class] / d pixel|``, the maximum over channels.

    Returns a float array ``(n, height, width)``. The output differentiated is what the model
    outputs (a probability for the book's softmax models). See
    :func:`helpers.gradients.input_gradient` for the arguments and the backends it is
    tested on.
    """
    gradient = input_gradient(model, images, class_index, batch_size=batch_size)
    if gradient.ndim != 4:
        raise ValueError(
            f"saliency needs image inputs (n, height, width, channels), got gradients of "
            f"shape {gradient.shape}"
        )
    return np.abs(gradient).max(axis=-1)


def _seeds(seed: int, layer_index: int) -> Iterator[int]:
    """Endless distinct initializer seeds for one layer, fixed by ``seed`` and its index."""
    rng = np.random.default_rng([seed, layer_index])
    while True:
        yield int(rng.integers(2**31 - 1))


def _seed_initializers(config: object, seeds: Iterator[int]) -> object:
    """A copy of a layer config with a fixed seed in every serialized Keras initializer."""
    if isinstance(config, dict):
        inner = config.get("config")
        if (
            config.get("module") == "keras.initializers"
            and isinstance(inner, dict)
            and "seed" in inner
        ):
            return {**config, "config": {**inner, "seed": next(seeds)}}
        return {key: _seed_initializers(value, seeds) for key, value in config.items()}
    if isinstance(config, list | tuple):
        return type(config)(_seed_initializers(value, seeds) for value in config)
    return config


def randomize_weights(
    model: keras.Model, seed: int, layer_names: Iterable[str] | None = None
) -> keras.Model:
    """A copy of ``model`` whose weights are drawn afresh from the layers' initializers.

    The copy has the same layers (classes, names, configurations, weight shapes); ``model``
    is not changed. Every initializer gets a seed derived from ``seed``, so the same seed
    gives the same weights without touching the global random state. With ``layer_names``,
    only those layers are re-initialised and the others keep ``model``'s weights; randomising
    from the top layer down, one more layer at a time, is Adebayo et al.'s cascading test.
    Biases start at zero, as the layers' own initializers say. Layers inside a nested model
    are re-initialised with that model.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    seed = random_seed(seed)
    names = [layer.name for layer in model.layers]
    if layer_names is None:
        chosen = set(names)
    else:
        if isinstance(layer_names, str):
            raise ValueError(f"layer_names must be a list of names, got the string {layer_names!r}")
        chosen = set(layer_names)
        unknown = sorted(chosen - set(names))
        if unknown:
            raise ValueError(
                f"model {model.name!r} has no layers named {unknown}; its layers are {names}"
            )
    def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if layer.name in chosen:
            config = _seed_initializers(config, _seeds(int(seed), names.index(layer.name)))
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=clone_layer)
    for name in names:
        if name not in chosen and model.get_layer(name).weights:
            clone.get_layer(name).set_weights(model.get_layer(name).get_weights())
    return clone


def rank_correlation(map_a: object, map_b: object) -> float:
    """Spearman's rank correlation of two maps of the same shape, pixel by pixel.

    1 means the two maps order the pixels the same way, 0 means unrelated orderings. Adebayo
    et al. compare a saliency map of a trained model with the map of a randomised copy: a
    correlation near 1 means the map does not depend on what the model learned.
    """
    a = np.asarray(map_a, dtype="float64")
    b = np.asarray(map_b, dtype="float64")
    if a.shape != b.shape:
        raise ValueError(f"the two maps must have the same shape, got {a.shape} and {b.shape}")
    if a.size < 2:
        raise ValueError(f"the maps need at least two pixels, got shape {a.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("the maps must be finite, got NaN or infinity")
    for name, values in (("map_a", a), ("map_b", b)):
        if np.ptp(values) == 0:
            raise ValueError(f"{name} is constant, so it has no ranking to correlate")
    return float(stats.spearmanr(a.ravel(), b.ravel()).statistic)
