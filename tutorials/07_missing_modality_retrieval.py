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
# # Tutorial 7: a missing modality — inferring it, and cross-modal retrieval
#
# **What this teaches.** The generative variant of DMF (Fig. 3, right): the fusion network as an
# encoder of a joint representation $s_L$, and its mirror image as a decoder that reconstructs every
# modality from $s_L$. Fed one modality with the other missing (zeroed), it *infers* the missing one,
# and it places both modalities in one joint space, so a query of one modality can retrieve items of
# the other (section 4.3). We build the decoder, train EMF, IMF and DMF encoder-decoders on generated
# two-modality data, and measure both: how well the missing modality is inferred, and the mean
# average precision (mAP) of cross-modal retrieval.
#
# **Read first.** Tutorial 3 (the encoders) and tutorial 4 (their backward pass, which the decoder's
# error enters unchanged); the paper's section 3.2 and 4.3; the docstrings at the top of
# `dmf_np/generative.py` and `dmf_np/retrieval.py`.
#
# **How long it runs.** Half a minute to a minute on two CPU cores (56 s measured on busy ones); a few
# seconds with `DMF_TUTORIAL_FAST=1`.

# %%
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().resolve()
if not (ROOT / "dmf_np").is_dir():
    ROOT = ROOT.parent  # a notebook started inside tutorials/
sys.path.insert(0, str(ROOT))
FAST = os.environ.get("DMF_TUTORIAL_FAST") == "1"  # the test suite runs every tutorial in fast mode

import numpy as np

from dmf_np import generative as gen
from dmf_np import generative_train
from dmf_np.data.synthetic import two_modality_classes
from dmf_np.fusion import Architecture
from dmf_np.gradcheck import gradcheck_generative
from dmf_np.optim import SGD
from dmf_np.plots import MODEL_STYLE, show_and_save
from dmf_np.retrieval import distance_matrix, mean_average_precision, retrieval_map

np.set_printoptions(precision=3, suppress=True, linewidth=110)

# %% [markdown]
# ## 1. The decoder is the encoder with every edge reversed
#
# A generative network has no classifier (`n_classes=None`); its output is the joint representation
# $s_L$. The decoder mirrors the encoder's graph: the modality chain $h^x_l \to h^x_{l+1}$ becomes
# $\hat h^x_{l+1} \to \hat h^x_l$, a fusion edge $h^x_l \to s_l$ becomes $\hat s_l \to \hat h^x_l$, and the shared chain
# runs downwards. Decoder keys carry a prime; `mirrored_key` names the encoder weight each one
# mirrors, and a *tied* initialisation starts each decoder weight at that weight's transpose.

# %%
arch = Architecture("dmf", ((20, 32, 16), (30, 32, 16)), (32, 24, 12), n_classes=None)
P = gen.init_generative(arch, np.random.default_rng(0), xp=np, dtype=np.float64, tied=True)
for key, shape in gen.decoder_param_shapes(arch).items():
    if key.startswith("W"):
        mirror = gen.mirrored_key(arch, key)
        print(f"{key:12s} {str(shape):9s} mirrors {mirror:12s} {str(P[mirror].shape):9s} "
              f"tied: {np.array_equal(P[key], P[mirror].T)}")

# %% [markdown]
# The decoder's backward pass mirrors Eqs. 5 and 6 (a decoder shared node collects error from the
# decoder layers below it), and its error on $s_L$ then enters the encoder's own backward pass. As
# always, we check it against central differences before trusting it (float64, a small network;
# one modality missing in some examples):

# %%
errs = gradcheck_generative("dmf", seed=0)
print(f"generative DMF, {len(errs)} parameters: largest relative error {max(errs.values()):.1e}")
assert max(errs.values()) < 1e-6

# %% [markdown]
# ## 2. Training with missing modalities
#
# A missing modality is fed as zeros (`mask_modalities`). If the network only ever saw complete
# pairs, a zeroed input would be something it never met. So `fit_generative` draws, per example and
# per epoch, which modalities the *input* keeps, by default a third both, a third only $x$, a third
# only $y$, while the *target* is always complete: the network is trained to reconstruct what it
# was not shown.

# %%
present = generative_train.sample_presence(9000, 2, np.random.default_rng(0))
both = float((present[0] * present[1]).mean())
print(f"fractions of examples: both {both:.3f}, only x {float(present[0].mean()) - both:.3f}, "
      f"only y {float(present[1].mean()) - both:.3f}")

# %% [markdown]
# Data: generated two-modality classes (`dmf_np.data.synthetic`), 20 and 30 features in (0, 1)
# (so the reconstructions use sigmoid outputs and cross-entropy, `outputs="bernoulli"`), six classes
# that the encoder never sees: the labels are used only to score retrieval. We train each scheme
# from several seeds, plus DMF trained on complete pairs only, to see what the missing-modality
# training is worth.

# %%
N_TRAIN, N_TEST = (500, 300) if FAST else (2000, 1000)
EPOCHS = 2 if FAST else 20
SEEDS = [0] if FAST else [0, 1, 2]
xs, labels = two_modality_classes(n=N_TRAIN + N_TEST, sizes=(20, 30), n_classes=6, seed=0)
xs_tr, xs_te = [x[:N_TRAIN] for x in xs], [x[N_TRAIN:] for x in xs]
y_te = labels[N_TRAIN:]


def mse(a, b):
    return float(((a - b) ** 2).mean())


def evaluate(params, a):
    """Inference errors of each modality from the other, and retrieval mAP in both directions."""
    out = {}
    for m, other in ((1, 0), (0, 1)):
        keep_other = [i == other for i in range(2)]
        out[f"{a.names[m]} from {a.names[other]}"] = mse(gen.reconstruct(params, xs_te, a, "bernoulli", present=keep_other)[m], xs_te[m])
        out[f"{a.names[m]} from both"] = mse(gen.reconstruct(params, xs_te, a, "bernoulli")[m], xs_te[m])
    z_x = gen.encode(params, xs_te, a, present=[True, False])     # queries/items described by x alone
    z_y = gen.encode(params, xs_te, a, present=[False, True])     # ... by y alone
    out["mAP x->y"] = retrieval_map(z_x, z_y, y_te, y_te)
    out["mAP y->x"] = retrieval_map(z_y, z_x, y_te, y_te)
    return out


runs = {}
t0 = time.perf_counter()
for name, scheme, missing in [("EMF", "emf", None), ("IMF", "imf", None), ("DMF", "dmf", None),
                              ("DMF, complete pairs only", "dmf", False)]:
    a = arch.with_scheme(scheme)
    results = []
    for seed in SEEDS:
        params = gen.init_generative(a, np.random.default_rng(seed))
        generative_train.fit_generative(params, a, xs_tr, "bernoulli", epochs=EPOCHS, batch_size=50, seed=seed,
                           optimizer=SGD(lr=0.1, momentum=0.9), missing_probs=missing, show_progress=False)
        results.append(evaluate(params, a))
        if name == "DMF" and seed == SEEDS[0]:
            dmf_params = params
    runs[name] = {k: np.array([r[k] for r in results]) for k in results[0]}
print(f"{len(runs) * len(SEEDS)} encoder-decoders trained for {EPOCHS} epochs in {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# ## 3. Inferring the missing modality
#
# The mean squared error per feature of each modality, inferred from the other alone and
# reconstructed from both, on held-out pairs (mean over seeds). Two reference points: predicting
# every example as the training mean of that modality (what one can do knowing nothing about the
# example), and the reconstruction from both modalities (what the network does when nothing is
# missing).

# %%
baseline = {f"{arch.names[m]}": mse(np.broadcast_to(xs_tr[m].mean(0), xs_te[m].shape), xs_te[m]) for m in (0, 1)}
cols = ["y from x", "y from both", "x from y", "x from both"]
print(f"  {'':26s}" + "".join(f"{c:>13s}" for c in cols))
print(f"  {'training mean (no model)':26s}{baseline['y']:13.4f}{'':13s}{baseline['x']:13.4f}")
for name, r in runs.items():
    print(f"  {name:26s}" + "".join(f"{r[c].mean():13.4f}" for c in cols))
best = min((n for n in runs if "only" not in n), key=lambda n: runs[n]["y from x"].mean())
print(f"lowest error inferring y from x alone: {best}; the DMF trained on complete pairs only infers y from x "
      f"with {runs['DMF, complete pairs only']['y from x'].mean() / runs['DMF']['y from x'].mean():.2f} times "
      f"the error of the DMF trained with missing modalities")

# %% [markdown]
# ## 4. Cross-modal retrieval
#
# Every held-out pair is encoded twice: from $x$ alone and from $y$ alone (the other zeroed). A query
# described by $x$ ranks every item described by $y$ by the cosine distance between their joint
# representations (centred on the items' mean: sigmoid features are all positive, and uncentred
# cosines would be dominated by their common part). An item is relevant when it has the query's
# class. Average precision of a query is the mean of precision@k over the ranks $k$ of its relevant
# items, and mAP averages it over queries (`dmf_np.retrieval`). A random ranking scores about the
# fraction of relevant items; we compute that chance level by ranking with random distances.

# %%
chance = mean_average_precision(np.random.default_rng(0).random((len(y_te), len(y_te))), y_te, y_te)[0]
print(f"  {'':26s}{'mAP x->y':>12s}{'mAP y->x':>12s}")
print(f"  {'random ranking':26s}{chance:12.4f}{chance:12.4f}")
for name, r in runs.items():
    spread = (f"   (standard deviation over seeds {r['mAP x->y'].std(ddof=1):.3f}, {r['mAP y->x'].std(ddof=1):.3f})"
              if len(SEEDS) > 1 else "")
    print(f"  {name:26s}{r['mAP x->y'].mean():12.4f}{r['mAP y->x'].mean():12.4f}{spread}")

# %% [markdown]
# What makes retrieval work is visible in the distances themselves. On one trained DMF: the
# distance from each held-out pair's $x$-encoding to its *own* $y$-encoding, to $y$-encodings of other
# pairs of the same class, and to those of other classes.

# %%
z_x = gen.encode(dmf_params, xs_te, arch, present=[True, False])
z_y = gen.encode(dmf_params, xs_te, arch, present=[False, True])
D = distance_matrix(z_x, z_y)
same_class = y_te[:, None] == y_te[None, :]
print(f"mean cosine distance x-query to y-item: same pair {np.diag(D).mean():.3f}, "
      f"same class {D[same_class].mean():.3f}, other class {D[~same_class].mean():.3f}")

# %% [markdown]
# The figure: two held-out examples of modality $y$, inferred by the DMF from $x$ alone and
# reconstructed from both (DMF is red, as in every figure of the project: `dmf_np.plots.MODEL_STYLE`),
# and the retrieval mAPs of every model in its colour (EMF grey, IMF blue, DMF red; the DMF trained on
# complete pairs only in pale red), plain bars for $x \to y$, hatched bars for $y \to x$.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

DMF_RED = MODEL_STYLE["dmf"]["color"]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 1, 1.1]})
rec_from_x = gen.reconstruct(dmf_params, xs_te, arch, "bernoulli", present=[True, False])[1]
rec_both = gen.reconstruct(dmf_params, xs_te, arch, "bernoulli")[1]
for ax, i in zip(axes[:2], (0, 1)):
    ax.plot(xs_te[1][i], "k.-", label="true y")
    ax.plot(rec_from_x[i], "o-", color=DMF_RED, ms=4, label="y inferred from x alone")
    ax.plot(rec_both[i], "s:", color=DMF_RED, ms=4, alpha=0.55, label="y reconstructed from x and y")
    ax.set_xlabel("feature of modality y")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"held-out example {i} (class {y_te[i]}), DMF", fontsize=10)
    ax.grid(True, alpha=0.3)
axes[0].set_ylabel("value")
axes[0].legend(fontsize=8, loc="lower left")
names = list(runs)
xpos = np.arange(len(names))
# each run in its scheme's colour (the name starts with the scheme); the DMF on complete pairs paler
colours = [MODEL_STYLE[n.split(",")[0].lower()]["color"] for n in names]
alphas = [0.45 if "only" in n else 1.0 for n in names]
for j, (key, hatch) in enumerate((("mAP x->y", ""), ("mAP y->x", "///"))):
    means = [runs[n][key].mean() for n in names]
    errs_ = [runs[n][key].std(ddof=1) if len(SEEDS) > 1 else 0.0 for n in names]
    for i in range(len(names)):
        axes[2].bar(xpos[i] + (j - 0.5) * 0.38, means[i], 0.38, yerr=errs_[i], color=colours[i], alpha=alphas[i],
                    hatch=hatch, edgecolor="white", capsize=3)
line = axes[2].axhline(chance, color="black", lw=0.8, ls=":")
axes[2].set_xticks(xpos, [n.replace(", ", ",\n") for n in names], fontsize=8)
axes[2].set_ylabel("mean average precision")
axes[2].set_title(f"Cross-modal retrieval (mean of {len(SEEDS)} seed(s))", fontsize=10)
axes[2].legend([Patch(facecolor="0.55"), Patch(facecolor="0.55", hatch="///", edgecolor="white"), line],
               ["mAP x->y", "mAP y->x", "random ranking"], fontsize=8)
fig.tight_layout()
path = show_and_save(fig, "tutorial_07_missing_modality.png")   # shown in a notebook; saved to figures_dir()
print("figure written to", path)

# %% [markdown]
# ## What to take away
#
# * The generative variant is the encoder plus its mirror; the decoder's error enters the
#   encoder's backward pass (tutorial 4) unchanged, so the learning paths of Eqs. 5-8 serve here too.
# * A missing modality is a zeroed input; the network learns to fill it in only if it is trained
#   with inputs missing and targets complete (compare the two DMF rows above).
# * Retrieval needs no extra machinery: encode each side from its own modality and rank by distance
#   in the joint space. The printed mAPs against the random ranking say how much structure the joint
#   space holds; the Wiki experiment (Table 2 of the paper) is the real-data version.
