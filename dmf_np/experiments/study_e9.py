"""E9, E3 completed (docs/protocol_round2.md, "E9"): DMF-B and DMF-B' under modality-dropout training.

Both are U3 units (:class:`.study_units.DropoutTrain`) from E1's clean pretrained networks (B' starts
from that seed's IMF), tuned by E3's rule (grid {0.3, 1, 3} on seed 0 under the fixed validation draw,
the downward edge rule) and run on seeds 0-4. The comparator is round 1's committed E3 IMF; the rule
is round 1's E3 rule per variant (:func:`.study_e3.e3_rule`, :func:`.study_e3.c3_verdict`).
"""
from __future__ import annotations

from .mnist import PRESETS
from .study_e3 import c3_verdict, e3_rule
from .study_e8 import committed, start
from .study_rules import edge_tuning
from .study_units import DropoutTrain

VARIANTS = ("B", "B'")
SEEDS = tuple(range(5))
GRID, EDGE_GRID = (0.3, 1.0, 3.0), (0.03, 0.1, 0.3, 1.0, 3.0)
LEVELS = (0, 30, 50, 70)
IMF_RATE = 1.0   # round 1's E3 IMF rate (committed units)


def unit(variant: str, seed: int, lr: float, preset=PRESETS["paper"]) -> DropoutTrain:
    return DropoutTrain(start("dmf", variant, seed, 0, preset), lr, epochs=preset.finetune_epochs,
                        momentum=preset.momentum, lr_decay=preset.lr_decay, weight_decay=preset.weight_decay,
                        batch_size=preset.batch_size)


def tuning(variant: str, done: dict, preset) -> tuple:
    """(rates tried so far, chosen rate or None) by E3's rule."""
    def score(lr):
        r = done.get(unit(variant, SEEDS[0], lr, preset))
        return ... if r is None else (None if r.diverged else r["final"]["val_error"])
    return edge_tuning(score, GRID, EDGE_GRID)


def plan(preset=PRESETS["paper"]):
    """E9 for :func:`.runner.run_plan`: each variant's grid on seed 0, then its seeds at the chosen rate."""
    def units(done: dict) -> list:
        out = []
        for v in VARIANTS:
            rates, chosen = tuning(v, done, preset)
            out += [unit(v, SEEDS[0], lr, preset) for lr in rates]
            if chosen is not None:
                out += [unit(v, s, chosen, preset) for s in SEEDS[1:]]
        return out
    return units


def summary(done: dict, preset=PRESETS["paper"]) -> dict:
    """Per variant: its rate, Right-only errors per level and seed, E3's rule against round 1's IMF, and
    the verdict "C3 (DMF-B)" / "C3 (DMF-B')"."""
    imf = [committed("e3")[f"dropout/imf/seed{s}/lr{IMF_RATE:g}/result.json"] for s in SEEDS]
    out = {}
    for v in VARIANTS:
        rates, chosen = tuning(v, done, preset)
        runs = [done.get(unit(v, s, chosen, preset)) for s in SEEDS] if chosen is not None else [None]
        complete = all(r is not None and not r.diverged for r in runs)
        rules = {}
        if complete:
            for d in LEVELS:
                rules[str(d)] = e3_rule([r["final"]["test"]["right"][str(d)] for r in runs],
                                        [i["final"]["test"]["right"][str(d)] for i in imf])
        at_edge = chosen is not None and chosen == min(EDGE_GRID)
        out[v] = {"rates": rates, "chosen": chosen, "rules": rules,
                  "val_errors": [r["final"]["val_error"] for r in runs] if complete else None,
                  **c3_verdict(rules, LEVELS, complete, at_edge=at_edge)}
    return out
