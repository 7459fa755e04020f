"""Supervised fine-tuning of the discriminative variant (Fig. 3, left): minibatch SGD with momentum.

Resumable: with ``checkpoint=PATH`` the parameters, optimizer state, random-generator state and the
history are saved atomically after every epoch, and a later call with the same path continues from
the last completed epoch, giving the same result as an uninterrupted run. A non-finite loss stops
training with :class:`dmf_np.errors.DivergenceError`; the checkpoint then still holds the last good epoch.
"""
from __future__ import annotations

import math

import numpy as np

from . import backend
from .backprop import loss_and_grads
from .checks import check_labels, check_modalities, check_params
from .errors import DivergenceError
from .fusion import Architecture, forward
from .io import load_training_state, save_training_state
from .layers import Workspace, softmax_cross_entropy
from .optim import SGD
from .progress import progress


def record_epoch(history: dict, epoch_loss: float, params: dict, eval_fn, *, epoch: int, lr: float,
                 desc: str, what: str, checkpoint) -> None:
    """End of one epoch of any training loop: stop on a non-finite loss (:class:`DivergenceError`),
    else append the loss and the metrics of ``eval_fn(params)`` to ``history``."""
    if not math.isfinite(epoch_loss):
        raise DivergenceError(f"{desc}: {what} became {epoch_loss} in epoch {epoch + 1} "
                              f"(lr={lr:g}); try a smaller learning rate. "
                              + (f"The last good state is in {checkpoint}." if checkpoint else ""))
    history["train_loss"].append(epoch_loss)
    if eval_fn is not None:
        for k, v in eval_fn(params).items():
            history.setdefault(k, []).append(v)


def predict(params: dict, xs, arch: Architecture, batch_size: int = 1000):
    """Class predictions (N,) of the discriminative network, computed in batches."""
    check_modalities(xs, arch)
    xp = backend.array_module(xs[0])
    n = xs[0].shape[0]
    out = []
    for i in range(0, n, batch_size):
        fw = forward(params, [x[i:i + batch_size] for x in xs], arch, check=False)
        out.append(fw.logits.argmax(axis=1))
    return xp.concatenate(out) if out else xp.zeros(0, dtype=xp.int64)


def error_rate(params: dict, xs, labels, arch: Architecture, batch_size: int = 1000) -> float:
    """Classification error in percent."""
    pred = predict(params, xs, arch, batch_size)
    return 100.0 * float((pred != labels).mean())


def mean_loss(params: dict, xs, labels, arch: Architecture, batch_size: int = 1000) -> float:
    """Mean cross-entropy over a whole data set (no parameter update)."""
    n = xs[0].shape[0]
    total = 0.0
    for i in range(0, n, batch_size):
        fw = forward(params, [x[i:i + batch_size] for x in xs], arch, check=False)
        total += float(softmax_cross_entropy(fw.logits, labels[i:i + batch_size])[0]) * fw.logits.shape[0]
    return total / n


def checked_epoch_inputs(inputs, xs, epoch: int) -> list:
    """``inputs`` (what an ``epoch_inputs`` hook returned for ``epoch``) if it matches ``xs`` array for
    array in count, shape, dtype and array module; else a ValueError (TypeError) naming the mismatch.
    Values are not checked (xs was, once): a per-epoch finiteness check would read every array back."""
    if isinstance(inputs, (str, bytes)) or not hasattr(inputs, "__len__") or hasattr(inputs, "shape"):
        raise TypeError(f"epoch_inputs({epoch}) must return a list of {len(xs)} arrays, got {type(inputs).__name__}")
    if len(inputs) != len(xs):
        raise ValueError(f"epoch_inputs({epoch}) returned {len(inputs)} arrays; the network has {len(xs)} modalities")
    for m, (x, ref) in enumerate(zip(inputs, xs)):
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise TypeError(f"epoch_inputs({epoch})[{m}] is a {type(x).__name__}, not an array")
        if tuple(x.shape) != tuple(ref.shape):
            raise ValueError(f"epoch_inputs({epoch})[{m}] has shape {tuple(x.shape)}; the training inputs "
                             f"have {tuple(ref.shape)}")
        if x.dtype != ref.dtype:
            raise ValueError(f"epoch_inputs({epoch})[{m}] has dtype {x.dtype}; the training inputs have {ref.dtype}")
        if backend.array_module(x) is not backend.array_module(ref):
            raise ValueError(f"epoch_inputs({epoch})[{m}] lives on another backend than the training inputs")
    return list(inputs)


def fit_classifier(params: dict, arch: Architecture, xs, labels, *, epochs: int, batch_size: int = 100,
                   optimizer: SGD | None = None, seed: int = 0, cut=(), lr_decay: float = 1.0,
                   eval_fn=None, checkpoint=None, show_progress: bool | None = None, desc: str = "fine-tune",
                   epoch_inputs=None, checkpoint_tag=None):
    """Train ``params`` in place by minibatch SGD on softmax cross-entropy; returns the history.

    xs: list of (N, n^m_1) float arrays; labels: (N,) integers. Each epoch visits the examples in a
    fresh random order drawn from ``seed``. lr is multiplied by ``lr_decay`` after each epoch.
    ``eval_fn(params) -> dict`` adds its metrics to each epoch's record. ``cut`` cuts learning paths
    (see :mod:`dmf_np.backprop`). History: {"train_loss": [...], <eval keys>: [...]}, one per epoch.
    ``epoch_inputs(epoch) -> list of arrays``, if given, supplies the inputs of epoch ``epoch`` (0-based)
    in place of ``xs`` (e.g. modality dropout, a fresh draw per epoch); each must have xs's shapes and
    dtypes, and should depend on ``epoch`` only, so that a resumed run sees the same inputs.
    ``checkpoint_tag`` is stored in the checkpoint and must match to resume from it (an experiment
    passes its unit's fingerprint, so a checkpoint of another protocol is never resumed).
    """
    check_params(params, arch)
    check_modalities(xs, arch)
    n = xs[0].shape[0]
    check_labels(labels, n, arch.n_classes)
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    xp = backend.array_module(xs[0])
    optimizer = SGD() if optimizer is None else optimizer
    rng = np.random.default_rng(seed)  # host generator: the same order on every backend
    history, start = load_training_state(checkpoint, params, optimizer, rng, xp, tag=checkpoint_tag)
    lr = optimizer.lr * lr_decay ** start
    # Every minibatch reuses the same memory: its rows are gathered into fixed batch buffers (no
    # fancy-index copy per step), and activations, errors and gradients live in one workspace.
    ws = Workspace()
    batch_xs = [ws.buffer(("batch", m), (batch_size,) + x.shape[1:], x) for m, x in enumerate(xs)]
    batch_y = ws.buffer("batch_labels", (batch_size,), labels)
    for epoch in progress(range(start, epochs), desc=desc, show=show_progress, initial=start, total=epochs):
        inputs = xs if epoch_inputs is None else checked_epoch_inputs(epoch_inputs(epoch), xs, epoch)
        order = backend.to_device(rng.permutation(n), xp)
        losses = []
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            xb = [xp.take(x, idx, axis=0, out=b[:len(idx)]) for x, b in zip(inputs, batch_xs)]
            yb = xp.take(labels, idx, out=batch_y[:len(idx)])
            # check=False: the whole data set was validated above, once; checking each minibatch
            # again would read the labels back from the device every step
            loss, bw = loss_and_grads(params, xb, yb, arch, cut=cut, workspace=ws, check=False)
            losses.append(loss)
            optimizer.step(params, bw.grads, lr=lr)
        epoch_loss = float(sum(float(v) for v in losses) / len(losses)) if losses else float("nan")
        record_epoch(history, epoch_loss, params, eval_fn, epoch=epoch, lr=lr, desc=desc,
                     what="training loss", checkpoint=checkpoint)
        lr *= lr_decay
        if checkpoint is not None:
            save_training_state(checkpoint, params, optimizer, rng, epoch + 1, history, tag=checkpoint_tag)
    return history
