"""helpers.plots: inspect the figures, not just that they draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tests only; notebooks keep their inline backend

import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers import plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_images() or ax.lines]


def test_image_grid_shows_each_image_with_its_title():
    images = np.arange(7 * 5 * 4, dtype=np.uint8).reshape(7, 5, 4)
    fig = plots.image_grid(images, titles=[f"d{i}" for i in range(7)], ncols=3, suptitle="Seven")

    axes = _visible_axes(fig)
    assert len(fig.axes) == 7  # the two spare cells of the 3x3 grid are removed
    assert [ax.get_title() for ax in axes] == [f"d{i}" for i in range(7)]
    for index, ax in enumerate(axes):
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), images[index])
    assert fig._suptitle.get_text() == "Seven"


def test_image_grid_accepts_channel_last_and_colour():
    grey = np.zeros((2, 6, 6, 1))
    fig = plots.image_grid(grey)
    assert fig.axes[0].get_images()[0].get_array().shape == (6, 6)
    colour = np.zeros((3, 6, 6, 3), dtype=np.uint8)
    fig = plots.image_grid(colour, ncols=10)
    assert len(fig.axes) == 3
    assert fig.axes[0].get_images()[0].get_array().shape == (6, 6, 3)


@pytest.mark.parametrize(
    ("images", "kwargs", "error", "message"),
    [
        (np.zeros((4, 4)), {}, ValueError, r"images must have shape .* got \(4, 4\)"),
        (np.zeros((0, 4, 4)), {}, ValueError, "images is empty"),
        (np.zeros((2, 4, 4, 2)), {}, ValueError, r"got \(2, 4, 4, 2\)"),
        (np.array([[["a"]]]), {}, TypeError, "images must be numeric"),
        (np.zeros((2, 4, 4)), {"titles": ["one"]}, ValueError, r"one entry per image \(2\), got 1"),
        (np.zeros((2, 4, 4)), {"ncols": 0}, ValueError, "ncols must be a positive int"),
    ],
)
def test_image_grid_rejects_bad_input(images, kwargs, error, message):
    with pytest.raises(error, match=message):
        plots.image_grid(images, **kwargs)


def test_plot_history_draws_training_and_validation_per_metric():
    history = {
        "loss": [1.0, 0.5, 0.25],
        "val_loss": [1.1, 0.6, 0.4],
        "accuracy": [0.5, 0.8, 0.9],
    }
    fig = plots.plot_history(history, title="Curves")

    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    loss_ax, accuracy_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["training", "validation"]
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), [1.1, 0.6, 0.4])
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [1, 2, 3])
    assert len(accuracy_ax.lines) == 1
    assert loss_ax.get_xlabel() == "epoch"
    assert fig._suptitle.get_text() == "Curves"


def test_plot_history_accepts_a_keras_history_like_object():
    class History:
        history = {"loss": [2.0, 1.0]}

    fig = plots.plot_history(History(), metrics=["loss"])
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [2.0, 1.0])


def test_plot_history_rejects_bad_input():
    with pytest.raises(TypeError, match="history must be a keras History"):
        plots.plot_history([1, 2, 3])
    expected = r"metrics \['accuracy'\] not in history; it has \['loss'\]"
    with pytest.raises(ValueError, match=expected):
        plots.plot_history({"loss": [1.0]})
    with pytest.raises(ValueError, match="non-empty sequence"):
        plots.plot_history({"loss": [1.0]}, metrics="loss")


def test_filter_grid_draws_each_filter_on_a_symmetric_scale():
    kernel = np.arange(3 * 3 * 1 * 5, dtype=float).reshape(3, 3, 1, 5) - 20
    fig = plots.filter_grid(kernel, ncols=4, title="Filters")

    images = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    assert len(images) == 5
    np.testing.assert_array_equal(images[2].get_array(), kernel[:, :, 0, 2])
    low, high = images[0].get_clim()
    assert low == -high == -np.abs(kernel[:, :, 0, 0]).max()
    assert fig._suptitle.get_text() == "Filters"


def test_filter_grid_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(height, width, in_channels, filters\), got \(3, 3\)"):
        plots.filter_grid(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="ncols must be a positive int"):
        plots.filter_grid(np.zeros((3, 3, 1, 2)), ncols=-1)
