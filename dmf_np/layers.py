"""Hand-written layers: affine map, the sigmoid f of the paper, softmax cross-entropy.

Each forward sits beside its backward. Conventions used throughout dmf_np:

* a batch is a matrix with one example per row: ``x`` has shape (N, n_in);
* a weight matrix has the paper's orientation, ``W`` of shape (n_out, n_in), so that the paper's
  column-vector ``W h`` becomes ``h @ W.T`` for a batch of rows, and the paper's "reverse" weight
  ``W^{s->x}`` is literally ``W.T``;
* every gradient is d(loss)/d(thing), with the loss the *mean* over the batch; backward functions
  take the gradient of their output and return the gradients of their inputs.

The ``out=`` arguments let the training loop reuse buffers (no fresh allocation per minibatch);
they change where the result is written, never what is computed.
"""
from __future__ import annotations

from .backend import array_module


def affine_forward(x, W, b=None, out=None):
    """Pre-activation ``a = x W^T + b``.

    x: (N, n_in); W: (n_out, n_in); b: (n_out,) or None; returns a: (N, n_out).
    """
    xp = array_module(x)
    a = xp.matmul(x, W.T, out=out)
    if b is not None:
        a += b
    return a


def affine_backward(da, x, W, need_dx=True):
    """Gradients of ``a = x W^T + b``: (dx, dW, db) from da = dE/da.

    da: (N, n_out); x: (N, n_in); W: (n_out, n_in) -> dx: (N, n_in) (None unless need_dx),
    dW = da^T x: (n_out, n_in), db = sum_n da: (n_out,).
    """
    dW = da.T @ x
    db = da.sum(axis=0)
    dx = da @ W if need_dx else None
    return dx, dW, db


def sigmoid(a, out=None):
    """The paper's activation f(a) = 1 / (1 + exp(-a)), elementwise; any shape.

    Computed as 0.5 + 0.5 tanh(a / 2), which is the same function but cannot overflow for large
    negative ``a`` (exp(-a) would, in float32, below about -88). ``out=a`` works in place.
    """
    xp = array_module(a)
    if out is None:
        out = xp.empty_like(a)
    xp.multiply(a, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def sigmoid_backward(dy, y, out=None):
    """dE/da from dE/dy for y = f(a): ``dy * f'(a)`` with f'(a) = f(a)(1 - f(a)) = y (1 - y).

    This is the factor ``f(M)(1 - f(M))`` that appears in Eqs. 7 and 8 of the paper.
    dy, y: same shape; returns the same shape. ``out=dy`` works in place.
    """
    xp = array_module(y)
    if out is None:
        out = xp.empty_like(y)
    # dy * y * (1 - y) == dy * (y - y*y); two passes over temporaries-free buffers
    xp.multiply(dy, y, out=out)
    out -= out * y
    return out


def softmax(logits):
    """Row-wise softmax, shifted by the row maximum so exp never overflows. (N, K) -> (N, K)."""
    xp = array_module(logits)
    z = logits - logits.max(axis=1, keepdims=True)
    xp.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def softmax_cross_entropy(logits, labels):
    """Mean categorical cross-entropy E = -1/N sum_n log p_n[y_n], and the probabilities p.

    logits: (N, K) float; labels: (N,) integer class indices in [0, K). Returns (E, p).
    """
    xp = array_module(logits)
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    log_norm = xp.log(xp.exp(z).sum(axis=1))
    loss = (log_norm - z[xp.arange(n), labels]).mean()
    probs = xp.exp(z - log_norm[:, None])
    return loss, probs


def softmax_cross_entropy_backward(probs, labels):
    """dE/dlogits for the mean cross-entropy: (p - onehot(y)) / N. probs: (N, K) -> (N, K)."""
    xp = array_module(probs)
    n = probs.shape[0]
    d = probs.copy()
    d[xp.arange(n), labels] -= 1
    d /= n
    return d
