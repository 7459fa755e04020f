"""Solutions to the exercises of tutorial 2 (the RBM and Contrastive Divergence).

Each function has the name of the tutorial's stub; ``DMF_EXERCISE_SOLUTIONS=1`` makes the tutorial
check these instead of the stubs (dmf_np.exercises, tests/test_exercises.py).
"""
import numpy as np


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def free_energy_grad(v, P):
    """Exercise 2.1. F(v) = -b_v·v - Σ_j softplus(b_h,j + W_j v), and softplus' = σ, so for a batch

    d(mean F)/dW = -<p(h|v) v^T>,  d(mean F)/db_h = -<p(h|v)>,  d(mean F)/db_v = -<v>,

    minus the positive statistics of CD: the data term of ∂ε/∂θ.
    """
    n = v.shape[0]
    ph = _sigmoid(v @ P["W"].T + P["b_h"])          # (N, n_h)  p(h_j = 1 | v)
    return {"W": -(ph.T @ v) / n, "b_h": -ph.mean(axis=0), "b_v": -v.mean(axis=0)}


def my_cd_k(v0, P, rng, k, negative_visible="probs"):
    """Exercise 2.2. CD-k with hidden probabilities in both statistics, every intermediate state
    sampled, and the last visible state sampled or mean-field (E[v | h]) as ``negative_visible`` says."""
    W, b_h, b_v = P["W"], P["b_h"], P["b_v"]
    n = v0.shape[0]
    p0 = _sigmoid(v0 @ W.T + b_h)                   # positive phase, p(h | v0): (N, n_h)
    h = (rng.random(p0.shape) < p0).astype(v0.dtype)
    for step in range(k):
        last = step == k - 1
        v = _sigmoid(h @ W + b_v)                   # E[v | h]: (N, n_v)
        if not last or negative_visible == "samples":
            v = (rng.random(v.shape) < v).astype(v0.dtype)
        p = _sigmoid(v @ W.T + b_h)                 # p(h | v): (N, n_h)
        if not last:
            h = (rng.random(p.shape) < p).astype(v0.dtype)
    # ∂ε/∂θ = negative statistic - positive statistic, over N
    return {"W": (p.T @ v - p0.T @ v0) / n, "b_h": (p - p0).mean(axis=0), "b_v": (v - v0).mean(axis=0)}
