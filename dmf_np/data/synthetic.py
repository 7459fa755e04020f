"""Generated multimodal classification data, for demonstrations and fast tests.

Each example has a class k and a latent code z = mu_k + noise; modality m sees a noisy nonlinear
view x^m = sigmoid(z P_m + noise), values in (0, 1) like pixel intensities. Each modality alone
carries part of the class information, so fusing them helps, as with MNIST's two halves.
"""
from __future__ import annotations

import numpy as np

from .mnist import Mnist


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


def fake_digits(n_train: int = 420, n_val: int = 120, n_test: int = 120, seed: int = 0,
                source: str = "generated"):
    """MNIST-shaped stand-in images (NOT digits), for tests and fast tutorial runs: an ``Mnist``.

    One blurred random template per class (a pixel is on with probability 0.25, then averaged with
    its right and lower neighbours) plus Gaussian pixel noise, clipped to uint8. Both 14-column
    halves carry class information, as MNIST's do. ``n_train + n_val`` images form the training
    file (the last ``n_val`` are the validation set), ``n_test`` the test file. Seeded; host arrays.
    """
    rng = np.random.default_rng(seed)
    templates = (rng.random((10, 28, 28)) < 0.25).astype(float)
    templates = (templates + np.roll(templates, 1, 1) + np.roll(templates, 1, 2)) / 3

    def draw(n):
        y = rng.integers(0, 10, n)
        x = 200 * templates[y] + rng.normal(0, 40, (n, 28, 28))
        return np.clip(x, 0, 255).astype(np.uint8).reshape(n, 784), y.astype(np.int64)

    (tr, y_tr), (te, y_te) = draw(n_train + n_val), draw(n_test)
    return Mnist(tr, y_tr, te, y_te, source=source, n_val=n_val)
