"""E5, the mechanism by intervention (docs/protocol_round2.md, "E5"): does the saturation of DMF's
pretrained shared layers cause its lag behind IMF (H5a)?

Every model is a U1 unit (CD pretraining, then the paper preset's fine-tuning) at 0% damage, seeds
0-4, rate 1, started from the same seed's pretrained networks with one intervention each:
DMF-A and IMF as they are; DMF-A with its top shared layer (or every shared layer) rescaled to IMF's
(DMF-B's for the lower ones) pre-activation std; IMF's top pushed up to DMF-A's; DMF-A with the
shared layers' inputs divided by their fan-in k_l; DMF-B as a reference. H5b's fan-in-normalised
architectures (DMF-FN, IMF-FN: pretrained A weights copied in) are tuned as new models, and part
'scratch' (E5-N) runs IMF, DMF, their FN forms and the widened IMF without pretraining, all tuned.
"""
from __future__ import annotations

import numpy as np

from .mnist import PRESETS
from .study import cd_config
from .study_rules import bootstrap_ci, curve, edge_tuning, faster, lag, needed
from .study_units import Data, FanInNet, Net, Start, Train

SEEDS = tuple(range(5))
RATE, FALLBACK = 1.0, 0.3     # E1's rate; the rate every seed reruns at if one diverges at 1
GRID, LADDER = (0.3, 1.0, 3.0), (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)   # new models: tuned, edges both ways
IMF_WIDE = ((1006, 252), (1006, 503, 126))   # docs/protocol_round2.md, "Capacity-matched sizes"


def starts(seed: int, preset=PRESETS["paper"]) -> dict:
    """The E5-P networks of one seed before fine-tuning, by model name."""
    data, cd = Data(preset.n_train, preset.n_val, preset.n_test), cd_config(preset)
    dmf, imf = Net("dmf", preset.modality_hidden, preset.shared_sizes), Net("imf", preset.modality_hidden,
                                                                            preset.shared_sizes)
    imf_a, dmf_a, dmf_b = (Start(n, r, seed, data, 0, cd) for n, r in ((imf, "A"), (dmf, "A"), (dmf, "B")))
    top = ("rescale", 3, imf_a, "s_3")
    return {"imf": imf_a, "dmf-A": dmf_a, "dmf-B": dmf_b,
            "dmf-A-down-top": Start(dmf, "A", seed, data, 0, cd, adjust=(top,)),
            "dmf-A-down-all": Start(dmf, "A", seed, data, 0, cd, adjust=(
                ("rescale", 1, dmf_b, "s_1"), ("rescale", 2, dmf_b, "s_2"), top)),
            "imf-up-top": Start(imf, "A", seed, data, 0, cd, adjust=(("rescale", 3, dmf_a, "s_3"),)),
            "dmf-A-over-k": Start(dmf, "A", seed, data, 0, cd, adjust=(("divide_fan_in",),))}


def tuned_starts(part: str, seed: int, preset=PRESETS["paper"]) -> dict:
    """The models E5 tunes: with pretraining ('pretrained': DMF-FN, IMF-FN) or without ('scratch')."""
    data, cd = Data(preset.n_train, preset.n_val, preset.n_test), cd_config(preset)
    h, sh = preset.modality_hidden, preset.shared_sizes
    if part == "pretrained":
        return {m + "-FN": Start(FanInNet(m, h, sh), "A", seed, data, 0, cd) for m in ("dmf", "imf")}
    nets = {"imf-N": Net("imf", h, sh), "dmf-N": Net("dmf", h, sh), "dmf-FN-N": FanInNet("dmf", h, sh),
            "imf-FN-N": FanInNet("imf", h, sh), "imf-wide-N": Net("imf", *IMF_WIDE)}
    return {m: Start(n, "glorot4", seed, data, 0, None) for m, n in nets.items()}


def tuned_rate(part: str, model: str, done: dict, preset) -> tuple:
    """(rates tried, chosen rate or None): seed 0, grid {0.3, 1, 3}, extended down and up the ladder."""
    def score(lr):
        r = done.get(train(tuned_starts(part, SEEDS[0], preset)[model], lr, preset))
        return ... if r is None else (None if r.diverged else r["final"]["val_error"])
    return edge_tuning(score, GRID, LADDER, upward=True)


def tuned_units(part: str, done: dict, preset) -> list:
    out = []
    for m in tuned_starts(part, 0, preset):
        rates, chosen = tuned_rate(part, m, done, preset)
        out += [train(tuned_starts(part, SEEDS[0], preset)[m], lr, preset) for lr in rates]
        if chosen is not None:
            out += [train(tuned_starts(part, s, preset)[m], chosen, preset) for s in SEEDS[1:]]
    return out


def train(start: Start, lr: float, preset=PRESETS["paper"]) -> Train:
    """U1's fine-tuning of a start at rate ``lr`` (the paper preset's epochs, momentum and decay)."""
    return Train(start, lr, epochs=preset.finetune_epochs, momentum=preset.momentum, lr_decay=preset.lr_decay,
                 weight_decay=preset.weight_decay, batch_size=preset.batch_size)


def model_rate(model: str, done: dict, preset) -> float | None:
    """Rate 1, or 0.3 for every seed once a seed of the model diverged at 1; None while unknown."""
    first = [done.get(train(starts(s, preset)[model], RATE, preset)) for s in SEEDS]
    if any(r is not None and r.diverged for r in first):
        return FALLBACK
    return RATE if all(r is not None for r in first) else None


def plan(preset=PRESETS["paper"], part: str = "pretrained"):
    """E5 for :func:`.runner.run_plan`. 'pretrained' (E5-P): every intervention at rate 1 on every seed
    (and 0.3 where one diverged), then the tuned FN models; 'scratch' (E5-N): the tuned models only."""
    def units(done: dict) -> list:
        out = []
        if part == "pretrained":
            out = [train(starts(s, preset)[m], RATE, preset) for s in SEEDS for m in starts(0, preset)]
            for m in starts(0, preset):
                if model_rate(m, done, preset) == FALLBACK:
                    out += [train(starts(s, preset)[m], FALLBACK, preset) for s in SEEDS]
        return out + tuned_units(part, done, preset)
    return units


def tuned_runs(part: str, model: str, done: dict, preset) -> list | None:
    """A tuned model's final units in seed order, or None until all have finished."""
    _, lr = tuned_rate(part, model, done, preset)
    rs = [done.get(train(tuned_starts(part, s, preset)[model], lr, preset)) for s in SEEDS] if lr else [None]
    return None if any(r is None for r in rs) else rs


def h5b(dmf_fn, comparators: dict) -> dict:
    """H5b ("the fix makes DMF faster than IMF"): DMF-FN faster (curve-ahead in epochs in >= 4 of 5
    seeds) than every comparator; reversed if any comparator is faster than DMF-FN. Beside it, the same
    in CPU seconds. ``comparators``: {name: runs or None (not run yet: inconclusive)}."""
    if dmf_fn is None or any(c is None for c in comparators.values()):
        return {"verdict": "inconclusive", "why": "a model or comparator has not finished"}
    d = [curve(r) for r in dmf_fn]
    rows = {name: {"dmf_faster": faster(d, [curve(r) for r in runs]),
                   "comparator_faster": faster([curve(r) for r in runs], d),
                   "dmf_faster_seconds": faster(d, [curve(r) for r in runs], seconds=True)["holds"]}
            for name, runs in comparators.items()}
    if all(r["dmf_faster"]["holds"] for r in rows.values()):
        verdict = "supported"
    elif any(r["comparator_faster"]["holds"] for r in rows.values()):
        verdict = "reversed"
    else:
        verdict = "not supported"
    return {"verdict": verdict, "against": rows}


def runs(done: dict, model: str, preset) -> list:
    """The model's finished final units in seed order (None for a seed not finished)."""
    lr = model_rate(model, done, preset)
    return [None if lr is None else done.get(train(starts(s, preset)[model], lr, preset)) for s in SEEDS]


def h5a(done: dict, preset=PRESETS["paper"]) -> dict:
    """Rule H5a ("saturation explains the lag") from the finished units, with the lags per seed."""
    got = {m: runs(done, m, preset) for m in ("imf", "dmf-A", "dmf-A-down-all", "dmf-A-down-top", "imf-up-top")}
    if any(r is None for rs in got.values() for r in rs) or any(r.diverged for r in got["imf"]):
        return {"verdict": "inconclusive", "why": "not every seed of the five models has finished (or IMF diverged)"}
    epochs = min(10, preset.finetune_epochs)
    lags = {m: [lag(curve(r)["train_loss"], curve(i)["train_loss"], epochs) for r, i in zip(rs, got["imf"])]
            for m, rs in got.items() if m != "imf"}
    return h5a_rule(lags["dmf-A"], lags["dmf-A-down-all"], lags["imf-up-top"], lags["dmf-A-down-top"])


def h5a_rule(lag_a, lag_down_all, lag_up, lag_down_top) -> dict:
    """H5a on per-seed lags against IMF: supported if the removal (down-all <= 0.25 x A's lag) and the
    induction (up >= 0.5 x A's lag) each hold in >= 80% of seeds; reversed on the mirror; inconclusive
    when A's lag is under 0.2 in two or more seeds (no lag to explain)."""
    a, down, up, top = (np.asarray(v, float) for v in (lag_a, lag_down_all, lag_up, lag_down_top))
    removal, induction, k = int((down <= 0.25 * a).sum()), int((up >= 0.5 * a).sum()), needed(a.size)
    if int((a < 0.2).sum()) >= 2:
        verdict = "inconclusive"
    elif removal >= k and induction >= k:
        verdict = "supported"
    elif int((down >= a).sum()) >= k and int((up <= 0).sum()) >= k:
        verdict = "reversed"
    else:
        verdict = "not supported"
    return {"verdict": verdict, "lags": {"dmf-A": a.tolist(), "dmf-A-down-all": down.tolist(),
                                         "imf-up-top": up.tolist(), "dmf-A-down-top": top.tolist()},
            "removal_seeds": removal, "induction_seeds": induction, "removed_all": _median_ci(1 - down / a),
            "removed_top": _median_ci(1 - top / a), "induced": _median_ci(up / a),
            "top_suffices": int((top <= 0.25 * a).sum()) >= k}


def _median_ci(values) -> dict:
    return {"median": float(np.median(values)), "ci95": bootstrap_ci(values, np.median), "values": list(values)}


def summary(done: dict, preset=PRESETS["paper"], imf_wide=None) -> dict:
    """H5a, H5b-P and H5b-N from the finished units; ``imf_wide``: E6-E1's IMF-wide runs at 0% (seeds 0-4),
    H5b-P's third comparator (None until E6 has run: H5b-P is then inconclusive)."""
    imf = runs(done, "imf", preset)
    scratch = {m: tuned_runs("scratch", m, done, preset) for m in tuned_starts("scratch", 0, preset)}
    return {"H5a": h5a(done, preset),
            "H5b-P": h5b(tuned_runs("pretrained", "dmf-FN", done, preset),
                         {"imf": None if None in imf else imf, "imf-wide": imf_wide,
                          "imf-FN": tuned_runs("pretrained", "imf-FN", done, preset)}),
            "H5b-N": h5b(scratch["dmf-FN-N"], {m: scratch[m] for m in ("imf-N", "imf-FN-N", "imf-wide-N")})}
