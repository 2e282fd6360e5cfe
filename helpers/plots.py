"""Figures the chapters share: image grids, a classifier's most confident mistakes, training
curves, convolution filters, image histograms and confusion matrices.

Each function returns the Matplotlib ``Figure`` it drew, so a notebook can show it and a test
can inspect it. None of them calls ``plt.show()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

from helpers.checks import positive_int


def _as_images(images: object) -> np.ndarray:
    array = np.asarray(images)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] not in (3, 4)):
        raise ValueError(
            "images must have shape (n, height, width), (n, height, width, 1) or "
            f"(n, height, width, 3|4), got {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError("images is empty: expected at least one image")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"images must be numeric, got dtype {array.dtype}")
    return array


def image_grid(
    images: object,
    titles: Sequence[object] | None = None,
    ncols: int = 10,
    cmap: str = "gray_r",
    suptitle: str | None = None,
    cell_size: float = 1.1,
) -> Figure:
    """Show images in a grid, one small title per image (Chapter 1).

    ``gray_r`` draws ink dark on a light background, the way digits are written; pass
    ``cmap="gray"`` for photographs. Colour images (last axis 3 or 4) ignore ``cmap``.
    """
    array = _as_images(images)
    count = array.shape[0]
    if titles is not None and len(titles) != count:
        raise ValueError(f"titles must have one entry per image ({count}), got {len(titles)}")
    positive_int("ncols", ncols)
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    title_room = 0.25 if titles is not None else 0.0
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(cell_size * ncols, (cell_size + title_room) * nrows + (0.4 if suptitle else 0)),
        squeeze=False,
        layout="constrained",
    )
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        ax.imshow(array[index], cmap=cmap, interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[index]), fontsize=9)
    for ax in axes.flat[count:]:
        fig.delaxes(ax)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def confident_mistakes(
    images: object,
    labels: object,
    probabilities: object,
    count: int = 10,
    ncols: int = 5,
    suptitle: str | None = None,
) -> tuple[Figure, np.ndarray]:
    """The ``count`` misread images a classifier was surest of, in a grid (Chapters 1 and 4.1).

    ``probabilities`` are the classifier's outputs for ``images``, shape (n, classes), and
    ``labels`` the true classes, shape (n,). A mistake is an image whose most probable class
    is not its label; the mistakes are ordered by that probability, highest first, and each
    title gives the true class, the class said and how sure the classifier was. Chapter 1
    computes the same selection step by step and checks it against this function.

    Returns ``(figure, shown)``: the figure and the indices into ``images`` of the mistakes it
    shows (fewer than ``count`` when there are fewer mistakes).
    """
    count = positive_int("count", count)
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or labels.shape != (len(probabilities),):
        raise ValueError(
            "probabilities must have shape (n, classes) and labels shape (n,), got "
            f"{probabilities.shape} and {labels.shape}"
        )
    pictures = _as_images(images)
    if len(pictures) != len(labels):
        raise ValueError(
            f"images and labels must have the same length, got {len(pictures)} and {len(labels)}"
        )
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    if len(wrong) == 0:
        raise ValueError("the classifier misread none of the images: there is no mistake to show")
    confidence = probabilities[wrong, predicted[wrong]]
    shown = wrong[np.argsort(confidence)[::-1][:count]]
    figure = image_grid(
        pictures[shown],
        titles=[f"true {labels[i]}, said {predicted[i]}\n"
                f"({probabilities[i, predicted[i]]:.0%} sure)" for i in shown],
        ncols=ncols,
        suptitle=suptitle,
        cell_size=1.5,
    )
    return figure, shown


def plot_history(
    history: object,
    metrics: Sequence[str] = ("loss", "accuracy"),
    title: str | None = None,
) -> Figure:
    """Training curves, one panel per metric, with the validation curve where there is one.

    ``history`` is what ``model.fit`` returns (a ``keras.callbacks.History``) or its
    ``.history`` dict (Chapter 1).
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping):
        raise TypeError(
            "history must be a keras History or a dict of metric lists, "
            f"got {type(history).__name__}"
        )
    if isinstance(metrics, str) or not metrics:
        raise ValueError(f"metrics must be a non-empty sequence of names, got {metrics!r}")
    missing = [name for name in metrics if name not in logs]
    if missing:
        raise ValueError(f"metrics {missing} not in history; it has {sorted(logs)}")
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False, layout="constrained"
    )
    for ax, name in zip(axes.flat, metrics, strict=True):
        values = np.asarray(logs[name], dtype=float)
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, marker="o", label="training")
        if f"val_{name}" in logs:
            ax.plot(epochs, np.asarray(logs[f"val_{name}"], dtype=float), marker="s",
                    label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def filter_grid(kernel: object, ncols: int = 8, title: str | None = None) -> Figure:
    """Show the first input channel of each convolution filter (Chapter 1).

    ``kernel`` has Keras' ``Conv2D`` layout ``(height, width, in_channels, filters)``. Each
    filter is drawn on its own symmetric colour scale: red weights respond to ink, blue ones
    to background, and white is zero.
    """
    weights = np.asarray(kernel)
    if weights.ndim != 4:
        raise ValueError(
            f"kernel must have shape (height, width, in_channels, filters), got {weights.shape}"
        )
    filters = np.moveaxis(weights[:, :, 0, :], -1, 0)
    positive_int("ncols", ncols)
    ncols = min(ncols, filters.shape[0])
    nrows = math.ceil(filters.shape[0] / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(1.0 * ncols, 1.0 * nrows + (0.4 if title else 0)),
        squeeze=False, layout="constrained",
    )
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index < filters.shape[0]:
            limit = float(np.abs(filters[index]).max()) or 1.0
            ax.imshow(filters[index], cmap="RdBu_r", vmin=-limit, vmax=limit,
                      interpolation="nearest")
    if title:
        fig.suptitle(title)
    return fig


_CHANNEL_COLOURS = ("red", "green", "blue")


def _as_picture(image: object, name: str = "image") -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(
            f"{name} must have shape (height, width) or (height, width, 3), got {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"{name} is empty: expected at least one pixel, got shape {array.shape}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be numeric (integers or floats), got dtype {array.dtype}")
    return array


def _default_range(array: np.ndarray) -> tuple[float, float]:
    if array.dtype == np.uint8:
        return 0.0, 255.0
    low, high = float(array.min()), float(array.max())
    if 0.0 <= low and high <= 1.0:
        return 0.0, 1.0
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _draw_image_and_histogram(
    image_ax: plt.Axes,
    histogram_ax: plt.Axes,
    array: np.ndarray,
    title: str | None,
    bins: int,
    value_range: tuple[float, float],
    thresholds: Sequence[float],
    cmap: str,
    cumulative: bool,
) -> None:
    low, high = value_range
    if array.ndim == 2:
        image_ax.imshow(array, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
    else:
        shown = array if array.dtype == np.uint8 else np.clip((array - low) / (high - low), 0, 1)
        image_ax.imshow(shown, interpolation="nearest")
    image_ax.set_axis_off()
    if title:
        image_ax.set_title(title)

    edges = np.linspace(low, high, bins + 1)
    if array.ndim == 2:
        counts, _ = np.histogram(array, bins=edges)
        histogram_ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge",
                         color="0.35", label="pixels")
        cumulative_counts = [np.cumsum(counts)]
    else:
        cumulative_counts = []
        centres = (edges[:-1] + edges[1:]) / 2
        for channel, colour in enumerate(_CHANNEL_COLOURS):
            counts, _ = np.histogram(array[..., channel], bins=edges)
            histogram_ax.plot(centres, counts, color=colour, label=colour)
            cumulative_counts.append(np.cumsum(counts))
        histogram_ax.legend(fontsize=8)
    for threshold in thresholds:
        histogram_ax.axvline(threshold, color="crimson", linestyle="--",
                             label=f"threshold {threshold:g}")
    histogram_ax.set_xlim(low, high)
    histogram_ax.set_xlabel("pixel value")
    histogram_ax.set_ylabel("number of pixels")
    histogram_ax.set_title("histogram" + (f": {title}" if title else ""))
    if cumulative:
        fraction_ax = histogram_ax.twinx()
        for counts, colour in zip(cumulative_counts, ("black",) if array.ndim == 2
                                  else _CHANNEL_COLOURS, strict=True):
            fraction_ax.plot(edges[1:], counts / counts[-1], color=colour, linewidth=1.5,
                             linestyle=":", label="cumulative")
        fraction_ax.set_ylim(0, 1.02)
        fraction_ax.set_ylabel("cumulative fraction")


def _check_histogram_options(
    bins: object, value_range: object, thresholds: object
) -> tuple[int, tuple[float, float] | None, tuple[float, ...]]:
    positive_int("bins", bins)
    if value_range is not None:
        if not (isinstance(value_range, Sequence) and len(value_range) == 2):
            raise ValueError(f"value_range must be a pair (low, high), got {value_range!r}")
        low, high = (float(value) for value in value_range)
        if not low < high:
            raise ValueError(f"value_range must have low < high, got {value_range!r}")
        value_range = (low, high)
    if isinstance(thresholds, str) or not isinstance(thresholds, Sequence):
        raise TypeError(f"thresholds must be a sequence of numbers, got {thresholds!r}")
    return bins, value_range, tuple(float(value) for value in thresholds)


def image_with_histogram(
    image: object,
    title: str | None = None,
    bins: int = 64,
    value_range: tuple[float, float] | None = None,
    thresholds: Sequence[float] = (),
    cmap: str = "gray",
    cumulative: bool = False,
) -> Figure:
    """An image next to the histogram of its pixel values (Chapter 2).

    A grey image (``(height, width)``) gets one bar per bin; a colour image
    (``(height, width, 3)``, RGB) one line per channel. ``value_range`` defaults to 0-255 for
    ``uint8``, 0-1 for floats inside [0, 1], and the data's own range otherwise; the image is
    drawn on the same scale, so a low-contrast image looks low-contrast. ``thresholds`` draws
    dashed vertical lines (e.g. an Otsu threshold) and ``cumulative`` adds the cumulative
    fraction of pixels on a second y-axis, the curve that histogram equalisation straightens.
    """
    return images_with_histograms(
        {title or "": image}, bins=bins, value_range=value_range, thresholds=thresholds,
        cmap=cmap, cumulative=cumulative,
    )


def images_with_histograms(
    images: Mapping[str, object],
    bins: int = 64,
    value_range: tuple[float, float] | None = None,
    thresholds: Sequence[float] = (),
    cmap: str = "gray",
    cumulative: bool = False,
    suptitle: str | None = None,
) -> Figure:
    """Several images, one row each, every image next to its histogram (Chapter 2).

    ``images`` maps a title to an image, e.g. ``{"before": image, "after": equalised}``, so a
    before/after comparison shares one figure. The options are those of
    :func:`image_with_histogram`; without ``value_range`` each row uses its own default range.
    """
    if not isinstance(images, Mapping):
        raise TypeError(
            f"images must be a mapping of title to image, got {type(images).__name__}"
        )
    if not images:
        raise ValueError("images is empty: expected at least one title: image pair")
    bins, value_range, thresholds = _check_histogram_options(bins, value_range, thresholds)
    arrays = {str(name): _as_picture(image, f"image {name!r}") for name, image in images.items()}
    fig, axes = plt.subplots(
        len(arrays), 2, figsize=(8.4, 3.2 * len(arrays) + (0.4 if suptitle else 0)),
        squeeze=False, layout="constrained", gridspec_kw={"width_ratios": (1, 1.35)},
    )
    for (name, array), (image_ax, histogram_ax) in zip(arrays.items(), axes, strict=True):
        _draw_image_and_histogram(
            image_ax, histogram_ax, array, name or None, bins,
            value_range or _default_range(array), thresholds, cmap, cumulative,
        )
    if suptitle:
        fig.suptitle(suptitle)
    return fig


_NORMALIZE_CHOICES = (None, "true", "pred", "all")


def confusion_matrix_plot(
    y_true: object,
    y_pred: object,
    labels: Sequence[object] | None = None,
    normalize: str | None = None,
    title: str | None = None,
    cmap: str = "Blues",
) -> Figure:
    """The confusion matrix of a classifier: rows are true classes, columns predictions (Chapter 2).

    The counts come from :func:`sklearn.metrics.confusion_matrix`. ``normalize="true"`` divides
    each row by its total, so the diagonal is each class's recall; ``"pred"`` divides each
    column, so the diagonal is each class's precision; ``"all"`` divides by the number of
    examples. ``labels`` fixes which classes appear and in what order (default: every class
    seen in either array, sorted).
    """
    true, predicted = np.asarray(y_true), np.asarray(y_pred)
    if true.ndim != 1 or predicted.ndim != 1:
        raise ValueError(
            "y_true and y_pred must be 1-D arrays of class labels, got shapes "
            f"{true.shape} and {predicted.shape}"
        )
    if len(true) != len(predicted):
        raise ValueError(
            f"y_true and y_pred must have the same length, got {len(true)} and {len(predicted)}"
        )
    if len(true) == 0:
        raise ValueError("y_true is empty: expected at least one prediction")
    if normalize not in _NORMALIZE_CHOICES:
        raise ValueError(f"normalize must be one of {_NORMALIZE_CHOICES}, got {normalize!r}")
    if labels is None:
        labels = np.unique(np.concatenate([true, predicted]))
    elif isinstance(labels, str) or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty sequence of class labels, got {labels!r}")
    labels = list(labels)
    for name, values in (("y_true", true), ("y_pred", predicted)):
        unknown = sorted(set(np.unique(values).tolist()) - set(np.asarray(labels).tolist()))
        if unknown:
            raise ValueError(f"{name} has classes {unknown} that are not in labels {labels}")
    matrix = confusion_matrix(true, predicted, labels=labels, normalize=normalize)
    side = max(3.6, 0.5 * len(labels) + 1.6)
    fig, ax = plt.subplots(figsize=(side, side), layout="constrained")
    ConfusionMatrixDisplay(matrix, display_labels=labels).plot(
        ax=ax, cmap=cmap, colorbar=False, values_format="d" if normalize is None else ".2f"
    )
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    default = "Confusion matrix" + (f" (normalised over {normalize})" if normalize else "")
    ax.set_title(title or default)
    return fig
