import numpy as np
import pytest

from dmf_np import backend
from dmf_np.gradcheck import numerical_gradient, rel_error
from dmf_np.layers import (affine_backward, affine_forward, sigmoid, sigmoid_backward, softmax,
                           softmax_cross_entropy, softmax_cross_entropy_backward)


def test_sigmoid_matches_definition_and_never_overflows(xp):
    a = xp.asarray([-1000.0, -20.0, 0.0, 3.0, 1000.0], dtype=xp.float32)
    with np.errstate(all="raise"):
        y = backend.to_host(sigmoid(a))
    ref = 1 / (1 + np.exp(-np.clip(backend.to_host(a).astype(np.float64), -700, 700)))
    assert np.allclose(y, ref, atol=1e-7)
    assert y[0] == 0.0 and y[-1] == 1.0


def test_sigmoid_in_place(xp):
    a = xp.asarray(np.linspace(-3, 3, 7))
    expected = backend.to_host(sigmoid(a))
    out = sigmoid(a, out=a)
    assert out is a and np.allclose(backend.to_host(a), expected)


def test_affine_and_sigmoid_gradients_by_finite_differences(xp, rng):
    x = xp.asarray(rng.normal(size=(4, 5)))
    W = xp.asarray(rng.normal(size=(3, 5)))
    b = xp.asarray(rng.normal(size=3))
    g = xp.asarray(rng.normal(size=(4, 3)))  # loss = sum(g * f(x W^T + b))

    def loss():
        return float((g * sigmoid(affine_forward(x, W, b))).sum())

    y = sigmoid(affine_forward(x, W, b))
    dx, dW, db = affine_backward(sigmoid_backward(g, y), x, W)
    for analytic, param in ((dx, x), (dW, W), (db, b)):
        assert rel_error(analytic, numerical_gradient(loss, param)) < 1e-8


def test_softmax_cross_entropy_gradient(xp, rng):
    logits = xp.asarray(rng.normal(size=(6, 4)) * 3)
    labels = xp.asarray(rng.integers(0, 4, 6))
    loss, p = softmax_cross_entropy(logits, labels)
    assert np.allclose(backend.to_host(p).sum(axis=1), 1)
    assert np.allclose(backend.to_host(p), backend.to_host(softmax(logits)))
    d = softmax_cross_entropy_backward(p, labels)
    num = numerical_gradient(lambda: softmax_cross_entropy(logits, labels)[0], logits)
    assert rel_error(d, num) < 1e-8


def test_softmax_cross_entropy_is_stable_for_huge_logits(xp):
    logits = xp.asarray([[1000.0, 0.0], [0.0, -1000.0]])
    loss, p = softmax_cross_entropy(logits, xp.asarray([0, 1]))
    assert np.isfinite(float(loss)) and float(loss) == pytest.approx(500.0)
