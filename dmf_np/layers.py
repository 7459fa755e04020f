"""Hand-written layers: affine map, the sigmoid f of the paper, softmax cross-entropy.

Each forward sits beside its backward. Conventions used throughout dmf_np:

* a batch is a matrix with one example per row: ``x`` has shape (N, n_in);
* a weight matrix has the paper's orientation, ``W`` of shape (n_out, n_in), so that the paper's
  column-vector ``W h`` becomes ``h @ W.T`` for a batch of rows, and the paper's "reverse" weight
  ``W^{s->x}`` is literally ``W.T``;
* every gradient is d(loss)/d(thing), with the loss the *mean* over the batch; backward functions
  take the gradient of their output and return the gradients of their inputs.

The ``out=`` arguments let the training loop reuse buffers (no fresh allocation per minibatch);
they change where the result is written, never what is computed. A :class:`Workspace` hands out
those buffers by name, so the same equation functions serve a one-off call and the training loop.
"""
from __future__ import annotations

from .backend import array_module


class Workspace:
    """Named buffers reused from one minibatch to the next, so training allocates nothing per step.

    ``ws.buffer(name, shape, like, dtype=None)`` returns an uninitialised array of ``shape`` with
    ``like``'s array module and dtype (or ``dtype``), the same memory on every call with that name.
    Row counts may shrink (the last, smaller minibatch of an epoch gets the first rows, still
    contiguous); a larger or otherwise different shape replaces the buffer. Results written into a
    workspace are overwritten by the next call that uses it: read them, or copy them, before.
    """

    def __init__(self):
        self._buffers = {}

    def buffer(self, name, shape, like, dtype=None):
        shape, dtype = tuple(int(n) for n in shape), like.dtype if dtype is None else dtype
        buf = self._buffers.get(name)
        if (buf is None or buf.dtype != dtype or array_module(buf) is not array_module(like)
                or buf.shape[1:] != shape[1:] or (buf.shape[:1] < shape[:1])):
            buf = self._buffers[name] = array_module(like).empty(shape, dtype=dtype)
        return buf[: shape[0]] if shape else buf

    def __len__(self):
        return len(self._buffers)


class NullWorkspace:
    """The workspace of a one-off call: it holds nothing, and ``buffer()`` returns None, which every
    ``out=`` argument reads as "allocate the result". The default wherever a workspace is optional."""

    def buffer(self, name, shape, like, dtype=None):
        return None

    def __len__(self):
        return 0


NO_WORKSPACE = NullWorkspace()


def affine_forward(x, W, b=None, out=None):
    """Pre-activation ``a = x W^T + b``.

    x: (N, n_in); W: (n_out, n_in); b: (n_out,) or None; returns a: (N, n_out).
    """
    xp = array_module(x)
    a = xp.matmul(x, W.T, out=out)
    if b is not None:
        a += b
    return a


def affine_backward(da, x, W, need_dx=True, out=(None, None, None)):
    """Gradients of ``a = x W^T + b``: (dx, dW, db) from da = dE/da.

    da: (N, n_out); x: (N, n_in); W: (n_out, n_in) -> dx: (N, n_in) (None unless need_dx),
    dW = da^T x: (n_out, n_in), db = sum_n da: (n_out,). ``out``: buffers (dx, dW, db), any None.
    """
    xp = array_module(da)
    dx_out, dW_out, db_out = out
    dW = xp.matmul(da.T, x, out=dW_out)
    db = xp.sum(da, axis=0, out=db_out)
    dx = xp.matmul(da, W, out=dx_out) if need_dx else None
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
    dy, y: same shape; returns the same shape. ``out`` must not be ``dy`` (f' is formed in it first).
    """
    if out is not None and out is dy:
        raise ValueError("sigmoid_backward: out must not be dy (f'(a) is formed in out before dy is read)")
    xp = array_module(y)
    fprime = xp.subtract(1, y, out=out)  # f'(a) = y (1 - y), formed in the output buffer
    fprime *= y
    return xp.multiply(dy, fprime, out=fprime)


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
