"""The study's E2 (docs/claims.md): convergence without pretraining, each model at its own best setting.

No CD pretraining. Every network starts from ``init_params`` rescaled by :func:`.study.lsuv_init` (each
layer's pre-activation std 1 on the first 500 training images), so that EMF, IMF and DMF start alike.
Fine-tuning at a constant rate, clean data, 10 epochs, at depths L = 3 (the paper's sizes) and L = 5.

The protocol, as registered (coarse-then-fine over seeds):

1. seed 0: every (depth, model) over the grid rates x momenta (60 units);
2. each (depth, model)'s best setting by seed-0 validation error after the last epoch; the **common
   training loss** of a depth, the highest of its three models' best-setting last-epoch losses, is fixed
   and written to ``e2_common.json`` before any other seed runs;
3. seeds 1 and 2 at each best setting (12 units).

Per epoch each unit logs the training loss, validation and test error, the seconds spent training (the
evaluation excluded; wall clock and the process's CPU time, which C1c uses) and the learning paths
(:func:`.study.path_statistics`). :func:`e2_rule` and :func:`verdict` apply the registered rules for
C1b (epochs) and C1c (seconds).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..fusion import Architecture
from .mnist import PRESETS, Preset
from .rundir import RunDir
from .runner import cell
from .study import path_dynamics

# (hidden sizes of each half above its 392 pixels, shared sizes) per depth L
DEPTHS = {3: ((512, 128), (512, 256, 64)),
          5: ((512, 256, 192, 128), (512, 384, 256, 128, 64))}
SECONDS_TIE = 0.2   # C1c: a difference in seconds below 20% is a tie (the machine is shared)


@dataclass(frozen=True)
class E2Plan:
    """E2's settings (docs/claims.md). ``preset`` gives the data sizes and batch size only."""

    preset: object = None                   # an experiments.mnist.Preset; None: PRESETS["paper"]
    depths: tuple = (3, 5)
    models: tuple = ("emf", "imf", "dmf")
    seeds: tuple = (0, 1, 2)
    lr_grid: tuple = (0.05, 0.1, 0.2, 0.5, 1.0)
    momenta: tuple = (0.5, 0.9)
    epochs: int = 10
    init_rows: int = 500                    # LSUV batch: the first rows of the training split
    path_rows: int = 500                    # learning paths on the first rows, after every epoch
    sizes: tuple = None                     # ((L, hidden, shared), ...); None: DEPTHS

    def __post_init__(self):
        if self.preset is None:
            object.__setattr__(self, "preset", PRESETS["paper"])
        if self.sizes is None:
            object.__setattr__(self, "sizes", tuple((L,) + DEPTHS[L] for L in self.depths if L in DEPTHS))
        known = {s[0] for s in self.sizes}
        if set(self.depths) - known:
            raise ValueError(f"E2 depths {sorted(set(self.depths) - known)} have no sizes; give sizes=((L, hidden, "
                             f"shared), ...) (known: {sorted(known)})")
        if "imf" not in self.models or "dmf" not in self.models:
            raise ValueError(f"E2 compares DMF with IMF: models must include both, got {self.models}")
        if self.epochs < 1 or not self.seeds:
            raise ValueError(f"E2 needs epochs >= 1 and at least one seed, got {self.epochs}, {self.seeds}")

    def architecture(self, model: str, depth: int) -> Architecture:
        """``model``'s network at ``depth``: two 392-pixel halves, 10 classes."""
        hidden, shared = next((h, s) for L, h, s in self.sizes if L == depth)
        halves = (392,) + tuple(hidden)
        return Architecture(model, (halves, halves), tuple(shared), 10, ("x", "y"))

    def settings(self) -> list:
        """The grid: [(lr, momentum)], smaller rates first (ties in validation error go to the first)."""
        return [(lr, mom) for lr in sorted(self.lr_grid) for mom in sorted(self.momenta)]

    def protocol(self) -> dict:
        return {"experiment": "study-e2", **{k: (asdict(v) if k == "preset" else v)
                                              for k, v in self.__dict__.items()}}


def plan_from_protocol(protocol: dict) -> E2Plan:
    """The E2Plan a run directory's config.json pinned (its "protocol")."""
    def tuples(v):
        return tuple(tuples(x) for x in v) if isinstance(v, list) else v

    fields = {k: tuples(v) for k, v in protocol.items() if k not in ("experiment", "preset")}
    return E2Plan(preset=Preset(**{k: tuples(v) for k, v in protocol["preset"].items()}), **fields)


def _unit_dir(depth: int, model: str, seed: int, lr: float, momentum: float) -> tuple:
    return (f"L{depth}", model, f"seed{seed}", f"lr{lr:g}-m{momentum:g}")


def best_setting(results: dict):
    """The (lr, momentum) with the lowest last-epoch validation error among {setting: result}; ties go to
    the earlier setting of the grid; None if every setting diverged."""
    ok = [(r["final"]["val_error"], i, s) for i, (s, r) in enumerate(results.items()) if "final" in r]
    return min(ok)[2] if ok else None


def epochs_to(losses, target: float) -> float:
    """The first epoch (1-based) whose training loss is at or below ``target``; inf if none is."""
    hit = [e for e, v in enumerate(losses, 1) if v <= target]
    return float(hit[0]) if hit else math.inf


def seconds_to(losses, epoch_seconds, target: float) -> float:
    """Training seconds up to and including the first epoch at or below ``target``; inf if none is."""
    e = epochs_to(losses, target)
    return math.inf if math.isinf(e) else float(np.sum(epoch_seconds[:int(e)]))


def e2_rule(dmf_to, imf_to, dmf_final, imf_final, tie: float = 0.0, need: int = 3) -> dict:
    """docs/claims.md's E2 rule at one depth, over paired seeds.

    dmf_to, imf_to: (seeds,) epochs (or seconds) to the common loss, inf (or None) where not reached; dmf_final,
    imf_final: (seeds,) last-epoch training losses. A seed counts as DMF faster if its count is below
    IMF's by more than ``tie`` of IMF's (equal, both inf, or within the tie: against DMF), and as DMF
    lower if its last loss is strictly below IMF's. ``faster_and_lower`` needs ``need`` seeds on each
    count; the mirrored counts (IMF faster, IMF lower) give the 'reversed' verdict.
    """
    d, i = (np.array([math.inf if v is None else v for v in a], float) for a in (dmf_to, imf_to))
    dl, il = np.asarray(dmf_final, float), np.asarray(imf_final, float)
    if not (d.shape == i.shape == dl.shape == il.shape) or d.ndim != 1:
        raise ValueError(f"need four (seeds,) arrays of paired values; got {d.shape}, {i.shape}, {dl.shape}, "
                         f"{il.shape}")

    def below(a, b):  # a clearly below b: finite, and short of b by more than the tie
        return np.isfinite(a) & (~np.isfinite(b) | (a < b * (1 - tie)))

    out = {"seeds": int(d.size), "dmf_faster": int(below(d, i).sum()), "dmf_lower": int((dl < il).sum()),
           "imf_faster": int(below(i, d).sum()), "imf_lower": int((il < dl).sum())}
    out["dmf_ahead"] = out["dmf_faster"] >= need and out["dmf_lower"] >= need
    out["imf_ahead"] = out["imf_faster"] >= need and out["imf_lower"] >= need
    return out


def verdict(rules: list, need_seeds: int = 3) -> str:
    """One claim's verdict from its rule at every depth (docs/claims.md's vocabulary)."""
    if not rules or any(r is None or r["seeds"] < need_seeds for r in rules):
        return "inconclusive"
    if all(r["dmf_ahead"] for r in rules):
        return "supported"
    if all(r["imf_ahead"] for r in rules):
        return "reversed"
    return "not supported"


def fixed_choices(rd: RunDir, plan: E2Plan) -> dict:
    """Each (depth, model)'s best setting and each depth's common training loss, from the seed-0 grid;
    written to ``e2_common.json`` the first time and read back after (they are fixed before seeds 1-2)."""
    path = rd.path / "e2_common.json"
    if path.is_file():
        return rd.read_metrics("e2_common.json")
    seed0 = plan.seeds[0]
    out = {"best": {}, "common_loss": {}}
    for L in plan.depths:
        best, last = {}, {}
        for m in plan.models:
            results = {s: rd.result(*_unit_dir(L, m, seed0, *s)) for s in plan.settings()}
            missing = [s for s, r in results.items() if r is None]
            if missing:
                raise ValueError(f"E2 L={L} {m}: seed-{seed0} units {missing} have not run; run the grid first")
            choice = best_setting(results)
            best[m] = None if choice is None else list(choice)
            last[m] = None if choice is None else results[choice]["final"]["train_loss"]
        out["best"][str(L)] = best
        finite = [v for v in last.values() if v is not None]
        out["common_loss"][str(L)] = max(finite) if finite else None
    rd.write_metrics(out, "e2_common.json")
    return out


def e2_summary(rd: RunDir, plan: E2Plan) -> dict:
    """figures/study.json's "e2" part: per depth, the common loss and per model its best setting, the
    seed-mean curves, epochs and seconds to the common loss per seed, final loss, best validation error
    and the test error at that epoch; the seed-0 grid; the E2 rule per depth; the C1b/C1c verdicts."""
    fixed = fixed_choices(rd, plan)
    out = {"depths": {}, "verdicts": {}}
    rules = {"C1b": [], "C1c": []}
    for L in plan.depths:
        target = fixed["common_loss"][str(L)]
        depth = {"common_loss": target, "models": {}, "grid": {}}
        for m in plan.models:
            depth["grid"][m] = {f"lr{lr:g}-m{mom:g}": (lambda r: None if r is None or "final" not in r
                                                      else r["final"]["val_error"])(rd.result(*_unit_dir(L, m,
                                                                                    plan.seeds[0], lr, mom)))
                                for lr, mom in plan.settings()}
            choice = fixed["best"][str(L)][m]
            if choice is None:
                continue
            rs = [rd.result(*_unit_dir(L, m, s, *choice)) for s in plan.seeds]
            rs = [r for r in rs if r is not None and "final" in r]
            loss = np.array([r["history"]["train_loss"] for r in rs])
            secs = np.array([r["history"]["epoch_cpu_seconds"] for r in rs])
            wall = np.array([r["history"]["epoch_seconds"] for r in rs])
            val = np.array([r["history"]["val_error"] for r in rs])
            test = np.array([r["history"]["test_error"] for r in rs])
            at = val.argmin(axis=1)
            depth["models"][m] = {
                "best": {"lr": choice[0], "momentum": choice[1]},
                "train_loss": {"mean": loss.mean(axis=0).tolist(), "seeds": len(rs)},
                "val_error": {"mean": val.mean(axis=0).tolist(), "seeds": len(rs)},
                "epoch_cpu_seconds": {"mean": secs.mean(axis=0).tolist(), "seeds": len(rs)},
                "epochs_to_common": [epochs_to(v, target) for v in loss],
                # C1c's seconds: the unit's own CPU time (wall time on a shared machine beside it)
                "seconds_to_common": [seconds_to(v, s, target) for v, s in zip(loss, secs)],
                "wall_seconds_to_common": [seconds_to(v, s, target) for v, s in zip(loss, wall)],
                "final_loss": cell(loss[:, -1]), "best_val_error": cell(val.min(axis=1)),
                "test_error": cell(test[np.arange(len(rs)), at]),
                "paths": path_dynamics(rs, layers=("h^x_2", f"h^x_{L}"))}
        d, i = depth["models"].get("dmf"), depth["models"].get("imf")
        if d and i and len(d["epochs_to_common"]) == len(i["epochs_to_common"]) == len(plan.seeds):
            final = (d["final_loss"]["values"], i["final_loss"]["values"])
            depth["rule"] = {"epochs": e2_rule(d["epochs_to_common"], i["epochs_to_common"], *final),
                             "seconds": e2_rule(d["seconds_to_common"], i["seconds_to_common"], *final,
                                                tie=SECONDS_TIE)}
        for r in depth["models"].values():  # "not reached": null in JSON (strict JSON has no Infinity)
            for key in ("epochs_to_common", "seconds_to_common", "wall_seconds_to_common"):
                r[key] = [None if math.isinf(v) else v for v in r[key]]
        rules["C1b"].append(depth.get("rule", {}).get("epochs"))
        rules["C1c"].append(depth.get("rule", {}).get("seconds"))
        out["depths"][str(L)] = depth
    out["verdicts"] = {c: verdict(r, need_seeds=len(plan.seeds)) for c, r in rules.items()}
    return out


def e2_markdown(summary: dict) -> str:
    """E2's tables for docs/claims.md (from :func:`e2_summary`)."""
    lines = []

    def fmt(v, unit=""):
        if v is None or math.isinf(v):
            return "not reached"
        return f"{v:.1f}{unit}" if unit else f"{v:.0f}"

    for L, depth in summary["depths"].items():
        lines += [f"**L = {L}** (common training loss {depth['common_loss']:.4f}; each model at its own best "
                  f"setting; seeds {', '.join(str(len(m['epochs_to_common'])) for m in depth['models'].values())})",
                  "", "| model | best rate, momentum | epochs to common loss (per seed) | CPU seconds to it (wall) | "
                  "loss ep. 1 | ep. 5 | last | best val. error % | its test error % |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for m, r in depth["models"].items():
            curve = r["train_loss"]["mean"]
            lines.append(f"| {m.upper()} | {r['best']['lr']:g}, {r['best']['momentum']:g} | "
                         f"{', '.join(fmt(v) for v in r['epochs_to_common'])} | "
                         f"{', '.join(fmt(v, ' s') for v in r['seconds_to_common'])} "
                         f"({', '.join(fmt(v, ' s') for v in r['wall_seconds_to_common'])}) | {curve[0]:.4f} | "
                         f"{curve[min(4, len(curve) - 1)]:.4f} | {curve[-1]:.5f} | "
                         f"{r['best_val_error']['mean']:.2f} ± {r['best_val_error']['std']:.2f} | "
                         f"{r['test_error']['mean']:.2f} ± {r['test_error']['std']:.2f} |")
        rule = depth.get("rule")
        if rule:
            e, s = rule["epochs"], rule["seconds"]
            lines += ["", f"Rule at L = {L} (of {e['seeds']} seeds): DMF reaches the common loss in fewer epochs "
                      f"than IMF in {e['dmf_faster']}, IMF in fewer than DMF in {e['imf_faster']}; in fewer "
                      f"seconds (20% tie) DMF {s['dmf_faster']}, IMF {s['imf_faster']}; DMF's last loss below "
                      f"IMF's in {e['dmf_lower']}, IMF's below DMF's in {e['imf_lower']}."]
        lines += ["", "Seed-0 validation error (%) after the last epoch over the grid (— diverged):", "",
                  "| model | " + " | ".join(next(iter(depth["grid"].values())).keys()) + " |",
                  "|---|" + "---|" * len(next(iter(depth["grid"].values()))),
                  *[f"| {m.upper()} | " + " | ".join("—" if v is None else f"{v:.2f}" for v in g.values()) + " |"
                    for m, g in depth["grid"].items()], ""]
    lines.append(f"Verdicts: C1b **{summary['verdicts']['C1b']}**, C1c **{summary['verdicts']['C1c']}**.")
    return "\n".join(lines)


__all__ = ["DEPTHS", "E2Plan", "plan_from_protocol", "fixed_choices", "best_setting",
           "epochs_to", "seconds_to", "e2_rule", "verdict", "e2_summary", "e2_markdown"]
