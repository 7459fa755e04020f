"""The first round's E1-E3 (docs/claims.md) as plans on the runner, from the study's units.

Each first-round unit is a :class:`.study_units.Train` (E1, E2) or :class:`.study_units.DropoutTrain`
(E3) stored under its first-round path (``d0/dmf-A/seed0/lr1``, ``L3/imf/seed0/lr0.5-m0.9``,
``dropout/imf/seed0/lr1``) with its first-round result keys, so the summaries and the committed
results read the same way. Their numbers are the first round's bit for bit (tests/test_study_round2.py).
Tuning is round 1's: each model's grid on seed 0 with the downward edge rule (E1, E3), or the seed-0 grid
of settings and each depth's common loss, fixed before the other seeds (E2).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from .. import errors
from .mnist import MnistHalves
from .rundir import RunDir
from .runner import run_plan
from .study import E1_MODELS, E1Plan, cd_config, e1_summary
from .study_e2 import E2Plan, _unit_dir, e2_summary, fixed_choices
from .study_e3 import E3Plan, e3_summary
from .study_rules import edge_tuning
from .study_units import Data, DropoutTrain, Net, Start, Train


def _start(plan, model: str, seed: int, level: int) -> Start:
    """E1's pretrained network of (model, seed, level): the variant's CD pretraining at the preset's sizes."""
    scheme, variant = E1_MODELS[model]
    p = plan.preset
    return Start(Net(scheme, p.modality_hidden, p.shared_sizes), variant, seed, Data(p.n_train, p.n_val, p.n_test),
                 level, cd_config(p), stats_rows=plan.stats_rows)


@dataclass(frozen=True)
class E1Unit(Train):
    """E1's unit: fine-tuning a pretraining variant, paths logged per epoch (no per-epoch layer stats)."""

    model: str = ""

    @property
    def path(self) -> tuple:
        return (f"d{self.start.level}", self.model, f"seed{self.start.seed}", f"lr{self.lr:g}")

    def run(self, ctx, unit_dir_, inputs) -> dict:
        v = super().run(ctx, unit_dir_, inputs)
        return {"unit": list(self.path[:3]), "lr": self.lr, **v, "layer_stats": inputs[self.start]["layer_stats"]}


@dataclass(frozen=True)
class E2Unit(Train):
    """E2's unit: LSUV, then a constant rate for ``epochs`` (``model``, ``depth`` name its path)."""

    model: str = ""
    depth: int = 3

    @property
    def path(self) -> tuple:
        return _unit_dir(self.depth, self.model, self.start.seed, self.lr, self.momentum)

    def run(self, ctx, unit_dir_, inputs) -> dict:
        v = super().run(ctx, unit_dir_, inputs)
        return {"unit": list(self.path), "lr": self.lr, "momentum": self.momentum, **v,
                "lsuv": inputs[self.start]["lsuv"],
                "final": {**v["final"], "train_loss": v["history"]["train_loss"][-1]}}


@dataclass(frozen=True)
class E3Unit(DropoutTrain):
    """E3's unit: E1's clean pretrained network fine-tuned on modality-dropout draws."""

    model: str = ""

    @property
    def path(self) -> tuple:
        return ("dropout", self.model, f"seed{self.start.seed}", f"lr{self.lr:g}")

    def run(self, ctx, unit_dir_, inputs) -> dict:
        t0 = time.time()
        v = super().run(ctx, unit_dir_, inputs)
        return {"unit": list(self.path), "lr": self.lr, **v, "layer_stats": inputs[self.start]["layer_stats"],
                "seconds": {"finetune": time.time() - t0, **v["seconds"]}}


def e1_unit(plan: E1Plan, level: int, model: str, seed: int, lr: float) -> E1Unit:
    p = plan.preset
    return E1Unit(_start(plan, model, seed, level), lr, epochs=p.finetune_epochs, momentum=p.momentum,
                  lr_decay=p.lr_decay, weight_decay=p.weight_decay, batch_size=p.batch_size,
                  path_rows=plan.path_rows, epoch_stats=False, model=model)


def e2_unit(plan: E2Plan, depth: int, model: str, seed: int, lr: float, momentum: float) -> E2Unit:
    p, arch = plan.preset, plan.architecture(model, depth)
    hidden = tuple(arch.modality_sizes[0][1:])
    start = Start(Net(model, hidden, tuple(arch.shared_sizes)), "lsuv", seed, Data(p.n_train, p.n_val, p.n_test),
                  0, None, init_rows=plan.init_rows)
    return E2Unit(start, lr, epochs=plan.epochs, momentum=momentum, lr_decay=1.0, weight_decay=0.0,
                  batch_size=p.batch_size, path_rows=plan.path_rows, epoch_stats=False, model=model, depth=depth)


def e3_unit(plan: E3Plan, model: str, seed: int, lr: float) -> E3Unit:
    p = plan.preset
    return E3Unit(_start(plan, model, seed, 0), lr, epochs=p.finetune_epochs, momentum=p.momentum,
                  lr_decay=p.lr_decay, weight_decay=p.weight_decay, batch_size=p.batch_size,
                  train_levels=plan.train_levels, test_levels=plan.test_levels, val_draw_seed=plan.val_draw_seed,
                  model=model)


def tuned(unit_at, plan, model: str, done: dict) -> tuple:
    """(grid in round 1's order: the plan's, then each added rate; chosen rate or None) by the edge rule."""
    def score(lr):
        r = done.get(unit_at(model, lr))
        return ... if r is None else (None if r.diverged else r["final"]["val_error"])
    rates, best = edge_tuning(score, plan.lr_grid, plan.edge_grid)
    return [*plan.lr_grid, *sorted((r for r in rates if r not in plan.lr_grid), reverse=True)], best


def e1_plan(plan: E1Plan):
    def units(done: dict) -> list:
        out = []
        for m in plan.models:
            grid, best = tuned(lambda m, lr: e1_unit(plan, 0, m, plan.seeds[0], lr), plan, m, done)
            out += [e1_unit(plan, 0, m, plan.seeds[0], lr) for lr in grid]
            if best is not None:
                out += [e1_unit(plan, d, m, s, best) for d in plan.levels for s in plan.seeds]
        return out
    return units


def e3_plan(plan: E3Plan):
    def units(done: dict) -> list:
        out = []
        for m in plan.models:
            grid, best = tuned(lambda m, lr: e3_unit(plan, m, plan.seeds[0], lr), plan, m, done)
            out += [e3_unit(plan, m, plan.seeds[0], lr) for lr in grid]
            if best is not None:
                out += [e3_unit(plan, m, s, best) for s in plan.seeds]
        return out
    return units


def e2_plan(plan: E2Plan, rd: RunDir):
    """The seed-0 grid of settings; once all of it has finished, the best settings (fixed in
    e2_common.json) on the other seeds."""
    grid = [e2_unit(plan, L, m, plan.seeds[0], lr, mom) for L in plan.depths for m in plan.models
            for lr, mom in plan.settings()]

    def units(done: dict) -> list:
        if not all(u in done for u in grid):
            return grid
        best = fixed_choices(rd, plan)["best"]
        return grid + [e2_unit(plan, L, m, s, *best[str(L)][m]) for L in plan.depths for m in plan.models
                       for s in plan.seeds[1:] if best[str(L)][m] is not None]
    return units


def _run(mnist, out, plan, units_of, jobs, scheduler, log):
    """Open the run directory under the plan's protocol, run its units, and give it back."""
    from .mnist import Options, context  # noqa: PLC0415 (context reads the preset's data sizes)

    rd = RunDir(out)
    rd.start(plan.protocol(), units_blas_threads=1)  # every unit: one BLAS thread
    try:
        ctx = context(mnist, out, Options(plan.preset))
        done = run_plan(units_of(rd), ctx, jobs=jobs, scheduler=scheduler, log=log or rd.log)
        return rd, done
    finally:
        rd.release()


def _final(done: dict, tuning_units: set) -> None:
    """A final unit that diverged ends the run (a tuning unit that diverges only loses the tuning)."""
    failed = [u for u, r in done.items() if r.diverged and u not in tuning_units and isinstance(u, Train)]
    if failed:
        raise errors.DivergenceError(f"{'/'.join(failed[0].path)}: {done[failed[0]].diverged}")


def run_e1(mnist, out, plan: E1Plan | None = None, jobs: int = 1, scheduler=None, log=None) -> dict:
    """Run (or resume) E1 in ``out``; writes and returns ``e1.json`` (:func:`.study.e1_summary`)."""
    plan = plan or E1Plan()
    rd, done = _run(mnist, out, plan, lambda rd: e1_plan(plan), jobs, scheduler, log)
    grids = {m: tuned(lambda m, lr: e1_unit(plan, 0, m, plan.seeds[0], lr), plan, m, done) for m in plan.models}
    _final(done, {e1_unit(plan, 0, m, plan.seeds[0], lr) for m, (g, _) in grids.items() for lr in g})
    summary = e1_summary(rd, plan, {m: b for m, (_, b) in grids.items()}, {m: g for m, (g, _) in grids.items()})
    rd.write_metrics(summary, "e1.json")
    return summary


def run_e2(mnist, out, plan: E2Plan | None = None, jobs: int = 1, scheduler=None, log=None) -> dict:
    """Run (or resume) E2 in ``out``; writes and returns ``e2.json`` (:func:`.study_e2.e2_summary`). A
    diverged unit is recorded, not raised: the grid's large rates may diverge."""
    plan = plan or E2Plan()
    rd, _ = _run(mnist, out, plan, lambda rd: e2_plan(plan, rd), jobs, scheduler, log)
    summary = e2_summary(rd, plan)
    rd.write_metrics(summary, "e2.json")
    return summary


def run_e3(mnist, out, plan: E3Plan | None = None, jobs: int = 1, scheduler=None, log=None) -> dict:
    """Run (or resume) E3 in ``out``; writes and returns ``e3.json`` (:func:`.study_e3.e3_summary`)."""
    plan = plan or E3Plan()
    rd, done = _run(mnist, out, plan, lambda rd: e3_plan(plan), jobs, scheduler, log)
    grids = {m: tuned(lambda m, lr: e3_unit(plan, m, plan.seeds[0], lr), plan, m, done) for m in plan.models}
    _final(done, {e3_unit(plan, m, plan.seeds[0], lr) for m, (g, _) in grids.items() for lr in g})
    summary = e3_summary(rd, plan, {m: b for m, (_, b) in grids.items()}, {m: g for m, (g, _) in grids.items()})
    rd.write_metrics(summary, "e3.json")
    return summary


__all__ = ["E1Unit", "E2Unit", "E3Unit", "e1_unit", "e2_unit", "e3_unit", "e1_plan", "e2_plan", "e3_plan",
           "run_e1", "run_e2", "run_e3", "MnistHalves"]
