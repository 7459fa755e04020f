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
# # Tutorial 3: three ways to fuse — EMF, IMF and DMF, forward
#
# **What this teaches.** Early (EMF), intermediate (IMF) and dense (DMF) multimodal fusion are the
# same layers wired differently (Fig. 1 of the paper). We run all three forward on one batch,
# recompute every layer by hand from Eqs. 1, 3 and 4 to see that the library computes exactly
# those equations, count the feed-forward paths from one modality to the top, and count the
# parameters of the paper's MNIST network under each scheme.
#
# **Read first.** [Tutorial 1](01_sigmoid_layer.py) (one sigmoid layer); the paper's sections 2-3 up to Eq. 4 and Fig. 1;
# the docstring at the top of [dmf_np/fusion.py](../dmf_np/fusion.py) (its table of edges is the whole story).
#
# **How long it runs.** A second or two.
#
# **The multimodal unit.** Unit $l$ holds one layer per modality, $h^x_l$ and $h^y_l$, and one
# shared layer $s_l$ (the paper's footnote 1); $h^x_1$ is modality $x$'s input. There are three
# kinds of edge:
#
# | edge | weight | equation |
# |---|---|---|
# | modality chain $h^x_{l-1} \to h^x_l$ | $W^x_{l-1}$ | Eq. 4: $h^x_l = f(W^x_{l-1} h^x_{l-1})$ |
# | fusion $h^x_l \to s_l$ | $W^{x\to s}_l$ | Eqs. 1, 3 |
# | shared chain $s_{l-1} \to s_l$ | $W^s_{l-1}$ | Eq. 3: $s_l = f(W^{x\to s}_l h^x_l + W^{y\to s}_l h^y_l + W^s_{l-1} s_{l-1})$ |
#
# EMF keeps only the bottom unit's fusion edges and the shared chain above it; IMF keeps the
# modality chains and only the top unit's fusion edges (Eq. 1); DMF keeps every edge. (The
# library adds a bias to every layer; the paper leaves biases out of its equations.)
#
# **Exercises.** 3.1: predict how many feed-forward paths a DMF of $L$ units has from one modality
# to the top; 3.2: count a DMF's parameters from its edge table. Each is a stub checked by the
# tutorial (`dmf_np.exercises.attempt`); until you fill it in the tutorial says "not attempted yet"
# and runs on. Solutions: `tutorials/solutions/tutorial_03.py`.

# %%
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().resolve()
if not (ROOT / "dmf_np").is_dir():
    ROOT = ROOT.parent  # a notebook started inside tutorials/
sys.path.insert(0, str(ROOT))
FAST = os.environ.get("DMF_TUTORIAL_FAST") == "1"

import numpy as np

from dmf_np.data.synthetic import two_modality_classes
from dmf_np.exercises import attempt
from dmf_np.fusion import (
    SCHEMES,
    Architecture,
    forward,
    init_params,
    paper_mnist_architecture,
)

np.set_printoptions(precision=4, suppress=True, linewidth=110)

# %% [markdown]
# ## 1. One small network, three edge sets
#
# Two modalities: $x$ with 6 input features, $y$ with 8; three multimodal units. The layer sizes
# are tiny so that every array fits on the screen. `Architecture.with_scheme` gives the same sizes
# under another scheme, and `param_shapes()` lists the edges that scheme keeps.

# %%
dmf = Architecture("dmf", modality_sizes=((6, 5, 4), (8, 5, 4)), shared_sizes=(6, 5, 3), n_classes=3)
archs = {scheme: dmf.with_scheme(scheme) for scheme in SCHEMES}
for scheme, arch in archs.items():
    weights = [k for k in arch.param_shapes() if k.startswith("W")]
    print(f"{scheme.upper()}: {len(weights)} weight matrices: {', '.join(weights)}")

# %% [markdown]
# ## 2. Forward on one batch
#
# Four examples of generated two-modality data (`dmf_np.data.synthetic`: each modality is a noisy
# view of a class-dependent latent code). The same random seed initialises each network.
# `forward` returns a `Forward` record holding every activation by name: `h[(m, l)]` is $h^m_l$
# (m = 0 for x, 1 for y) and `s[l]` is $s_l$.

# %%
xs, labels = two_modality_classes(n=4, sizes=(6, 8), n_classes=3, seed=1)
xs = [x.astype(np.float64) for x in xs]
params, fws = {}, {}
for scheme, arch in archs.items():
    params[scheme] = init_params(arch, np.random.default_rng(0), xp=np, dtype=np.float64)
    fws[scheme] = forward(params[scheme], xs, arch)
    fw = fws[scheme]
    hs = ", ".join(f"h^{arch.names[m]}_{l} {fw.h[(m, l)].shape}" for (m, l) in sorted(fw.h, key=lambda k: (k[1], k[0])))
    ss = ", ".join(f"s_{l} {s.shape}" for l, s in sorted(fw.s.items()))
    print(f"{scheme.upper()}: {hs}\n      {ss}; logits {fw.logits.shape}")

# %% [markdown]
# EMF has no modality layers above the inputs; IMF has no shared layer below the top; DMF has all
# of them.
#
# ## 3. Recomputing each scheme from the equations
#
# **IMF, Eq. 1.** The top unit fuses the top modality layers, which are plain stacks (Eq. 4):
#
# $$s_L = f\left(W^{x\to s}_L h^x_L + W^{y\to s}_L h^y_L\right).$$

# %%
def f(a):
    return 1.0 / (1.0 + np.exp(-a))


def layer(h, W, b):
    """One sigmoid layer for a batch of rows: f(W h + b) is f(h @ W.T + b)."""
    return f(h @ W.T + b)


P, fw = params["imf"], fws["imf"]
hx, hy = xs
for l in (2, 3):                                                   # Eq. 4, modality stacks
    hx, hy = layer(hx, P[f"W^x_{l - 1}"], P[f"b^x_{l}"]), layer(hy, P[f"W^y_{l - 1}"], P[f"b^y_{l}"])
s3 = f(hx @ P["W^{x->s}_3"].T + hy @ P["W^{y->s}_3"].T + P["b^s_3"])  # Eq. 1
print("IMF s_3 by hand:\n", s3)
print("max |by hand - library| =", np.abs(s3 - fw.s[3]).max())

# %% [markdown]
# **EMF.** The bottom unit fuses the inputs and a shared stack follows. Fusing with two weight
# matrices is the same as concatenating the inputs, $[x; y]$, and using one matrix
# $[W^{x\to s}_1\ W^{y\to s}_1]$: early fusion *is* feature concatenation.

# %%
P, fw = params["emf"], fws["emf"]
s1 = f(xs[0] @ P["W^{x->s}_1"].T + xs[1] @ P["W^{y->s}_1"].T + P["b^s_1"])
s1_concat = f(np.concatenate(xs, axis=1) @ np.concatenate([P["W^{x->s}_1"], P["W^{y->s}_1"]], axis=1).T + P["b^s_1"])
s = s1
for l in (2, 3):
    s = layer(s, P[f"W^s_{l - 1}"], P[f"b^s_{l}"])
print("max |two matrices - one matrix on [x; y]| =", np.abs(s1 - s1_concat).max())
print("max |EMF s_3 by hand - library|          =", np.abs(s - fw.s[3]).max())

# %% [markdown]
# **DMF, Eqs. 3 and 4.** Level by level, first the modality layers (Eq. 4), then the shared layer,
# which fuses the modality layers of its own unit *and* the shared layer below:
#
# $$s_l = f\left(W^{x\to s}_l h^x_l + W^{y\to s}_l h^y_l + W^s_{l-1} s_{l-1}\right), \qquad l = 2, \dots, L,$$
#
# with $s_1 = f(W^{x\to s}_1 h^x_1 + W^{y\to s}_1 h^y_1)$ at the bottom.

# %%
P, fw = params["dmf"], fws["dmf"]
hx, hy = xs
s = f(hx @ P["W^{x->s}_1"].T + hy @ P["W^{y->s}_1"].T + P["b^s_1"])
for l in (2, 3):
    hx, hy = layer(hx, P[f"W^x_{l - 1}"], P[f"b^x_{l}"]), layer(hy, P[f"W^y_{l - 1}"], P[f"b^y_{l}"])  # Eq. 4
    M = hx @ P[f"W^{{x->s}}_{l}"].T + hy @ P[f"W^{{y->s}}_{l}"].T + s @ P[f"W^s_{l - 1}"].T + P[f"b^s_{l}"]
    s = f(M)                                                                                       # Eq. 3
    print(f"l = {l}: max |h^x_l by hand - library| = {np.abs(hx - fw.h[(0, l)]).max():.1e}, "
          f"max |s_l by hand - library| = {np.abs(s - fw.s[l]).max():.1e}")
print("DMF top representation s_3:\n", fw.top)

# %% [markdown]
# ## 4. How many feed-forward paths lead from a modality to the top?
#
# Section 3.1 of the paper: EMF and IMF "contain only one path" from a modality to the top, while
# DMF has several (Fig. 2a). We can count them from the edge set alone: every weight matrix is an
# edge of a directed graph, and a path is a route from $h^x_1$ to $s_L$ along the edges. The two
# functions below read the graph and list the routes; we run them after the exercise.

# %%
def edges(arch):
    """The fusion graph as (source, destination) pairs, read from the parameter names."""
    out = []
    for key in arch.param_shapes():
        if not key.startswith("W^") or key == "W^out":
            continue
        head, lev = key[2:].rsplit("_", 1)
        lev = int(lev)
        if head == "s":
            out.append((f"s_{lev}", f"s_{lev + 1}"))                      # shared chain
        elif head.endswith("->s}"):
            out.append((f"h^{head[1:-4]}_{lev}", f"s_{lev}"))             # fusion
        else:
            out.append((f"h^{head}_{lev}", f"h^{head}_{lev + 1}"))        # modality chain
    return out


def routes(arch, src, dst):
    """Every path from node src to node dst, as lists of nodes."""
    nxt = {}
    for a, b in edges(arch):
        nxt.setdefault(a, []).append(b)
    if src == dst:
        return [[dst]]
    return [[src] + r for b in nxt.get(src, []) for r in routes(arch, b, dst)]


# %% [markdown]
# ### Exercise 3.1: how many paths with $L$ units?
#
# Before counting, work out how many feed-forward paths lead from $h^x_1$ to $s_L$ in a DMF of $L$
# multimodal units, and write it as `n_paths_dmf(L)`. Use the edge table at the top of this
# tutorial: which edges can a path take from $h^x_1$, and can it ever go back? The check counts the
# routes in the edge graph for $L$ = 2 to 7.

# %%
def n_paths_dmf(L):
    """The number of feed-forward paths from h^x_1 to s_L in a DMF of L multimodal units."""
    raise NotImplementedError("exercise 3.1: count the paths")


def check_n_paths(fn):
    """Exercise 3.1's check: fn(L) against the routes counted in the DMF edge graph."""
    for L in range(2, 8):
        deep = Architecture("dmf", ((6,) * L, (8,) * L), (5,) * L, 3)
        counted, said = len(routes(deep, "h^x_1", f"s_{L}")), fn(L)
        assert said == counted, (f"L = {L}: you said {said!r}, the edge graph does not agree. A path climbs the "
                                 "modality stack for a while, crosses by a fusion edge into the shared stack, and "
                                 "climbs the shared chain to s_L: where can it cross, and how often?")


attempt("3.1", n_paths_dmf, check_n_paths)

# %% [markdown]
# Now the count. For the three-unit network of section 1, every route from $h^x_1$ to $s_3$ in each
# scheme:

# %%
for scheme, arch in archs.items():
    rs = routes(arch, "h^x_1", f"s_{arch.L}")
    print(f"{scheme.upper()}: {len(rs)} path(s) from h^x_1 to s_{arch.L}")
    for r in rs:
        print("     ", " -> ".join(r))

# %% [markdown]
# In the DMF list, the path that climbs the modality stack and enters at the top is IMF's (green
# in Fig. 2a), the one that enters at the bottom and climbs the shared chain is EMF's (yellow),
# and the one that crosses in the middle is new (blue). The count for deeper networks (the
# answer to exercise 3.1, folded on the site):

# %% tags=["hide-output"]
for L in range(2, 7):
    deep = Architecture("dmf", ((6,) * L, (8,) * L), (5,) * L, 3)
    counts = {s: len(routes(deep.with_scheme(s), "h^x_1", f"s_{L}")) for s in SCHEMES}
    print(f"L = {L}: " + ", ".join(f"{s.upper()} {n}" for s, n in counts.items()))

# %% [markdown]
# ## 5. Parameter counts of the paper's MNIST network
#
# Section 4.1: each image half has the pathway [392, 512, 128], the shared pathway is
# [512, 256, 64], and a 10-way softmax sits on top. The paper says DMF's extra shared pathway
# makes it "about 2-3 times larger" than EMF and IMF. Here are the counts, split by edge kind.

# %%
def kind(key):
    if key in ("W^out", "b^out"):
        return "classifier"
    if key.startswith("b"):
        return "biases"
    if key.startswith("W^s_"):
        return "shared chain"
    return "fusion" if "->s}" in key else "modality chain"


kinds = ("modality chain", "fusion", "shared chain", "biases", "classifier")
totals = {}
print(f"{'':5s}" + "".join(f"{k:>16s}" for k in kinds) + f"{'total':>12s}")
for scheme in SCHEMES:
    arch = paper_mnist_architecture(scheme)
    split = dict.fromkeys(kinds, 0)
    for key, shape in arch.param_shapes().items():
        split[kind(key)] += int(np.prod(shape))
    totals[scheme] = arch.n_params()
    assert sum(split.values()) == totals[scheme]
    print(f"{scheme.upper():5s}" + "".join(f"{split[k]:16,d}" for k in kinds) + f"{totals[scheme]:12,d}")
print(f"DMF / EMF = {totals['dmf'] / totals['emf']:.2f}, DMF / IMF = {totals['dmf'] / totals['imf']:.2f}")

# %% [markdown]
# EMF and IMF come out almost the same size, and DMF roughly two and a half times larger: the extra
# weights are all fusion and shared-chain edges, i.e. correlation-learning weights, as the paper
# says.
#
# ### Exercise 3.2: count a DMF's parameters from its edge table
#
# Write `dmf_param_count(modality_sizes, shared_sizes, n_classes)`: the number of parameters of a
# DMF with these layer sizes (`modality_sizes` one tuple per modality, input first, each as long as
# `shared_sizes`), counted from the table at the top of this tutorial, plus one bias per layer
# above the inputs and the classifier on $s_L$. Use only the sizes (not `Architecture`). The check
# compares your count with `Architecture(...).n_params()` for the paper's MNIST network, this
# tutorial's small one and a three-modality network.

# %%
def dmf_param_count(modality_sizes, shared_sizes, n_classes):
    """Weights and biases of a DMF with these sizes (e.g. ((392, 512, 128), (392, 512, 128)), (512, 256, 64), 10)."""
    raise NotImplementedError("exercise 3.2: count the parameters")


def check_param_count(fn):
    """Exercise 3.2's check: fn against the library's count, for three networks."""
    cases = [(((392, 512, 128), (392, 512, 128)), (512, 256, 64), 10),
             (((6, 5, 4), (8, 5, 4)), (6, 5, 3), 3),
             (((7, 4), (3, 5), (9, 2)), (6, 4), 5)]
    for mod, shared, n_classes in cases:
        names = tuple("xyz"[: len(mod)])
        expected = Architecture("dmf", mod, shared, n_classes, names=names).n_params()
        got = fn(mod, shared, n_classes)
        assert isinstance(got, (int, float, np.integer, np.floating)), f"return a number; you returned {got!r}"
        assert got == expected, (f"sizes {mod}, {shared}, {n_classes} classes: you counted {got}, "
                                 f"{abs(got - expected):g} {'too many' if got > expected else 'too few'}. Edges: W^m_l (l = 1..L-1) per modality, W^(m->s)_l "
                                 "(l = 1..L) per modality, W^s_l (l = 1..L-1), W^out; biases on h^m_2..h^m_L, s_1..s_L "
                                 "and the classifier.")


attempt("3.2", dmf_param_count, check_param_count)

# %% [markdown]
# ## What to take away
#
# * EMF, IMF and DMF are one engine with three edge sets; the forward pass is Eq. 4 up each
#   modality stack and Eq. 3 (Eq. 1 for IMF) into each shared layer.
# * Early fusion is concatenation; IMF fuses once at the top; DMF fuses at every level and chains
#   the shared layers, which gives several feed-forward paths from each modality to the top (exercise
#   3.1 counts them) instead of 1.
#
# **Next:** [tutorial 4](04_learning_paths.py) follows the error back down those paths (Eqs. 5-8).
