"""Figures the chapters share: image grids, training curves, convolution filters.

Each function returns the Matplotlib ``Figure`` it drew, so a notebook can show it and a test
can inspect it. None of them calls ``plt.show()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


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
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
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
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
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
