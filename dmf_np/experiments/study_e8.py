"""E8, power for C2 and C3 (docs/protocol_round2.md, "E8"): 15 paired seeds, exact paired tests.

* **c2**: EMF, IMF and DMF*2 (the near-tie choice over round 1's E1 variants: DMF-B) as U1 units at
  rate 1, at 0% and 70% damage; the error is Left+Right test error at the unit's level.
* **c3**: EMF, IMF and DMF*3 (chosen from E9) as U3 units (modality dropout); the error is Right-only
  test error at test damage 0% and 70%.

Each (claim, level, comparator) is a :func:`.study_rules.paired_comparison`: exact Wilcoxon on per-seed
error, exact McNemar on pooled per-image correctness, bootstrap CIs, margin in images.
"""
from __future__ import annotations

import io
import json
import tarfile
from functools import lru_cache
from pathlib import Path

from .mnist import PRESETS
from .study import cd_config
from .study_rules import ahead, behind, near_tie_choice, paired_comparison
from .study_units import Data, DropoutTrain, Net, Start, Train, unpack_correct

SEEDS = tuple(range(15))
LEVELS = (0, 70)
RESULTS = Path(__file__).resolve().parents[2] / "results"
VARIANT = {"dmf-A": "A", "dmf-B": "B", "dmf-B'": "B'", "dmf-C": "C"}


@lru_cache(maxsize=None)
def committed(experiment: str) -> dict:
    """Round 1's committed units of ``experiment`` ('e1', 'e3'): {path inside the run: result}."""
    out = {}
    with tarfile.open(RESULTS / f"study-{experiment}-units.tar.gz") as tar:
        for m in tar.getmembers():
            if m.name.endswith("result.json"):
                out[m.name.split("/", 2)[2]] = json.load(io.TextIOWrapper(tar.extractfile(m)))
    return out


def dmf_star2() -> dict:
    """DMF*2 by the near-tie rule over round 1's E1 units: validation errors of seeds 0-4 x 0%, 70%."""
    units = committed("e1")
    rates = json.loads(tarfile.open(RESULTS / "study-e1-units.tar.gz").extractfile("study-e1/e1.json").read())
    chosen = rates["tuning"]["chosen_lr"]
    errors = {VARIANT[m]: [units[f"d{d}/{m}/seed{s}/lr{chosen[m]:g}/result.json"]["final"]["val_error"]
                           for d in LEVELS for s in range(5)] for m in VARIANT}
    return near_tie_choice(errors)


def start(scheme: str, recipe: str, seed: int, level: int, preset) -> Start:
    net = Net(scheme, preset.modality_hidden, preset.shared_sizes)
    return Start(net, recipe, seed, Data(preset.n_train, preset.n_val, preset.n_test), level, cd_config(preset))


def c2_units(seed: int, level: int, preset=PRESETS["paper"], variant: str = "B") -> dict:
    """The three U1 units of one (seed, level) at rate 1."""
    def u1(scheme, recipe):
        return Train(start(scheme, recipe, seed, level, preset), 1.0, epochs=preset.finetune_epochs,
                     momentum=preset.momentum, lr_decay=preset.lr_decay, weight_decay=preset.weight_decay,
                     batch_size=preset.batch_size)
    return {"emf": u1("emf", "A"), "imf": u1("imf", "A"), "dmf": u1("dmf", variant)}


def c3_units(seed: int, preset=PRESETS["paper"], variant: str = "A", dmf_rate: float = 0.3) -> dict:
    """The three U3 units of one seed: EMF and IMF at rate 1, DMF*3 at its E3/E9 rate."""
    def u3(scheme, recipe, lr):
        return DropoutTrain(start(scheme, recipe, seed, 0, preset), lr, epochs=preset.finetune_epochs,
                            momentum=preset.momentum, lr_decay=preset.lr_decay, weight_decay=preset.weight_decay,
                            batch_size=preset.batch_size)
    return {"emf": u3("emf", "A", 1.0), "imf": u3("imf", "A", 1.0), "dmf": u3("dmf", variant, dmf_rate)}


def plan(part: str, preset=PRESETS["paper"], seeds=SEEDS, **choice):
    """E8's part 'c2' or 'c3' for :func:`.runner.run_plan` (``choice``: the DMF variant and rate)."""
    if part == "c2":
        units = [u for s in seeds for d in LEVELS for u in c2_units(s, d, preset, **choice).values()]
    else:
        units = [u for s in seeds for u in c3_units(s, preset, **choice).values()]
    return lambda done: units


def comparisons(results: dict, condition: str, level: int, n_test: int) -> dict:
    """DMF against IMF and EMF at one level; ``results``: {model: [Result per seed]}."""
    def err(r):
        t = r["final"]["test"][condition]
        return t[str(level)] if isinstance(t, dict) else t

    def correct(r):
        c = r["final"]["correct"][condition]
        return unpack_correct(c[str(level)] if isinstance(c, dict) else c, n_test)

    dmf = results["dmf"]
    return {x: paired_comparison([err(r) for r in dmf], [err(r) for r in results[x]],
                                 [correct(r) for r in dmf], [correct(r) for r in results[x]]) for x in ("imf", "emf")}


def verdict(by_level: dict, complete: bool) -> str:
    """Supported if DMF is ahead of IMF and EMF at every level; reversed if one comparator is ahead of DMF
    at every level; inconclusive if a seed is missing or a comparator diverged."""
    if not complete:
        return "inconclusive"
    if all(ahead(c) for cmp in by_level.values() for c in cmp.values()):
        return "supported"
    if any(all(behind(cmp[x]) for cmp in by_level.values()) for x in ("imf", "emf")):
        return "reversed"
    return "not supported"


def summary(done: dict, part: str, preset=PRESETS["paper"], seeds=SEEDS, **choice) -> dict:
    """The part's comparisons at 0% and 70%, and its verdict (C2 or C3, round 2)."""
    condition = "left+right" if part == "c2" else "right"
    by_level, complete = {}, True
    for d in LEVELS:
        units = [c2_units(s, d, preset, **choice) if part == "c2" else c3_units(s, preset, **choice) for s in seeds]
        results = {m: [done.get(u[m]) for u in units] for m in ("emf", "imf", "dmf")}
        if any(r is None or r.diverged for rs in results.values() for r in rs):
            complete = False
            continue
        by_level[str(d)] = comparisons(results, condition, d, preset.n_test or 10_000)
    return {"comparisons": by_level, "verdict": verdict(by_level, complete), "seeds": len(seeds)}
