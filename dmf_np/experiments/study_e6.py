"""E6, capacity (docs/protocol_round2.md, "E6: capacity" and "Capacity-matched sizes"): are round 1's
orderings of DMF against IMF and EMF a parameter-count effect? DMF has 1,362,634 parameters and IMF
550,858, so E6 widens IMF and EMF to DMF's count and narrows DMF to IMF's (the protocol's table) and asks
C1a, C1c, C2 and C1b again of pairs that differ in scheme but not in size.

* **e1** (C1a-cap, C1c-cap, C2-cap): U1 units at 0% and 70%, seeds 0-4. IMF-wide, EMF-wide (pretraining
  A) and DMF-B-narrow (pretraining B) are new models, tuned on seed 0 at 0% over {0.3, 1, 3} with the
  edge rule both ways along {0.03, ..., 10}; the controls IMF, EMF and DMF-B at rate 1 are E8-C2's units
  (:func:`.study_e8.c2_units`), so they are shared by fingerprint.
* **e2** (C1b-cap, C1c-cap in seconds): U2 units (:func:`u2`) at L = 3 and 5. Every model, the
  paper-size IMF and DMF (E7-LSUV's units) included, runs seed 0 at every E7-LSUV rate and seeds 1-4 at
  its seed-0 best (round 1's coarse-then-fine), so all of E6-E2 chooses its rates the same way.
"""
from __future__ import annotations

import math

from .mnist import PRESETS
from .study import cd_config
from .study_e2 import DEPTHS as E2_SIZES
from .study_e5 import train as u1_train
from .study_e8 import c2_units
from .study_rules import curve, edge_tuning, faster, lag, needed
from .study_units import Data, Net, Start, Train

PAPER = PRESETS["paper"]
SEEDS, LEVELS, DEPTHS = tuple(range(5)), (0, 70), (3, 5)
GRID, EDGE_GRID = (0.3, 1.0, 3.0), (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)   # new models: the edge rule both ways
LSUV_RATES = (0.1, 0.15, 0.2, 0.3, 0.5, 0.7)                          # E7-LSUV's grid
W = {3: {"imf-wide": 1.9649, "emf-wide": 1.9659, "dmf-narrow": 0.5059},   # the table's factors w
     5: {"imf-wide": 1.8174, "emf-wide": 1.9952, "dmf-narrow": 0.5420}}
# The table's networks (IMF reads only its top shared width, EMF only its shared widths); tested against
# the registered parameter counts and against scaled(paper network, w).
SIZES = {3: {"emf": Net("emf"), "imf": Net("imf"), "dmf": Net("dmf"),
             "imf-wide": Net("imf", (1006, 252), (1006, 503, 126)),
             "emf-wide": Net("emf", (512, 128), (1007, 503, 126)),
             "dmf-narrow": Net("dmf", (259, 65), (259, 130, 32))},
         5: {"emf": Net("emf", *E2_SIZES[5]), "imf": Net("imf", *E2_SIZES[5]), "dmf": Net("dmf", *E2_SIZES[5]),
             "imf-wide": Net("imf", (931, 465, 349, 233), (931, 698, 465, 233, 116)),
             "emf-wide": Net("emf", E2_SIZES[5][0], (1022, 766, 511, 255, 128)),
             "dmf-narrow": Net("dmf", (278, 139, 104, 69), (278, 208, 139, 69, 35))}}
NEW1 = {"imf-wide": ("imf-wide", "A"), "emf-wide": ("emf-wide", "A"), "dmf-B-narrow": ("dmf-narrow", "B")}


def scaled(net: Net, w: float) -> Net:
    """Every hidden width times w, to the nearest integer (the table's rule); EMF's unused halves stay."""
    def r(widths):
        return tuple(int(math.floor(x * w + 0.5)) for x in widths)
    return Net(net.scheme, net.hidden if net.scheme == "emf" else r(net.hidden), r(net.shared))


def capacity_sizes(base: dict) -> dict:
    """{L: {model: Net}} from paper-size (hidden, shared) per depth: the table again, or a smoke run's."""
    return {L: {**{s: Net(s, *hs) for s in ("emf", "imf", "dmf")},
                **{m: scaled(Net(m[:3], *hs), w) for m, w in W[L].items()}} for L, hs in base.items()}


def u1(model: str, seed: int, level: int, lr: float, preset=PAPER, sizes=SIZES) -> Train:
    """An E6-E1 unit. The controls 'imf', 'emf', 'dmf-B' exist at rate 1 only and are E8-C2's very units,
    so that each runs once for both experiments (the protocol's rule for shared units)."""
    if model not in NEW1:
        return c2_units(seed, level, preset, variant="B")[model[:3]]
    key, recipe = NEW1[model]
    data = Data(preset.n_train, preset.n_val, preset.n_test)
    return u1_train(Start(sizes[3][key], recipe, seed, data, level, cd_config(preset)), lr, preset)


def u2(net: Net, seed: int, lr: float, preset=PAPER) -> Train:
    """U2 ("Common rules"): LSUV start, constant rate, momentum 0.9, the preset's batch (100), no weight
    decay, clean data, 10 epochs: round 1's E2 unit. E7-LSUV builds its units here too, so that E6-E2's
    paper-size comparators are E7's units by fingerprint."""
    start = Start(net, "lsuv", seed, Data(preset.n_train, preset.n_val, preset.n_test))
    return Train(start, lr, epochs=10, momentum=0.9, lr_decay=1.0, batch_size=preset.batch_size)


def _score(r):
    return ... if r is None else (None if r.diverged else r["final"]["val_error"])


def tune_e1(model: str, done: dict, preset=PAPER, seeds=SEEDS, sizes=SIZES) -> tuple:
    """A new E6-E1 model's tuning: (rates so far, chosen rate or None), seed 0 at 0%, edge rule both ways."""
    return edge_tuning(lambda r: _score(done.get(u1(model, seeds[0], 0, r, preset, sizes))), GRID, EDGE_GRID,
                       upward=True)


def finals(part: str, done: dict, preset=PAPER, seeds=SEEDS, sizes=SIZES) -> tuple:
    """(each model's tuning, {(setting, model): its final unit per seed, None until its rate is chosen},
    the tuning units). e1: :func:`tune_e1`; e2: the lowest seed-0 validation error after epoch 10 over
    the six rates, diverged rates out, ties to the smaller; no edge rule is registered for E6-E2."""
    rates, cells, tuning_units = {}, {}, []
    if part == "e1":
        for m in ("imf", "emf", "dmf-B", *NEW1):
            lr = 1.0
            if m in NEW1:
                grid, lr = tune_e1(m, done, preset, seeds, sizes)
                rates[m] = {"rates": grid, "chosen": lr, "at_edge": lr in (EDGE_GRID[0], EDGE_GRID[-1]),
                            "lost": lr is None and all(done.get(u1(m, seeds[0], 0, r, preset, sizes)) for r in grid)}
                tuning_units += [u1(m, seeds[0], 0, r, preset, sizes) for r in grid]
            for d in LEVELS:
                cells[(d, m)] = [None if lr is None else u1(m, s, d, lr, preset, sizes) for s in seeds]
        return rates, cells, tuning_units
    for L in DEPTHS:
        for m in ("imf", "dmf", *W[L]):
            grid = [u2(sizes[L][m], seeds[0], r, preset) for r in LSUV_RATES]
            scores = {r: _score(done.get(u)) for r, u in zip(LSUV_RATES, grid)}
            ok = sorted((v, r) for r, v in scores.items() if v is not None and v is not ...)
            lr = None if any(v is ... for v in scores.values()) or not ok else ok[0][1]
            rates[f"L{L}/{m}"] = {"val_errors": {str(r): v for r, v in scores.items() if v is not ...},
                                  "chosen": lr, "at_grid_edge": lr in (LSUV_RATES[0], LSUV_RATES[-1]),
                                  "lost": lr is None and ... not in scores.values()}
            tuning_units += grid
            cells[(L, m)] = [None if lr is None else u2(sizes[L][m], s, lr, preset) for s in seeds]
    return rates, cells, tuning_units


def plan(part: str, preset=PAPER, seeds=SEEDS, sizes=SIZES):
    """E6's part 'e1' or 'e2' for :func:`.runner.run_plan`: tuning units first, seeds once chosen."""
    def units(done: dict) -> list:
        _, cells, tuning_units = finals(part, done, preset, seeds, sizes)
        return list(dict.fromkeys(tuning_units + [u for us in cells.values() for u in us if u is not None]))
    return units


def speed(a: list, b: list, seconds=False, last_loss=False) -> dict:
    """DMF (a) against a comparator (b), per-seed curves: "faster" each way (curve-ahead in >= 4 of 5
    seeds; in CPU seconds if asked); with ``last_loss`` (C1b) also a lower last loss in >= 4 of 5 seeds.
    Without it, round 1's E1 count beside it: seeds where a's loss is at or below b's at epochs 1-10."""
    out, k = {"dmf_faster": faster(a, b, seconds), "comparator_faster": faster(b, a, seconds)}, needed(len(a))
    holds, mirror = out["dmf_faster"]["holds"], out["comparator_faster"]["holds"]
    if last_loss:
        out["dmf_lower"] = sum(x["train_loss"][-1] < y["train_loss"][-1] for x, y in zip(a, b))
        out["comparator_lower"] = sum(y["train_loss"][-1] < x["train_loss"][-1] for x, y in zip(a, b))
        holds, mirror = holds and out["dmf_lower"] >= k, mirror and out["comparator_lower"] >= k
    else:
        out["e1_count"] = sum(all(p <= q for p, q in zip(x["train_loss"][:10], y["train_loss"][:10]))
                              for x, y in zip(a, b))
    return {**out, "holds": holds, "mirror_holds": mirror}


def below(a: list, b: list) -> dict:
    """C2-cap's count: DMF's (a) Left+Right test error strictly below the comparator's (b), per seed."""
    n_a, n_b, k = sum(x < y for x, y in zip(a, b)), sum(y < x for x, y in zip(a, b)), needed(len(a))
    return {"dmf": list(a), "comparator": list(b), "dmf_below": n_a, "comparator_below": n_b,
            "holds": n_a >= k, "mirror_holds": n_b >= k}


def rule(pairs: dict, measure, why=()) -> dict:
    """One registered rule over {(setting, DMF model, comparator): (DMF's per-seed data, comparator's)}:
    supported if ``measure`` holds for every pair; reversed if its mirror holds for every pair of one
    comparator family (the IMFs, or the EMFs: C2-cap is reversed by either family, "or the same with the
    EMFs"; C1's rules have one family); inconclusive for any reason in ``why`` (or with no pairs)."""
    cmp = {k: measure(a, b) for k, (a, b) in pairs.items()}
    families = {k[2][:3] for k in cmp}
    if why or not cmp:
        verdict = "inconclusive"
    elif all(c["holds"] for c in cmp.values()):
        verdict = "supported"
    elif any(all(c["mirror_holds"] for k, c in cmp.items() if k[2][:3] == f) for f in families):
        verdict = "reversed"
    else:
        verdict = "not supported"
    return {"verdict": verdict, "why": list(why), "pairs": {"|".join(map(str, k)): c for k, c in cmp.items()}}


def summary(done: dict, part: str, preset=PAPER, seeds=SEEDS, sizes=SIZES) -> dict:
    """The part's verdicts with their numbers, rates, and the reported-only lags and curves."""
    rates, cells, _ = finals(part, done, preset, seeds, sizes)
    got = {k: [None if u is None else done.get(u) for u in us] for k, us in cells.items()}
    why = [(k[1], f"{k[1]} at {k[0]}: a seed has not finished") for k, rs in got.items() if None in rs]
    why += [(k[1], f"{k[1]} at {k[0]}: a comparator diverged") for k, rs in got.items()
            if not k[1].startswith("dmf") and any(r is not None and r.diverged for r in rs)]
    why += [(m.split("/")[-1], f"tuning of {m}: {'every rate diverged' if t['lost'] else 'at the edge'}")
            for m, t in rates.items() if t["lost"] or t.get("at_edge")]
    curves = {k: [curve(r) for r in rs] for k, rs in got.items() if None not in rs}
    errors = {k: [100.0 if r.diverged else r["final"]["test"]["left+right"] for r in rs]
              for k, rs in got.items() if None not in rs}

    def judged(keys, data, measure):
        reasons = [w for m, w in why if m in {x for k in keys for x in k[1:]}]
        pairs = {k: (data[k[:2]], data[(k[0], k[2])]) for k in keys if k[:2] in data and (k[0], k[2]) in data}
        return rule(pairs if len(pairs) == len(keys) else {}, measure, reasons)

    if part == "e2":
        keys = [(L, a, b) for L in DEPTHS for a, b in (("dmf", "imf-wide"), ("dmf-narrow", "imf"))]
        return {"rates": rates, "C1b-cap": judged(keys, curves, lambda a, b: speed(a, b, last_loss=True)),
                "C1c-cap": judged(keys, curves, lambda a, b: speed(a, b, True, last_loss=True)),
                "curves": {f"L{k[0]}/{k[1]}": c for k, c in curves.items()}}
    c1 = [(d, a, b) for d in LEVELS for a, b in (("dmf-B", "imf-wide"), ("dmf-B-narrow", "imf"))]
    c2 = c1 + [(d, a, b) for d in LEVELS for a, b in (("dmf-B", "emf-wide"), ("dmf-B-narrow", "emf"))]
    epochs = min(10, preset.finetune_epochs)
    lags = {f"{a}|{b}": {str(d): [None if x.diverged or y.diverged else  # a diverged unit has no lag
                                  lag(x["history"]["train_loss"], y["history"]["train_loss"], epochs)
                                  for x, y in zip(got[(d, a)], got[(d, b)])] for d in LEVELS
                         if (d, a) in curves and (d, b) in curves}
            for a, b in (("imf-wide", "imf"), ("dmf-B-narrow", "dmf-B"))}
    return {"rates": rates, "C1a-cap": judged(c1, curves, speed),
            "C1c-cap": judged(c1, curves, lambda a, b: speed(a, b, seconds=True)),
            "C2-cap": judged(c2, errors, below), "lags": lags,
            "curves": {f"d{k[0]}/{k[1]}": c for k, c in curves.items()}}
