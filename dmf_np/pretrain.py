"""Layer-wise RBM pretraining of a fusion network (section 3.2), and the loop that trains one RBM.

"We initialize each multimodal unit with the Contrastive Divergence in the layer-wise fashion, then
fine-tune the whole network." The schedule, bottom-up, as in the DBN of Hinton et al. (2006) and the
multimodal DBN of Srivastava & Salakhutdinov (one RBM stack per modality, then a joint RBM):

* modality layer h^m_{l+1}: an RBM whose visible units are h^m_l (the input x^m for l = 1);
  its (W, b_h) become the network's (W^m_l, b^m_{l+1});
* shared layer s_l: ONE RBM whose visible units are the concatenation of every layer with an edge
  into s_l in the chosen scheme, [h^1_l, ..., h^M_l, s_{l-1}] (DMF: all of them; IMF: the tops
  [h^1_L, ..., h^M_L]; EMF: the inputs for s_1, then s_{l-1} alone). Its weight matrix is split by
  columns into W^{m->s}_l and W^s_{l-1}, and its hidden bias becomes b^s_l. Because Eq. 3 sums the
  parts, sigmoid(W [h^1; ...; s_{l-1}] + b) is exactly the network's s_l.

Each RBM is trained on the mean-field activations (probabilities) of the already pretrained layers
below, computed with the network's own forward functions. The classifier W^out stays random.

Inputs declared Gaussian (real-valued features) are standardised for their RBM, and the
standardisation is folded into the weights written to the network (W / sigma, b - W mu / sigma), so
the network still takes the raw features.

Resumable: with ``checkpoint_dir`` every finished RBM is saved (atomically) and skipped on a rerun, and
an unfinished one resumes from its last finished epoch, with the same result as an uninterrupted run.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import backend
from .checks import check_array, check_modalities, check_params
from .errors import DivergenceError
from .fusion import Architecture, modality_layer_forward, shared_layer_forward
from .io import load_checkpoint, save_checkpoint
from .optim import SGD
from .progress import progress
from .rbm import (BERNOULLI, GAUSSIAN, STATS, CDWorkspace, check_visible, contrastive_divergence,
                  exact_log_likelihood, free_energy_gap, hidden_probs, init_rbm, pseudo_log_likelihood,
                  reconstruction_error, sample_bernoulli, sparsity_gradient)


@dataclass(frozen=True)
class CDConfig:
    """How to train an RBM by minibatch CD-k or PCD-k with SGD: every setting of :func:`train_rbm`.

    The defaults are for MNIST-like data (see docs/rbm.md), from Hinton's practical guide, sections 4-10.

    epochs, batch_size: passes over the data and rows per update.
    lr, lr_decay: the learning rate, multiplied by ``lr_decay`` after each epoch.
    momentum, initial_momentum, momentum_epochs: the momentum is ``initial_momentum`` (None:
        min(0.5, momentum)) for the first ``momentum_epochs`` epochs, then ``momentum`` (guide 9.1).
    weight_decay: the L2 cost on W (guide 10).
    k, persistent: Gibbs steps per update; PCD (persistent fantasy chains) instead of CD.
    positive_hidden, negative_visible, negative_hidden: 'probs' or 'samples' for each statistic
        (:func:`dmf_np.rbm.contrastive_divergence`). negative_visible None: probabilities for CD
        (guide 3.2), samples for PCD, whose chains must stay true samples (with probabilities PCD
        oscillated at lr 0.1 in our tests).
    sparsity_target, sparsity_cost, sparsity_decay: sparsity (guide 11) is on when ``sparsity_target``
        is set: a running mean q of the hidden probabilities (decay ``sparsity_decay``) is pulled
        toward the target with strength ``sparsity_cost``.
    gaussian_lr_scale: :func:`pretrain_fusion` trains RBMs with Gaussian visible units at
        lr * gaussian_lr_scale (guide 13.2: they want a 10-100x smaller learning rate).
    monitor_size, exact_max_units: the per-epoch monitors (:func:`monitor_rbm`) run on this many
        rows, and the exact log-likelihood only for layers of at most this many enumerated units.
    """

    epochs: int = 10
    batch_size: int = 100
    lr: float = 0.1
    lr_decay: float = 1.0
    momentum: float = 0.9
    initial_momentum: float | None = None
    momentum_epochs: int = 5
    weight_decay: float = 2e-4
    k: int = 1
    persistent: bool = False
    positive_hidden: str = "probs"
    negative_visible: str | None = None
    negative_hidden: str = "probs"
    sparsity_target: float | None = None
    sparsity_cost: float = 0.0
    sparsity_decay: float = 0.95
    gaussian_lr_scale: float = 0.1
    monitor_size: int = 1000
    exact_max_units: int = 12

    def __post_init__(self):
        for name, low in (("epochs", 0), ("batch_size", 1), ("k", 1), ("momentum_epochs", 0), ("monitor_size", 1)):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < low:
                raise ValueError(f"CDConfig.{name} must be an integer >= {low}, got {getattr(self, name)!r}")
        for name in ("positive_hidden", "negative_visible", "negative_hidden"):
            value = getattr(self, name)
            if value not in STATS and not (name == "negative_visible" and value is None):
                raise ValueError(f"CDConfig.{name} must be one of {STATS}, got {value!r}")

    @property
    def negative_visible_stat(self) -> str:
        """``negative_visible`` resolved: mean-field reconstructions for CD (guide 3.2), true samples for
        PCD, whose fantasy chains must stay samples of the model."""
        return self.negative_visible or ("samples" if self.persistent else "probs")

    @property
    def first_momentum(self) -> float:
        """The momentum of the first ``momentum_epochs`` epochs: ``initial_momentum``, or min(0.5, momentum)."""
        return min(0.5, self.momentum) if self.initial_momentum is None else self.initial_momentum

    def momentum_at(self, epoch: int) -> float:
        """The momentum of epoch ``epoch`` (0-based): low while the weights are far from useful (guide 9.1)."""
        return self.first_momentum if epoch < self.momentum_epochs else self.momentum

    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (0-based): lr * lr_decay^epoch."""
        return self.lr * self.lr_decay ** epoch


# --- one RBM ---------------------------------------------------------------------------------

@dataclass
class CDState:
    """What CD training carries from one minibatch to the next; a checkpoint saves it beside the weights.

    opt: the :class:`dmf_np.optim.SGD` whose velocities are the momentum. chain: PCD's persistent
    hidden states, (batch, n_h), or None for CD. q: the running mean of p(h | v0), (n_h,), that the
    sparsity penalty pulls toward its target, or None without sparsity. history: the per-epoch
    monitors so far; epoch: the epochs finished.
    """

    opt: SGD
    chain: object = None
    q: object = None
    history: dict = field(default_factory=dict)
    epoch: int = 0


def cd_update(params: dict, v0, state: CDState, rng, c: CDConfig, lr: float, visible: str = BERNOULLI,
              workspace: CDWorkspace | None = None):
    """One minibatch of CD-k (PCD-k when ``c.persistent``) and one SGD step with momentum, in place.

    params: {"W": (n_h, n_v), "b_h": (n_h,), "b_v": (n_v,)}; v0: (N, n_v), the minibatch.

    * positive phase  p(h | v0) = sigmoid(v0 W^T + b_h)                         (guide eq. 7)
    * negative phase  k Gibbs steps h -> v -> h from h0 ~ p(h | v0) (CD) or from state.chain (PCD)
    * gradient        g = (<h v^T>_- - <h v^T>_+) / N, and <h>, <v> for b_h, b_v (dE/dtheta):
                      :func:`dmf_np.rbm.contrastive_divergence` computes all three
    * sparsity        q <- d q + (1 - d) <p(h | v0)>;  g_b_h += cost (q - target),
                      g_W += cost (q - target) <v0>^T                           (guide 11)
    * SGD step        v <- mu v - lr (g + lambda W);  theta <- theta + v           (:class:`dmf_np.optim.SGD`)

    Returns the :class:`dmf_np.rbm.CDStep` (views into ``workspace``, overwritten by the next call).
    """
    step = contrastive_divergence(v0, params, rng, k=c.k, chain=state.chain, visible=visible,
                                  positive_hidden=c.positive_hidden, negative_visible=c.negative_visible_stat,
                                  negative_hidden=c.negative_hidden, workspace=workspace)
    if state.q is not None:
        state.q *= c.sparsity_decay
        state.q += (1 - c.sparsity_decay) * step.ph0.mean(axis=0)
        sparsity_gradient(step.grads, state.q, v0.mean(axis=0), c.sparsity_target, c.sparsity_cost)
    state.opt.step(params, step.grads, lr=lr)
    return step


def cd_epoch(params: dict, data, state: CDState, c: CDConfig, epoch: int, *, seed: int, visible: str,
             workspace: CDWorkspace) -> float:
    """One pass of :func:`cd_update` over the rows of ``data`` (N, n_v), in minibatches of workspace.n.

    The row order is drawn from (seed, 0, epoch) and the Gibbs sampling from (seed, 1, epoch), so an
    epoch's result depends only on the state it starts from (what makes resuming exact). The rate is
    lr * lr_decay^epoch and the momentum follows :meth:`CDConfig.momentum_at`. Returns the rate.
    """
    xp = backend.array_module(data)
    n, bs = data.shape[0], workspace.n
    order = backend.to_device(np.random.default_rng([seed, 0, epoch]).permutation(n), xp)
    rng = backend.make_rng(np.random.SeedSequence([seed, 1, epoch]), xp)
    state.opt.momentum = c.momentum_at(epoch)
    lr = c.lr_at(epoch)
    for i in range(0, n, bs):
        idx = order[i:i + bs]
        v0 = xp.take(data, idx, axis=0, out=workspace.rows["v0"][:len(idx)])
        cd_update(params, v0, state, rng, c, lr, visible, workspace)
    backend.synchronize(xp)  # so that the epoch's seconds are the device's, not the launch queue's
    return lr


def monitor_rbm(params, v_train, v_heldout=None, visible: str = BERNOULLI, units=None,
                exact_max_units: int = 12) -> dict:
    """The per-epoch monitors of one RBM, on (subsets of) training and held-out data.

    recon_error: mean squared reconstruction error per unit; free_energy_gap: mean F(held-out) -
    mean F(train) (needs v_heldout); pseudo_log_likelihood: per visible unit (Bernoulli only; one
    unit per row given by ``units``, or all units when None); exact_log_likelihood: mean log p(v) of
    the training subset, when the enumerated layer has at most ``exact_max_units`` units.
    """
    n_h, n_v = params["W"].shape
    out = {"recon_error": reconstruction_error(v_train, params, visible)}
    if v_heldout is not None:
        out["free_energy_gap"] = free_energy_gap(v_train, v_heldout, params, visible)
    if visible == BERNOULLI:
        out["pseudo_log_likelihood"] = pseudo_log_likelihood(v_train, params, units)
    enumerated = n_h if visible == GAUSSIAN else min(n_h, n_v)
    if enumerated <= exact_max_units:
        out["exact_log_likelihood"] = exact_log_likelihood(v_train, params, visible)
    return out


def _subset(n: int, size: int, seed) -> np.ndarray:
    """A fixed random subset of row indices (sorted), the same every epoch."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def _monitor_rows(data, heldout, size: int, seed: int) -> tuple:
    """(training rows, held-out rows or None, one unit per row for the pseudo-likelihood) that every
    epoch's monitors use: fixed subsets of at most ``size`` rows, drawn from (seed, 3), (seed, 4), (seed, 5)."""
    xp = backend.array_module(data)
    idx = backend.to_device(_subset(data.shape[0], size, [seed, 3]), xp)
    held = None
    if heldout is not None:
        held = heldout[backend.to_device(_subset(heldout.shape[0], len(idx), [seed, 4]), xp)]
    units = backend.to_device(np.random.default_rng([seed, 5]).integers(0, data.shape[1], len(idx)), xp)
    return data[idx], held, units


def _check_rbm_data(params: dict, data, heldout, c: CDConfig, visible: str, desc: str) -> None:
    """A ValueError naming ``desc`` unless ``data`` (N >= 1, n_v) fits W (n_h, n_v) and the visible type."""
    check_visible(visible)
    check_array(data, f"{desc}: training data", ndim=2)
    n, n_v = data.shape
    if params["W"].shape[1] != n_v:
        raise ValueError(f"{desc}: W has shape {tuple(params['W'].shape)} but the data has {n_v} visible units")
    if c.epochs < 0 or c.batch_size < 1 or n == 0:
        raise ValueError(f"{desc}: need epochs >= 0, batch_size >= 1 and some data; "
                         f"got {c.epochs}, {c.batch_size}, {n} rows")
    if visible == BERNOULLI and (float(data.min()) < 0 or float(data.max()) > 1):
        raise ValueError(f"{desc}: Bernoulli visible units need data in [0, 1], got range "
                         f"[{float(data.min()):.3g}, {float(data.max()):.3g}]; use visible='gaussian' for "
                         f"standardised real-valued data")
    if heldout is not None:
        check_array(heldout, f"{desc}: held-out data", ndim=2)


def _resume_settings(c: CDConfig, visible: str, shape, n: int, seed: int) -> dict:
    """What a checkpoint must have been written with to be resumed: the learning settings, not the monitors."""
    settings = {"visible": visible, "shape": list(shape), "n": n, "batch_size": c.batch_size, "lr": c.lr,
                "lr_decay": c.lr_decay, "momentum": c.momentum, "initial_momentum": c.first_momentum,
                "momentum_epochs": c.momentum_epochs, "weight_decay": c.weight_decay, "k": c.k,
                "persistent": c.persistent, "stats": [c.positive_hidden, c.negative_visible_stat, c.negative_hidden],
                "sparsity": [c.sparsity_target, c.sparsity_cost, c.sparsity_decay], "seed": seed}
    return json.loads(json.dumps(settings))


def _load_cd_checkpoint(path, params: dict, state: CDState, settings: dict, desc: str) -> None:
    """Restore ``params`` and ``state`` from a checkpoint of :func:`_save_cd_checkpoint`, in place."""
    arrays, meta = load_checkpoint(path, backend.array_module(params["W"]))
    if meta.get("config") != settings:
        raise ValueError(f"{desc}: checkpoint {path} was written with other settings "
                         f"({meta.get('config')}); delete it or use another checkpoint path")
    for key in params:
        params[key][...] = arrays[f"param/{key}"]
    state.opt.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt/")},
                              backend.array_module(params["W"]))
    state.chain = arrays.get("chain")
    state.q = arrays.get("q", state.q)
    state.history, state.epoch = meta["history"], meta["epoch"]


def _save_cd_checkpoint(path, params: dict, state: CDState, settings: dict) -> None:
    """Weights, velocities, PCD chain and sparsity mean after ``state.epoch`` epochs, written atomically."""
    arrays = {f"param/{key}": v for key, v in params.items()}
    arrays.update({f"opt/{key}": v for key, v in state.opt.state_dict().items()})
    if state.chain is not None:
        arrays["chain"] = state.chain
    if state.q is not None:
        arrays["q"] = state.q
    save_checkpoint(path, arrays, {"epoch": state.epoch, "history": state.history, "config": settings})


def _initial_chain(params: dict, data, n: int, seed: int):
    """PCD's fantasy particles: a hidden sample h ~ p(h | v) of the first ``n`` rows, drawn from (seed, 2)."""
    xp = backend.array_module(data)
    first = data[backend.to_device(np.arange(n), xp)]
    rng = backend.make_rng(np.random.SeedSequence([seed, 2]), xp)
    return sample_bernoulli(hidden_probs(first, params["W"], params["b_h"]), rng)


def _epoch_record(params: dict, monitor: tuple, c: CDConfig, visible: str, epoch: int, lr: float, desc: str) -> dict:
    """The monitors after an epoch (:func:`monitor_rbm`); a :class:`DivergenceError` if one is not finite."""
    record = monitor_rbm(params, *monitor[:2], visible, monitor[2], c.exact_max_units)
    if not all(math.isfinite(v) for v in record.values()):
        raise DivergenceError(f"{desc}: monitors became non-finite in epoch {epoch + 1} ({record}); "
                              f"try a smaller learning rate (lr={lr:g})")
    return record


def train_rbm(params: dict, data, config: CDConfig = CDConfig(), *, visible: str = BERNOULLI, seed: int = 0,
              heldout=None, checkpoint=None, show_progress: bool | None = None, log=None, desc: str = "rbm") -> dict:
    """Train one RBM in place by minibatch CD-k (or PCD-k) and SGD; returns the per-epoch history.

    params: {"W": (n_h, n_v), "b_h", "b_v"} (see :func:`dmf_np.rbm.init_rbm`); data: (N, n_v) float,
    in [0, 1] for ``visible`` 'bernoulli'; heldout: optional (N', n_v) rows for the free-energy gap.
    ``config`` (:class:`CDConfig`) holds every learning setting: epochs, batch, learning rate and its
    decay, the momentum schedule, weight decay, k, CD or PCD, the statistics, sparsity, monitors.
    Each epoch is :func:`cd_epoch` (its randomness drawn from (seed, epoch)), so resuming from
    ``checkpoint`` (saved atomically after every epoch) gives the same result as an uninterrupted run.
    History: one entry per epoch for each monitor of :func:`monitor_rbm`, plus lr, momentum, seconds.
    ``log(str)`` (e.g. print) receives one line per epoch.
    """
    c = config
    _check_rbm_data(params, data, heldout, c, visible, desc)
    xp, (n_h, n_v), bs = backend.array_module(data), params["W"].shape, min(c.batch_size, data.shape[0])
    state = CDState(SGD(lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay))
    if c.sparsity_target is not None:
        state.q = xp.full(n_h, c.sparsity_target, dtype=params["W"].dtype)
    settings = _resume_settings(c, visible, (n_h, n_v), data.shape[0], seed)
    if checkpoint is not None and Path(checkpoint).is_file():
        _load_cd_checkpoint(checkpoint, params, state, settings, desc)
    if c.persistent and state.chain is None:
        state.chain = _initial_chain(params, data, bs, seed)
    workspace = CDWorkspace(bs, n_v, n_h, xp, params["W"].dtype)
    monitor = _monitor_rows(data, heldout, c.monitor_size, seed)
    for epoch in progress(range(state.epoch, c.epochs), desc=desc, show=show_progress, initial=state.epoch,
                          total=c.epochs):
        t0 = time.perf_counter()
        lr = cd_epoch(params, data, state, c, epoch, seed=seed, visible=visible, workspace=workspace)
        seconds = time.perf_counter() - t0  # training only: the monitors are not timed
        record = _epoch_record(params, monitor, c, visible, epoch, lr, desc)
        record.update(lr=lr, momentum=state.opt.momentum, seconds=seconds)
        for key, value in record.items():
            state.history.setdefault(key, []).append(value)
        state.epoch = epoch + 1
        if checkpoint is not None:
            _save_cd_checkpoint(checkpoint, params, state, settings)
        if log is not None:
            log(f"{desc} epoch {epoch + 1}/{c.epochs}: " + ", ".join(
                f"{key} {value:.4g}" for key, value in record.items() if key not in ("lr", "momentum")))
    return state.history


# --- the layer-wise schedule ---------------------------------------------------------------

@dataclass(frozen=True)
class RBMJob:
    """One RBM of the schedule: which layer it learns and from which layers.

    name: the hidden layer, 'h^x_2' or 's_1'; level: l of that layer; parts: the visible layers in
    column order, ('h', m, l) or ('s', l); weight_keys: the network key receiving each part's columns;
    bias_key: the key receiving b_h.
    """

    name: str
    level: int
    parts: tuple
    weight_keys: tuple
    bias_key: str


def shared_rbm_parts(arch: Architecture, l: int) -> tuple:
    """The visible parts of s_l's RBM: [h^m_l for each fused modality] + [s_{l-1} if chained]."""
    parts = tuple(("h", m, l) for m in range(arch.M)) if l in arch.fusion_levels() else ()
    return parts + ((("s", l - 1),) if arch.has_shared_chain(l) else ())


def rbm_schedule(arch: Architecture) -> list:
    """Every RBM of the layer-wise pretraining of ``arch``, in training order (bottom-up)."""
    jobs = []
    for l in range(1, arch.L + 1):
        if l in arch.shared_levels():
            parts = shared_rbm_parts(arch, l)
            keys = tuple(arch.W_fuse(p[1], l) if p[0] == "h" else arch.W_sh(l - 1) for p in parts)
            jobs.append(RBMJob(f"s_{l}", l, parts, keys, arch.b_sh(l)))
        if l + 1 in arch.modality_levels():
            for m, name in enumerate(arch.names):
                jobs.append(RBMJob(f"h^{name}_{l + 1}", l + 1, (("h", m, l),), (arch.W_mod(m, l),),
                                   arch.b_mod(m, l + 1)))
    return jobs


def join_shared_weights(params: dict, job: RBMJob):
    """The RBM weight matrix of a job, [W_part1, W_part2, ...] side by side: (n_hidden, sum n_parts)."""
    xp = backend.array_module(params[job.weight_keys[0]])
    return xp.concatenate([params[key] for key in job.weight_keys], axis=1)


def split_rbm_weights(W, sizes) -> list:
    """Columns of an RBM weight matrix (n_h, sum sizes) cut into one block per visible part."""
    bounds = np.cumsum([0, *sizes])
    return [W[:, bounds[i]:bounds[i + 1]] for i in range(len(sizes))]


def _part_size(arch: Architecture, part) -> int:
    return arch.modality_sizes[part[1]][part[2] - 1] if part[0] == "h" else arch.shared_sizes[part[1] - 1]


def _part_label(arch: Architecture, part) -> str:
    return f"h^{arch.names[part[1]]}_{part[2]}" if part[0] == "h" else f"s_{part[1]}"


def _standardisation(x):
    """(mu, sigma) per feature, sigma of constant features set to 1."""
    xp = backend.array_module(x)
    mu = x.mean(axis=0)
    sigma = x.std(axis=0)
    return mu, xp.where(sigma > 1e-8, sigma, xp.ones_like(sigma))


def _propagate(params, arch: Architecture, job: RBMJob, acts: dict):
    """Mean-field activations of ``job``'s layer from the layers below (the network's forward)."""
    if job.name.startswith("s_"):
        l = job.level
        hs = [acts[p] for p in job.parts if p[0] == "h"]
        chained = arch.has_shared_chain(l)
        return shared_layer_forward(hs, [params[k] for k, p in zip(job.weight_keys, job.parts) if p[0] == "h"],
                                    acts[("s", l - 1)] if chained else None,
                                    params[arch.W_sh(l - 1)] if chained else None, params[job.bias_key])
    return modality_layer_forward(acts[job.parts[0]], params[job.weight_keys[0]], params[job.bias_key])


def _visible_data(store: dict, parts: tuple):
    """An RBM's visible data: its parts' activations side by side, (N, sum of sizes); one part is not copied."""
    if len(parts) == 1:
        return store[parts[0]]
    return backend.array_module(store[parts[0]]).concatenate([store[p] for p in parts], axis=1)


def _gaussian_flags(gaussian_inputs, arch: Architecture) -> list:
    if isinstance(gaussian_inputs, (bool, np.bool_)):
        return [bool(gaussian_inputs)] * arch.M
    flags = [bool(g) for g in gaussian_inputs]
    if len(flags) != arch.M:
        raise ValueError(f"gaussian_inputs must be a bool or one bool per modality ({arch.M}), got {gaussian_inputs!r}")
    return flags


def _kept_parts(params: dict, job: RBMJob, keep_part) -> list:
    """The (part, weight key) pairs of ``job`` that stay in its RBM (all when ``keep_part`` is None).

    The network weights of the parts left out are set to 0: the layer then computes exactly what its
    RBM learned, sigmoid(W_kept v_kept + b).
    """
    kept = [(p, k) for p, k in zip(job.parts, job.weight_keys) if keep_part is None or keep_part(job, p)]
    if not kept:
        raise ValueError(f"the RBM of {job.name} would have no visible units left")
    for p, k in zip(job.parts, job.weight_keys):
        if (p, k) not in kept:
            params[k][...] = 0
    return kept


def _visible_type(arch: Architecture, job: RBMJob, parts: list, flags: list) -> str:
    """GAUSSIAN if every visible part is a Gaussian input, BERNOULLI if none is; mixed: a ValueError."""
    gauss = [p[0] == "h" and p[2] == 1 and flags[p[1]] for p in parts]
    if any(gauss) and not all(gauss):
        raise ValueError(f"the RBM of {job.name} has visible parts {[_part_label(arch, p) for p in parts]} of which "
                         f"only some are Gaussian inputs; mixed visible types in one RBM are not supported: "
                         f"declare gaussian_inputs for all modalities or none")
    return GAUSSIAN if all(gauss) else BERNOULLI


def _rbm_config(config: CDConfig, config_for, job: RBMJob, n_visible: int, visible: str) -> CDConfig:
    """How the RBM of ``job`` is trained: config_for(job, n_visible) (``config`` when None), at
    lr * gaussian_lr_scale for Gaussian visible units (guide 13.2)."""
    c = config if config_for is None else config_for(job, n_visible)
    return replace(c, lr=c.lr * c.gaussian_lr_scale) if visible == GAUSSIAN else c


def _train_layer_rbm(params: dict, arch: Architecture, job: RBMJob, kept: list, stores: list, visible: str,
                     config: CDConfig, seed, partial, show_progress, log) -> tuple:
    """Train the RBM of ``job`` on the activations of its kept parts and write its (W, b_h) into the
    network: W's columns split over the parts' weight keys, b_h into the job's bias. Returns (rbm, history).

    Gaussian data is standardised for the RBM and the standardisation folded into the weights:
    W (x - mu) / sigma + b == (W / sigma) x + (b - W mu / sigma), so the network takes raw inputs.
    """
    parts = [p for p, _ in kept]
    data = _visible_data(stores[0], parts)
    hdata = _visible_data(stores[1], parts) if len(stores) > 1 else None
    if visible == GAUSSIAN:
        mu, sigma = _standardisation(data)
        data = (data - mu) / sigma
        hdata = None if hdata is None else (hdata - mu) / sigma
    xp = backend.array_module(data)
    rbm = init_rbm(data.shape[1], params[job.bias_key].shape[0], np.random.default_rng([seed, 6]), xp,
                   params[next(iter(params))].dtype, data_mean=backend.to_host(data.mean(axis=0)), visible=visible)
    labels = [_part_label(arch, p) for p in parts]
    hist = train_rbm(rbm, data, config, visible=visible, seed=seed, heldout=hdata, checkpoint=partial,
                     show_progress=show_progress, log=log, desc=f"pretrain {job.name} <- [{', '.join(labels)}]")
    W, b = rbm["W"], rbm["b_h"]
    if visible == GAUSSIAN:
        b = b - W @ (mu / sigma)
        W = W / sigma
    for (_, key), block in zip(kept, split_rbm_weights(W, [_part_size(arch, p) for p in parts])):
        params[key][...] = block
    params[job.bias_key][...] = b
    return rbm, hist


def _advance(params: dict, arch: Architecture, jobs: list, j: int, stores: list) -> None:
    """After job j: its layer's mean-field activations, the data of the RBMs above, in every store
    (training, held-out); the activations no later job needs are forgotten."""
    job = jobs[j]
    needed = {p for later in jobs[j + 1:] for p in later.parts}
    layer = ("s", job.level) if job.name.startswith("s_") else ("h", job.parts[0][1], job.level)
    for store in stores:
        if layer in needed:
            store[layer] = _propagate(params, arch, job, store)
        for key in [key for key in store if key not in needed]:
            del store[key]


def pretrain_fusion(params: dict, arch: Architecture, xs, config: CDConfig = CDConfig(), *, gaussian_inputs=False,
                    seed: int = 0, heldout=None, checkpoint_dir=None, show_progress: bool | None = None,
                    log=print, config_for=None, keep_part=None) -> dict:
    """Pretrain every layer of a fusion network as RBMs, bottom-up, writing the weights into ``params``.

    params: the network's parameters (:func:`dmf_np.fusion.init_params`), updated IN PLACE: every
    modality and shared weight and bias; W^out, b^out are left as they are. xs: list of M arrays
    (N, n^m_1), the training inputs (Bernoulli inputs must lie in [0, 1]). config: how every RBM is
    trained (:class:`CDConfig`, passed to :func:`train_rbm`; Gaussian RBMs use lr * gaussian_lr_scale).
    gaussian_inputs: bool, or one bool per modality, for real-valued inputs (standardised internally,
    folded into the weights). heldout: optional list of M arrays for the free-energy gap.
    checkpoint_dir: resume point (see module).
    Per-RBM choices (both default to None: every RBM as above):
    config_for(job, n_visible) -> CDConfig: the settings of the RBM of ``job`` (an :class:`RBMJob`)
    with n_visible visible units, in place of ``config``. keep_part(job, part) -> bool: whether the
    visible part ('h', m, l) or ('s', l) stays in the job's RBM; a part left out gets network weights 0.
    Returns the history: {rbm name ('s_1', 'h^x_2', ...): {"visible": [...], "keys": [...],
    "visible_type", "resumed": bool, and the per-epoch lists of :func:`train_rbm`}} in training order;
    "zeroed": [...] lists the weight keys set to 0 where ``keep_part`` left parts out.
    """
    check_params(params, arch)
    check_modalities(xs, arch)
    if heldout is not None:
        check_modalities(heldout, arch)
    flags = _gaussian_flags(gaussian_inputs, arch)
    xp = backend.array_module(xs[0])
    jobs = rbm_schedule(arch)
    seeds = backend.spawn_seeds(seed, len(jobs))
    ckdir = None if checkpoint_dir is None else Path(checkpoint_dir)
    # what a finished RBM's file must have been written with to be reused
    settings = {"scheme": arch.scheme, "modality_sizes": arch.modality_sizes, "shared_sizes": arch.shared_sizes,
                "names": arch.names, "n": int(xs[0].shape[0]), "gaussian_inputs": flags, "seed": seed,
                "cd": asdict(config)}
    settings = json.loads(json.dumps(settings))
    stores = [{("h", m, 1): x for m, x in enumerate(data)} for data in ([xs] if heldout is None else [xs, heldout])]
    history: dict = {}
    for j, job in enumerate(jobs):
        kept = _kept_parts(params, job, keep_part)
        visible = _visible_type(arch, job, [p for p, _ in kept], flags)
        rbm_config = _rbm_config(config, config_for, job, sum(_part_size(arch, p) for p, _ in kept), visible)
        labels = [_part_label(arch, p) for p, _ in kept]
        entry = {"visible": labels, "keys": [*(k for _, k in kept), job.bias_key], "visible_type": visible}
        if len(kept) < len(job.parts):
            entry["zeroed"] = [k for k in job.weight_keys if k not in entry["keys"]]
        # the per-RBM choices; a file written before they were recorded used config and every part
        trained_with = json.loads(json.dumps({"cd": asdict(rbm_config), "visible": labels}))
        defaults = config_for is None and keep_part is None
        stem = f"{j:02d}-" + job.name.replace("^", "").replace("{", "").replace("}", "")
        final = None if ckdir is None else ckdir / f"{stem}.npz"
        if final is not None and final.is_file():
            arrays, meta = load_checkpoint(final, xp)
            if (meta.get("config") != settings or meta.get("job") != job.name
                    or meta.get("rbm", trained_with if defaults else None) != trained_with):
                raise ValueError(f"{final} holds pretraining with other settings or another network; "
                                 f"use a fresh checkpoint_dir or delete {ckdir}")
            for key in entry["keys"]:
                params[key][...] = arrays[f"net/{key}"]
            entry.update(meta["history"], resumed=True)
            if log is not None:
                log(f"pretrain {job.name}: finished earlier, loaded from {final}")
        else:
            partial = None if ckdir is None else ckdir / f"{stem}.partial.npz"
            rbm, hist = _train_layer_rbm(params, arch, job, kept, stores, visible, rbm_config, seeds[j], partial,
                                         show_progress, log)
            entry.update(hist, resumed=False)
            if final is not None:
                arrays = {f"rbm/{key}": v for key, v in rbm.items()}
                arrays.update({f"net/{key}": params[key] for key in entry["keys"]})
                save_checkpoint(final, arrays, {"config": settings, "job": job.name, "history": hist,
                                                "rbm": trained_with})
                partial.unlink(missing_ok=True)
        history[job.name] = entry
        _advance(params, arch, jobs, j, stores)
    return history
