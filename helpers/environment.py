"""Start a chapter: pick the Keras backend, import it quietly, seed everything, report versions.

Every chapter's first code cell calls :func:`prepare` (Chapter 1 explains why seeding matters
and what the report tells you).
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from dataclasses import dataclass

from helpers.checks import positive_int, random_seed

DEFAULT_BACKEND = "tensorflow"
KNOWN_BACKENDS = ("tensorflow", "jax", "torch")


@dataclass(frozen=True)
class Environment:
    """What a chapter runs on; its ``repr`` is the short report shown at the top of a chapter."""

    backend: str
    keras_version: str
    python_version: str
    cpu_count: int
    accelerators: tuple[str, ...]
    seed: int

    def __repr__(self) -> str:
        devices = ", ".join(self.accelerators) if self.accelerators else "none (CPU only)"
        return (
            f"Keras {self.keras_version} on the {self.backend} backend, "
            f"Python {self.python_version}, {self.cpu_count} CPU cores, "
            f"accelerators: {devices}, seed {self.seed}"
        )


@contextlib.contextmanager
def native_stderr_silenced():
    """Send file descriptor 2 to /dev/null for a moment (Chapter 1; used again in Section 5.4).

    TensorFlow's C++ start-up notices (oneDNN, CPU features) are written straight to the
    process's stderr, below Python, so ``contextlib.redirect_stderr`` cannot catch them and
    ``TF_CPP_MIN_LOG_LEVEL`` does not silence all of them. Python-level errors still surface,
    because they are raised as exceptions, not printed.
    """
    try:
        saved = os.dup(2)
    except OSError:  # pragma: no cover - no stderr at all
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            sys.stderr.flush()
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _accelerators(backend: str) -> tuple[str, ...]:
    if backend == "tensorflow":
        import tensorflow as tf

        return tuple(device.name for device in tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return tuple(str(device) for device in jax.devices() if device.platform != "cpu")
    if backend == "torch":
        import torch

        return tuple(f"cuda:{index}" for index in range(torch.cuda.device_count()))
    return ()


def numpy_input_without_autotune() -> None:
    """On TensorFlow, feed NumPy arrays to ``fit``, ``evaluate`` and ``predict`` untuned.

    Keras wraps NumPy arrays in a ``tf.data`` pipeline whose batch gathering and prefetching
    are ``AUTOTUNE``d. On a 2-core CPU the autotuner's extra threads compete with training for
    the two cores: measured on a 2-core AMD EPYC (TensorFlow 2.21, Keras 3.15), two epochs of
    ``small_cnn`` on 60,000 MNIST images (batch 128) took 63 to 83 s with it and 46 to 49 s
    without, in a script and in a notebook kernel alike, the slowdown coming as a stall of
    10 to 20 s somewhere in an epoch. The same batches come in the same order either way
    (the pipeline is deterministic), so only the time changes. This switches the autotuner
    off for that pipeline (Keras' ``ArrayDataAdapter.get_tf_dataset``, wrapped once; the
    original stays reachable as ``__wrapped_original__``); :func:`prepare` calls it. JAX and
    PyTorch do not use ``tf.data`` for NumPy input, so there it does nothing.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    tuned = ArrayDataAdapter.get_tf_dataset
    if hasattr(tuned, "__wrapped_original__"):
        return

    def get_tf_dataset(self):
        options = tf.data.Options()
        options.autotune.enabled = False
        return tuned(self).with_options(options)

    get_tf_dataset.__doc__ = tuned.__doc__
    get_tf_dataset.__wrapped_original__ = tuned
    ArrayDataAdapter.get_tf_dataset = get_tf_dataset


def prepare(
    seed: int = 0, backend: str | None = None, cpu_devices: int | None = None
) -> Environment:
    """Choose the backend (``KERAS_BACKEND``, else TensorFlow), import Keras and seed it.

    Call it before anything imports Keras: the backend is fixed at Keras' first import.
    ``keras.utils.set_random_seed`` seeds Python, NumPy and the backend together, so a
    chapter's numbers come out the same on every run on the same machine and versions. On
    TensorFlow it also switches off ``tf.data``'s autotuner for NumPy input, which on a
    2-core CPU slows every epoch (:func:`numpy_input_without_autotune`).

    ``cpu_devices`` (Section 5.4) splits the CPU into that many logical devices, so that data
    parallelism can be tried without several GPUs: see :func:`split_cpu`.
    """
    random_seed(seed)
    chosen = backend or os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND
    if chosen not in KNOWN_BACKENDS:
        raise ValueError(f"backend must be one of {KNOWN_BACKENDS}, got {chosen!r}")
    if cpu_devices is not None:
        cpu_devices = positive_int("cpu_devices", cpu_devices)
        if chosen == "jax":  # before Keras: JAX fixes its devices at its first operation
            split_cpu(cpu_devices, "jax")
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != chosen:
            raise RuntimeError(
                f"Keras is already imported with the {keras.backend.backend()!r} backend; "
                f"restart the kernel to switch to {chosen!r}"
            )
    os.environ["KERAS_BACKEND"] = chosen
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_silenced():
        import keras

        accelerators = _accelerators(chosen)
    numpy_input_without_autotune()
    if cpu_devices is not None and chosen == "tensorflow":
        split_cpu(cpu_devices, "tensorflow")
    keras.utils.set_random_seed(seed)
    return Environment(
        backend=keras.backend.backend(),
        keras_version=keras.__version__,
        python_version=platform.python_version(),
        cpu_count=os.cpu_count() or 1,
        accelerators=accelerators,
        seed=seed,
    )


def split_cpu(devices: int, backend: str) -> int:
    """Make the CPU appear as ``devices`` logical devices to ``backend``; return how many the
    data-parallel APIs will see.

    On TensorFlow the one physical CPU gets ``devices`` logical device configurations, which
    ``tf.distribute.MirroredStrategy`` takes as replicas; on JAX the ``jax_num_cpu_devices``
    option gives ``devices`` CPU devices, which ``keras.distribution.DataParallel`` shards
    batches over. Both must be set before the backend runs its first operation, so
    :func:`prepare` calls this (``prepare(cpu_devices=4)``); asked again for the same number,
    it changes nothing, and for another number it says to restart the kernel. Keras has no
    distribution API on PyTorch (data parallelism there is ``torch.distributed``, one process
    per device), so on PyTorch the CPU stays one device and this returns 1.
    """
    devices = positive_int("devices", devices)
    if backend not in KNOWN_BACKENDS:
        raise ValueError(f"backend must be one of {KNOWN_BACKENDS}, got {backend!r}")
    restart = (f"the {backend} backend has already started with another number of CPU "
               f"devices; restart the kernel to split the CPU into {devices}")
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        current = tf.config.get_logical_device_configuration(cpu)
        if len(current or [None]) == devices:
            return devices
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)])
        except RuntimeError as error:
            raise RuntimeError(restart) from error
        return devices
    if backend == "jax":
        import jax

        if jax.config.jax_num_cpu_devices == devices:
            return devices
        try:
            jax.config.update("jax_num_cpu_devices", devices)
        except RuntimeError as error:  # started already: fine if with as many devices
            if len(jax.devices("cpu")) != devices:
                raise RuntimeError(restart) from error
        return devices
    return 1


PROGRESS_VARIABLE = "IMAGE_BOOK_PROGRESS"
"""The environment variable that switches training progress off: ``IMAGE_BOOK_PROGRESS=0``.
The Makefile sets it for ``make test``, ``make execute`` and ``make bench``, whose outputs are
compared or timed; a reader running a chapter in JupyterLab sees progress bars."""


def training_verbosity() -> int:
    """The ``verbose`` to give ``model.fit``: 1 (Keras' progress bar with the step, loss and
    elapsed time) for a reader, 0 (silent) when ``IMAGE_BOOK_PROGRESS`` is ``0``."""
    value = os.environ.get(PROGRESS_VARIABLE, "1").strip()
    if value not in ("0", "1"):
        raise ValueError(
            f"{PROGRESS_VARIABLE} must be 0 (quiet) or 1 (progress bars), got {value!r}"
        )
    return int(value)
