"""The exact expectation of the CD-k gradient, for an RBM small enough to list every state.

:func:`dmf_np.rbm.cd_k` returns one random estimate; its average over the random draws is a fixed
quantity, computable by enumeration: the Gibbs chain is a Markov chain on the 2^n_h hidden states,
one step h -> v -> h being the product of two transition matrices, p(v | h) and p(h | v). Knowing
that expectation lets a test judge any CD-k implementation by its statistics (the average over
many chains must approach it), whatever random numbers it draws and in whatever order: tutorial 2's
exercise 2.2 and its hidden grading test do this.

Bernoulli visible units only; at most 2^(n_v + n_h) ~ 2^20 states (as rbm.exact_log_likelihood).
"""
from __future__ import annotations

import numpy as np

from .rbm import all_binary_states, hidden_probs, visible_mean


def _bernoulli_table(p, states):
    """(rows of p, states): the probability of each binary state under independent Bernoulli(p)."""
    # log-space keeps tiny probabilities of strongly driven units exact enough
    logp, log1mp = np.log(np.clip(p, 1e-300, 1.0)), np.log(np.clip(1.0 - p, 1e-300, 1.0))
    return np.exp(logp @ states.T + log1mp @ (1.0 - states).T)


def expected_cd_k_gradient(v0, params, k: int = 1, negative_visible: str = "probs") -> dict:
    """E[rbm.cd_k(v0, params, rng, k, negative_visible=...).grads] over the random draws, exactly.

    The estimate being averaged is the library's (and exercise 2.2's): hidden probabilities in both
    statistics, every intermediate state sampled, and the last visible state E[v | h] ("probs",
    the default) or a sample ("samples"). The positive statistic p(h | v0) v0^T has no randomness;
    the negative one is averaged over the chain's distribution after k steps.
    v0: (N, n_v) NumPy array; returns {"W": (n_h, n_v), "b_h": (n_h,), "b_v": (n_v,)}, the library's
    convention (negative statistic minus positive, over N).
    """
    if k < 1:
        raise ValueError(f"CD needs k >= 1 Gibbs steps, got {k}")
    if negative_visible not in ("probs", "samples"):
        raise ValueError(f"negative_visible must be 'probs' or 'samples', got {negative_visible!r}")
    W, b_h, b_v = (np.asarray(params[key], dtype=np.float64) for key in ("W", "b_h", "b_v"))
    v0 = np.asarray(v0, dtype=np.float64)
    n_h, n_v = W.shape
    H = all_binary_states(n_h, np, np.float64)                       # (2^n_h, n_h)
    V = all_binary_states(n_v, np, np.float64)                       # (2^n_v, n_v)
    v_given_h = _bernoulli_table(visible_mean(H, W, b_v), V)         # (2^n_h, 2^n_v): p(v | h)
    h_given_v = _bernoulli_table(hidden_probs(V, W, b_h), H)         # (2^n_v, 2^n_h): p(h | v)

    ph0 = hidden_probs(v0, W, b_h)                                   # (N, n_h)
    q = _bernoulli_table(ph0, H).mean(axis=0)                        # distribution of h0, over the batch
    for _ in range(k - 1):                                           # intermediate steps: both sampled
        q = q @ v_given_h @ h_given_v
    if negative_visible == "samples":
        weights, vk = q @ v_given_h, V                               # v_k ~ p(v | h_{k-1})
    else:
        weights, vk = q, visible_mean(H, W, b_v)                     # v_k = E[v | h_{k-1}]
    phk = hidden_probs(vk, W, b_h)
    n = v0.shape[0]
    return {"W": (phk * weights[:, None]).T @ vk - ph0.T @ v0 / n,
            "b_h": weights @ phk - ph0.mean(axis=0),
            "b_v": weights @ vk - v0.mean(axis=0)}
