"""Generated multimodal classification data, for demonstrations and fast tests.

Each example has a class k and a latent code z = mu_k + noise; modality m sees a noisy nonlinear
view x^m = sigmoid(z P_m + noise), values in (0, 1) like pixel intensities. Each modality alone
carries part of the class information, so fusing them helps, as with MNIST's two halves.
"""
from __future__ import annotations

import numpy as np


def two_modality_classes(n: int = 1000, sizes=(20, 30), n_classes: int = 4, latent: int = 6,
                         noise: float = 1.0, seed: int = 0):
    """(xs, labels): xs a list of float32 arrays (n, sizes[m]); labels int64 (n,). Seeded; host arrays."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1.5, (n_classes, latent))
    labels = rng.integers(0, n_classes, n)
    z = means[labels] + rng.normal(0, 1.0, (n, latent))
    xs = []
    for size in sizes:
        proj = rng.normal(0, 1.0 / np.sqrt(latent), (latent, size)) * 2
        a = z @ proj + rng.normal(0, noise, (n, size))
        xs.append((1 / (1 + np.exp(-a))).astype(np.float32))
    return xs, labels.astype(np.int64)
