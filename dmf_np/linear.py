"""A linear softmax classifier on joint features: the stand-in for the paper's SVM (section 3.2).

The generative network is trained without labels; to use its joint representation s_L for
recognition, the paper puts an SVM on top. A multinomial logistic regression is the same kind of
model (a linear decision function per class, with an L2 penalty) and needs nothing beyond
:mod:`dmf_np.layers`:

    p = softmax(z W^T + b),   E = -1/N sum_n log p_n[y_n] + (l2 / 2) ||W||^2,   z = (f - mu) / sigma

Features are standardised with the training set's mean mu and deviation sigma (stored in the model).
Trained by minibatch SGD with momentum (:class:`dmf_np.optim.SGD`; its weight decay is the L2 term).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import backend
from .checks import check_array, check_labels
from .layers import affine_backward, affine_forward, softmax_cross_entropy, softmax_cross_entropy_backward
from .optim import SGD


@dataclass
class LinearClassifier:
    """W (K, d), b (K,), and the standardisation mu, sigma (d,) of the training features."""

    W: object
    b: object
    mu: object
    sigma: object

    def logits(self, features):
        """(N, d) -> (N, K)."""
        return affine_forward((features - self.mu) / self.sigma, self.W, self.b)

    def predict(self, features):
        """Class indices (N,)."""
        return self.logits(features).argmax(axis=1)

    def error_rate(self, features, labels) -> float:
        """Classification error in percent."""
        return 100.0 * float((self.predict(features) != labels).mean())


def fit_linear_classifier(features, labels, n_classes: int, *, l2: float = 1e-3, epochs: int = 50,
                          batch_size: int = 100, lr: float = 0.1, momentum: float = 0.9, seed: int = 0,
                          dtype=None) -> LinearClassifier:
    """Fit a softmax classifier to features (N, d) and integer labels (N,); returns the model."""
    check_array(features, "features", ndim=2)
    n, d = features.shape
    check_labels(labels, n, n_classes)
    xp = backend.array_module(features)
    dtype = features.dtype if dtype is None else dtype
    mu = features.mean(axis=0)
    sigma = features.std(axis=0) + 1e-6
    z = ((features - mu) / sigma).astype(dtype)
    params = {"W": xp.zeros((n_classes, d), dtype=dtype), "b": xp.zeros(n_classes, dtype=dtype)}
    opt = SGD(lr=lr, momentum=momentum, weight_decay=l2)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n, batch_size):
            idx = backend.to_device(order[i:i + batch_size], xp)
            _, probs = softmax_cross_entropy(affine_forward(z[idx], params["W"], params["b"]), labels[idx])
            _, dW, db = affine_backward(softmax_cross_entropy_backward(probs, labels[idx]), z[idx], params["W"],
                                        need_dx=False)
            opt.step(params, {"W": dW, "b": db})
    return LinearClassifier(params["W"], params["b"], mu, sigma)
