"""Restricted Boltzmann machines, trained by Contrastive Divergence: the pretraining of section 3.2.

The paper initialises "each multimodal unit with the Contrastive Divergence [10] in the layer-wise
fashion". This module is that RBM, one function per formula, named after the sampling math
(``hidden_probs`` / ``propup``, ``visible_mean`` / ``propdown``, ``gibbs_hvh``, ``free_energy`` ...).

Model. Visible units v (n_v of them), hidden units h (n_h, binary). Parameters, in a dict that the
optimizer updates like any other:

* ``W``   (n_h, n_v)  the fusion network's orientation, so the hidden pre-activation of a batch of
                      rows is ``v @ W.T + b_h`` and a trained (W, b_h) *is* a sigmoid layer (W, b)
* ``b_h`` (n_h,)      hidden biases, the layer's bias once it sits in the network
* ``b_v`` (n_v,)      visible biases, used only by the RBM

Energies (Hinton, "A practical guide to training RBMs", 2010, sections 2 and 13.2):

* Bernoulli visible units   E(v, h) = -b_v.v - b_h.h - h W v
* Gaussian visible units    E(v, h) = ||v - b_v||^2 / 2 - b_h.h - h W v   (unit variance: the data
                            must be standardised to zero mean and unit variance, feature by feature)

Training maximises the log-likelihood. Its gradient is <.>_data - <.>_model (e.g. d log p / dW =
<h v^T>_data - <h v^T>_model); Contrastive Divergence (Hinton 2002) replaces the model average by
the average after k Gibbs steps from the data (CD-k), or along persistent chains (PCD, Tieleman 2008).
One gradient convention serves the whole library (see :mod:`dmf_np.optim`): what this module hands
out is dE/dtheta for a loss to minimise, i.e. *minus* the CD estimate, so one SGD serves both
pretraining and fine-tuning:

    grads["W"] = (<h v^T>_negative - <h v^T>_positive) / N,  likewise for b_h and b_v.

Random numbers come from a generator passed in: a NumPy ``Generator`` (or CuPy's, on the GPU), or any
object with the same ``random(size, dtype=, out=)`` / ``standard_normal(size, dtype=, out=)`` methods, which is
how the tests inject hand-picked uniforms. Uniforms are drawn straight into float32 buffers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np  # host-side only: init_rbm draws on the host, so every backend gets the same RBM

from .backend import array_module
from .layers import sigmoid

BERNOULLI, GAUSSIAN = "bernoulli", "gaussian"
VISIBLE_TYPES = (BERNOULLI, GAUSSIAN)
STATS = ("probs", "samples")
MAX_ENUMERATED_UNITS = 20  # 2^20 states: the largest layer log Z may enumerate


def check_visible(visible: str) -> str:
    if visible not in VISIBLE_TYPES:
        raise ValueError(f"visible units must be one of {VISIBLE_TYPES}, got {visible!r}")
    return visible


def init_rbm(n_visible: int, n_hidden: int, rng, xp, dtype, data_mean=None, visible: str = BERNOULLI,
             weight_scale: float = 0.01) -> dict:
    """Initial RBM parameters (Hinton's guide, section 8).

    W ~ N(0, weight_scale^2), b_h = 0, and b_v = log(p_i / (1 - p_i)) for Bernoulli units, with p_i
    the fraction of the data where unit i is on (``data_mean``, clipped to [0.01, 0.99]); b_v = 0 for
    Gaussian units on standardised data. ``rng`` is a NumPy Generator (host), so the same seed gives
    the same RBM on every backend. Returns {"W": (n_h, n_v), "b_h": (n_h,), "b_v": (n_v,)}.
    """
    check_visible(visible)
    W = rng.normal(0.0, weight_scale, size=(n_hidden, n_visible))
    b_v = np.zeros(n_visible)
    if visible == BERNOULLI and data_mean is not None:
        p = np.clip(np.asarray(data_mean, dtype=np.float64), 0.01, 0.99)
        b_v = np.log(p / (1 - p))
    return {"W": xp.asarray(W, dtype=dtype), "b_h": xp.zeros(n_hidden, dtype=dtype),
            "b_v": xp.asarray(b_v, dtype=dtype)}


# --- conditionals: the two directions of one layer -------------------------------------------

def hidden_probs(v, W, b_h, out=None):
    """p(h_j = 1 | v) = sigmoid(b_h_j + sum_i W_ji v_i)  (the same for either visible type).

    Hinton's guide eq. 7; the lisa-lab tutorial's ``propup``. v: (N, n_v); W: (n_h, n_v);
    b_h: (n_h,) -> (N, n_h). This is exactly a fusion layer's forward pass (Eq. 4 of the paper).
    """
    xp = array_module(v)
    out = xp.matmul(v, W.T, out=out)
    out += b_h
    return sigmoid(out, out=out)


propup = hidden_probs


def visible_mean(h, W, b_v, visible: str = BERNOULLI, out=None):
    """E[v | h]: the mean of the visible conditional, the ``propdown`` of the tutorials.

    Bernoulli: p(v_i = 1 | h) = sigmoid(b_v_i + sum_j h_j W_ji)   (guide eq. 8)
    Gaussian:  v_i | h ~ N(b_v_i + sum_j h_j W_ji, 1)              (guide section 13.2, sigma = 1)
    h: (N, n_h); W: (n_h, n_v); b_v: (n_v,) -> (N, n_v).
    """
    xp = array_module(h)
    out = xp.matmul(h, W, out=out)
    out += b_v
    return sigmoid(out, out=out) if visible == BERNOULLI else out


propdown = visible_mean


def sample_bernoulli(p, rng, out=None, u=None):
    """Binary states with P(state = 1) = p: ``state = (u < p)``, u ~ U[0, 1) drawn in p's dtype.

    p: any shape, values in [0, 1]. ``u`` is a scratch buffer of p's shape and dtype for the uniforms
    (allocated when None); ``out`` receives the 0/1 states in p's dtype and may be ``p`` itself.
    """
    xp = array_module(p)
    if u is None:
        u = xp.empty_like(p)
    # size given as well as out: CuPy's Generator.random(out=u) alone draws ONE number and fills u with it
    rng.random(u.shape, dtype=u.dtype, out=u)
    if out is None:
        out = xp.empty_like(p)
    return xp.less(u, p, out=out)


def sample_gaussian(mean, rng, out=None, z=None):
    """Unit-variance Gaussian states: ``v = mean + z``, z ~ N(0, 1) drawn in mean's dtype.

    ``z`` is a scratch buffer like ``mean`` (allocated when None); ``out`` may be ``mean`` itself.
    """
    xp = array_module(mean)
    if z is None:
        z = xp.empty_like(mean)
    rng.standard_normal(z.shape, dtype=z.dtype, out=z)
    return xp.add(mean, z, out=out)


def sample_visible(mean, rng, visible: str = BERNOULLI, out=None, scratch=None):
    """A draw from p(v | h) given its mean (from :func:`visible_mean`), for either visible type."""
    if visible == BERNOULLI:
        return sample_bernoulli(mean, rng, out=out, u=scratch)
    return sample_gaussian(mean, rng, out=out, z=scratch)


@dataclass
class GibbsStep:
    """One step of block Gibbs sampling; every array has N rows."""

    v_mean: object  # E[v | h], (N, n_v)
    v: object       # v ~ p(v | h), (N, n_v)
    h_prob: object  # p(h = 1 | v), (N, n_h)
    h: object       # h ~ p(h | v), (N, n_h)


def gibbs_hvh(h, params, rng, visible: str = BERNOULLI) -> GibbsStep:
    """One Gibbs step from the hidden side: v ~ p(v | h), then h' ~ p(h | v). h: (N, n_h)."""
    v_mean = visible_mean(h, params["W"], params["b_v"], visible)
    v = sample_visible(v_mean, rng, visible)
    h_prob = hidden_probs(v, params["W"], params["b_h"])
    return GibbsStep(v_mean, v, h_prob, sample_bernoulli(h_prob, rng))


def gibbs_vhv(v, params, rng, visible: str = BERNOULLI) -> GibbsStep:
    """One Gibbs step from the visible side: h ~ p(h | v), then v' ~ p(v | h). v: (N, n_v).

    The returned ``h_prob``/``h`` are those of the *first* half-step (given the input v).
    """
    h_prob = hidden_probs(v, params["W"], params["b_h"])
    h = sample_bernoulli(h_prob, rng)
    v_mean = visible_mean(h, params["W"], params["b_v"], visible)
    return GibbsStep(v_mean, sample_visible(v_mean, rng, visible), h_prob, h)


# --- energies ----------------------------------------------------------------------------------

def softplus(x):
    """log(1 + exp(x)), computed without overflow."""
    return array_module(x).logaddexp(0, x)


def energy(v, h, params, visible: str = BERNOULLI):
    """E(v, h) of a joint state, one value per row.

    Bernoulli: E = -b_v.v - b_h.h - h W v;  Gaussian: E = ||v - b_v||^2 / 2 - b_h.h - h W v.
    v: (N, n_v); h: (N, n_h) -> (N,).
    """
    W, b_h, b_v = params["W"], params["b_h"], params["b_v"]
    interaction = ((h @ W) * v).sum(axis=1) + h @ b_h
    if visible == BERNOULLI:
        return -(v @ b_v) - interaction
    return 0.5 * ((v - b_v) ** 2).sum(axis=1) - interaction


def free_energy(v, params, visible: str = BERNOULLI):
    """F(v) = -log sum_h exp(-E(v, h)), one value per row; then p(v) = exp(-F(v)) / Z.

    Summing out the binary hidden units gives (guide section 16.1)
      Bernoulli: F(v) = -b_v.v - sum_j softplus(b_h_j + W_j v)
      Gaussian:  F(v) = ||v - b_v||^2 / 2 - sum_j softplus(b_h_j + W_j v)
    v: (N, n_v) -> (N,).
    """
    W, b_h, b_v = params["W"], params["b_h"], params["b_v"]
    hidden_term = softplus(v @ W.T + b_h).sum(axis=1)
    if visible == BERNOULLI:
        return -(v @ b_v) - hidden_term
    return 0.5 * ((v - b_v) ** 2).sum(axis=1) - hidden_term


def hidden_free_energy(h, params, visible: str = BERNOULLI):
    """F(h) = -log sum_v exp(-E(v, h)) (an integral for Gaussian v), one value per row.

    With c = h W (the top-down input to v):
      Bernoulli: F(h) = -b_h.h - sum_i softplus(b_v_i + c_i)
      Gaussian:  F(h) = -b_h.h - b_v.c - ||c||^2 / 2 - (n_v / 2) log(2 pi)
    (the Gaussian integral of exp(-||v - b_v||^2 / 2 + c.v) over v). h: (N, n_h) -> (N,).
    """
    W, b_h, b_v = params["W"], params["b_h"], params["b_v"]
    c = h @ W
    if visible == BERNOULLI:
        return -(h @ b_h) - softplus(c + b_v).sum(axis=1)
    return -(h @ b_h) - c @ b_v - 0.5 * (c * c).sum(axis=1) - 0.5 * W.shape[1] * math.log(2 * math.pi)


# --- exact quantities of tiny RBMs, by enumeration ---------------------------------------------

def all_binary_states(n: int, xp, dtype):
    """Every binary vector of length n, as rows: (2^n, n)."""
    if n > MAX_ENUMERATED_UNITS:
        raise ValueError(f"refusing to enumerate 2^{n} states (at most 2^{MAX_ENUMERATED_UNITS}); "
                         f"exact likelihoods are for tiny RBMs only")
    codes = xp.arange(2 ** n)[:, None]
    return ((codes >> xp.arange(n)[None, :]) & 1).astype(dtype)


def logsumexp(x):
    xp = array_module(x)
    m = x.max()
    return m + xp.log(xp.exp(x - m).sum())


def _enumerate_visible(params, visible) -> bool:
    """Whether log Z is cheaper summed over v (Bernoulli v, and the visible layer is the smaller)."""
    n_h, n_v = params["W"].shape
    return visible == BERNOULLI and n_v < n_h


def log_partition(params, visible: str = BERNOULLI):
    """log Z = log sum_{v,h} exp(-E(v, h)), exactly, for tiny RBMs.

    Enumerates the smaller layer and sums the other out analytically:
    log Z = logsumexp_v(-F(v)) or logsumexp_h(-F(h)). Gaussian v are always integrated out.
    Costs 2^min(n_v, n_h) (2^n_h for Gaussian v); at most 2^20 states.
    """
    xp = array_module(params["W"])
    n_h, n_v = params["W"].shape
    if _enumerate_visible(params, visible):
        return logsumexp(-free_energy(all_binary_states(n_v, xp, params["W"].dtype), params, visible))
    return logsumexp(-hidden_free_energy(all_binary_states(n_h, xp, params["W"].dtype), params, visible))


def exact_log_likelihood(v, params, visible: str = BERNOULLI) -> float:
    """Mean log p(v) = mean(-F(v)) - log Z over the rows of v (a log-density for Gaussian v)."""
    return float((-free_energy(v, params, visible)).mean() - log_partition(params, visible))


def exact_log_likelihood_gradient(v, params, visible: str = BERNOULLI) -> dict:
    """The exact gradient of the mean negative log-likelihood, in the library's convention.

    grads = <.>_model - <.>_data (= -d mean log p(v) / dtheta), with the data term in closed form,
    <h v^T>_data = mean_n p(h | v_n) v_n^T, and the model term by enumerating the smaller layer:
    sum_v p(v) p(h | v) v^T, or sum_h p(h) h E[v | h]^T. This is what CD-k approximates.
    v: (N, n_v); returns {"W": (n_h, n_v), "b_h": (n_h,), "b_v": (n_v,)}.
    """
    xp = array_module(v)
    W, b_h, b_v = params["W"], params["b_h"], params["b_v"]
    n_h, n_v = W.shape
    ph = hidden_probs(v, W, b_h)
    if _enumerate_visible(params, visible):
        V = all_binary_states(n_v, xp, W.dtype)
        logp = -free_energy(V, params, visible)
        H = hidden_probs(V, W, b_h)
    else:
        H = all_binary_states(n_h, xp, W.dtype)
        logp = -hidden_free_energy(H, params, visible)
        V = visible_mean(H, W, b_v, visible)
    p = xp.exp(logp - logsumexp(logp))
    n = v.shape[0]
    return {"W": (H * p[:, None]).T @ V - ph.T @ v / n,
            "b_h": p @ H - ph.mean(axis=0),
            "b_v": p @ V - v.mean(axis=0)}


# --- monitors ------------------------------------------------------------------------------

def reconstruction_error(v, params, visible: str = BERNOULLI) -> float:
    """Mean squared error per visible unit between v and its mean-field reconstruction
    E[v | h = p(h | v)] (guide section 5: easy to compute, but a poor measure of the likelihood)."""
    r = visible_mean(hidden_probs(v, params["W"], params["b_h"]), params["W"], params["b_v"], visible)
    return float(((v - r) ** 2).mean())


def free_energy_gap(v_train, v_heldout, params, visible: str = BERNOULLI) -> float:
    """mean F(held-out) - mean F(train) (guide section 6): the overfitting signal.

    Z cancels in the difference, so it is exact. Near 0 while the model generalises; it grows as
    the RBM assigns training data more probability than held-out data. Compare subsets of equal size.
    """
    return float(free_energy(v_heldout, params, visible).mean() - free_energy(v_train, params, visible).mean())


def pseudo_log_likelihood(v, params, units=None) -> float:
    """Pseudo-log-likelihood per visible unit (Bernoulli v): mean over rows and units of
    log p(v_i | v_{-i}) = log sigmoid(F(v with bit i flipped) - F(v)).

    ``units``: (N,) integer array choosing one unit per row (an unbiased one-sample estimate, as in
    scikit-learn's ``score_samples`` but divided by n_v); None averages over every unit exactly
    (n_v free-energy evaluations). Returns a number <= 0; log(0.5) = -0.693 is chance level.
    """
    xp = array_module(v)
    n, n_v = v.shape
    f = free_energy(v, params)
    rows = xp.arange(n)
    total = 0.0
    for i in ([units] if units is not None else range(n_v)):
        flipped = v.copy()
        flipped[rows, i] = 1 - flipped[rows, i]
        total += float(-softplus(f - free_energy(flipped, params)).mean())  # log sigmoid(x) = -softplus(-x)
    return total if units is not None else total / n_v


# --- Contrastive Divergence ------------------------------------------------------------------

class CDWorkspace:
    """Buffers for one CD step of up to ``n`` rows, reused across minibatches (no per-step allocation).

    A smaller minibatch uses the first rows of each buffer (still contiguous). ``stat_h`` and
    ``stat_v`` (2n rows) hold the negative and the positive statistics stacked, for the single
    weight-gradient product of :func:`contrastive_divergence`; v_k is written straight into the
    first half of ``stat_v``.
    """

    ROWS = {"v0": "v", "ph0": "h", "h0": "h", "h": "h", "phk": "h", "u_h": "h", "u_v": "v"}

    def __init__(self, n: int, n_visible: int, n_hidden: int, xp, dtype):
        self.n = n
        size = {"v": n_visible, "h": n_hidden}
        self.rows = {k: xp.empty((n, size[s]), dtype=dtype) for k, s in self.ROWS.items()}
        self.stat_h = xp.empty((2 * n, n_hidden), dtype=dtype)
        self.stat_v = xp.empty((2 * n, n_visible), dtype=dtype)
        self.pos_v = xp.empty(n_visible, dtype=dtype)
        self.grads = {"W": xp.empty((n_hidden, n_visible), dtype=dtype),
                      "b_h": xp.empty(n_hidden, dtype=dtype), "b_v": xp.empty(n_visible, dtype=dtype)}

    def view(self, n: int) -> dict:
        if n > self.n:
            raise ValueError(f"minibatch of {n} rows exceeds the workspace's {self.n}")
        b = {k: buf[:n] for k, buf in self.rows.items()}
        b.update(stat_h=self.stat_h[:2 * n], stat_v=self.stat_v[:2 * n], vk=self.stat_v[:n])
        return b


@dataclass
class CDStep:
    """What a CD step computed. ``grads`` and the arrays are views into the workspace's buffers,
    overwritten by the next step: use (or copy) them before calling again."""

    grads: dict  # dE/dtheta = -(CD estimate of d log-likelihood / dtheta), keyed like params
    ph0: object  # p(h | v0), (N, n_h): the positive phase
    vk: object   # the negative visible statistic (mean or sample of v_k), (N, n_v)
    phk: object  # p(h | v_k), (N, n_h)


def _check_stats(**kw):
    for name, value in kw.items():
        if value not in STATS:
            raise ValueError(f"{name} must be 'probs' or 'samples', got {value!r}")


def contrastive_divergence(v0, params, rng, *, k: int = 1, chain=None, visible: str = BERNOULLI,
                           positive_hidden: str = "probs", negative_visible: str = "probs",
                           negative_hidden: str = "probs", workspace: CDWorkspace | None = None) -> CDStep:
    """The CD gradient of one minibatch: negative phase from the data (CD-k) or from ``chain`` (PCD-k).

    Positive phase:  h0 ~ p(h | v0), statistic <h v^T>_+ with h = p(h | v0) ('probs') or h0.
    Negative phase:  k Gibbs steps h -> v -> h starting from h0 (CD) or from the persistent hidden
                     states ``chain`` (PCD, updated in place with the final hidden sample).
                     Every intermediate state is sampled; at the last step the statistic uses
                     v_k = E[v | h] ('probs', Hinton's guide 3.2) or a sample, and p(h | v_k) or a
                     sample of it. Hidden probabilities are the Rao-Blackwellised choice: same
                     expectation, less noise.
    Returns grads = (<h v^T>_- - <h v^T>_+) / N for W, and likewise <h>, <v> for b_h, b_v: the
    library's dE/dtheta convention (minus the CD estimate of d log-likelihood / dtheta).
    v0: (N, n_v); chain: (>= N, n_h) or None.
    """
    _check_stats(positive_hidden=positive_hidden, negative_visible=negative_visible,
                 negative_hidden=negative_hidden)
    if k < 1:
        raise ValueError(f"CD needs k >= 1 Gibbs steps, got {k}")
    xp = array_module(v0)
    W, b_h, b_v = params["W"], params["b_h"], params["b_v"]
    n = v0.shape[0]
    if workspace is None:
        workspace = CDWorkspace(n, W.shape[1], W.shape[0], xp, W.dtype)
    b = workspace.view(n)

    # positive phase: the hidden units driven by the data
    ph0 = hidden_probs(v0, W, b_h, out=b["ph0"])                              # (N, n_h)
    if chain is None or positive_hidden == "samples":
        sample_bernoulli(ph0, rng, out=b["h0"], u=b["u_h"])
    pos_h = ph0 if positive_hidden == "probs" else b["h0"]

    # negative phase: k steps of block Gibbs sampling, h -> v -> h
    h = b["h0"] if chain is None else chain[:n]
    for step in range(k):
        last = step == k - 1
        vk = visible_mean(h, W, b_v, visible, out=b["vk"])                    # (N, n_v)
        if not last or negative_visible == "samples":
            sample_visible(vk, rng, visible, out=vk, scratch=b["u_v"])
        phk = hidden_probs(vk, W, b_h, out=b["phk"])                          # (N, n_h)
        if not last or negative_hidden == "samples" or chain is not None:
            h = b["h"] if chain is None else chain[:n]   # PCD: the chain keeps the new states
            sample_bernoulli(phk, rng, out=h, u=b["u_h"])
    neg_h = phk if negative_hidden == "probs" else h

    return CDStep(_cd_gradient(pos_h, v0, neg_h, vk, workspace), ph0, vk, phk)


def _cd_gradient(pos_h, v0, neg_h, vk, workspace: CDWorkspace) -> dict:
    """dE/dtheta = (negative statistic - positive statistic) / N, into ``workspace.grads``:

        W:   (<h v^T>_- - <h v^T>_+) / N = (neg_h^T vk - pos_h^T v0) / N      (n_h, n_v)
        b_h: (<h>_- - <h>_+) / N,   b_v: (<v>_- - <v>_+) / N

    pos_h, neg_h: (N, n_h); v0, vk: (N, n_v), vk being the first N rows of the workspace's ``stat_v``
    (where :func:`contrastive_divergence` writes it; hence private: it relies on that layout).
    """
    xp = array_module(v0)
    n = v0.shape[0]
    b = workspace.view(n)
    # For W the two statistics are ONE product over the stacked rows, [h_- ; -h_+]^T [v_- ; v_+] / N:
    # the same sum with twice the inner size, which BLAS runs faster than two products and a
    # subtraction over all of W (docs/perf.md). The hidden biases' gradient is the column sum of
    # the same stacked rows.
    g = workspace.grads
    H, V = b["stat_h"], b["stat_v"]                                           # (2N, n_h), (2N, n_v)
    xp.multiply(neg_h, 1.0 / n, out=H[:n])
    xp.multiply(pos_h, -1.0 / n, out=H[n:])
    xp.copyto(V[n:], v0)                                                      # V[:n] is already v_k
    xp.matmul(H.T, V, out=g["W"])
    xp.sum(H, axis=0, out=g["b_h"])
    xp.sum(vk, axis=0, out=g["b_v"])
    g["b_v"] -= xp.sum(v0, axis=0, out=workspace.pos_v)
    g["b_v"] *= 1.0 / n
    return g


def cd_k(v0, params, rng, k: int = 1, **options) -> CDStep:
    """CD-k (Hinton 2002): the negative chain starts at the data's hidden sample and runs k steps.
    See :func:`contrastive_divergence` for the options and the gradient convention."""
    return contrastive_divergence(v0, params, rng, k=k, chain=None, **options)


def pcd(v0, params, chain, rng, k: int = 1, **options) -> CDStep:
    """Persistent CD (Tieleman 2008): the negative chain continues from ``chain`` (hidden states,
    (batch, n_h), updated in place) instead of restarting at the data. See
    :func:`contrastive_divergence`."""
    if chain is None:
        raise ValueError("PCD needs the persistent hidden states `chain` (start them from the data)")
    return contrastive_divergence(v0, params, rng, k=k, chain=chain, **options)


def sparsity_gradient(grads: dict, q, v_mean, target: float, cost: float) -> dict:
    """Add Hinton's sparsity penalty (guide section 11) to ``grads`` in place.

    The penalty is cost * cross-entropy(target, q_j) for each hidden unit's running mean activation
    q_j; its derivative with respect to the unit's total input is cost * (q_j - target), which is
    added to dE/db_h and, times the mean input <v_i>, to dE/dW_ji. q: (n_h,); v_mean: (n_v,).
    """
    d = cost * (q - target)
    grads["b_h"] += d
    grads["W"] += d[:, None] * v_mean[None, :]
    return grads
