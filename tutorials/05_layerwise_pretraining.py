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
# # Tutorial 5: layer-wise pretraining of the multimodal units
#
# **What this teaches.** Section 3.2 of the paper: "we initialize each multimodal unit with the
# Contrastive Divergence in the layer-wise fashion, then fine-tune the whole network". We see which
# RBMs that takes for EMF, IMF and DMF, why one RBM per shared layer can be cut into the separate
# weights of Eq. 3 without changing what it computes, run the whole schedule on generated data
# while watching each RBM's monitors, and compare fine-tuning from the pretrained weights with
# fine-tuning from random ones. On the way it measures **saturation**, what pretraining leaves in
# each layer: the quantity that, on MNIST, explains why DMF trains slower than IMF in our Fig. 4
# ([tutorial 9](09_why_dmf_trains_slower.py)).
#
# **Read first.** [Tutorial 2](02_rbm_contrastive_divergence.py) (the RBM and CD),
# [tutorial 3](03_three_fusion_schemes.py) (the three fusion schemes). Then [docs/rbm.md](../docs/rbm.md)
# and the docstring of [dmf_np/pretrain.py](../dmf_np/pretrain.py).
#
# **How long it runs.** About ten seconds on two CPU cores (9 s measured: four pretraining runs and
# six fine-tuning runs); a few seconds with `DMF_TUTORIAL_FAST=1`, whose numbers are a smoke test.

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

from dmf_np import rbm
from dmf_np.data.synthetic import two_modality_classes
from dmf_np.fusion import SCHEMES, Architecture, forward, init_params
from dmf_np.optim import SGD
from dmf_np.plots import MODEL_STYLE, show_and_save
from dmf_np.pretrain import CDConfig, join_shared_weights, pretrain_fusion, rbm_schedule, split_rbm_weights
from dmf_np.train import error_rate, fit_classifier

np.set_printoptions(precision=4, suppress=True, linewidth=110)

# %% [markdown]
# ## 1. The schedule: which RBMs, in which order
#
# Bottom-up, as in a deep belief net and in the multimodal DBN that DMF generalises:
#
# * each modality layer $h^m_{l+1}$ is an RBM whose visible units are the layer below, $h^m_l$;
# * each shared layer $s_l$ is **one** RBM whose visible units are *every* layer with an edge into
#   $s_l$ in the chosen scheme: $[h^x_l, h^y_l, s_{l-1}]$ in DMF, the top modality layers in IMF, the
#   inputs (then $s_{l-1}$ alone) in EMF;
# * each RBM is trained on the activations of the already pretrained layers below it; the
#   classifier on top stays random until fine-tuning.
#
# `rbm_schedule(arch)` lists the jobs, read straight from the scheme's edge set:

# %%
arch = Architecture("dmf", ((40, 64, 32), (40, 64, 32)), (64, 32, 16), n_classes=6)
for scheme in SCHEMES:
    a = arch.with_scheme(scheme)
    jobs = rbm_schedule(a)
    print(f"{scheme.upper()}: {len(jobs)} RBMs")
    for job in jobs:
        parts = ", ".join(f"h^{a.names[p[1]]}_{p[2]}" if p[0] == "h" else f"s_{p[1]}" for p in job.parts)
        print(f"    {job.name:6s} <- [{parts}]  writes {', '.join(job.weight_keys)}, {job.bias_key}")

# %% [markdown]
# ## 2. Why one RBM per shared layer is enough
#
# The RBM for $s_l$ has one weight matrix over the concatenated visible units,
# $W = [W_x\ W_y\ W_s]$, and its hidden probabilities are $\sigma(W [h^x_l; h^y_l; s_{l-1}] + b)$. Cutting $W$
# by columns gives three blocks, and the product splits into a sum:
#
# $$W [h^x_l; h^y_l; s_{l-1}] = W_x h^x_l + W_y h^y_l + W_s s_{l-1},$$
#
# which is exactly the pre-activation $M_l$ of Eq. 3 with $W^{x\to s}_l = W_x$, $W^{y\to s}_l = W_y$,
# $W^s_{l-1} = W_s$. So after writing the blocks into the network, its $s_l$ *is* the RBM's hidden
# layer. Checked here on random numbers:

# %%
rng = np.random.default_rng(0)
hx, hy, s_prev = rng.random((5, 64)), rng.random((5, 64)), rng.random((5, 32))   # a batch of 5
W_rbm, b_rbm = rng.normal(0, 0.1, (32, 64 + 64 + 32)), rng.normal(0, 0.1, 32)
Wx, Wy, Ws = split_rbm_weights(W_rbm, [64, 64, 32])
from_rbm = rbm.hidden_probs(np.concatenate([hx, hy, s_prev], axis=1), W_rbm, b_rbm)
from_eq3 = 1 / (1 + np.exp(-(hx @ Wx.T + hy @ Wy.T + s_prev @ Ws.T + b_rbm)))
print("block shapes:", Wx.shape, Wy.shape, Ws.shape)
print(f"max |RBM hidden probabilities - Eq. 3 with the blocks| = {np.abs(from_rbm - from_eq3).max():.1e}")

# %% [markdown]
# ## 3. Pretraining a DMF network
#
# Generated two-modality data (`dmf_np.data.synthetic`, values in (0, 1), which Bernoulli visible
# units need), 40 features per modality, six classes. `pretrain_fusion` trains every RBM of the
# schedule with CD-1 for 3 epochs and writes it into `params` in place. Three is the number of CD
# epochs per RBM of the paper preset, so it is what the MNIST runs of [tutorial 6](06_reproduce_fig4.py)
# and today's pretraining in the study of [tutorial 9](09_why_dmf_trains_slower.py) used (one, in fast
# mode). Each line of its log is one epoch of one RBM, with the monitors of
# [docs/rbm.md](../docs/rbm.md): the reconstruction error (cheap, a rough guide), the
# free-energy gap between held-out and training data (overfitting shows as a growing gap) and the
# pseudo-log-likelihood per unit (chance is $\log 0.5$).

# %%
N_TRAIN, N_TEST = (400, 200) if FAST else (2000, 1000)
PRE_EPOCHS = 1 if FAST else 3                    # the paper preset's CD epochs per RBM (tutorials 6 and 9)
xs, labels = two_modality_classes(n=N_TRAIN + N_TEST, sizes=(40, 40), n_classes=6, seed=0)
xs_tr, xs_te = [x[:N_TRAIN] for x in xs], [x[N_TRAIN:] for x in xs]
y_tr, y_te = labels[:N_TRAIN], labels[N_TRAIN:]

params = init_params(arch, np.random.default_rng(0))
random_copy = {k: v.copy() for k, v in params.items()}
t0 = time.perf_counter()
history = pretrain_fusion(params, arch, xs_tr, CDConfig(epochs=PRE_EPOCHS, batch_size=20), seed=0, heldout=xs_te,
                          show_progress=False, log=print)
print(f"pretraining {len(history)} RBMs for {PRE_EPOCHS} epoch(s) each took {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# A summary per RBM, first and last epoch:

# %%
print(f"  {'RBM':6s} {'visible units':24s} {'recon. error':>20s} {'pseudo-log-lik.':>20s}")
for name, h in history.items():
    rec, pll = h["recon_error"], h.get("pseudo_log_likelihood", [float("nan")])
    print(f"  {name:6s} {'[' + ', '.join(h['visible']) + ']':24s} {rec[0]:9.4f} -> {rec[-1]:7.4f} "
          f"{pll[0]:9.4f} -> {pll[-1]:7.4f}")
changed = [k for k in params if not np.array_equal(params[k], random_copy[k])]
print(f"parameters written by pretraining: {len(changed)} of {len(params)}; "
      f"untouched: {sorted(set(params) - set(changed))}")

# %% [markdown]
# The network now computes the RBMs' hidden probabilities layer by layer. For each shared layer we
# join its blocks back into the RBM matrix and compare the RBM's hidden probabilities with the
# network's forward pass:

# %%
fw = forward(params, xs_tr, arch)
for job in rbm_schedule(arch):
    if not job.name.startswith("s_"):
        continue
    l = job.level
    visible = np.concatenate([fw.h[(p[1], p[2])] if p[0] == "h" else fw.s[p[1]] for p in job.parts], axis=1)
    p_h = rbm.hidden_probs(visible, join_shared_weights(params, job), params[job.bias_key])
    print(f"{job.name}: max |RBM p(h|v) - network's s_{l}| = {np.abs(p_h - fw.s[l]).max():.1e}")

# %% [markdown]
# ## 4. Saturation: what pretraining leaves in each layer
#
# Fine-tuning sends the error down through every layer, and each layer multiplies it by the sigmoid's
# derivative at its pre-activation $M$ ([tutorial 1](01_sigmoid_layer.py); the factor $f(M_l)(1-f(M_l))$ of Eqs. 7 and 8 in
# [tutorial 4](04_learning_paths.py)):
#
# $$f'(M) = f(M)\,\big(1 - f(M)\big) \le \tfrac14, \qquad f'(M) < 0.018 \text{ once } |M| > 4.$$
#
# A unit whose $M$ sits far from 0 is **saturated**: it passes almost no error back, and the weights
# into it and below it barely learn. RBM training pushes the hidden units toward confident, nearly
# binary states, so pretraining can leave layers saturated before fine-tuning starts. Per layer, on
# the training data, we measure what the study of [docs/claims.md](../docs/claims.md) measured on MNIST
# (its function, `dmf_np.experiments.study.layer_statistics`): the spread of $M$, the share of
# $|M| > 4$, and the mean $f'(M)$, which scales every error that crosses the layer.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

M_axis = np.linspace(-8, 8, 401)                  # (not red: red is DMF's colour in every figure)
f_M = 1 / (1 + np.exp(-M_axis))
fig, ax = plt.subplots(figsize=(6.0, 3.0))
ax.plot(M_axis, f_M, color="black", lw=1.2, label="$f(M)$")
ax.plot(M_axis, f_M * (1 - f_M), color="#9467bd", lw=2.0, label="$f'(M) = f(M)(1-f(M))$")
for side in (-1, 1):
    ax.axvspan(4 * side, 8 * side, color="0.85", lw=0)
ax.text(6, 0.55, "saturated\n$|M| > 4$", ha="center", fontsize=8)
ax.text(-6, 0.55, "saturated\n$|M| > 4$", ha="center", fontsize=8)
ax.set_xlabel("pre-activation $M$")
ax.set_xlim(-8, 8)
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8, loc="upper left")
fig.tight_layout()
print("figure written to", show_and_save(fig, "tutorial_05_saturation.png"))

# %% [markdown]
# Every scheme, from random weights and after pretraining (the same seed for both; these pretrained
# weights are the ones fine-tuned in section 5). The top modality layer $h^x_3$ (EMF has none above its
# inputs) and the top shared layer $s_3$, under the classifier:

# %%
from dmf_np.experiments.study import layer_statistics

starts, saturation = {}, {}
for scheme in SCHEMES:
    a = arch.with_scheme(scheme)
    for start in ("random", "pretrained"):
        p = init_params(a, np.random.default_rng(0))
        if start == "pretrained":
            pretrain_fusion(p, a, xs_tr, CDConfig(epochs=PRE_EPOCHS, batch_size=20), seed=0, show_progress=False,
                            log=None)
        starts[(scheme, start)] = p
        saturation[(scheme, start)] = layer_statistics(p, xs_tr, a)
print(f"  {'scheme':6s} {'start':11s} {'layer':6s} {'std(M)':>7s} {'|M| > 4':>8s} {'mean f(M)(1-f(M))':>18s}")
for (scheme, start), stats in saturation.items():
    for layer in ("h^x_3", "s_3"):
        if layer in stats:
            st = stats[layer]
            print(f"  {scheme.upper():6s} {start:11s} {layer:6s} {st['pre_std']:7.2f} {st['saturated']:8.1%} "
                  f"{st['mean_fprime']:18.3f}")

# %% [markdown]
# Beside it, the same measurement from the study's E1, on MNIST, for the paper's network after the
# paper preset's pretraining (`figures/study.json`, mean over 5 seeds; DMF-A is today's pretraining,
# DMF-B pretrains the shared RBMs on the modality layers only). What differs: MNIST's 784 pixels and
# the paper's layer sizes against 40 generated features per modality and a small network, 50,000
# images against a few hundred. Compare the pattern, not the numbers.

# %%
import json

e1_stats = json.loads((ROOT / "figures" / "study.json").read_text())["e1"]["layer_stats"]
for model in ("emf", "imf", "dmf-A", "dmf-B"):
    top = e1_stats.get(model, {}).get("0", {}).get("s_3")
    if top:
        print(f"  study E1, {model:6s} s_3: std(M) {top['pre_std']:5.1f}, |M| > 4 {top['saturated']:4.0%}, "
              f"mean f'(M) {top['mean_fprime']:.3f}")
ours = {s_: saturation[(s_, "pretrained")]["s_3"]["mean_fprime"] for s_ in SCHEMES}
order = " < ".join(s_.upper() for s_ in sorted(ours, key=ours.get))
print("  this tutorial, pretrained s_3: mean f'(M) " + ", ".join(f"{s_.upper()} {v:.3f}" for s_, v in ours.items())
      + f" (lowest first: {order})")

# %% [markdown]
# On MNIST, DMF's top shared layer starts the most saturated of all (its RBM sees $[h^x_3, h^y_3, s_2]$,
# 1,536 visible units in the paper's network), and that is what the study found behind DMF's slow
# training in Fig. 4: [tutorial 9](09_why_dmf_trains_slower.py) follows it through fine-tuning, and
# shows what happens when the shared RBMs are pretrained differently.
#
# ## 5. Does pretraining help fine-tuning?
#
# We fine-tune the pretrained network and the random one identically (SGD, the same minibatch
# order), for each of the three schemes, and compare training loss and test error. The paper
# pretrains all its models; this shows what that buys on small, noisy generated data, for one seed:
# read it as what happened here, not as a finding (the MNIST answer, 5 seeds, is in
# [tutorial 6](06_reproduce_fig4.py)). The last line below says, from the numbers, whether the gain
# is mostly at the start of fine-tuning or lasts.

# %%
FT_EPOCHS = 2 if FAST else 10
results = {}
for scheme in SCHEMES:
    a = arch.with_scheme(scheme)
    for start in ("random", "pretrained"):
        p = {k: v.copy() for k, v in starts[(scheme, start)].items()}     # section 4's starts
        hist = fit_classifier(p, a, xs_tr, y_tr, epochs=FT_EPOCHS, batch_size=20, optimizer=SGD(lr=0.1, momentum=0.9),
                              seed=0, show_progress=False)
        results[(scheme, start)] = (np.array(hist["train_loss"]), error_rate(p, xs_te, y_te, a))
print(f"after {FT_EPOCHS} fine-tuning epochs:")
print(f"  {'scheme':6s} {'start':11s} {'loss, epoch 1':>14s} {'final loss':>11s} {'test error %':>13s}")
for (scheme, start), (curve, err) in results.items():
    print(f"  {scheme.upper():6s} {start:11s} {curve[0]:14.4f} {curve[-1]:11.4f} {err:13.1f}")
for scheme in SCHEMES:
    r, p_ = results[(scheme, "random")], results[(scheme, "pretrained")]
    print(f"{scheme.upper()}: pretraining changed the first-epoch loss by {p_[0][0] - r[0][0]:+.4f}, "
          f"the final loss by {p_[0][-1] - r[0][-1]:+.4f} and the test error by {p_[1] - r[1]:+.1f} points")
early = np.mean([results[(s_, "random")][0][0] - results[(s_, "pretrained")][0][0] for s_ in SCHEMES])
late = np.mean([results[(s_, "random")][0][-1] - results[(s_, "pretrained")][0][-1] for s_ in SCHEMES])
print(f"mean loss reduction from pretraining: first epoch {early:+.4f}, last epoch {late:+.4f}: "
      + ("pretraining did not lower the loss in this run" if early <= 0 and late <= 0
         else "the gain is mostly a head start that fine-tuning catches up with" if late < 0.5 * early
         else "the gain lasts through fine-tuning"))

# %% [markdown]
# The curves: each scheme in its colour of `dmf_np.plots.MODEL_STYLE` (DMF red, IMF blue, EMF grey,
# as in every figure of the project); solid lines with dots start from pretrained weights, dotted
# lines with crosses from random ones.

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6.2, 4.0))
for (scheme, start), (curve, _) in results.items():
    pretrained = start == "pretrained"
    ax.plot(np.arange(1, len(curve) + 1), curve, ls="-" if pretrained else ":", marker="o" if pretrained else "x",
            ms=3.5, color=MODEL_STYLE[scheme]["color"], label=f"{MODEL_STYLE[scheme]['label']}, {start}")
ax.set_xlabel("fine-tuning epoch")
ax.set_ylabel(r"training loss $\varepsilon$ (cross-entropy)")
ax.set_yscale("log")
ax.set_title("Fine-tuning from RBM-pretrained vs random weights", fontsize=10)
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8, ncol=2)
fig.tight_layout()
path = show_and_save(fig, "tutorial_05_pretraining.png")   # shown in a notebook; saved to dmf_np.plots.figures_dir()
print("figure written to", path)

# %% [markdown]
# ## What to take away
#
# * Pretraining is a schedule of ordinary RBMs read off the fusion graph: one per modality layer,
#   one per shared layer over everything that feeds it.
# * Cutting a shared RBM's weight matrix by columns gives Eq. 3's separate weights, with no change in
#   what the layer computes; the printed differences are rounding.
# * Every error crossing a layer is scaled by $f'(M) = f(M)(1-f(M))$, at most 1/4 and nearly 0 for
#   $|M| > 4$. Pretraining can leave a layer saturated before fine-tuning starts; the printed table
#   says how much, per scheme and layer, and on MNIST DMF's top shared layer is the most saturated
#   ([tutorial 9](09_why_dmf_trains_slower.py) follows what that does to training).
# * Whether pretraining pays off depends on the data and the budget: compare the printed losses and
#   errors, and see the MNIST experiment ([tutorial 6](06_reproduce_fig4.py)) for the paper's setting.
#
# **Next:** [tutorial 6](06_reproduce_fig4.py) reruns Fig. 4 of the paper.
