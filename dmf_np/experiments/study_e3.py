"""The study's E3 (docs/claims.md): training for a missing or damaged modality (C3; C2 under test-only damage).

The paper's Table 1 (bottom half) reports DMF far ahead of IMF when only the right half is shown
(39.9% against 51.3% at 0% damage). Networks trained only on complete digits never see a missing
half, so E3 fine-tunes with **modality dropout**: in every epoch each training example independently
gets one of {both halves, left half zeroed, right half zeroed} (probability 1/3 each) and,
independently, a damage level of its right half from {0, 30, 50, 70}% (random pixels), drawn from a
generator seeded by (seed, epoch) alone, so the three models of a seed see the same draws.

* Models: EMF, IMF and DMF-A with today's CD pretraining on clean training images: the networks of
  E1's clean units, built by :func:`dmf_np.experiments.study.e1_pretrained` (bit for bit the same).
* Fine-tuning: the paper preset (20 epochs, batch 100, momentum 0.9, rate x 0.9 per epoch) through
  :func:`dmf_np.train.fit_classifier`'s ``epoch_inputs`` hook; the data order is E1's.
* Tuning: grid {0.3, 1, 3} on seed 0 with E1's edge rule, scored by the validation error on ONE
  fixed draw of the same training distribution (the same draw for every model, rate and seed).
* Measured: Left+Right and Right-only test error at test-only damage 0/30/50/70% (E1's test masks),
  training loss and validation error per epoch, fine-tuning seconds.
* Rule (:func:`e3_rule`, :func:`c3_verdict`) and the Left+Right "ahead" counts (:func:`ahead_counts`).

Units live in a :class:`.rundir.RunDir` (``units/d0/<model>/seed<s>/pretrained.npz`` as in E1,
``units/dropout/<model>/seed<s>/lr<rate>/result.json`` for fine-tuning), so an interrupted run
resumes; they run through :mod:`.parallel`, so ``jobs=N`` works.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from .. import backend
from ..data.damage import KINDS, apply_mask, damage_mask
from .mnist import CONDITIONS, PRESETS, Split
from .runner import cell
from .study import E1_MODELS, E1Plan

# what modality dropout shows of an example: index 0, 1, 2 of a draw's "inputs"
DROPOUT_INPUTS = ("both halves", "left zeroed", "right zeroed")


@dataclass(frozen=True)
class E3Plan:
    """E3's settings (docs/claims.md, "E3"). ``judged``: the DMF model C3's verdict is about."""

    preset: object = None                   # an experiments.mnist.Preset; None: PRESETS["paper"]
    seeds: tuple = (0, 1, 2, 3, 4)
    models: tuple = ("emf", "imf", "dmf-A")
    judged: str = "dmf-A"
    lr_grid: tuple = (0.3, 1.0, 3.0)
    edge_grid: tuple = (0.03, 0.1, 0.3, 1.0, 3.0)   # where the edge rule finds the next smaller rate
    train_levels: tuple = (0, 30, 50, 70)   # right-half damage drawn per training example, uniformly
    test_levels: tuple = (0, 30, 50, 70)    # test-only damage of the right half
    kind: str = "pixels"                    # damage reading, in the dropout draws and the test images
    val_draw_seed: int = 0                  # the one fixed draw the validation split is scored under
    stats_rows: int = 1000                  # layer statistics before fine-tuning (as E1's units)
    need_seeds: int = 4                     # "in at least 4 of 5 paired seeds"
    need_levels: int = 3                    # "at 3 or more of the 4 levels"

    def __post_init__(self):
        if self.preset is None:
            object.__setattr__(self, "preset", PRESETS["paper"])
        unknown = [m for m in self.models if m not in E1_MODELS]
        if unknown or "imf" not in self.models:
            raise ValueError(f"E3 models must include 'imf' and come from {sorted(E1_MODELS)}, got {self.models}")
        if self.judged not in self.models or E1_MODELS[self.judged][0] != "dmf":
            raise ValueError(f"judged must be one of the plan's DMF models, got {self.judged!r} with {self.models}")
        if self.kind not in KINDS:
            raise ValueError(f"damage kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("train_levels", "test_levels"):
            levels = getattr(self, name)
            if not levels or any(not 0 <= lv <= 100 for lv in levels) or len(set(levels)) != len(levels):
                raise ValueError(f"{name} must be distinct percentages in [0, 100], got {levels}")
        if 0 not in self.test_levels:
            raise ValueError(f"test_levels must include 0 (C3 needs DMF ahead at 0%), got {self.test_levels}")
        if not self.seeds or not self.lr_grid:
            raise ValueError(f"need at least one seed and one rate, got seeds {self.seeds}, grid {self.lr_grid}")

    def e1_plan(self) -> E1Plan:
        """The E1 plan whose clean pretrained networks E3 fine-tunes (same preset, seeds, models)."""
        return E1Plan(preset=self.preset, levels=(0,), seeds=self.seeds, models=self.models, kind=self.kind,
                      stats_rows=self.stats_rows)

    def protocol(self) -> dict:
        return {"experiment": "study-e3", **{k: (asdict(v) if k == "preset" else v)
                                              for k, v in self.__dict__.items()}}


# --- modality dropout --------------------------------------------------------------------------

def dropout_seed(seed: int, epoch: int, split: str = "train") -> np.random.SeedSequence:
    """The seed of one dropout draw: one stream per (run seed, epoch, split), the same for every model."""
    codes = {"train": 0, "val": 1}
    if split not in codes:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if int(seed) < 0 or int(epoch) < 0:
        raise ValueError(f"seed and epoch must be >= 0, got {seed}, {epoch}")
    return np.random.SeedSequence([int(seed), int(epoch), codes[split], 0xE3])


def modality_dropout_inputs(left, right, rng, levels=(0, 30, 50, 70), kind: str = "pixels"):
    """One draw of E3's training distribution over a set of examples.

    left, right: (N, 392) float arrays, the clean halves (not changed). Each example independently
    gets one of :data:`DROPOUT_INPUTS` (probability 1/3 each) and a right-half damage level from
    ``levels`` (uniformly); the damage masks of ``kind`` are drawn per level group (each example of
    a group its own mask, :func:`dmf_np.data.damage.damage_mask`). Draw order from ``rng``: the
    inputs (N,), the level indices (N,), then one mask per level > 0 in the order of ``levels``.
    Returns (left', right', draw): the new halves (copies, on the inputs' backend and dtype) and
    draw = {"inputs": (N,) int index into DROPOUT_INPUTS, "levels": (N,) int damage in percent}.
    A zeroed right half is zero whatever its level.
    """
    if tuple(left.shape) != tuple(right.shape) or left.ndim != 2:
        raise ValueError(f"left and right halves must be (N, D) arrays of one shape, got {left.shape}, {right.shape}")
    if not levels:
        raise ValueError("levels must name at least one damage level")
    xp = backend.array_module(left)
    host_left, host_right = backend.to_host(left), backend.to_host(right)
    n = host_left.shape[0]
    inputs = rng.integers(0, len(DROPOUT_INPUTS), n)
    drawn = np.asarray(levels, dtype=np.int64)[rng.integers(0, len(levels), n)]
    new_right = host_right.copy()
    for level in levels:
        rows = np.flatnonzero(drawn == level)
        if level == 0 or rows.size == 0:
            continue
        new_right[rows] = apply_mask(new_right[rows], damage_mask(rows.size, level, kind, rng))
    new_left = host_left.copy()
    new_left[inputs == 1] = 0
    new_right[inputs == 2] = 0
    dtype = left.dtype
    return (backend.to_device(new_left, xp, dtype), backend.to_device(new_right, xp, dtype),
            {"inputs": inputs, "levels": drawn})


def dropout_epochs(train: Split, seed: int, plan: E3Plan, timer: dict | None = None):
    """``epoch_inputs`` for :func:`dmf_np.train.fit_classifier`: epoch e's inputs are
    :func:`modality_dropout_inputs` of the (clean) training split under ``dropout_seed(seed, e)``:
    a function of (seed, epoch) only, so a resumed run and every model of a seed see the same draws.
    ``timer``, if given, accumulates the seconds spent drawing under "draws"."""
    def epoch_inputs(epoch: int) -> list:
        t0 = time.time()
        rng = np.random.default_rng(dropout_seed(seed, epoch, "train"))
        left, right, _ = modality_dropout_inputs(train.left, train.right, rng, plan.train_levels, plan.kind)
        if timer is not None:
            timer["draws"] = timer.get("draws", 0.0) + time.time() - t0
        return [left, right]
    return epoch_inputs


def validation_draw(val: Split, plan: E3Plan) -> Split:
    """The validation split under ONE fixed draw of the training distribution (``plan.val_draw_seed``):
    what tuning scores, identical for every model, rate and seed."""
    rng = np.random.default_rng(dropout_seed(plan.val_draw_seed, 0, "val"))
    left, right, _ = modality_dropout_inputs(val.left, val.right, rng, plan.train_levels, plan.kind)
    return Split(left, right, val.labels)


# --- units ---------------------------------------------------------------------------------------

def _e3_unit_dir(model: str, seed: int, lr: float) -> tuple:
    return ("dropout", model, f"seed{seed}", f"lr{lr:g}")


def _val(result):
    return None if result is None or "final" not in result else result["final"]["val_error"]


# --- decision rules ------------------------------------------------------------------------------

def e3_rule(dmf_errors, imf_errors, need: int = 4) -> dict:
    """docs/claims.md's E3 rule at one level, over paired seeds (Right-only test errors, (seeds,) each).

    DMF *beats* IMF if its error is strictly below IMF's in at least ``need`` seeds AND mean(IMF - DMF)
    exceeds the seed spread = max(sample std of DMF, sample std of IMF) (ddof 1). ``mirrored``: IMF
    beats DMF by the same rule (strictly below in ``need`` seeds and mean(DMF - IMF) > spread).
    A tie counts for neither.
    """
    d, i = np.asarray(dmf_errors, float), np.asarray(imf_errors, float)
    if d.ndim != 1 or d.shape != i.shape or d.size < 2:
        raise ValueError(f"need paired (seeds,) errors with at least 2 seeds; got {d.shape} and {i.shape}")
    spread = float(max(d.std(ddof=1), i.std(ddof=1)))
    diff = float(np.mean(i - d))
    dmf_below, imf_below = int((d < i).sum()), int((i < d).sum())
    return {"seeds": int(d.size), "dmf_below": dmf_below, "imf_below": imf_below,
            "mean_imf_minus_dmf": diff, "spread": spread,
            "beats": dmf_below >= need and diff > spread,
            "mirrored": imf_below >= need and -diff > spread}


def c3_verdict(rules: dict, levels, complete: bool, need_levels: int = 3, at_edge: bool = False) -> dict:
    """C3's verdict from :func:`e3_rule` per level ({"<level>": rule}).

    'inconclusive' if the run is not ``complete`` (fewer finished paired seeds than planned) or a rate
    of the compared models is still at the low edge of the grid (``at_edge``); 'supported' if DMF beats
    IMF at 0% and at ``need_levels`` or more of ``levels`` (0% among them); 'reversed' if IMF beats DMF
    (the mirrored rule) at ``need_levels`` or more; 'not supported' otherwise.
    """
    keys = [str(lv) for lv in levels]
    beats = [k for k in keys if k in rules and rules[k]["beats"]]
    mirrored = [k for k in keys if k in rules and rules[k]["mirrored"]]
    if not complete or any(k not in rules for k in keys):
        verdict, why = "inconclusive", "fewer finished paired seeds than planned"
    elif at_edge:
        verdict, why = "inconclusive", "a chosen rate is still at the low edge of the grid"
    elif "0" in beats and len(beats) >= need_levels:
        verdict, why = "supported", f"DMF beats IMF at 0% and at {len(beats)} of {len(keys)} levels"
    elif len(mirrored) >= need_levels:
        verdict, why = "reversed", f"IMF beats DMF at {len(mirrored)} of {len(keys)} levels"
    else:
        verdict, why = "not supported", (f"DMF beats IMF at {len(beats)} levels ({', '.join(beats) or 'none'}), "
                                         f"IMF beats DMF at {len(mirrored)}")
    return {"verdict": verdict, "beats_at": beats, "imf_beats_at": mirrored, "why": why}


def ahead_counts(dmf_errors, others: dict, need: int = 4) -> dict:
    """E1's "ahead" counts on Left+Right errors (reported only): for each baseline in ``others``
    ({name: (seeds,) errors}) the seeds where DMF is strictly below it and where it is strictly below
    DMF; "ahead": DMF below every baseline in ``need`` seeds each; "<name>_ahead": the mirrored count."""
    d = np.asarray(dmf_errors, float)
    out = {"seeds": int(d.size)}
    for name, values in others.items():
        b = np.asarray(values, float)
        if b.shape != d.shape:
            raise ValueError(f"{name}: {b.shape} errors against DMF's {d.shape}: the seeds must pair")
        out[f"below_{name}"] = int((d < b).sum())
        out[f"{name}_below"] = int((b < d).sum())
        out[f"{name}_ahead"] = out[f"{name}_below"] >= need
    out["ahead"] = bool(others) and all(out[f"below_{name}"] >= need for name in others)
    return out


# --- summary and tables --------------------------------------------------------------------------

def _finished(rd, plan: E3Plan, model: str, lr) -> list:
    """[(seed, result)] of the finished units of ``model`` at rate ``lr``, in seed order."""
    if lr is None:
        return []
    rs = [(s, rd.result(*_e3_unit_dir(model, s, lr))) for s in plan.seeds]
    return [(s, r) for s, r in rs if r is not None and "final" in r]


def e3_summary(rd, plan: E3Plan, chosen: dict, grids: dict) -> dict:
    """e3.json: {"models": {model: {"train_loss": {"mean": [epochs], "seeds"}, "val_error": {"mean",
    "seeds"}, "left+right": {"<level>": cell}, "right": {"<level>": cell}, "seconds": cell, "lr"}},
    "rule": {"<level>": :func:`e3_rule`} for ``plan.judged``, "ahead": {"<level>": :func:`ahead_counts`},
    "verdict": {"C3": ..., "model", ...}, "variants": the same rule and verdict for any other DMF model,
    "tuning": {"chosen_lr", "grids", "val_error"}}; cell = runner.cell (mean, std ddof 1, seeds, values).
    Finished units only; rules need every planned seed of both models."""
    val = {m: {f"{lr:g}": _val(rd.result(*_e3_unit_dir(m, plan.seeds[0], lr))) for lr in grids.get(m, [])}
           for m in plan.models}
    out = {"models": {}, "rule": {}, "ahead": {}, "verdict": {}, "variants": {},
           "tuning": {"chosen_lr": chosen, "grids": grids, "val_error": val, "seed": plan.seeds[0]}}
    runs = {m: _finished(rd, plan, m, chosen.get(m)) for m in plan.models}
    for m, rs in runs.items():
        if not rs:
            continue
        results = [r for _, r in rs]
        entry = {"lr": chosen[m], "seeds": [s for s, _ in rs]}
        for key in ("train_loss", "val_error"):
            curves = np.array([r["history"][key] for r in results], float)
            entry[key] = {"mean": curves.mean(axis=0).tolist(), "seeds": len(results)}
        for c in CONDITIONS:
            entry[c] = {str(lv): cell([r["final"]["test"][c][str(lv)] for r in results]) for lv in plan.test_levels}
        entry["seconds"] = cell([r["seconds"]["finetune"] for r in results])
        out["models"][m] = entry
    rule_models = [plan.judged] + [m for m in plan.models if E1_MODELS[m][0] == "dmf" and m != plan.judged]
    for m in rule_models:
        rules, ahead = {}, {}
        paired = len(runs[m]) == len(runs["imf"]) == len(plan.seeds) and len(plan.seeds) >= 2
        if paired:
            for lv in map(str, plan.test_levels):
                rules[lv] = e3_rule([r["final"]["test"]["right"][lv] for _, r in runs[m]],
                                    [r["final"]["test"]["right"][lv] for _, r in runs["imf"]], plan.need_seeds)
                others = {b: [r["final"]["test"]["left+right"][lv] for _, r in runs[b]]
                          for b in ("imf", "emf") if b in plan.models and len(runs[b]) == len(plan.seeds)}
                ahead[lv] = ahead_counts([r["final"]["test"]["left+right"][lv] for _, r in runs[m]], others,
                                         plan.need_seeds)
        at_edge = any(chosen.get(b) == min(plan.edge_grid) for b in (m, "imf"))
        verdict = c3_verdict(rules, plan.test_levels, paired, plan.need_levels, at_edge)
        if m == plan.judged:
            out["rule"], out["ahead"] = rules, ahead
            out["verdict"] = {"C3": verdict["verdict"], "model": m, **verdict}
        else:
            out["variants"][m] = {"rule": rules, "ahead": ahead, "verdict": verdict}
    return out


def _pm(cell) -> str:
    return f"{cell['mean']:.2f} ± {cell['std']:.2f}" if cell["seeds"] > 1 else f"{cell['mean']:.2f}"


def _label(model: str) -> str:
    """'emf' -> 'EMF', 'dmf-A' -> 'DMF-A': the tables' spelling."""
    return model.upper() if model in ("emf", "imf") else model.replace("dmf", "DMF").replace("imf", "IMF")


def e3_markdown(summary: dict) -> str:
    """The E3 tables for docs/claims.md: test errors by input and level, the C3 rule level by level,
    the Left+Right "ahead" counts, training curves and seconds, tuning and the verdict."""
    models = summary["models"]
    levels = sorted({lv for e in models.values() for lv in e["left+right"]}, key=int)
    head = " | ".join(f"{lv}%" for lv in levels)
    lines = []
    for c, title in (("left+right", "Left+Right"), ("right", "Right-only (left half zeroed)")):
        lines += [f"**{title} test error (%)**, test-only damage of the right half (mean ± sample std over seeds)",
                  "", f"| model | seeds | rate | {head} |", "|---|---|---|" + "---|" * len(levels)]
        for m, e in models.items():
            cells = " | ".join(_pm(e[c][lv]) for lv in levels)
            lines.append(f"| {_label(m)} | {e[c][levels[0]]['seeds']} | {e['lr']:g} | {cells} |")
        lines.append("")
    v = summary.get("verdict", {})
    judged = _label(v.get("model", "dmf"))
    if summary.get("rule"):
        lines += [f"**C3 rule, Right-only, {judged} against IMF** (seeds with the lower error; spread = larger "
                  "sample std of the two)", "",
                  f"| level | {judged} below IMF | IMF below {judged} | mean IMF − {judged} | spread "
                  f"| {judged} beats IMF | IMF beats {judged} |", "|---|---|---|---|---|---|---|"]
        for lv, r in summary["rule"].items():
            lines.append(f"| {lv}% | {r['dmf_below']} of {r['seeds']} | {r['imf_below']} of {r['seeds']} "
                         f"| {r['mean_imf_minus_dmf']:+.2f} | {r['spread']:.2f} | {'yes' if r['beats'] else 'no'} "
                         f"| {'yes' if r['mirrored'] else 'no'} |")
        lines.append("")
    if summary.get("ahead"):
        lines += ["**Left+Right, E1's \"ahead\" counts (reported only)**", "",
                  f"| level | {judged} below IMF | below EMF | {judged} ahead | IMF ahead | EMF ahead |",
                  "|---|---|---|---|---|---|"]
        for lv, a in summary["ahead"].items():
            lines.append(f"| {lv}% | {a.get('below_imf', '-')} of {a['seeds']} | {a.get('below_emf', '-')} of "
                         f"{a['seeds']} | {'yes' if a['ahead'] else 'no'} | {'yes' if a.get('imf_ahead') else 'no'} "
                         f"| {'yes' if a.get('emf_ahead') else 'no'} |")
        lines.append("")
    lines += ["**Training with modality dropout** (seed means; loss = mean minibatch cross-entropy on the "
              "epoch's draw; validation error on the one fixed draw)", "",
              "| model | loss ep. 1 | ep. 5 | ep. 10 | last | validation error % (last) | fine-tuning s |",
              "|---|---|---|---|---|---|---|"]
    for m, e in models.items():
        loss = e["train_loss"]["mean"]
        at = [f"{loss[i]:.4f}" if i < len(loss) else "-" for i in (0, 4, 9)]
        lines.append(f"| {_label(m)} | " + " | ".join(at) + f" | {loss[-1]:.5f} | {e['val_error']['mean'][-1]:.2f} "
                     f"| {e['seconds']['mean']:.0f} |")
    t = summary["tuning"]
    lines += ["", f"Rates chosen on seed {t['seed']}'s validation error: "
              + ", ".join(f"{m} {lr:g}" for m, lr in t["chosen_lr"].items())
              + " (grid scores: " + "; ".join(f"{m}: " + ", ".join(f"{lr} → {'diverged' if e is None else f'{e:.2f}%'}"
                                                                for lr, e in by.items())
                                              for m, by in t["val_error"].items()) + ")."]
    if v:
        lines += ["", f"**C3 ({judged}): {v['C3']}**: {v['why']}."]
    for m, var in summary.get("variants", {}).items():
        lines += [f"{_label(m)}: {var['verdict']['verdict']} ({var['verdict']['why']})."]
    return "\n".join(lines) + "\n"


__all__ = ["DROPOUT_INPUTS", "E3Plan", "dropout_seed", "modality_dropout_inputs", "dropout_epochs",
           "validation_draw", "e3_rule", "c3_verdict", "ahead_counts", "e3_summary",
           "e3_markdown"]
