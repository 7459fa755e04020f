"""The Wiki image-text data set (Rasiwasia et al. 2010) from its pre-computed features.

The loader takes a directory holding the publicly redistributed files (docs/generative.md, "Data"):
``raw_features.mat`` (I_tr 2173x128 / I_te 693x128 SIFT bag-of-words histograms, T_tr / T_te 10-topic
LDA proportions), ``trainset_txt_img_cat.list`` / ``testset_txt_img_cat.list`` (text id, image id,
category 1..10, in the rows' order) and ``categories.list``. The project commits none of them.

The paper's protocol pools the 2,866 pairs and draws 25% of them as queries, the rest as the
retrieval set (:func:`query_split`); the original train/test division is kept as a field and
recovered by :func:`original_split` (study E4 tests it as an alternative protocol).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import loadmat

FILES = {
    "raw_features.mat": "ca628f765a69575e168ab29eb97f5ade12fadf47b31de1328c7ff631c7f225ae",
    "trainset_txt_img_cat.list": "30c1ba8afbe90da5986de9b12496b6dd2e4680d3876b79ab7aae2e437d5819a3",
    "testset_txt_img_cat.list": "ec3123ee31cc89dd95fbeb23eb73b2ecfd1d8909bba863723471aad99408c1eb",
    "categories.list": "4929f3ee00e9de9ffe11f9ab18fc8919b0f6182cc801309409df2f2d05e2b0f5",
}
N_PAIRS, IMAGE_DIM, TEXT_DIM, N_CATEGORIES = 2866, 128, 10, 10


class WikiDataError(ValueError):
    """The Wiki directory is missing, incomplete or holds files other than the expected ones."""


@dataclass
class WikiData:
    """All 2,866 pairs, train rows first then test rows (the original order).

    image: (N, 128) float64 SIFT histograms; text: (N, 10) float64 LDA proportions;
    labels: (N,) int64 categories 0..9; categories: the 10 names; text_ids, image_ids: (N,) str;
    is_original_train: (N,) bool.
    """

    image: np.ndarray
    text: np.ndarray
    labels: np.ndarray
    categories: list
    text_ids: np.ndarray
    image_ids: np.ndarray
    is_original_train: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_list(path: Path, n_expected: int):
    rows = [line.rstrip("\n").split("\t") for line in path.read_text().splitlines() if line.strip()]
    if len(rows) != n_expected or any(len(r) != 3 for r in rows):
        raise WikiDataError(f"{path} must have {n_expected} lines 'text_id<TAB>image_id<TAB>category', "
                            f"got {len(rows)} lines")
    try:
        cats = np.array([int(r[2]) for r in rows], dtype=np.int64)
    except ValueError as exc:
        raise WikiDataError(f"{path}: a category is not an integer ({exc})") from None
    if cats.min() < 1 or cats.max() > N_CATEGORIES:
        raise WikiDataError(f"{path}: categories must lie in 1..{N_CATEGORIES}, got {cats.min()}..{cats.max()}")
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), cats - 1


def load_wiki(directory, verify_checksums: bool = True) -> WikiData:
    """Load and check the Wiki features from ``directory``; a :class:`WikiDataError` says what is wrong.

    With ``verify_checksums`` each file's sha256 must match the published one (pass False for a copy
    you converted yourself; shapes, labels and row sums are checked either way).
    """
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise WikiDataError(f"Wiki data directory {d} is a file, not a directory; give the directory that "
                            f"holds {', '.join(FILES)}")
    if not d.is_dir():
        raise WikiDataError(f"Wiki data directory {d} does not exist; it must hold {', '.join(FILES)}")
    missing = [f for f in FILES if not (d / f).is_file()]
    if missing:
        raise WikiDataError(f"Wiki data directory {d} lacks {', '.join(missing)}")
    if verify_checksums:
        for name, digest in FILES.items():
            got = sha256(d / name)
            if got != digest:
                raise WikiDataError(f"{d / name} has sha256 {got}, expected {digest}: not the published file "
                                    f"(corrupt or another version); get the published file again (the command "
                                    f"line always checks; "
                                    f"from Python, load_wiki(directory, verify_checksums=False) skips the check)")
    try:
        mat = loadmat(str(d / "raw_features.mat"))
    except Exception as exc:
        raise WikiDataError(f"{d / 'raw_features.mat'} is not a readable MATLAB file: {exc}") from None
    for key in ("I_tr", "I_te", "T_tr", "T_te"):
        if key not in mat:
            raise WikiDataError(f"{d / 'raw_features.mat'} lacks the matrix {key!r}")
    tr_t, tr_i, tr_c = _read_list(d / "trainset_txt_img_cat.list", mat["I_tr"].shape[0])
    te_t, te_i, te_c = _read_list(d / "testset_txt_img_cat.list", mat["I_te"].shape[0])
    image = np.vstack([mat["I_tr"], mat["I_te"]]).astype(np.float64)
    text = np.vstack([mat["T_tr"], mat["T_te"]]).astype(np.float64)
    if image.shape != (N_PAIRS, IMAGE_DIM) or text.shape != (N_PAIRS, TEXT_DIM):
        raise WikiDataError(f"expected image {N_PAIRS}x{IMAGE_DIM} and text {N_PAIRS}x{TEXT_DIM} features, "
                            f"got {image.shape} and {text.shape}")
    for name, a in (("image", image), ("text", text)):
        if not np.isfinite(a).all() or (a < 0).any():
            raise WikiDataError(f"{name} features must be finite and non-negative")
        if not np.allclose(a.sum(axis=1), 1.0, atol=1e-3):
            raise WikiDataError(f"{name} feature rows must sum to 1 (histograms / topic proportions)")
    categories = [c.strip() for c in (d / "categories.list").read_text().splitlines() if c.strip()]
    if len(categories) != N_CATEGORIES:
        raise WikiDataError(f"{d / 'categories.list'} must name {N_CATEGORIES} categories, got {len(categories)}")
    n_tr = tr_c.shape[0]
    return WikiData(image, text, np.concatenate([tr_c, te_c]), categories, np.concatenate([tr_t, te_t]),
                    np.concatenate([tr_i, te_i]), np.arange(N_PAIRS) < n_tr)


def query_split(n: int, query_fraction: float, seed: int) -> tuple:
    """A seeded random division of n pairs: (query indices, retrieval indices), both sorted."""
    if not 0 < query_fraction < 1:
        raise ValueError(f"query_fraction must lie in (0, 1), got {query_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_q = int(round(query_fraction * n))
    return np.sort(order[:n_q]), np.sort(order[n_q:])


def original_split(data: WikiData) -> tuple:
    """The data set's own division: (training indices, test indices), both sorted; 2,173 / 693 pairs
    for the published files (rows are train first, then test, see :class:`WikiData`)."""
    train = np.flatnonzero(data.is_original_train)
    test = np.flatnonzero(~data.is_original_train)
    if train.size == 0 or test.size == 0:
        raise ValueError(f"the original split needs training and test pairs, got {train.size} and {test.size}")
    return train, test
