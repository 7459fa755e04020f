"""Damage to the right half of MNIST digits (section 4.1): "randomly set part of the right half to zeros".

The paper's sentence leaves two things open, and dmf_np offers both readings of each:

* **which part** (``kind``):
  ``"pixels"``  a random fraction of the right half's 392 pixels, drawn anew for every image;
  ``"region"``  one random contiguous rectangle covering that fraction of the half's area.
* **when** (``when``):
  ``"train+test"``  training, validation and test images are damaged alike;
  ``"test"``        the network trains on clean images and only the test images are damaged.

The default is ``pixels`` + ``train+test``: Fig. 4 draws a different *training*-loss curve for each
damage level, which only happens when the training images are damaged; a random fraction of pixels
is the plainer reading of "randomly set part ... at different levels" (docs/mnist.md compares all
four readings). Masks are boolean (N, 392) arrays, True where a pixel is set to zero, drawn from a
generator the caller seeds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mnist import HALF, SIDE

KINDS = ("pixels", "region")
WHENS = ("train+test", "test")
LEVELS = (0, 30, 50, 70)  # percent, as in Table 1


@dataclass(frozen=True)
class DamageSpec:
    """A reading of the paper's damage: which part (``kind``) and when (``when``)."""

    kind: str = "pixels"
    when: str = "train+test"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"damage kind must be one of {KINDS}, got {self.kind!r}")
        if self.when not in WHENS:
            raise ValueError(f"damage 'when' must be one of {WHENS}, got {self.when!r}")

    @property
    def tag(self) -> str:
        """A short file-name tag, e.g. 'pixels-train+test' -> 'pixels_traintest'."""
        return f"{self.kind}_{self.when.replace('+', '')}"

    def train_level(self, level: int) -> int:
        """The damage (percent) of the training images when the test images have ``level``."""
        return level if self.when == "train+test" else 0


def _check_fraction(fraction: float) -> float:
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"damage fraction must lie in [0, 1], got {fraction}")
    return fraction


def pixel_mask(n: int, fraction: float, rng, n_pixels: int = SIDE * HALF) -> np.ndarray:
    """(n, n_pixels) bool: in every row exactly round(fraction * n_pixels) pixels, chosen at random, are True."""
    k = int(round(_check_fraction(fraction) * n_pixels))
    if k == 0:
        return np.zeros((n, n_pixels), dtype=bool)
    # the k smallest of n_pixels uniform keys are a uniform random k-subset of each row
    keys = rng.random((n, n_pixels))
    chosen = np.argpartition(keys, k - 1, axis=1)[:, :k]
    mask = np.zeros((n, n_pixels), dtype=bool)
    np.put_along_axis(mask, chosen, True, axis=1)
    return mask


def region_shape(fraction: float, height: int = SIDE, width: int = HALF) -> tuple:
    """(h, w) of the rectangle whose area is nearest fraction * height * width (ties: nearest the half's aspect)."""
    target = _check_fraction(fraction) * height * width
    aspect = height / width
    best = min(((h, w) for h in range(1, height + 1) for w in range(1, width + 1)),
               key=lambda hw: (abs(hw[0] * hw[1] - target), abs(np.log(hw[0] / hw[1] / aspect))))
    return (0, 0) if target == 0 else best


def region_mask(n: int, fraction: float, rng, height: int = SIDE, width: int = HALF) -> np.ndarray:
    """(n, height * width) bool: one rectangle of about ``fraction`` of the area, at a random place per image."""
    h, w = region_shape(fraction, height, width)
    mask = np.zeros((n, height, width), dtype=bool)
    if h == 0:
        return mask.reshape(n, -1)
    tops = rng.integers(0, height - h + 1, n)
    lefts = rng.integers(0, width - w + 1, n)
    rows = np.arange(height)[None, :, None]
    cols = np.arange(width)[None, None, :]
    mask |= ((rows >= tops[:, None, None]) & (rows < tops[:, None, None] + h)
             & (cols >= lefts[:, None, None]) & (cols < lefts[:, None, None] + w))
    return mask.reshape(n, -1)


def damage_mask(n: int, level: int, kind: str, rng) -> np.ndarray:
    """(n, 392) bool mask for a damage ``level`` in percent (0-100) of kind 'pixels' or 'region'."""
    if kind not in KINDS:
        raise ValueError(f"damage kind must be one of {KINDS}, got {kind!r}")
    fraction = _check_fraction(level / 100.0)
    return pixel_mask(n, fraction, rng) if kind == "pixels" else region_mask(n, fraction, rng)


def apply_mask(right, mask):
    """A copy of the right half (N, 392) with the masked pixels set to zero."""
    right = np.asarray(right)
    if right.shape != mask.shape:
        raise ValueError(f"right half {right.shape} and damage mask {mask.shape} differ in shape")
    out = right.copy()
    out[mask] = 0
    return out


def damage_seed(seed: int, level: int, split: str) -> np.random.SeedSequence:
    """The seed of one damage draw: one stream per (run seed, level, split), independent of the others."""
    codes = {"train": 0, "val": 1, "test": 2}
    if split not in codes:
        raise ValueError(f"split must be train, val or test, got {split!r}")
    return np.random.SeedSequence([int(seed), int(level), codes[split], 0xDA])
