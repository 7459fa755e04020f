"""The study of the paper's claims (docs/claims.md): the pieces E1 and E2 are built from.

* **DMF pretraining variants** (E1), :func:`pretrain_variant`:

  - ``"A"``: today's layer-wise CD pretraining (:func:`dmf_np.pretrain.pretrain_fusion`);
  - ``"B"``: every s_l RBM sees only the modality layers [h^1_l .. h^M_l], not s_{l-1}, and
    W^s_{l-1} starts at 0 (so s_l starts as exactly the unit its RBM learned);
  - ``"B'"``: function-preserving: DMF starts as exactly a pretrained IMF
    (:func:`dmf_from_imf`): its outputs equal IMF's before fine-tuning;
  - ``"C"``: every RBM gets 10 CD epochs, at a learning rate scaled by (reference visible units) /
    (its visible units): DMF's 1,536-visible s_2 RBM then takes smaller steps than a 392-visible one.

  B and C are ``pretrain_fusion`` itself with its per-RBM hooks: ``keep_part`` (:func:`modality_only`)
  and ``config_for`` (:func:`scaled_config`), so a variant differs from A only where it says.
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

from dataclasses import asdict, dataclass, replace

import numpy as np

from .. import backend
from ..backprop import cross_modal_cuts
from ..fusion import Architecture, forward
from ..learning_paths import loss_and_learning_paths
from ..pretrain import CDConfig, pretrain_fusion
from .mnist import PRESETS
from .runner import cell

VARIANTS = ("A", "B", "B'", "C")
SATURATION = 4.0  # |M| > 4: f'(M) < 0.018, under 7% of f'(0) = 0.25


# --- pretraining variants -----------------------------------------------------------------------

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
    if variant in ("B", "B'") and arch.scheme != "dmf":
        raise ValueError(f"variant {variant} is a DMF variant; got scheme {arch.scheme!r}")
    if variant in ("A", "B", "C"):
        hooks = {"B": {"keep_part": modality_only},
                 "C": {"config_for": scaled_config(config, reference_visible=arch.input_sizes[0])}}
        return pretrain_fusion(params, arch, xs, config, seed=seed, log=log, show_progress=False,
                               **hooks.get(variant, {}))
    if imf_params is None:
        raise ValueError("variant B' starts from a pretrained IMF: pass imf_params")
    built = dmf_from_imf(imf_params, params, arch)
    for key in params:
        params[key][...] = built[key]
    return {}


# --- what the network looks like before and during fine-tuning ---------------------------------

def layer_statistics(params: dict, xs, arch: Architecture) -> dict:
    """Per hidden layer: {"pre_std": std of M, "saturated": share of |M| > 4, "mean_fprime": mean
    f'(M)}, over every unit and example of ``xs`` (E1 uses the first 1,000 training images); M is the
    forward pass's own pre-activation (:func:`dmf_np.fusion.forward`, ``pre_activations=True``)."""
    stats = {}
    for name, M in forward(params, xs, arch, pre_activations=True).pre.items():
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


def path_dynamics(results: list, layers=("h^x_2", "h^x_3"), param: str = "W^x_1") -> dict:
    """Seed means, per epoch, of the learning-path log of finished units (index 0: before fine-tuning).

    results: unit results holding "paths_before" and history["paths"] (:func:`path_statistics`, one per
    epoch). For each modality layer of ``layers`` the norms of Eq. 5's two terms and their cosine; for
    ``param`` (default: the bottom weight of modality x, which every path reaches) the share of its
    gradient carried by the shared path and, for DMF, the cosine between its cut and full gradients.
    """
    def series(get):
        rows = [[get(r["paths_before"])] + [get(p) for p in r["history"]["paths"]] for r in results]
        return np.mean(np.array(rows, float), axis=0).tolist()

    out = {}
    for layer in layers:
        if layer in results[0]["paths_before"]["layers"]:
            out[layer] = {k: series(lambda p, k=k, layer=layer: p["layers"][layer][k])
                          for k in ("modality", "shared", "cosine")}
    if param not in results[0]["paths_before"]["shares"]:
        return out  # EMF: no modality layers above the input
    out[f"share_shared {param}"] = series(lambda p: p["shares"][param]["shared"])
    if "cut" in results[0]["paths_before"]:
        out[f"cut_cosine {param}"] = series(lambda p: p["cut"]["cosine_to_full"][param])
    return out


# --- E2: a data-driven initialisation for all three schemes --------------------------------------

def _layer_inputs(arch: Architecture) -> list:
    """(layer name, weight keys feeding it), bottom-up, the classifier last."""
    out = []
    for l in range(1, arch.L + 1):
        if l >= 2 and l in arch.modality_levels():
            out += [(f"h^{name}_{l}", [arch.W_mod(m, l - 1)]) for m, name in enumerate(arch.names)]
        if l in arch.shared_levels():
            keys = [arch.W_fuse(m, l) for m in range(arch.M)] if l in arch.fusion_levels() else []
            out.append((f"s_{l}", keys + ([arch.W_sh(l - 1)] if arch.has_shared_chain(l) else [])))
    if arch.n_classes is not None:
        out.append(("out", ["W^out"]))
    return out


def lsuv_init(params: dict, xs, arch: Architecture, target: float = 1.0, tol: float = 0.05,
              max_passes: int = 10) -> dict:
    """E2's initialisation (LSUV-style): bottom-up, every weight matrix feeding a layer is multiplied by
    one common factor until the standard deviation of the layer's pre-activations on the batch ``xs``
    is within ``tol`` of ``target`` (at most ``max_passes`` passes per layer). In place; returns
    {layer: (std before, std after)}. The classifier's logits are scaled the same way.
    """
    if target <= 0 or tol <= 0 or max_passes < 1:
        raise ValueError(f"need target > 0, tol > 0, max_passes >= 1; got {target}, {tol}, {max_passes}")
    report = {}
    for name, keys in _layer_inputs(arch):
        before = None
        for _ in range(max_passes):
            fw = forward(params, xs, arch, pre_activations=True)
            M = fw.logits if name == "out" else fw.pre[name]
            std = float(backend.to_host(M).astype(np.float64).std())
            before = std if before is None else before
            if abs(std - target) <= tol or std == 0:
                break
            for key in keys:
                params[key] *= params[key].dtype.type(target / std)
        report[name] = (before, std)
    return report


# --- E1: the pretraining ablation, as units in a run directory ---------------------------------

# an E1 model: (scheme, pretraining variant); IMF-C is the control docs/claims.md asks for if DMF-C passes
E1_MODELS = {"emf": ("emf", "A"), "imf": ("imf", "A"), "dmf-A": ("dmf", "A"), "dmf-B": ("dmf", "B"),
             "dmf-B'": ("dmf", "B'"), "dmf-C": ("dmf", "C"), "imf-C": ("imf", "C")}


@dataclass(frozen=True)
class E1Plan:
    """E1's settings (docs/claims.md): fine-tuning as ``preset`` (the paper preset), its own grid and levels."""

    preset: object = None                   # an experiments.mnist.Preset; None: PRESETS["paper"]
    levels: tuple = (0, 70)
    seeds: tuple = (0, 1, 2, 3, 4)
    models: tuple = ("emf", "imf", "dmf-A", "dmf-B", "dmf-B'", "dmf-C")
    lr_grid: tuple = (0.3, 1.0, 3.0)
    edge_grid: tuple = (0.03, 0.1, 0.3, 1.0, 3.0)   # where the edge rule finds the next smaller rate
    kind: str = "pixels"                    # damage reading, in training and test images alike
    stats_rows: int = 1000                  # layer statistics on the first rows of the training split
    path_rows: int = 500                    # learning paths on the first rows, after every epoch

    def __post_init__(self):
        if self.preset is None:
            object.__setattr__(self, "preset", PRESETS["paper"])
        if 0 not in self.levels:
            raise ValueError(f"E1 levels must include 0 (the rates are tuned on clean data), got {self.levels}")
        unknown = [m for m in self.models if m not in E1_MODELS]
        if unknown or "imf" not in self.models:
            raise ValueError(f"E1 models must include 'imf' and come from {sorted(E1_MODELS)}, got {self.models}")
        if "dmf-B'" in self.models and self.models.index("imf") > self.models.index("dmf-B'"):
            raise ValueError("list 'imf' before \"dmf-B'\": B' starts from IMF's pretrained weights")

    def protocol(self) -> dict:
        return {"experiment": "study-e1", **{k: (asdict(v) if k == "preset" else v)
                                              for k, v in self.__dict__.items()}}


def cd_config(preset) -> CDConfig:
    """The CD settings of a preset, as :func:`dmf_np.experiments.mnist.pretrained_params` builds them."""
    return CDConfig(epochs=preset.pretrain_epochs, batch_size=preset.batch_size, lr=preset.pretrain_lr,
                    momentum=preset.pretrain_momentum, weight_decay=preset.pretrain_weight_decay, k=preset.cd_k)


def e1_rule(dmf_losses, imf_losses, dmf_errors, imf_errors, epochs: int = 10, need: int = 4) -> dict:
    """docs/claims.md's E1 rule at one damage level, over paired seeds.

    dmf_losses, imf_losses: (seeds, epochs) training losses; dmf_errors, imf_errors: (seeds,) Left+Right
    test errors. A seed counts for the loss if DMF's loss is at or below IMF's at EVERY epoch 1..epochs,
    and for the error if DMF's is strictly below. Passes with ``need`` seeds on both counts. Also the
    mirrored loss count (IMF strictly below at every epoch), for the 'reversed' verdict.
    """
    d, i = np.asarray(dmf_losses, float)[:, :epochs], np.asarray(imf_losses, float)[:, :epochs]
    de, ie = np.asarray(dmf_errors, float), np.asarray(imf_errors, float)
    if d.shape != i.shape or d.shape[1] < epochs or de.shape != ie.shape or de.shape[0] != d.shape[0]:
        raise ValueError(f"need paired (seeds, >= {epochs}) losses and (seeds,) errors; got {d.shape}, {i.shape}, "
                         f"{de.shape}, {ie.shape}")
    loss_seeds = int(np.all(d <= i, axis=1).sum())
    error_seeds = int((de < ie).sum())
    return {"seeds": int(d.shape[0]), "epochs": epochs, "loss_seeds": loss_seeds, "error_seeds": error_seeds,
            "imf_loss_lower_seeds": int(np.all(i < d, axis=1).sum()),
            "passes": loss_seeds >= need and error_seeds >= need,
            "narrow": loss_seeds == need or error_seeds == need}


def e1_summary(rd, plan: E1Plan, chosen: dict, grids: dict) -> dict:
    """figures/study.json's "e1" part: {model: {level: {"train_loss": {"mean", "seeds"}, "test_error":
    {"mean", "std", "seeds", "values"}, "right_only", "layer_stats" (seed mean)}}}, plus each DMF
    variant's E1 rule against IMF at each level ("rule") and the tuning ("tuning")."""
    out = {"models": {}, "rule": {}, "tuning": {"chosen_lr": chosen, "grids": grids}}
    runs = {}
    for m in plan.models:
        for level in plan.levels:
            rs = [rd.result(f"d{level}", m, f"seed{s}", f"lr{chosen[m]:g}") for s in plan.seeds]
            rs = [r for r in rs if r is not None and "final" in r]
            runs[(m, level)] = rs
            if not rs:
                continue
            loss = np.array([r["history"]["train_loss"] for r in rs])
            err = np.array([r["final"]["test"]["left+right"] for r in rs])
            right = np.array([r["final"]["test"]["right"] for r in rs])
            layers = rs[0]["layer_stats"]
            out["models"].setdefault(m, {})[str(level)] = {
                "train_loss": {"mean": loss.mean(axis=0).tolist(), "seeds": len(rs)},
                "test_error": cell(err), "right_only": cell(right),
                "layer_stats": {name: {k: float(np.mean([r["layer_stats"][name][k] for r in rs])) for k in v}
                                for name, v in layers.items()}}
    for m in plan.models:
        if not m.startswith("dmf"):
            continue
        for level in plan.levels:
            d, i = runs.get((m, level), []), runs.get(("imf", level), [])
            if len(d) == len(i) == len(plan.seeds):
                out["rule"].setdefault(m, {})[str(level)] = e1_rule(
                    [r["history"]["train_loss"] for r in d], [r["history"]["train_loss"] for r in i],
                    [r["final"]["test"]["left+right"] for r in d], [r["final"]["test"]["left+right"] for r in i],
                    epochs=min(10, plan.preset.finetune_epochs))
    return out


__all__ = ["VARIANTS", "pretrain_variant", "modality_only", "scaled_config", "dmf_from_imf", "layer_statistics",
           "path_statistics", "path_dynamics", "lsuv_init", "E1_MODELS", "E1Plan", "cd_config", "e1_rule", "e1_summary"]
