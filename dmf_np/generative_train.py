"""Training of the generative variant: reconstruction fine-tuning with missing modalities (section 3.2).

The model (decoder, losses, gradients) is :mod:`dmf_np.generative`. Here each example's input keeps
all modalities or only one, drawn afresh every epoch, while its target is always complete, so that
the network learns to infer a missing modality from the others. Resumable like
:func:`dmf_np.train.fit_classifier`.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .checks import check_modalities, check_params
from .fusion import Architecture
from .generative import check_outputs, decoder_param_shapes, loss_and_grads, mask_modalities
from .io import load_training_state, save_training_state
from .optim import SGD
from .progress import progress
from .train import record_epoch


def sample_presence(n: int, n_modalities: int, rng, probs=None) -> list:
    """Which modalities each example keeps: one of 'all', 'only m' (m = 1..M), drawn per example.

    probs: M + 1 probabilities for (all, only modality 0, ..., only modality M-1); default uniform,
    so that for two modalities a third of the examples carry both, a third only x, a third only y.
    Returns M host float arrays of 0/1, shape (N,). ``rng``: a NumPy Generator.
    """
    probs = np.full(n_modalities + 1, 1.0 / (n_modalities + 1)) if probs is None else np.asarray(probs, float)
    if probs.shape != (n_modalities + 1,) or (probs < 0).any() or not np.isclose(probs.sum(), 1.0):
        raise ValueError(f"missing-modality probabilities must be {n_modalities + 1} non-negative numbers "
                         f"summing to 1 (all, only each modality), got {probs.tolist()}")
    choice = rng.choice(n_modalities + 1, size=n, p=probs)
    return [((choice == 0) | (choice == m + 1)).astype(np.float64) for m in range(n_modalities)]


def fit_generative(params: dict, arch: Architecture, xs, outputs, *, epochs: int, batch_size: int = 100,
                   optimizer=None, seed: int = 0, missing_probs=None, weights=None, lr_decay: float = 1.0,
                   eval_fn=None, checkpoint=None, checkpoint_every: int = 1, show_progress: bool | None = None,
                   desc: str = "reconstruct") -> dict:
    """Fine-tune encoder and decoder in place by minibatch SGD on the reconstruction loss.

    Each example's input keeps all modalities or only one (:func:`sample_presence`, drawn afresh
    every epoch from ``seed``); its target is always complete, so the network learns to infer a
    missing modality from the other. ``missing_probs=False`` trains on complete inputs only.
    Resumable like :func:`dmf_np.train.fit_classifier`: with ``checkpoint=PATH`` the parameters,
    optimizer state, generator state and history are saved atomically after every ``checkpoint_every``
    epochs and after the last one.
    Returns {"train_loss": [...], <eval_fn keys>: [...]}, one entry per epoch.
    """
    outputs = check_outputs(outputs, arch)
    check_params({k: params[k] for k in arch.param_shapes()}, arch)
    missing_dec = [k for k in decoder_param_shapes(arch) if k not in params]
    if missing_dec:
        raise ValueError(f"decoder parameters missing: {missing_dec}; build them with init_decoder")
    check_modalities(xs, arch)
    for m, (x, kind) in enumerate(zip(xs, outputs)):
        if kind == "bernoulli" and (float(x.min()) < 0 or float(x.max()) > 1):
            raise ValueError(f"modality {arch.names[m]!r} has 'bernoulli' outputs (cross-entropy) but values "
                             f"outside [0, 1]; scale it to [0, 1] or use 'gaussian' outputs")
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    xp = backend.array_module(xs[0])
    n = xs[0].shape[0]
    optimizer = SGD(lr=0.01) if optimizer is None else optimizer
    rng = np.random.default_rng(seed)  # host generator: the same order on every backend
    history, start = load_training_state(checkpoint, params, optimizer, rng, xp)
    lr = optimizer.lr * lr_decay ** start
    for epoch in progress(range(start, epochs), desc=desc, show=show_progress, initial=start, total=epochs):
        order = rng.permutation(n)
        present = None if missing_probs is False else sample_presence(n, arch.M, rng, missing_probs)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            idx_d = backend.to_device(idx, xp)
            targets = [x[idx_d] for x in xs]
            xs_in = targets if present is None else mask_modalities(
                targets, [backend.to_device(p[idx], xp) for p in present])
            loss, bw = loss_and_grads(params, xs_in, targets, arch, outputs, weights)
            total += loss * len(idx)
            optimizer.step(params, bw.grads, lr=lr)
        epoch_loss = total / n if n else float("nan")
        record_epoch(history, epoch_loss, params, eval_fn, epoch=epoch, lr=lr, desc=desc,
                     what="reconstruction loss", checkpoint=checkpoint)
        lr *= lr_decay
        if checkpoint is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs):
            save_training_state(checkpoint, params, optimizer, rng, epoch + 1, history)
    return history
