"""Issue 13's study of the paper's claims (docs/claims.md): the pieces E1 and E2 are built from.

* **DMF pretraining variants** (E1), :func:`pretrain_variant`:

  - ``"A"``: today's layer-wise CD pretraining (:func:`dmf_np.pretrain.pretrain_fusion`);
  - ``"B"``: every s_l RBM sees only the modality layers [h^1_l .. h^M_l], not s_{l-1}, and
    W^s_{l-1} starts at 0 (so s_l starts as exactly the unit its RBM learned);
  - ``"B'"``: function-preserving: DMF starts as exactly a pretrained IMF
    (:func:`dmf_from_imf`): its outputs equal IMF's before fine-tuning;
  - ``"C"``: every RBM gets 10 CD epochs, at a learning rate scaled by (reference visible units) /
    (its visible units): DMF's 1,536-visible s_2 RBM then takes smaller steps than a 392-visible one.

  B and C run :func:`layerwise_pretraining`, the schedule of ``pretrain_fusion`` with the RBM's
  visible parts and CD settings chosen per RBM; with the defaults it gives ``pretrain_fusion``'s
  weights bit for bit (tested), so a variant differs from A only where it says.
* **Layer statistics before fine-tuning** (E1), :func:`layer_statistics`: per layer the standard
  deviation of the pre-activations M, the share of |M| > 4 (saturated: f'(M) < 0.018), and the mean
  of f'(M) = f(M)(1 - f(M)).
* **Learning paths during training** (E1, E2), :func:`path_statistics`: on a fixed batch, for each
  modality layer the norms of Eq. 5's two terms and the cosine between them, each parameter's share
  of gradient by path, and for DMF the same with the cross-modal paths cut.

Uses only the public functions of :mod:`dmf_np.pretrain`, :mod:`dmf_np.fusion` and
:mod:`dmf_np.learning_paths`.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import backend
from ..backprop import cross_modal_cuts
from ..fusion import Architecture, forward, modality_layer_forward, shared_layer_forward
from ..learning_paths import loss_and_learning_paths
from ..pretrain import CDConfig, pretrain_fusion, rbm_schedule, split_rbm_weights, train_rbm
from ..rbm import BERNOULLI, init_rbm

VARIANTS = ("A", "B", "B'", "C")
SATURATION = 4.0  # |M| > 4: f'(M) < 0.018, under 7% of f'(0) = 0.25


# --- pretraining variants -----------------------------------------------------------------------

def _layer(job) -> tuple:
    """The activation a job's RBM learns: ('s', l) or ('h', m, l)."""
    return ("s", job.level) if job.name.startswith("s_") else ("h", job.parts[0][1], job.level)


def _layer_forward(params, arch: Architecture, job, acts: dict):
    """The job's layer from the activations below, with the network's own Eqs. 3-4 (every edge of the
    scheme, including any that a variant left out of the RBM: those are zero at this point)."""
    kind, *where = _layer(job)
    if kind == "h":
        m, l = where
        return modality_layer_forward(acts[("h", m, l - 1)], params[arch.W_mod(m, l - 1)], params[arch.b_mod(m, l)])
    (l,) = where
    fused = l in arch.fusion_levels()
    chain = arch.has_shared_chain(l)
    return shared_layer_forward([acts[("h", m, l)] for m in range(arch.M)] if fused else [],
                                [params[arch.W_fuse(m, l)] for m in range(arch.M)] if fused else [],
                                acts[("s", l - 1)] if chain else None,
                                params[arch.W_sh(l - 1)] if chain else None, params[arch.b_sh(l)])


def layerwise_pretraining(params: dict, arch: Architecture, xs, config_for, *, seed: int = 0,
                          keep_part=lambda job, part: True, log=None) -> dict:
    """``pretrain_fusion``'s bottom-up schedule with per-RBM choices; updates ``params`` in place.

    config_for(job, n_visible) -> :class:`dmf_np.pretrain.CDConfig`: how that RBM is trained.
    keep_part(job, part) -> bool: whether a visible part ('h', m, l) or ('s', l) stays in the job's
    RBM; the weights of a dropped part are set to 0 (so the network computes what the RBM learned).
    Bernoulli inputs only. Seeds, RBM initialisation and training are ``pretrain_fusion``'s, so with
    ``config_for=lambda job, n: config`` and every part kept the weights are the same, bit for bit.
    Returns {rbm name: {train_rbm's per-epoch history, "visible": [...], "cd_lr", "cd_epochs"}}.
    """
    xp = backend.array_module(xs[0])
    dtype = params[next(iter(params))].dtype
    jobs = rbm_schedule(arch)
    seeds = backend.spawn_seeds(seed, len(jobs))
    acts = {("h", m, 1): x for m, x in enumerate(xs)}
    history = {}
    for j, job in enumerate(jobs):
        kept = [(p, k) for p, k in zip(job.parts, job.weight_keys) if keep_part(job, p)]
        if not kept:
            raise ValueError(f"the RBM of {job.name} would have no visible units left")
        for p, k in zip(job.parts, job.weight_keys):
            if not keep_part(job, p):
                params[k][...] = 0
        data = xp.concatenate([acts[p] for p, _ in kept], axis=1) if len(kept) > 1 else acts[kept[0][0]]
        config = config_for(job, int(data.shape[1]))
        rbm = init_rbm(data.shape[1], params[job.bias_key].shape[0], np.random.default_rng([seeds[j], 6]), xp,
                       dtype, data_mean=backend.to_host(data.mean(axis=0)), visible=BERNOULLI)
        labels = [f"{p}" for p, _ in kept]
        hist = train_rbm(rbm, data, config, visible=BERNOULLI, seed=seeds[j], log=log,
                         show_progress=False, desc=f"pretrain {job.name} <- {labels}")
        sizes = [acts[p].shape[1] for p, _ in kept]
        for (_, key), block in zip(kept, split_rbm_weights(rbm["W"], sizes)):
            params[key][...] = block
        params[job.bias_key][...] = rbm["b_h"]
        history[job.name] = {**hist, "visible": labels, "cd_lr": config.lr, "cd_epochs": config.epochs}
        needed = {p for later in jobs[j + 1:] for p in later.parts}
        if _layer(job) in needed:
            acts[_layer(job)] = _layer_forward(params, arch, job, acts)
    return history


def modality_only(job, part) -> bool:
    """Variant B's visible parts: a shared RBM keeps [h^1_l .. h^M_l] and drops s_{l-1}."""
    return not (job.name.startswith("s_") and part[0] == "s")


def scaled_config(config: CDConfig, epochs: int = 10, reference_visible: int = 392):
    """Variant C's per-RBM settings: ``epochs`` CD epochs at lr * reference_visible / n_visible."""
    return lambda job, n_visible: replace(config, epochs=epochs, lr=config.lr * reference_visible / n_visible)


def dmf_from_imf(imf_params: dict, dmf_params: dict, dmf_arch: Architecture, lower: str = "keep") -> dict:
    """Variant B': a DMF that computes exactly what a (pretrained) IMF computes.

    Every IMF parameter (the modality stacks, W^{m->s}_L, b^s_L, the classifier) is copied into the
    DMF of the same sizes, and W^s_{L-1}, the one edge from DMF's lower shared stack into s_L, is set
    to 0, so s_L, and the output, are IMF's exactly. ``lower``: what the lower shared stack s_1 ..
    s_{L-1} (its fusion weights, chain and biases) starts from: 'keep' (``dmf_params``' values, e.g.
    a random initialisation) or 'zero'. With 'zero', every unit of a lower shared layer has the same
    weights and receives the same gradient, forever: the layer acts as one unit. 'keep' avoids that.
    Returns a new dict (the inputs are not changed).
    """
    if dmf_arch.scheme != "dmf":
        raise ValueError(f"dmf_from_imf builds a DMF, got an architecture of scheme {dmf_arch.scheme!r}")
    if lower not in ("keep", "zero"):
        raise ValueError(f"lower must be 'keep' or 'zero', got {lower!r}")
    missing = sorted(set(imf_params) - set(dmf_params))
    if missing:
        raise ValueError(f"the IMF parameters {missing} have no place in this DMF: are the sizes the same?")
    out = {}
    for key, value in dmf_params.items():
        if key in imf_params:
            if imf_params[key].shape != value.shape:
                raise ValueError(f"{key}: IMF has shape {imf_params[key].shape}, DMF {value.shape}")
            out[key] = imf_params[key].copy()
        elif lower == "zero" or key == dmf_arch.W_sh(dmf_arch.L - 1):
            out[key] = backend.array_module(value).zeros_like(value)
        else:
            out[key] = value.copy()
    return out


def pretrain_variant(variant: str, params: dict, arch: Architecture, xs, config: CDConfig, *, seed: int = 0,
                     imf_params: dict | None = None, log=None) -> dict:
    """DMF pretraining variant 'A', 'B', "B'" or 'C' (module docstring), in place on ``params``.

    ``config``: today's CD settings (variant C changes epochs and rates from them). "B'" needs
    ``imf_params``: the pretrained IMF of the same sizes and seed. Returns the pretraining history
    ({} for B', whose pretraining is the IMF's).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant != "A" and arch.scheme != "dmf":
        raise ValueError(f"variant {variant} is a DMF variant; got scheme {arch.scheme!r}")
    if variant == "A":
        return pretrain_fusion(params, arch, xs, config, seed=seed, log=log, show_progress=False)
    if variant == "B":
        return layerwise_pretraining(params, arch, xs, lambda job, n: config, seed=seed, keep_part=modality_only,
                                     log=log)
    if variant == "C":
        return layerwise_pretraining(params, arch, xs, scaled_config(config, reference_visible=arch.input_sizes[0]),
                                     seed=seed, log=log)
    if imf_params is None:
        raise ValueError("variant B' starts from a pretrained IMF: pass imf_params")
    built = dmf_from_imf(imf_params, params, arch)
    for key in params:
        params[key][...] = built[key]
    return {}


# --- what the network looks like before and during fine-tuning ---------------------------------

def _pre_activations(params, arch: Architecture, fw) -> dict:
    """M of every hidden layer (the sums inside f), recomputed from a forward pass's activations."""
    xp = backend.array_module(fw.h[(0, 1)])
    out = {}
    for l in range(1, arch.L + 1):
        if l >= 2 and l in arch.modality_levels():
            for m, name in enumerate(arch.names):
                out[f"h^{name}_{l}"] = fw.h[(m, l - 1)] @ params[arch.W_mod(m, l - 1)].T + params[arch.b_mod(m, l)]
        if l in arch.shared_levels():
            M = xp.zeros_like(fw.s[l]) + params[arch.b_sh(l)]
            if l in arch.fusion_levels():
                for m in range(arch.M):
                    M += fw.h[(m, l)] @ params[arch.W_fuse(m, l)].T
            if arch.has_shared_chain(l):
                M += fw.s[l - 1] @ params[arch.W_sh(l - 1)].T
            out[f"s_{l}"] = M
    return out


def layer_statistics(params: dict, xs, arch: Architecture) -> dict:
    """Per hidden layer: {"pre_std": std of M, "saturated": share of |M| > 4, "mean_fprime": mean
    f'(M)}, over every unit and example of ``xs`` (E1 uses the first 1,000 training images)."""
    fw = forward(params, xs, arch)
    stats = {}
    for name, M in _pre_activations(params, arch, fw).items():
        M = backend.to_host(M).astype(np.float64)
        f = 1.0 / (1.0 + np.exp(-M))
        stats[name] = {"pre_std": float(M.std()), "saturated": float(np.mean(np.abs(M) > SATURATION)),
                       "mean_fprime": float(np.mean(f * (1.0 - f)))}
    return stats


def _cosine(a, b) -> float:
    a, b = (backend.to_host(v).astype(np.float64).ravel() for v in (a, b))
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def _norm(a) -> float:
    return float(np.linalg.norm(backend.to_host(a).astype(np.float64)))


def path_statistics(params: dict, xs, labels, arch: Architecture) -> dict:
    """The learning paths on one fixed batch (E1/E2 log this after every epoch).

    Returns {"loss", "layers": {"h^x_2": {"modality": ||Eq. 5 term 1||, "shared": ||term 2||,
    "cosine"}}, "shares": {key: {"modality": share, "shared": share}}} and, for DMF, "cut": the same
    with the cross-modal paths cut (:func:`dmf_np.backprop.cross_modal_cuts`) plus, per parameter,
    the cosine between the cut and the full gradient ("cosine_to_full").
    """
    def one(cut):
        loss, lp = loss_and_learning_paths(params, xs, labels, arch, cut=cut)
        layers = {f"h^{arch.names[m]}_{l}": {"modality": _norm(p["modality"]), "shared": _norm(p["shared"]),
                                             "cosine": _cosine(p["modality"], p["shared"])}
                  for (m, l), p in sorted(lp.dh.items()) if l >= 2}
        shares = {key: {"modality": lp.share(key, "modality"), "shared": lp.share(key, "shared")}
                  for key in lp.total.grads}
        return float(loss), layers, shares, lp.total.grads

    loss, layers, shares, grads = one(())
    out = {"loss": loss, "layers": layers, "shares": shares}
    cuts = cross_modal_cuts(arch) if arch.scheme == "dmf" else ()
    if cuts:
        _, c_layers, c_shares, c_grads = one(cuts)
        out["cut"] = {"layers": c_layers, "shares": c_shares,
                      "cosine_to_full": {k: _cosine(c_grads[k], grads[k]) for k in grads}}
    return out


__all__ = ["VARIANTS", "pretrain_variant", "layerwise_pretraining", "modality_only", "scaled_config",
           "dmf_from_imf", "layer_statistics", "path_statistics"]
