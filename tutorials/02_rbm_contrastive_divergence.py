# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tutorial 2: the RBM and Contrastive Divergence
#
# **What this teaches.** The paper initialises every multimodal unit "with the Contrastive
# Divergence in the layer-wise fashion" (section 3.2). That needs a restricted Boltzmann machine
# (RBM) and the CD approximation to its likelihood gradient. We take an RBM so small that every
# one of its states can be listed, and check each formula against brute force: the energy, the
# partition function, the free energy, the conditionals (an RBM's $p(h \mid v)$ *is* a sigmoid layer),
# the exact likelihood gradient. Then we measure how far CD-k is from that exact gradient as $k$
# grows, and train the RBM with the exact gradient, CD-1, CD-10 and persistent CD.
#
# **Read first.** Tutorial 1 (one sigmoid layer). Hinton, *A Practical Guide to Training Restricted
# Boltzmann Machines* (2010), sections 1-3, is the classic companion. Afterwards read
# `dmf_np/rbm.py` (one function per formula) and `docs/rbm.md`.
#
# **How long it runs.** About ten seconds on two busy CPU cores (11 s measured); about two with
# `DMF_TUTORIAL_FAST=1`.
#
# **The model.** Binary visible units $v$ ($n_v$ of them), binary hidden units $h$ ($n_h$), weights $W$
# of shape $(n_h, n_v)$ (the fusion network's orientation: a trained $(W, b_h)$ is a sigmoid layer's
# $(W, b)$), biases $b_v$, $b_h$. The energy of a joint state and the probability it defines are
#
# $$E(v, h) = -b_v^\top v - b_h^\top h - h^\top W v, \qquad p(v, h) = \frac{e^{-E(v,h)}}{Z}, \qquad Z = \sum_{v,h} e^{-E(v,h)}.$$
#
# **Symbols.** $E$ is only ever this energy. The loss that training minimises is written
# $\varepsilon$, as in the paper (and in tutorial 1): here the negative mean log-likelihood,
# $\varepsilon = -\frac1N \sum_n \log p(v_n)$, and every gradient below is $\partial \varepsilon / \partial \theta$.
#
# **Exercises.** 2.1: the gradient of the free energy, derived by hand (it is the positive phase of
# CD); 2.2: your own CD-k, judged by its statistics against CD-k's exact expectation, and the
# bias table of section 6 recomputed with it. Each is a stub checked by the tutorial (`dmf_np.exercises.attempt`); until you fill it
# in the tutorial says "not attempted yet" and runs on. Solutions: `tutorials/solutions/tutorial_02.py`.

# %%
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().resolve()
if not (ROOT / "dmf_np").is_dir():
    ROOT = ROOT.parent  # a notebook started inside tutorials/
sys.path.insert(0, str(ROOT))
FAST = os.environ.get("DMF_TUTORIAL_FAST") == "1"  # the test suite runs every tutorial in fast mode

import numpy as np

from dmf_np import rbm
from dmf_np.exercises import attempt
from dmf_np.gradcheck import numerical_gradient, rel_error
from dmf_np.layers import affine_forward, sigmoid
from dmf_np.optim import SGD
from dmf_np.plots import show_and_save

np.set_printoptions(precision=4, suppress=True, linewidth=110)

# %% [markdown]
# ## 1. An RBM small enough to enumerate
#
# Six visible and four hidden units: $2^6 \cdot 2^4$ joint states, few enough to list them all. The
# weights are drawn large, so that the distribution is sharp and the approximations below have
# something to get wrong.

# %%
n_v, n_h = 6, 4
rng = np.random.default_rng(0)
P = {"W": rng.normal(0, 1.5, (n_h, n_v)), "b_h": rng.normal(0, 0.5, n_h), "b_v": rng.normal(0, 0.5, n_v)}
V = rbm.all_binary_states(n_v, np, np.float64)       # (64, 6): every visible state
H = rbm.all_binary_states(n_h, np, np.float64)       # (16, 4): every hidden state
print(f"{len(V)} visible states x {len(H)} hidden states = {len(V) * len(H)} joint states")

# %% [markdown]
# **The energy** of one joint state, by hand and by `rbm.energy`:

# %%
v, h = V[[37]], H[[9]]                               # one state each, as (1, n) rows
E_hand = -(P["b_v"] @ v[0]) - (P["b_h"] @ h[0]) - h[0] @ P["W"] @ v[0]
print("v =", v[0], " h =", h[0])
print(f"E(v, h) by hand {E_hand:.10f}, rbm.energy {rbm.energy(v, h, P)[0]:.10f}")

# %% [markdown]
# **The partition function** $Z$ by brute force over all joint states, against `rbm.log_partition`,
# which enumerates only the *smaller* layer and sums the other out analytically (below). For an
# RBM of realistic size neither is possible: $Z$ is a sum over $2^{n_v + n_h}$ terms, and that is
# why training needs the approximations that follow.

# %%
Vj = np.repeat(V, len(H), axis=0)                    # all joint states as pairs of rows
Hj = np.tile(H, (len(V), 1))
neg_E = -rbm.energy(Vj, Hj, P)                       # (1024,)
logZ_brute = np.log(np.exp(neg_E - neg_E.max()).sum()) + neg_E.max()
print(f"log Z: brute force over {len(neg_E)} states {logZ_brute:.10f}, rbm.log_partition {rbm.log_partition(P):.10f}")

# %% [markdown]
# ## 2. The free energy
#
# Summing the hidden units out of $p(v, h)$ gives $p(v) = e^{-F(v)}/Z$ with the **free energy**
# $F(v) = -\log \sum_h e^{-E(v,h)}$. Because the hidden units do not interact, the sum factorises, one
# hidden unit at a time, into a closed form:
#
# $$F(v) = -b_v^\top v - \sum_j \log\left(1 + e^{\,b_{h,j} + W_j v}\right) = -b_v^\top v - \sum_j \mathrm{softplus}(b_{h,j} + W_j v).$$

# %%
F_brute = -np.log(np.exp(-rbm.energy(np.repeat(V[:5], len(H), 0), np.tile(H, (5, 1)), P)).reshape(5, len(H)).sum(1))
print("F(v) for the first five visible states, brute force:", F_brute)
print("                              rbm.free_energy:      ", rbm.free_energy(V[:5], P))
p_v = np.exp(-rbm.free_energy(V, P) - rbm.log_partition(P))
print(f"sum over all v of p(v) = exp(-F(v)) / Z: {p_v.sum():.12f}")

# %% [markdown]
# ## 3. The conditionals: an RBM's hidden layer is a sigmoid layer
#
# Given $v$, the hidden units are independent, and
# $p(h_j = 1 \mid v) = \sigma(b_{h,j} + W_j v)$ (`rbm.hidden_probs`, the `propup` of the classic
# tutorials). That is exactly the forward pass of a sigmoid layer with weights $W$ and bias $b_h$,
# which is why a trained RBM can be written straight into the network (tutorial 5). We check it
# against the joint distribution: $p(h_j = 1 \mid v) = \sum_{h: h_j = 1} p(v, h) / \sum_h p(v, h)$.

# %%
joint = np.exp(neg_E - logZ_brute).reshape(len(V), len(H))        # p(v, h), rows: v, columns: h
ph_brute = (joint @ H) / joint.sum(axis=1, keepdims=True)         # (64, 4): p(h_j = 1 | v)
print("max |p(h|v) brute force - rbm.hidden_probs|       =",
      f"{np.abs(ph_brute - rbm.hidden_probs(V, P['W'], P['b_h'])).max():.1e}")
print("max |rbm.hidden_probs - sigmoid(affine_forward)|  =",
      f"{np.abs(rbm.hidden_probs(V, P['W'], P['b_h']) - sigmoid(affine_forward(V, P['W'], P['b_h']))).max():.1e}")
pv_brute = (joint.T @ V) / joint.sum(axis=0)[:, None]             # (16, 6): p(v_i = 1 | h)
print("max |p(v|h) brute force - rbm.visible_mean|       =",
      f"{np.abs(pv_brute - rbm.visible_mean(H, P['W'], P['b_v'])).max():.1e}")

# %% [markdown]
# ## 4. The exact likelihood gradient
#
# Training maximises the mean log-likelihood of the data, $\frac1N\sum_n \log p(v_n)$. Its gradient
# is a difference of two averages,
#
# $$\frac{\partial \log p(v)}{\partial W} = \langle h v^\top\rangle_{\text{data}} - \langle h v^\top\rangle_{\text{model}},$$
#
# the first over $h \sim p(h \mid v)$ for the data (easy: the conditionals), the second over the model's
# own distribution $p(v, h)$ (hard: it needs $Z$). dmf_np hands every optimiser the gradient of a
# loss to *minimise*, $\varepsilon = -\frac1N\sum_n \log p(v_n)$, so `rbm.exact_log_likelihood_gradient` returns
# $\partial\varepsilon/\partial\theta = \langle\cdot\rangle_{\text{model}} - \langle\cdot\rangle_{\text{data}}$, minus the above. Our data:
# noisy copies of three 6-bit prototypes. We check the gradient by central differences of the exact
# negative log-likelihood (tutorial 1).

# %%
protos = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 0, 1, 0, 1, 0]], dtype=np.float64)
drng = np.random.default_rng(1)
data = protos[drng.integers(0, 3, 300)]
data = np.where(drng.random(data.shape) < 0.05, 1 - data, data)   # flip 5% of the bits
exact = rbm.exact_log_likelihood_gradient(data, P)
for key in ("W", "b_h", "b_v"):
    num = numerical_gradient(lambda: -rbm.exact_log_likelihood(data, P), P[key])
    print(f"dε/d{key}: relative error against central differences {rel_error(exact[key], num):.1e}")
    assert rel_error(exact[key], num) < 1e-7
print(f"mean log-likelihood of the data under this random RBM: {rbm.exact_log_likelihood(data, P):.4f} nats")

# %% [markdown]
# ### Exercise 2.1: the gradient of the free energy
#
# Since $\log p(v) = -F(v) - \log Z$, the loss is $\varepsilon = \frac1N\sum_n F(v_n) + \log Z$: its data
# term is the mean free energy. Differentiate the closed form of $F$ (section 2) by hand and write
# `free_energy_grad(v, P)`: the gradient of $\frac1N \sum_n F(v_n)$ with respect to `W`, `b_h` and `b_v`,
# as a dict shaped like `P`. (Hint: $\frac{d}{dx}\mathrm{softplus}(x) = \sigma(x)$.) The check compares it
# with central differences; then compare your formula with the positive phase of section 5.

# %%
def free_energy_grad(v, P):
    """d/dθ of mean_n F(v_n), θ in W (n_h, n_v), b_h (n_h,), b_v (n_v,); v: (N, n_v). A dict keyed like P."""
    raise NotImplementedError("exercise 2.1: differentiate the free energy")


def check_free_energy_grad(fn):
    """Exercise 2.1's check: fn against central differences of the mean free energy, on the data."""
    Pc = {k: p.copy() for k, p in P.items()}      # a copy: the check perturbs parameters in place
    mine = fn(data, Pc)
    assert isinstance(mine, dict) and set(mine) >= set(Pc), f"return a dict with the keys {sorted(Pc)}"
    for key in ("W", "b_h", "b_v"):
        assert np.shape(mine[key]) == Pc[key].shape, f"{key}: shape {np.shape(mine[key])}, expected {Pc[key].shape}"
        num = numerical_gradient(lambda: float(rbm.free_energy(data, Pc).mean()), Pc[key])
        err = rel_error(np.asarray(mine[key], dtype=np.float64), num)
        assert err < 1e-7, (f"d(mean F)/d{key} is off: relative error {err:.1e}. F(v) = -b_v·v - Σ_j softplus(b_h,j + W_j v); "
                            "the derivative of softplus is the sigmoid, i.e. p(h_j = 1 | v)")


attempt("2.1", free_energy_grad, check_free_energy_grad)

# %% [markdown]
# The free-energy gradient at the data, $-\langle p(h \mid v)\, v^\top\rangle_{\text{data}}$ for $W$, is exactly
# minus the positive statistic. The model term is the same gradient averaged over $p(v)$, which needs
# $Z$: that is the part CD approximates.

# %% [markdown]
# ## 5. Contrastive Divergence, by hand and by the library
#
# CD-k (Hinton, 2002) replaces the model average by a cheap stand-in: start a Gibbs chain at each
# data vector, alternate $h \sim p(h \mid v)$ and $v \sim p(v \mid h)$ for $k$ steps, and use where the chain
# got to. Here is CD-1 in a few lines, in the manner of the classic GPU/NumPy RBM listings, with the
# library's default statistics (hidden *probabilities* rather than samples in both phases, and the
# mean-field reconstruction $E[v \mid h]$ at the last step: less noise, Hinton's guide section 3).
# With the same random generator, `rbm.cd_k` gives the same numbers.

# %%
v0 = data[:20]
g_rng = np.random.default_rng(7)
# positive phase: hidden units driven by the data
ph0 = sigmoid(v0 @ P["W"].T + P["b_h"])                          # p(h | v0), (20, 4)
h0 = (g_rng.random(ph0.shape) < ph0).astype(np.float64)          # h0 ~ p(h | v0)
# negative phase: one step down and up again
v1 = sigmoid(h0 @ P["W"] + P["b_v"])                             # reconstruction E[v | h0], (20, 6)
ph1 = sigmoid(v1 @ P["W"].T + P["b_h"])                          # p(h | v1)
# dε/dθ = negative statistics - positive statistics (a loss to minimise)
g_hand = {"W": (ph1.T @ v1 - ph0.T @ v0) / len(v0), "b_h": (ph1 - ph0).mean(0), "b_v": (v1 - v0).mean(0)}

g_lib = rbm.cd_k(v0, P, np.random.default_rng(7), k=1).grads
for key, g in g_hand.items():
    print(f"CD-1 dε/d{key}: max |by hand - rbm.cd_k| = {np.abs(g - g_lib[key]).max():.1e}")

# %% [markdown]
# ## 6. How far is CD-k from the exact gradient?
#
# CD-k is *biased*: a chain that ran only $k$ steps from the data has not reached the model's
# distribution, so its average is not $\langle\cdot\rangle_{\text{model}}$. As $k$ grows the chain mixes and
# the bias shrinks. To see the bias and not the sampling noise, we start many chains from every
# data vector (each row repeated) and compare the averaged CD-k gradient with the exact one:
# the relative error and the cosine of the angle between them.
#
# Two variants: with sampled last visible states (`negative_visible="samples"`), whose average
# converges to the exact gradient as $k \to \infty$; and with the default mean-field reconstruction,
# which is less noisy but keeps a small bias of its own, because $p(h \mid E[v])$ is not $E[p(h \mid v)]$.
# Once the chains have mixed, what remains of the sampled variant's error is the Monte Carlo noise
# of a finite number of chains.

# %%
REPEAT = 50 if FAST else 300
KS = (1, 3, 10) if FAST else (1, 2, 3, 5, 10, 30)
v_many = np.repeat(data, REPEAT, axis=0)               # many chains per data vector
def flat(g):
    return np.concatenate([g[k].ravel() for k in ("W", "b_h", "b_v")])


g_exact = flat(exact)
print(f"{len(v_many)} chains; relative error |CD-k - exact| / (|CD-k| + |exact|), and cosine:")
print(f"  {'k':>4s}  {'samples: rel. err':>18s} {'cosine':>7s}   {'mean-field: rel. err':>21s} {'cosine':>7s}")
cd_errors = {}
for k in KS:
    row = []
    for stat in ("samples", "probs"):
        g = flat(rbm.cd_k(v_many, P, np.random.default_rng(100 + k), k=k, negative_visible=stat).grads)
        err = rel_error(g, g_exact)
        cos = float(g @ g_exact / (np.linalg.norm(g) * np.linalg.norm(g_exact)))
        cd_errors[(k, stat)] = err
        row += [err, cos]
    print(f"  {k:4d}  {row[0]:18.4f} {row[1]:7.4f}   {row[2]:21.4f} {row[3]:7.4f}")

# %% [markdown]
# ### Exercise 2.2: your own CD-k, and the bias table again
#
# Write `my_cd_k(v0, P, rng, k, negative_visible)` returning the CD-k gradient $\partial\varepsilon/\partial\theta$
# as a dict keyed like `P` (negative statistics minus positive ones, divided by $N$). Draw the random
# states from `rng` in any way you like (`rng.random(p.shape) < p`, `rng.binomial(1, p)`, ...):
#
# 1. positive phase: $p_0 = p(h \mid v_0)$, and a sample $h \sim p_0$;
# 2. each of the $k$ steps: $v = E[v \mid h]$, then a sample of $v$ from it **unless** this is the last
#    step and `negative_visible == "probs"` (the mean-field reconstruction); then $p = p(h \mid v)$,
#    and, except at the last step, a sample $h \sim p$;
# 3. statistics: $p_0$ with $v_0$ (positive), the last $p$ with the last $v$ (negative).
#
# Use only NumPy and the formulas of sections 3 and 5 (not `rbm.cd_k`). Two correct CD-k functions
# agree number for number only if they draw the same random numbers in the same order, so the check
# judges statistics instead: it averages your gradient over many chains and compares the average with
# the exact expectation of CD-k, which this RBM is small enough to compute by listing every state
# (`dmf_np.cd_exact`), for $k$ = 1 and 2 and both kinds of last visible state. A correct function
# lands within a few standard errors of it. Then it recomputes the bias table above with your function.

# %%
from functools import partial

from dmf_np.cd_exact import expected_cd_k_gradient


def my_cd_k(v0, P, rng, k, negative_visible="probs"):
    """CD-k gradient {"W": (n_h, n_v), "b_h": (n_h,), "b_v": (n_v,)} of the batch v0 (N, n_v)."""
    raise NotImplementedError("exercise 2.2: write CD-k")


def _cd_answer(fn, v0, rng, k, stat):
    """fn's gradient for one call, checked for form, as one flat vector."""
    g = fn(v0, P, rng, k, negative_visible=stat)
    assert isinstance(g, dict) and all(key in g for key in P), f"return a dict with the keys {sorted(P)}"
    for key in P:
        assert np.shape(g[key]) == P[key].shape, f"{key}: shape {np.shape(g[key])}, expected {P[key].shape}"
    out = flat({key: np.asarray(g[key], dtype=np.float64) for key in P})
    assert np.isfinite(out).all(), "your gradient holds NaN or inf"
    return out


def _standard_errors_from(mean, noise, g):
    """How many standard errors the average `mean` lies from the gradient dict g."""
    return float(np.linalg.norm(mean - flat(g))) / max(noise, 1e-12)


def check_my_cd_k(fn, batches=8, copies=25):
    """Exercise 2.2's check: the average over many chains against CD-k's exact expectation."""
    chains = np.tile(data, (copies, 1))                  # every data vector starts `copies` chains per call
    for k in (1, 2):
        for stat in ("probs", "samples"):
            runs = np.array([_cd_answer(fn, chains, np.random.default_rng(1000 + 10 * k + b), k, stat)
                             for b in range(batches)])
            mean = runs.mean(axis=0)
            noise = float(np.sqrt((runs.var(axis=0, ddof=1) / batches).sum()))   # standard error, all entries
            off = partial(_standard_errors_from, mean, noise)
            exact = expected_cd_k_gradient(data, P, k, stat)
            if off(exact) < 4.0:
                continue
            other = "samples" if stat == "probs" else "probs"
            looks_like = {f"negative_visible={other!r}": expected_cd_k_gradient(data, P, k, other),
                          f"k={k + 1}": expected_cd_k_gradient(data, P, k + 1, stat),
                          "the sign flipped": {key: -g for key, g in exact.items()}}
            if k > 1:
                looks_like[f"k={k - 1}"] = expected_cd_k_gradient(data, P, k - 1, stat)
            match = [name for name, g in looks_like.items() if off(g) < 4.0]
            raise AssertionError(
                f"k={k}, negative_visible={stat!r}: your average over {batches * len(chains)} chains is "
                f"{off(exact):.1f} standard errors from CD-k's exact expectation (a correct CD-k: about 1)."
                + (f" It matches CD-k with {match[0]} instead." if match else
                   " Is the sign negative minus positive, over N? Are the intermediate states sampled, and the last "
                   "visible state sampled only for 'samples'?"))
    print(f"  your CD-k, {len(v_many)} chains:   k  samples: rel. err   mean-field: rel. err")
    for k in KS:
        errs = [rel_error(flat(fn(v_many, P, np.random.default_rng(100 + k), k, negative_visible=stat)), g_exact)
                for stat in ("samples", "probs")]
        print(f"  {'':31s}{k:3d}  {errs[0]:17.4f}   {errs[1]:20.4f}")


attempt("2.2", my_cd_k, check_my_cd_k)

# %% [markdown]
# ## 7. Training: exact gradient, CD-1, CD-10 and persistent CD
#
# The bias matters less than one might fear: CD-1 still points roughly uphill. We train four copies
# of the same small RBM (fresh, small initial weights, as the library's `init_rbm` draws them) on
# the data with the same optimiser, and follow the exact log-likelihood, which we can afford here.
# Persistent CD (PCD, Tieleman 2008) keeps its chains running from one minibatch to the next instead
# of restarting them at the data, so they can wander far from it and approach the model's
# distribution. (With one learning rate for all four and a fixed number of epochs, which method
# ends highest says more about step sizes than about the estimators: a biased but larger CD step
# can climb faster than the exact gradient for a while. What matters is that all of them climb.)

# %%
EPOCHS = 10 if FAST else 40
BATCH = 20


def train(method, epochs=EPOCHS, seed=0):
    """Train a fresh RBM with one gradient method; returns the exact log-likelihood after each epoch."""
    params = rbm.init_rbm(n_v, n_h, np.random.default_rng(seed), np, np.float64, data_mean=data.mean(axis=0))
    opt = SGD(lr=0.1, momentum=0.5)
    gen = np.random.default_rng(seed + 1)
    chain = rbm.sample_bernoulli(rbm.hidden_probs(data[:BATCH], params["W"], params["b_h"]), gen)
    curve = [rbm.exact_log_likelihood(data, params)]
    for _ in range(epochs):
        for i in range(0, len(data), BATCH):
            batch = data[i:i + BATCH]
            if method == "exact":
                grads = rbm.exact_log_likelihood_gradient(batch, params)
            elif method == "PCD-1":
                grads = rbm.pcd(batch, params, chain, gen, k=1, negative_visible="samples").grads
            else:
                grads = rbm.cd_k(batch, params, gen, k=int(method.split("-")[1])).grads
            opt.step(params, grads)
        curve.append(rbm.exact_log_likelihood(data, params))
    return np.array(curve)


curves = {m: train(m) for m in ("exact", "CD-1", "CD-10", "PCD-1")}
entropy_bound = float(-np.mean(np.log([np.mean((data == row).all(axis=1)) for row in data])))
print(f"mean exact log-likelihood of the training data (nats), after 0 / {EPOCHS // 2} / {EPOCHS} epochs:")
for m, c in curves.items():
    print(f"  {m:6s} {c[0]:8.4f} {c[EPOCHS // 2]:8.4f} {c[-1]:8.4f}")
print(f"  (no model can beat the data's own empirical distribution: {-entropy_bound:.4f})")
best = max(curves, key=lambda m: curves[m][-1])
print(f"every method raised the likelihood: {all(c[-1] > c[0] for c in curves.values())}; "
      f"highest after {EPOCHS} epochs: {best}")
print("largest fall of the log-likelihood from one epoch to the next:",
      ", ".join(f"{m} {max(0.0, -np.diff(c).min()):.3f}" for m, c in curves.items()))

# %% [markdown]
# Persistent CD's curve can fall back now and then: its chains run at this learning rate while the
# weights move quickly under them, and a chain that lags behind the weights gives a poor negative
# phase for a few minibatches (a smaller or decaying learning rate tames it; the library's
# `train_rbm` offers `lr_decay`). Plain CD restarts at the data and cannot drift that way.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.8))
for stat, style in (("samples", "o-"), ("probs", "s--")):
    ax1.loglog(KS, [cd_errors[(k, stat)] for k in KS], style,
               label="sampled $v_k$" if stat == "samples" else "mean-field $v_k$ (default)")
ax1.set_xlabel("Gibbs steps k")
ax1.set_ylabel("relative error of CD-k vs exact gradient")
ax1.set_title("CD-k approaches the exact gradient", fontsize=10)
ax1.grid(True, which="both", alpha=0.3)
ax1.legend(fontsize=9)
# red is DMF's colour in every figure of the project (dmf_np.plots.MODEL_STYLE), so none of these is red
method_colours = {"exact": "black", "CD-1": "#ff7f0e", "CD-10": "#2ca02c", "PCD-1": "#9467bd"}
for m, c in curves.items():
    ax2.plot(range(len(c)), c, color=method_colours[m], label=m)
ax2.axhline(-entropy_bound, color="black", lw=0.8, ls=":", label="empirical distribution")
ax2.set_xlabel("epoch")
ax2.set_ylabel("exact mean log-likelihood (nats)")
ax2.set_title("Training a 6x4 RBM", fontsize=10)
ax2.grid(True, alpha=0.3)
ax2.legend(fontsize=9)
fig.tight_layout()
path = show_and_save(fig, "tutorial_02_cd.png")   # shown in a notebook; saved to dmf_np.plots.figures_dir()
print("figure written to", path)

# %% [markdown]
# ## What to take away
#
# * An RBM is defined by its energy; $Z$ is intractable beyond toy sizes, but $F(v)$ and both
#   conditionals are closed forms, and $p(h \mid v)$ is a sigmoid layer.
# * The likelihood gradient is data statistics minus model statistics; CD-k estimates the second
#   with a $k$-step Gibbs chain started at the data. It is biased, less so as $k$ grows (the printed
#   table), and it trains well anyway (the printed log-likelihoods).
# * In dmf_np every gradient is that of a loss to minimise, so the CD statistic is handed to the
#   optimiser as (negative phase - positive phase), and one `SGD` serves pretraining and fine-tuning.
#
# **Next:** tutorial 5 stacks these RBMs into the layer-wise pretraining of a DMF network.
