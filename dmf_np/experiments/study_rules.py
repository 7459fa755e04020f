"""The second round's common readings (docs/protocol_round2.md, "Common rules"), one function each.

Loss curves are per-epoch training losses $\\ell_1 .. \\ell_E$ (a diverged unit: $+\\infty$ from the
epoch it diverged on). Every function takes plain lists, so the rules can be checked on hand-made
numbers.
"""
from __future__ import annotations

import math

import numpy as np

from .runner import choose_rate

THRESHOLDS = (2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002)
SECONDS_TIE = 0.8   # A is ahead in seconds only below 0.8 x B's (round 1's 20% tie)


def epochs_to(losses, threshold: float) -> float:
    """$\\tau(T)$: the first epoch (1-based) whose loss is at or below ``threshold``; inf if none."""
    return next((e + 1 for e, v in enumerate(losses) if v <= threshold), math.inf)


def seconds_to(losses, cpu, threshold: float) -> float:
    """$\\sigma(T)$: the CPU seconds of the epochs up to and including $\\tau(T)$; inf if never reached."""
    tau = epochs_to(losses, threshold)
    return math.inf if tau == math.inf else float(sum(cpu[:tau]))


def curve_ahead(a_losses, b_losses, a_cpu=None, b_cpu=None, thresholds=THRESHOLDS) -> bool:
    """A is curve-ahead of B on one seed: over the thresholds A or B reaches, ahead at one or more and
    behind at none (in epochs; in CPU seconds when both ``*_cpu`` are given, ahead meaning below 0.8 x)."""
    ahead = behind = False
    for t in thresholds:
        if a_cpu is None:
            a, b = epochs_to(a_losses, t), epochs_to(b_losses, t)
            if a == b == math.inf:
                continue
            ahead, behind = ahead or a < b, behind or b < a
        else:
            a, b = seconds_to(a_losses, a_cpu, t), seconds_to(b_losses, b_cpu, t)
            if a == b == math.inf:
                continue
            ahead, behind = ahead or a < SECONDS_TIE * b, behind or b < SECONDS_TIE * a
    return ahead and not behind


def needed(n: int) -> int:
    """Seeds a rule asks for: $\\lceil 0.8 n \\rceil$ (4 of 5, 12 of 15)."""
    return math.ceil(0.8 * n - 1e-9)


def faster(a_runs, b_runs, seconds: bool = False) -> dict:
    """A is faster than B: curve-ahead in at least $\\lceil 0.8 n\\rceil$ of n paired seeds. Runs are
    dicts with "train_loss" (and "epoch_cpu_seconds" for ``seconds``)."""
    counts = [curve_ahead(a["train_loss"], b["train_loss"],
                          a.get("epoch_cpu_seconds") if seconds else None,
                          b.get("epoch_cpu_seconds") if seconds else None) for a, b in zip(a_runs, b_runs)]
    return {"seeds_ahead": int(sum(counts)), "seeds": len(counts), "holds": sum(counts) >= needed(len(counts))}


def lag(a_losses, b_losses, epochs: int = 10) -> float:
    """$\\Lambda_{A|B} = \\frac{1}{10}\\sum_{e=1}^{10} \\ln(\\ell^A_e / \\ell^B_e)$: positive when A's loss is
    above B's (``epochs``: the first 10, or fewer for a smoke run)."""
    a, b = np.asarray(a_losses[:epochs], float), np.asarray(b_losses[:epochs], float)
    if a.size < epochs or b.size < epochs:
        raise ValueError(f"the lag needs {epochs} epochs of both curves, got {a.size} and {b.size}")
    return float(np.mean(np.log(a / b)))


def bootstrap_ci(values, statistic=np.mean, resamples: int = 10_000, seed: int = 12345) -> list:
    """95% percentile bootstrap over paired seeds: one index matrix per n from ``default_rng(12345)``."""
    v = np.asarray(values, float)
    idx = np.random.default_rng(seed).integers(0, v.size, size=(resamples, v.size))
    stats = np.array([statistic(v[i]) for i in idx])
    return [float(x) for x in np.percentile(stats, [2.5, 97.5])]


def curve(result) -> dict:
    """A Train result's curve for these rules; a diverged unit's loss is +inf (it counts against it)."""
    if result.diverged:
        return {"train_loss": [math.inf] * 10, "epoch_cpu_seconds": [math.inf] * 10}
    h = result["history"]
    return {"train_loss": h["train_loss"], "epoch_cpu_seconds": h["epoch_cpu_seconds"]}


# --- E8: paired tests on per-seed error and per-image correctness -----------------------------------

def wilcoxon_exact(d) -> dict:
    """Exact two-sided Wilcoxon signed-rank test on paired differences ``d``: zeros dropped, ties in |d|
    given mid-ranks, $W = \\sum \\mathrm{sign}(d_s)\\,\\mathrm{rank}_s$, p the share of all $2^{n'}$ sign
    vectors with $|W| \\ge |W_{obs}|$ (p = 1 when nothing is left). Also the rank-biserial
    $r = (R_- - R_+)/(R_- + R_+)$, positive when the negative differences (the first model better) dominate."""
    d = np.asarray(d, float)
    d = d[d != 0]
    if d.size == 0:
        return {"n": 0, "W": 0.0, "p": 1.0, "rank_biserial": 0.0}
    ranks = _midranks(np.abs(d))
    w = float(np.sum(np.sign(d) * ranks))
    signs = 1 - 2 * ((np.arange(2 ** d.size)[:, None] >> np.arange(d.size)) & 1)   # every sign vector
    p = float(np.mean(np.abs(signs @ ranks) >= abs(w) - 1e-9))
    neg, pos = ranks[d < 0].sum(), ranks[d > 0].sum()
    return {"n": int(d.size), "W": w, "p": p, "rank_biserial": float((neg - pos) / (neg + pos))}


def _midranks(values) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(1, values.size + 1)
    for v in np.unique(values):
        tied = values == v
        ranks[tied] = ranks[tied].mean()
    return ranks


def mcnemar_exact(b: int, c: int) -> float:
    """Exact McNemar: $p = \\min(1, 2 P[\\mathrm{Bin}(b+c, 1/2) \\le \\min(b, c)])$."""
    n, k = int(b + c), int(min(b, c))
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return float(min(1.0, 2 * tail))


def paired_comparison(err_a, err_b, correct_a, correct_b) -> dict:
    """A (DMF) against B (a comparator) over paired seeds: per-seed error differences (pp) with the
    Wilcoxon test and a bootstrap CI of the mean; pooled per-image correctness with McNemar (b: images
    A gets right and B wrong; c: the reverse), the margin in images b - c (pooled and per run, each with
    a bootstrap CI over seeds) and the odds ratio b/c. ``correct_*``: per seed, boolean arrays."""
    d = np.asarray(err_a, float) - np.asarray(err_b, float)
    bs = np.array([int(np.sum(a & ~b)) for a, b in zip(correct_a, correct_b)])
    cs = np.array([int(np.sum(~a & b)) for a, b in zip(correct_a, correct_b)])
    b, c = int(bs.sum()), int(cs.sum())
    return {"mean_diff": float(d.mean()), "mean_diff_ci95": bootstrap_ci(d), "diffs": d.tolist(),
            "wilcoxon": wilcoxon_exact(d), "b": b, "c": c, "mcnemar_p": mcnemar_exact(b, c),
            "margin_images": b - c, "margin_ci95": bootstrap_ci(bs - cs, np.sum),
            "margin_per_run": (b - c) / d.size, "margin_per_run_ci95": bootstrap_ci(bs - cs),
            "odds_ratio": (b / c) if c else math.inf}


def ahead(cmp: dict, alpha: float = 0.05) -> bool:
    """A ahead of B: Wilcoxon p < alpha with a negative mean difference, and McNemar p < alpha with b > c."""
    return (cmp["wilcoxon"]["p"] < alpha and cmp["mean_diff"] < 0
            and cmp["mcnemar_p"] < alpha and cmp["b"] > cmp["c"])


def behind(cmp: dict) -> bool:
    """B ahead of A, the mirror at alpha 0.025 (Bonferroni: "some comparator" has two chances)."""
    mirrored = {**cmp, "mean_diff": -cmp["mean_diff"], "b": cmp["c"], "c": cmp["b"]}
    return ahead(mirrored, alpha=0.025)


def near_tie_choice(errors: dict, order=("A", "B", "B'", "C")) -> dict:
    """The pre-registered choice of a DMF variant: the lowest mean validation error wins, but a variant
    whose paired difference from it has |t| < 1 is tied with it, and among the tied the first of
    ``order`` is chosen. ``errors``: {variant: per-run errors, paired across variants}."""
    means = {v: float(np.mean(e)) for v, e in errors.items()}
    best = min(means, key=means.get)
    t = {}
    for v, e in errors.items():
        d = np.asarray(e, float) - np.asarray(errors[best], float)
        sd = d.std(ddof=1) if d.size > 1 else 0.0
        t[v] = 0.0 if v == best else (math.inf if sd == 0 else float(d.mean() / (sd / math.sqrt(d.size))))
    tied = [v for v in order if v in errors and abs(t[v]) < 1]
    return {"chosen": tied[0], "best": best, "means": means, "t": t, "tied": tied}


def edge_tuning(score, grid, edge_grid, upward: bool = False) -> tuple:
    """Round 1's tuning with its edge rule, as a plan step: (rates to run so far, chosen rate or None).

    ``score(lr)``: the finished unit's validation error, None if it diverged, or ``...`` (Ellipsis) if it
    has not finished. While the best rate is the smallest of the grid, the next smaller rate of
    ``edge_grid`` is added (and with ``upward``, the next larger while it is the largest: the rule for
    models new in round 2); the lowest validation error wins, ties to the smaller rate.
    """
    rates = sorted(grid)
    while True:
        scores = {lr: score(lr) for lr in rates}
        if any(v is ... for v in scores.values()):
            return rates, None
        if all(v is None for v in scores.values()):
            return rates, None
        best = choose_rate(scores)  # the one rate chooser: lowest validation error, ties to the smaller rate
        lower = [r for r in edge_grid if r < best] if best == rates[0] else []
        upper = [r for r in edge_grid if r > best] if upward and best == rates[-1] else []
        if lower:
            rates = sorted(rates + [max(lower)])
        elif upper:
            rates = sorted(rates + [min(upper)])
        else:
            return rates, best


def several_readings(verdicts) -> str:
    """A statement judged in several readings: supported (reversed) if so in every reading; inconclusive
    if some reading is inconclusive and the others all agree; not supported otherwise."""
    verdicts = list(verdicts)
    if not verdicts:
        return "inconclusive"
    firm = {v for v in verdicts if v != "inconclusive"}
    if len(firm) == 1 and len(verdicts) == sum(v in firm for v in verdicts):
        return firm.pop()
    if len(firm) <= 1:
        return "inconclusive"
    return "not supported"
