"""helpers.environment and helpers.models."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers.environment import Environment, prepare
from helpers.models import (
    fast_cnn,
    feature_extractor,
    one_cycle_schedule,
    small_cnn,
)

ENV = prepare(seed=0)  # the backend conftest.py chose, and its report


def test_prepare_reports_the_backend_and_seeds_everything():
    assert isinstance(ENV, Environment)
    assert ENV.backend == keras.backend.backend()
    assert ENV.keras_version == keras.__version__
    assert f"on the {ENV.backend} backend" in repr(ENV)
    prepare(seed=3, backend=ENV.backend)
    first = (np.random.rand(), keras.ops.convert_to_numpy(keras.random.uniform((2,))))
    prepare(seed=3, backend=ENV.backend)
    second = (np.random.rand(), keras.ops.convert_to_numpy(keras.random.uniform((2,))))
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed must be a non-negative int"),
        ({"seed": 1.5}, "seed must be a non-negative int"),
        ({"backend": "theano"}, r"backend must be one of \('tensorflow', 'jax', 'torch'\)"),
        ({"cpu_devices": 0}, "cpu_devices must be a positive int, got 0"),
        ({"cpu_devices": 2.0}, "cpu_devices must be a positive int, got 2.0"),
    ],
)
def test_prepare_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        prepare(**kwargs)


def test_prepare_refuses_to_switch_backend_after_import():
    other = "jax" if ENV.backend != "jax" else "torch"
    with pytest.raises(RuntimeError, match="restart the kernel"):
        prepare(backend=other)


_SPLIT_CPU = """
import json, keras
from helpers.environment import prepare, split_cpu
prepare(seed=0, cpu_devices=3)
backend = keras.backend.backend()
if backend == "tensorflow":
    import tensorflow as tf
    seen = len(tf.config.list_logical_devices("CPU"))
elif backend == "jax":
    seen = len(keras.distribution.list_devices("cpu"))
else:
    seen = 1
again = split_cpu(3, backend)  # the same number again: nothing to change
try:
    split_cpu(2, backend)
    other = "no error"
except RuntimeError as error:
    other = str(error)
print(json.dumps({"seen": seen, "again": again, "other": other}))
"""


def test_prepare_splits_the_cpu_into_logical_devices_where_keras_can_use_them():
    # A fresh process: the split must come before the backend's first operation, and this
    # test process started its backend long ago.
    import json
    import os
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-c", _SPLIT_CPU], capture_output=True,
                              text=True, env={**os.environ, "KERAS_BACKEND": ENV.backend},
                              timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    if ENV.backend == "torch":  # no distribution API in Keras for PyTorch: one device
        assert result == {"seen": 1, "again": 1, "other": "no error"}
    else:
        assert result["seen"] == 3 and result["again"] == 3
        assert result["other"].startswith(f"the {ENV.backend} backend has already started")
        assert "restart the kernel to split the CPU into 2" in result["other"]


def test_small_cnn_shapes_and_parameter_count():
    model = small_cnn()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    # conv1 3*3*1*32+32, conv2 3*3*32*64+64, dense 5*5*64*10+10
    assert model.count_params() == 320 + 18496 + 16010
    probabilities = keras.ops.convert_to_numpy(model(np.zeros((2, 28, 28, 1), "uint8")))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_small_cnn_learns_a_toy_task():
    prepare(seed=0, backend=ENV.backend)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 60, size=(64, 12, 12, 1)).astype("uint8")
    labels = rng.integers(0, 2, size=64)
    images[labels == 1, 3:9, 3:9, 0] = 255  # class 1 has a bright square
    model = small_cnn(input_shape=(12, 12, 1), num_classes=2, filters=(4, 8), dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    before = model.evaluate(images, labels, verbose=0)
    model.fit(images, labels, epochs=15, batch_size=16, verbose=0)
    after = model.evaluate(images, labels, verbose=0)
    assert after < 0.5 * before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_shape": (28, 28)}, r"input_shape must be \(height, width, channels\)"),
        ({"input_shape": (8, 8, 1)}, "at least 10x10 pixels"),
        ({"input_shape": (28, 28, 0)}, "each entry of input_shape must be a positive int"),
        ({"num_classes": 1}, "num_classes must be at least 2"),
        ({"num_classes": "ten"}, "num_classes must be a positive int"),
        ({"filters": (32,)}, "filters must be a pair of ints"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ],
)
def test_small_cnn_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_cnn(**kwargs)


def test_fast_cnn_shapes_parameter_count_and_features():
    model = fast_cnn()
    assert model.name == "fast_cnn"
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    conv1, conv2 = 3 * 3 * 1 * 32, 3 * 3 * 32 * 64  # no biases
    batch_norms = 4 * 32 + 4 * 64  # gamma, beta, moving mean, moving variance
    dense = 5 * 5 * 64 * 10 + 10
    assert model.count_params() == conv1 + conv2 + batch_norms + dense
    images = np.zeros((2, 28, 28, 1), "uint8")
    probabilities = keras.ops.convert_to_numpy(model(images))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    features = feature_extractor(model)
    assert features.output_shape == (None, 5 * 5 * 64)
    # the extractor shares the classifier's weights: the dense layer on its output gives
    # the classifier's probabilities (dropout is off at inference)
    dense_layer = model.layers[-1]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(dense_layer(features(images))), probabilities, rtol=1e-5
    )


def test_feature_extractor_rejects_unknown_layers():
    with pytest.raises(ValueError, match="has no layer named 'penultimate'; it has"):
        feature_extractor(fast_cnn(), layer="penultimate")
    with pytest.raises(ValueError, match="model must be a keras.Model, got str"):
        feature_extractor("fast_cnn")


def test_one_cycle_schedule_warms_up_then_decays():
    schedule = one_cycle_schedule(100)  # 25 warm-up steps, 75 decay steps

    def rate(step):
        return float(keras.ops.convert_to_numpy(schedule(step)))

    assert rate(0) == pytest.approx(0.001)
    assert rate(10) == pytest.approx(0.001 + (0.01 - 0.001) * 10 / 25)
    assert rate(25) == pytest.approx(0.01)
    # a third of the way through the decay the cosine factor is (1 + cos(pi / 3)) / 2 = 0.75
    assert rate(50) == pytest.approx(0.01 * (0.99 * 0.75 + 0.01), rel=1e-5)
    assert rate(100) == pytest.approx(0.01 * 0.01)
    # Section 4.1's recipe: 3 epochs of 469 steps, a quarter of them warm-up
    steps = 3 * 469
    notebook = keras.optimizers.schedules.CosineDecay(
        0.001, steps - steps // 4, alpha=0.01, warmup_target=0.01, warmup_steps=steps // 4
    )
    assert one_cycle_schedule(steps).get_config() == notebook.get_config()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be a positive int, got 0"),
        ({"steps": 1}, "steps must be at least 2"),
        ({"steps": 10, "peak": 0}, "peak must be a positive number, got 0"),
        ({"steps": 10, "start": "fast"}, "start must be a positive number, got 'fast'"),
        ({"steps": 10, "warmup_fraction": 1.0}, r"warmup_fraction must be in \[0, 1\), got 1.0"),
        ({"steps": 10, "alpha": -0.1}, r"alpha must be in \[0, 1\], got -0.1"),
    ],
)
def test_one_cycle_schedule_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        one_cycle_schedule(**kwargs)


def test_native_stderr_is_silenced_but_errors_still_surface(capfd):
    import os

    from helpers.environment import native_stderr_silenced

    with native_stderr_silenced():
        os.write(2, b"a C++ notice\n")  # below Python, as TensorFlow's native code writes
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    with pytest.raises(ValueError, match="still raised"), native_stderr_silenced():
        raise ValueError("still raised")
    os.write(2, b"restored\n")
    assert capfd.readouterr().err == "restored\n"


def test_training_shows_progress_unless_the_makefile_asks_for_quiet(monkeypatch):
    from helpers.environment import PROGRESS_VARIABLE, training_verbosity

    monkeypatch.delenv(PROGRESS_VARIABLE, raising=False)
    assert training_verbosity() == 1  # a reader in JupyterLab sees a progress bar
    monkeypatch.setenv(PROGRESS_VARIABLE, "0")
    assert training_verbosity() == 0  # make test, make execute, make bench
    monkeypatch.setenv(PROGRESS_VARIABLE, "yes")
    with pytest.raises(ValueError, match=r"IMAGE_BOOK_PROGRESS must be 0 \(quiet\) or 1"):
        training_verbosity()


def test_the_makefile_quiets_the_runs_it_compares_or_times():
    import subprocess

    for target in ("nbval", "execute", "bench"):
        printed = subprocess.run(
            ["make", "-n", "-p", target], capture_output=True, text=True, check=False
        ).stdout
        assert f"{target}: IMAGE_BOOK_PROGRESS := 0" in printed.splitlines(), target


def test_numpy_input_without_autotune_only_on_tensorflow_and_keeps_the_batches():
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    from helpers.environment import numpy_input_without_autotune

    numpy_input_without_autotune()  # a second call wraps nothing again
    wrapped = hasattr(ArrayDataAdapter.get_tf_dataset, "__wrapped_original__")
    if ENV.backend != "tensorflow":
        # JAX and PyTorch read NumPy input without tf.data: nothing to switch off
        assert not wrapped
        return
    import tensorflow as tf

    assert wrapped
    images = np.arange(50 * 4, dtype="float32").reshape(50, 4)
    labels = np.arange(50)
    untuned = ArrayDataAdapter(images, labels, batch_size=8, shuffle=False).get_tf_dataset()
    assert untuned.options().autotune.enabled is False
    tuned = ArrayDataAdapter.get_tf_dataset.__wrapped_original__(
        ArrayDataAdapter(images, labels, batch_size=8, shuffle=False)
    )
    assert tuned.options().autotune.enabled is not False
    for (a, b), (c, d) in zip(untuned, tuned, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert isinstance(untuned, tf.data.Dataset)


def test_accuracy_counts_the_largest_score_and_checks_its_labels():
    from helpers.models import accuracy

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Identity()(inputs))  # the scores are the input
    scores = np.array([[0.1, 0.7, 0.2], [2.0, -1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 3.0, 2.0]])
    assert accuracy(model, scores, [1, 0, 2, 0]) == 0.75
    assert accuracy(model, scores, np.array([1, 0, 2, 1]), batch_size=3) == 1.0
    with pytest.raises(ValueError, match=r"one class per image: got labels of shape \(3,\)"):
        accuracy(model, scores, [1, 0, 2])
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        accuracy(model, scores, [1, 0, 2, 0], batch_size=0)
