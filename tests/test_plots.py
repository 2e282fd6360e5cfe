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


def test_confident_mistakes_shows_the_surest_wrong_answers_first():
    images = np.arange(6 * 4 * 4).reshape(6, 4, 4, 1)
    labels = np.array([0, 1, 2, 0, 1, 2])
    probabilities = np.array([
        [0.9, 0.1, 0.0],  # right
        [0.7, 0.3, 0.0],  # wrong, 70 % sure of 0
        [0.0, 0.05, 0.95],  # right
        [0.0, 0.99, 0.01],  # wrong, 99 % sure of 1
        [0.1, 0.1, 0.8],  # wrong, 80 % sure of 2
        [0.2, 0.7, 0.1],  # wrong, 70 % sure of 1
    ])
    fig, shown = plots.confident_mistakes(images, labels, probabilities, count=3, ncols=3,
                                          suptitle="mistakes")
    assert shown[:2].tolist() == [3, 4] and shown[2] in (1, 5)  # 1 and 5 tie at 70 %
    axes = _visible_axes(fig)
    assert [ax.get_title() for ax in axes[:2]] == ["true 0, said 1\n(99% sure)",
                                                    "true 1, said 2\n(80% sure)"]
    np.testing.assert_array_equal(axes[0].get_images()[0].get_array(), images[3, ..., 0])
    assert fig._suptitle.get_text() == "mistakes"
    _, all_of_them = plots.confident_mistakes(images, labels, probabilities)
    assert len(all_of_them) == 4  # fewer mistakes than the ten asked for


@pytest.mark.parametrize(
    ("labels", "probabilities", "message"),
    [
        ([0, 1], [[1.0, 0.0], [0.0, 1.0]], "misread none of the images"),
        ([0, 1, 0], [[1.0, 0.0], [0.0, 1.0]], r"labels shape \(n,\), got \(2, 2\) and \(3,\)"),
        ([0], [[1.0, 0.0]], "images and labels must have the same length, got 2 and 1"),
    ],
)
def test_confident_mistakes_rejects_bad_input(labels, probabilities, message):
    with pytest.raises(ValueError, match=message):
        plots.confident_mistakes(np.zeros((2, 4, 4)), np.array(labels), np.array(probabilities))


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


def _bar_heights(ax):
    return np.array([patch.get_height() for patch in ax.patches])


def test_image_with_histogram_counts_every_pixel_in_its_bin():
    image = np.array([[0, 0, 0, 255], [128, 128, 64, 255]], dtype=np.uint8)
    fig = plots.image_with_histogram(image, title="tiny", bins=4, thresholds=[100])

    image_ax, histogram_ax = fig.axes
    np.testing.assert_array_equal(image_ax.get_images()[0].get_array(), image)
    assert image_ax.get_images()[0].get_clim() == (0.0, 255.0)  # uint8 drawn on its full scale
    assert image_ax.get_title() == "tiny"
    # four bins of width 63.75: 0 0 0 | 64 | 128 128 | 255 255
    np.testing.assert_array_equal(_bar_heights(histogram_ax), [3, 1, 2, 2])
    assert histogram_ax.get_xlabel() == "pixel value"
    assert histogram_ax.get_ylabel() == "number of pixels"
    assert histogram_ax.get_title() == "histogram: tiny"
    np.testing.assert_array_equal(histogram_ax.lines[0].get_xdata(), [100, 100])


def test_image_with_histogram_float_range_and_cumulative_curve():
    image = np.linspace(0.0, 1.0, 100).reshape(10, 10)
    fig = plots.image_with_histogram(image, bins=10, cumulative=True)

    assert len(fig.axes) == 3  # image, histogram and the cumulative fraction's twin axis
    image_ax, histogram_ax, fraction_ax = fig.axes
    assert image_ax.get_images()[0].get_clim() == (0.0, 1.0)
    np.testing.assert_array_equal(_bar_heights(histogram_ax), [10] * 10)
    np.testing.assert_allclose(fraction_ax.lines[0].get_ydata(), np.arange(1, 11) / 10)
    assert fraction_ax.get_ylabel() == "cumulative fraction"


def test_image_with_histogram_draws_one_line_per_colour_channel():
    image = np.zeros((4, 5, 3), dtype=np.uint8)
    image[..., 0] = 255  # pure red
    fig = plots.image_with_histogram(image, bins=2)

    histogram_ax = fig.axes[1]
    assert [line.get_label() for line in histogram_ax.lines] == ["red", "green", "blue"]
    red, green, _ = (line.get_ydata() for line in histogram_ax.lines)
    np.testing.assert_array_equal(red, [0, 20])
    np.testing.assert_array_equal(green, [20, 0])
    assert fig.axes[0].get_images()[0].get_array().shape == (4, 5, 3)


def test_images_with_histograms_puts_each_image_on_its_own_row():
    before = np.full((6, 6), 100, dtype=np.uint8)
    after = np.arange(36, dtype=np.uint8).reshape(6, 6) * 7
    fig = plots.images_with_histograms(
        {"before": before, "after": after}, bins=8, suptitle="Equalised"
    )

    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes[::2]] == ["before", "after"]
    assert _bar_heights(fig.axes[1]).sum() == 36
    assert _bar_heights(fig.axes[1]).max() == 36  # all 36 pixels of "before" share one bin
    assert fig._suptitle.get_text() == "Equalised"


@pytest.mark.parametrize(
    ("image", "kwargs", "error", "message"),
    [
        (np.zeros(5), {}, ValueError, r"\(height, width\) or \(height, width, 3\), got \(5,\)"),
        (np.zeros((4, 4, 2)), {}, ValueError, r"got \(4, 4, 2\)"),
        (np.zeros((0, 4)), {}, ValueError, "image '' is empty"),
        (np.zeros((3, 3), dtype=bool), {}, TypeError, "must be numeric .* got dtype bool"),
        (np.zeros((3, 3)), {"bins": 0}, ValueError, "bins must be a positive int, got 0"),
        (np.zeros((3, 3)), {"value_range": (1, 0)}, ValueError, "low < high"),
        (np.zeros((3, 3)), {"value_range": 5}, ValueError, r"pair \(low, high\), got 5"),
        (np.zeros((3, 3)), {"thresholds": 0.5}, TypeError, "thresholds must be a sequence"),
    ],
)
def test_image_with_histogram_rejects_bad_input(image, kwargs, error, message):
    with pytest.raises(error, match=message):
        plots.image_with_histogram(image, **kwargs)


def test_images_with_histograms_rejects_bad_input():
    with pytest.raises(TypeError, match="mapping of title to image, got list"):
        plots.images_with_histograms([np.zeros((3, 3))])
    with pytest.raises(ValueError, match="images is empty"):
        plots.images_with_histograms({})


def test_confusion_matrix_plot_shows_sklearn_counts_with_labelled_axes():
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 2, 2]
    fig = plots.confusion_matrix_plot(y_true, y_pred, title="Three classes")

    assert len(fig.axes) == 1  # no colour bar: the numbers are written in the cells
    ax = fig.axes[0]
    expected = [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), expected)
    assert [text.get_text() for text in ax.texts] == ["1", "1", "0", "0", "2", "1", "0", "0", "1"]
    assert ax.get_xlabel() == "predicted label"
    assert ax.get_ylabel() == "true label"
    assert ax.get_title() == "Three classes"
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["0", "1", "2"]


def test_confusion_matrix_plot_normalises_rows_and_keeps_the_order_of_labels():
    y_true = ["cat", "cat", "dog", "dog"]
    y_pred = ["cat", "dog", "dog", "dog"]
    fig = plots.confusion_matrix_plot(y_true, y_pred, labels=["dog", "cat"], normalize="true")

    ax = fig.axes[0]
    np.testing.assert_allclose(ax.get_images()[0].get_array(), [[1.0, 0.0], [0.5, 0.5]])
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["dog", "cat"]
    assert ax.texts[2].get_text() == "0.50"
    assert ax.get_title() == "Confusion matrix (normalised over true)"


@pytest.mark.parametrize(
    ("y_true", "y_pred", "kwargs", "message"),
    [
        ([[0, 1]], [[0, 1]], {}, r"1-D arrays of class labels, got shapes \(1, 2\)"),
        ([0, 1, 1], [0, 1], {}, "same length, got 3 and 2"),
        ([], [], {}, "y_true is empty"),
        ([0, 1], [0, 1], {"normalize": "rows"}, r"normalize must be one of .* got 'rows'"),
        ([0, 1], [0, 1], {"labels": []}, "labels must be a non-empty sequence"),
        ([0, 1, 2], [0, 1, 1], {"labels": [0, 1]}, r"y_true has classes \[2\] that are not"),
        ([0, 1], [0, 3], {"labels": [0, 1]}, r"y_pred has classes \[3\] that are not"),
    ],
)
def test_confusion_matrix_plot_rejects_bad_input(y_true, y_pred, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plots.confusion_matrix_plot(y_true, y_pred, **kwargs)
