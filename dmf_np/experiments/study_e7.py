"""E7, E2's optimiser protocol (docs/protocol_round2.md, "E7"): is "DMF leaves the plateau first" (PL)
a learning-rate or initialisation effect, and does C1b hold in every reading?

U2 units (no pretraining; LSUV, Glorot gain 4 = ``init_params`` or gain 1; constant rate, momentum 0.9,
10 epochs, clean data) of EMF, IMF and DMF at round 1's E2 sizes, seeds 0-4 at **every** rate of the
grid, which grows by the ladder while a model's best rate sits at an edge (at most 2 rates a side).
Readings per (init, depth): each model at its own best rate, and every common rate at which DMF and
IMF both train.
"""
from __future__ import annotations

import numpy as np

from .mnist import PRESETS
from .study_e2 import DEPTHS
from .study_rules import curve, epochs_to, faster, needed, several_readings
from .study_units import Data, Net, Start, Train

MODELS, SEEDS = ("emf", "imf", "dmf"), tuple(range(5))
PARTS = {"lsuv": (("lsuv", 3), ("lsuv", 5)), "gains": (("glorot1", 5), ("glorot4", 5))}
GRIDS = {"lsuv": (0.1, 0.15, 0.2, 0.3, 0.5, 0.7), "glorot1": (0.1, 0.2, 0.3, 0.5), "glorot4": (0.1, 0.2, 0.3, 0.5)}
LADDER = (0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0, 1.4, 2.0)


def u2(net: Net, init: str, seed: int, lr: float, preset=PRESETS["paper"], epochs: int = 10) -> Train:
    """Round 1's E2 unit (bit for bit with ``init='lsuv'``): a start without pretraining, then a constant
    rate with momentum 0.9 for 10 epochs."""
    start = Start(net, init, seed, Data(preset.n_train, preset.n_val, preset.n_test), 0, None)
    return Train(start, lr, epochs=epochs, momentum=0.9, lr_decay=1.0, weight_decay=0.0,
                 batch_size=preset.batch_size)


def net(model: str, depth: int) -> Net:
    hidden, shared = DEPTHS[depth]
    return Net(model, hidden, shared)


def val_means(init, depth, rates, done, preset) -> dict:
    """{model: {rate: 5-seed mean final validation error}}; a rate with a diverged seed is left out;
    None where some seed has not finished."""
    out = {}
    for m in MODELS:
        out[m] = {}
        for lr in rates:
            rs = [done.get(u2(net(m, depth), init, s, lr, preset)) for s in SEEDS]
            if any(r is None for r in rs):
                return None
            if not any(r.diverged for r in rs):
                out[m][lr] = float(np.mean([r["final"]["val_error"] for r in rs]))
    return out


def grid(init: str, depth: int, done: dict, preset) -> dict:
    """The (init, depth) grid after the edge rule, each model's best rate and whether one is at an edge."""
    rates, added = list(GRIDS[init]), {"low": 0, "high": 0}
    while True:
        means = val_means(init, depth, rates, done, preset)
        if means is None:
            return {"rates": rates, "best": None, "at_edge": None}
        best = {m: min(sorted(v), key=v.get) if v else None for m, v in means.items()}
        low = any(b == min(rates) for b in best.values()) and added["low"] < 2 and LADDER.index(min(rates)) > 0
        high = any(b == max(rates) for b in best.values()) and added["high"] < 2 and max(rates) < LADDER[-1]
        if not (low or high):
            edge = any(b in (min(rates), max(rates)) or b is None for b in best.values())
            return {"rates": sorted(rates), "best": best, "at_edge": edge, "means": means}
        if low:
            rates.append(LADDER[LADDER.index(min(rates)) - 1])
            added["low"] += 1
        if high:
            rates.append(LADDER[LADDER.index(max(rates)) + 1])
            added["high"] += 1


def plan(part: str, preset=PRESETS["paper"]):
    """E7-LSUV ('lsuv') or E7-gains ('gains'): every model x seed x rate of each (init, depth) grid."""
    def units(done: dict) -> list:
        return [u2(net(m, depth), init, s, lr, preset) for init, depth in PARTS[part]
                for lr in grid(init, depth, done, preset)["rates"] for m in MODELS for s in SEEDS]
    return units


def c1b(dmf_runs, imf_runs, seconds: bool = False) -> str:
    """C1b (round 2) in one reading: DMF faster than IMF and with a lower last loss, each in >= 4 of 5
    seeds; reversed on the mirror."""
    d, i = [curve(r) for r in dmf_runs], [curve(r) for r in imf_runs]
    k = needed(len(d))
    lower = sum(a["train_loss"][-1] < b["train_loss"][-1] for a, b in zip(d, i))
    higher = sum(b["train_loss"][-1] < a["train_loss"][-1] for a, b in zip(d, i))
    if faster(d, i, seconds)["holds"] and lower >= k:
        return "supported"
    if faster(i, d, seconds)["holds"] and higher >= k:
        return "reversed"
    return "not supported"


def plateau(dmf_runs, imf_runs) -> str:
    """PL in one reading: DMF strictly first to losses 2 and 1 in >= 4 of 5 seeds (reversed: IMF)."""
    d, i = [curve(r)["train_loss"] for r in dmf_runs], [curve(r)["train_loss"] for r in imf_runs]
    first = sum(epochs_to(a, 2) < epochs_to(b, 2) and epochs_to(a, 1) < epochs_to(b, 1) for a, b in zip(d, i))
    last = sum(epochs_to(b, 2) < epochs_to(a, 2) and epochs_to(b, 1) < epochs_to(a, 1) for a, b in zip(d, i))
    k = needed(len(d))
    return "supported" if first >= k else "reversed" if last >= k else "not supported"


def readings(init: str, depth: int, done: dict, preset) -> dict:
    """Every reading of one (init, depth): {"own": ..., "common": {rate: ...}} with C1b, C1c and PL."""
    g = grid(init, depth, done, preset)
    if g["best"] is None or g["at_edge"]:
        return {"grid": g, "own": None, "common": {}, "trainable": []}

    def runs(m, lr):
        return [done[u2(net(m, depth), init, s, lr, preset)] for s in SEEDS]

    def judge(lr_d, lr_i):
        d, i = runs("dmf", lr_d), runs("imf", lr_i)
        return {"C1b": c1b(d, i), "C1c": c1b(d, i, seconds=True), "PL": plateau(d, i), "rates": [lr_d, lr_i]}

    trainable = [lr for lr in g["rates"] if all(g["means"][m].get(lr, 100.0) < 50 for m in ("dmf", "imf"))]
    return {"grid": g, "own": judge(g["best"]["dmf"], g["best"]["imf"]),
            "common": {str(lr): judge(lr, lr) for lr in trainable}, "trainable": trainable}


def summary(done: dict, preset=PRESETS["paper"]) -> dict:
    """C1b and C1c (round 2, own readings) and PL (L = 5, every reading of every init), both parts."""
    reads = {f"{i}-L{d}": readings(i, d, done, preset) for part in PARTS for i, d in PARTS[part]}

    def own(claim):
        return several_readings(r["own"][claim] if r["own"] else "inconclusive" for r in reads.values())

    at5 = [r for k, r in reads.items() if k.endswith("L5")]
    pl = several_readings([r["own"]["PL"] if r["own"] else "inconclusive" for r in at5]
                          + [c["PL"] for r in at5 for c in r["common"].values()])
    if pl == "supported" and any(len(r["trainable"]) < 2 for r in at5):
        pl = "inconclusive"
    return {"readings": reads, "verdicts": {"C1b": own("C1b"), "C1c": own("C1c"), "PL": pl}}
