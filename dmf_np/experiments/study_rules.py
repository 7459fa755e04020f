"""The second round's common readings (docs/protocol_round2.md, "Common rules"), one function each.

Loss curves are per-epoch training losses $\\ell_1 .. \\ell_E$ (a diverged unit: $+\\infty$ from the
epoch it diverged on). Every function takes plain lists, so the rules can be checked on hand-made
numbers.
"""
from __future__ import annotations

import math

import numpy as np

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
