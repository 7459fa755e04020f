"""Finite-difference gradient checks, a public part of the library.

Central differences in float64: dE/dtheta_i ~ (E(theta + eps e_i) - E(theta - eps e_i)) / (2 eps),
whose error is O(eps^2) from the Taylor series plus O(machine eps / eps) from rounding; with
eps = 1e-6 in float64 both are near 1e-10, so a correct gradient shows a relative error of about
1e-8 or less, and a wrong one of about 1e-2 or more.

Relative error of two arrays: ||a - b|| / max(||a|| + ||b||, 1e-12), a norm-wise measure that stays
meaningful when single entries of the gradient are tiny.
"""
from __future__ import annotations

import numpy as np

from . import backend, generative
from .backend import array_module, to_host
from .backprop import loss_and_grads
from .fusion import Architecture, forward, init_params
from .layers import softmax_cross_entropy


def rel_error(a, b) -> float:
    """||a - b|| / max(||a|| + ||b||, 1e-12), computed on the host in float64."""
    a = np.asarray(to_host(a), dtype=np.float64)
    b = np.asarray(to_host(b), dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12))


def numerical_gradient(f, x, eps: float = 1e-6, max_entries: int | None = None, rng=None):
    """Central-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    ``x`` is perturbed in place and restored; it must be float64 (float32 rounding would swamp the
    differences). With ``max_entries`` only that many randomly chosen entries are computed (``rng``,
    a NumPy Generator, chooses them) and the others are left NaN. Returns an array shaped like x.
    """
    xp = array_module(x)
    if x.dtype != xp.float64:
        raise TypeError(f"gradient checks need float64 parameters, got {x.dtype}")
    grad = xp.full(x.shape, xp.nan, dtype=xp.float64)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    idx = np.arange(x.size)
    if max_entries is not None and max_entries < x.size:
        if rng is None:
            raise ValueError("numerical_gradient needs rng when max_entries is given")
        idx = np.sort(rng.choice(x.size, size=max_entries, replace=False))
    for i in idx:
        old = float(flat_x[i])
        flat_x[i] = old + eps
        f_plus = float(f())
        flat_x[i] = old - eps
        f_minus = float(f())
        flat_x[i] = old
        flat_g[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def check_gradients(f, params: dict, grads: dict, eps: float = 1e-6, max_entries: int | None = None,
                    rng=None) -> dict:
    """Relative error between analytic ``grads`` and central differences of ``f()`` for every key.

    ``f`` computes the loss from ``params`` (which are perturbed in place, then restored). With
    ``max_entries``, each parameter is checked on that many random entries. Returns {key: rel_error}.
    """
    errors = {}
    for key, p in params.items():
        num = numerical_gradient(f, p, eps=eps, max_entries=max_entries, rng=rng)
        mask = ~np.isnan(to_host(num))
        errors[key] = rel_error(to_host(grads[key])[mask], to_host(num)[mask])
    return errors


def check_directional(f, params: dict, grads: dict, rng, n_directions: int = 3, eps: float = 1e-6) -> list:
    """Relative errors of directional derivatives along random directions through all parameters.

    For a random unit direction d (over every parameter at once), compares <grad, d> with
    (f(theta + eps d) - f(theta - eps d)) / (2 eps). Cheap (two evaluations per direction) and
    sensitive to an error in any parameter. Returns one relative error per direction.
    """
    out = []
    for _ in range(n_directions):
        dirs = {k: rng.standard_normal(p.shape) for k, p in params.items()}
        norm = np.sqrt(sum(float((d * d).sum()) for d in dirs.values()))
        dirs = {k: array_module(p).asarray(d / norm, dtype=p.dtype) for (k, p), d in zip(params.items(), dirs.values())}
        analytic = sum(float((grads[k] * dirs[k]).sum()) for k in params)
        for k in params:
            params[k] += eps * dirs[k]
        f_plus = float(f())
        for k in params:
            params[k] -= 2 * eps * dirs[k]
        f_minus = float(f())
        for k in params:
            params[k] += eps * dirs[k]
        numeric = (f_plus - f_minus) / (2 * eps)
        out.append(abs(analytic - numeric) / max(abs(analytic) + abs(numeric), 1e-12))
    return out


def small_architecture(scheme: str, n_modalities: int = 2, depth: int = 3, n_classes: int = 3,
                       fan_in_norm: bool = False):
    """A tiny network for checks: inputs of 5, 6, 7... features, hidden layers of 4-6 units."""
    msizes = [tuple([5 + m] + [6 - (l + m) % 3 for l in range(1, depth)]) for m in range(n_modalities)]
    ssizes = tuple(5 - l % 2 for l in range(depth))
    return Architecture(scheme, msizes, ssizes, n_classes, fan_in_norm=fan_in_norm)


def gradcheck_fusion(scheme: str, n_modalities: int = 2, depth: int = 3, seed: int = 0, xp=None,
                     batch: int = 4, cut=(), max_entries: int | None = None, fan_in_norm: bool = False,
                     eps: float = 1e-6) -> dict:
    """Check every parameter gradient of a small discriminative EMF/IMF/DMF in float64.

    Returns {parameter key: relative error}. Inputs and initial weights come from ``seed``;
    ``fan_in_norm``: the fan-in-normalised network (:attr:`dmf_np.fusion.Architecture.fan_in_norm`);
    ``eps``: the central-difference step (:func:`numerical_gradient`).
    """
    xp = np if xp is None else xp
    arch = small_architecture(scheme, n_modalities, depth, fan_in_norm=fan_in_norm)
    rng = np.random.default_rng(seed)
    params = init_params(arch, rng, xp=xp, dtype=np.float64)
    for k in params:  # nonzero biases, so that their gradients are tested in general position
        if k.startswith("b"):
            params[k] += backend.to_device(rng.uniform(-0.5, 0.5, params[k].shape), xp, np.float64)
    xs = [backend.to_device(rng.uniform(0, 1, (batch, n)), xp, np.float64) for n in arch.input_sizes]
    labels = backend.to_device(rng.integers(0, arch.n_classes, batch), xp)
    _, bw = loss_and_grads(params, xs, labels, arch, cut=cut)

    def loss():
        return softmax_cross_entropy(forward(params, xs, arch, check=False).logits, labels)[0]

    if cut:  # a cut gradient is not the loss's gradient: compare against the uncut one instead
        _, full = loss_and_grads(params, xs, labels, arch)
        return {k: rel_error(bw.grads[k], full.grads[k]) for k in params}
    return check_gradients(loss, params, bw.grads, eps=eps, max_entries=max_entries, rng=rng)


def gradcheck_generative(scheme: str, n_modalities: int = 2, depth: int = 3, seed: int = 0, xp=None,
                         batch: int = 4, outputs=None, missing: bool = True, max_entries=None) -> dict:
    """Check every encoder and decoder gradient of a small generative EMF/IMF/DMF in float64.

    Mixed outputs by default (the first modality 'bernoulli', the rest 'gaussian'), untied random
    weights, nonzero biases, and (``missing``) one modality zeroed in some examples' inputs.
    Returns {parameter key: relative error}.
    """
    xp = np if xp is None else xp
    base = small_architecture(scheme, n_modalities, depth)
    arch = Architecture(scheme, base.modality_sizes, base.shared_sizes, None)
    if outputs is None:
        outputs = ("bernoulli",) + ("gaussian",) * (arch.M - 1)
    outputs = generative.check_outputs(outputs, arch)
    rng = np.random.default_rng(seed)
    params = generative.init_generative(arch, rng, xp=xp, dtype=np.float64, tied=False)
    for k in params:
        if k.startswith("b"):
            params[k] += backend.to_device(rng.uniform(-0.5, 0.5, params[k].shape), xp, np.float64)
    targets = [backend.to_device(rng.uniform(0, 1, (batch, n)) if o == "bernoulli" else rng.standard_normal((batch, n)),
                                 xp, np.float64) for n, o in zip(arch.input_sizes, outputs)]
    present = [rng.integers(0, 2, batch) if missing and m > 0 else True for m in range(arch.M)]
    present = [p if isinstance(p, bool) else p.astype(float) for p in present]
    xs_in = generative.mask_modalities(targets, present)
    weights = tuple(1.0 + 0.5 * m for m in range(arch.M))
    _, bw = generative.loss_and_grads(params, xs_in, targets, arch, outputs, weights)

    def loss():
        dec = generative.decode(params, forward(params, xs_in, arch, check=False).top, arch, outputs)
        return generative.reconstruction_loss(dec, targets, weights)

    return check_gradients(loss, params, bw.grads, max_entries=max_entries, rng=rng)
