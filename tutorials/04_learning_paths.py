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
# # Tutorial 4: the learning paths of DMF (Eqs. 5-8, Fig. 2)
#
# **What this teaches.** Why a DMF network learns differently from IMF and EMF: the error that
# trains a modality layer arrives along *several* paths. We take one tiny DMF, run one forward and
# one backward pass, and print every term of Eqs. 5-8 as we compute it with the library's functions
# (and check each against an explicit Jacobian, and the whole against finite differences). Then we
# split every parameter's gradient into its paths and say what fraction each one carries, decompose
# the error that reaches the bottom of a modality stack by the shared layer where it entered, draw
# the paths in the manner of the paper's Fig. 2, and finally train with the cross-modal error paths
# cut, to measure what they are worth.
#
# **Read first.** Tutorial 1 (one sigmoid layer, forward and backward, and the gradient check) and
# tutorial 3 (the forward pass, Eqs. 1, 3, 4). The paper's section 3.1 (Eqs. 2, 5-8) and Fig. 2.
# The library code this tutorial steps through is `dmf_np/backprop.py`.
#
# **How long it runs.** Ten to twenty seconds on two CPU cores (the ablation at the end is most of
# it); a few seconds with `DMF_TUTORIAL_FAST=1`.

# %%
import io as _io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().resolve()
if not (ROOT / "dmf_np").is_dir():
    ROOT = ROOT.parent  # a notebook started inside tutorials/
sys.path.insert(0, str(ROOT))
FAST = os.environ.get("DMF_TUTORIAL_FAST") == "1"  # the test suite runs every tutorial in fast mode
FIGURES = Path(os.environ.get("DMF_FIGURES_DIR", ROOT / "figures"))

import numpy as np

from dmf_np.backprop import (backward, classifier_loss, cross_modal_cuts, grad_modality_activation,
                             grad_shared_activation, grad_via_modality_path, grad_via_shared_path,
                             loss_and_grads, shared_to_modality_jacobian, shared_to_shared_jacobian)
from dmf_np.data.synthetic import two_modality_classes
from dmf_np.fusion import Architecture, forward, init_params
from dmf_np.gradcheck import check_gradients
from dmf_np.layers import sigmoid_backward, softmax_cross_entropy

np.set_printoptions(precision=5, suppress=False, linewidth=110)


def cmp(name, ours, ref):
    """Exact / approximately equal / largest absolute difference of two arrays (after the backprop lectures)."""
    exact = bool(np.all(ours == ref))
    approx = bool(np.allclose(ours, ref, rtol=1e-10, atol=1e-15))
    print(f"  {name:34s} exact: {exact!s:5s} approx: {approx!s:5s} max diff: {np.abs(ours - ref).max():.1e}")
    assert approx, name


# %% [markdown]
# ## 1. A tiny DMF and one forward pass
#
# Two modalities, $x$ (4 input features) and $y$ (5), three multimodal units ($L = 3$, as in Fig. 2),
# three units in every hidden modality layer, shared layers of 4, 3 and 3 units, a 3-way softmax on $s_3$.
# Two examples, float64 throughout (so that every comparison below can be exact to rounding).
#
# Notation, the paper's: $h^x_l$ is modality $x$'s layer $l$ ($h^x_1$ is the input), $s_l$ the shared
# layer of unit $l$, $M_l$ its pre-activation, so $s_l = f(M_l)$ with
#
# $$M_l = W^{x\to s}_l h^x_l + W^{y\to s}_l h^y_l + W^s_{l-1} s_{l-1} \quad\text{(Eq. 3)}, \qquad h^x_l = f(W^x_{l-1} h^x_{l-1}) \quad\text{(Eq. 4)}.$$

# %%
arch = Architecture("dmf", modality_sizes=((4, 3, 3), (5, 3, 3)), shared_sizes=(4, 3, 3), n_classes=3)
P = init_params(arch, np.random.default_rng(0), xp=np, dtype=np.float64)
xs, labels = two_modality_classes(n=2, sizes=(4, 5), n_classes=3, seed=3)
xs = [x.astype(np.float64) for x in xs]

fw = forward(P, xs, arch)
E, dW_out, db_out, dE_ds3 = classifier_loss(P, fw, labels)   # the softmax head on s_3
print("labels:", labels)
for l in (1, 2, 3):
    print(f"h^x_{l} = {fw.h[(0, l)].round(4).tolist()}")
for l in (1, 2, 3):
    print(f"s_{l}   = {fw.s[l].round(4).tolist()}")
print(f"loss E = {E:.6f}")
print("dE/ds_3 (from the softmax head) =\n", dE_ds3)

# %% [markdown]
# The library's complete backward pass, for reference; we will rebuild every piece of it by hand.
# (`input_grads=True` asks for the error that reaches the inputs $h^x_1$ too; it trains nothing,
# but it shows where the bottom paths end.)

# %%
ref = backward(P, fw, dE_ds3, paths=True, input_grads=True)

# %% [markdown]
# ## 2. Backward through the top unit ($l = 3$)
#
# The head gives $\partial E/\partial s_3$. Every layer first turns the error on its output into the
# error on its pre-activation by multiplying with the sigmoid derivative $f(M)(1 - f(M)) = s(1-s)$;
# the library calls that product `delta`, because it is used twice: to send error down, and to
# form the layer's own weight gradients.
#
# The top modality layer $h^x_3$ has no modality layer above it, so Eq. 5 has only its second
# term: the error arrives from $s_3$ alone,
# $\partial E/\partial h^x_3 = \partial E/\partial s_3 \cdot \partial s_3/\partial h^x_3
# = W^{s\to x}_3\,(\partial E/\partial s_3 \odot f(M_3)(1-f(M_3)))$, with $W^{s\to x}_3 = (W^{x\to s}_3)^\top$.

# %%
delta_s3 = sigmoid_backward(dE_ds3, fw.s[3])                     # dE/dM_3
shared_x3 = grad_via_shared_path(delta_s3, P["W^{x->s}_3"])       # Eq. 7 term into h^x_3
dE_dhx3 = grad_modality_activation(None, shared_x3)              # Eq. 5 with no h^x_4 above
print("dE/dM_3 = dE/ds_3 * f(M_3)(1-f(M_3)) =\n", delta_s3)
print("dE/dh^x_3 (only the path through s_3) =\n", dE_dhx3)
cmp("dE/dh^x_3", dE_dhx3, ref.dh[(0, 3)])

# %% [markdown]
# ## 3. One unit down ($l = 2$): Eqs. 6 and 8, then both terms of Eq. 5
#
# **Eq. 6**, the shared chain: $\partial E/\partial s_2 = \partial E/\partial s_3 \cdot \partial s_3/\partial s_2$, and
# **Eq. 8** gives the Jacobian, $\partial s_3/\partial s_2 = (W^s_2)^\top f(M_3)(1-f(M_3))$. The training code
# never forms this matrix: it multiplies `delta_s3 @ W^s_2` (`grad_shared_activation`). Here we also
# form it explicitly, one $|s_3|\times|s_2|$ matrix per example (`shared_to_shared_jacobian`; it
# stores $\mathrm{diag}(f'(M_3))\,W^s_2$, whose transpose is the paper's expression), and check that the
# two agree.

# %%
dE_ds2 = grad_shared_activation(delta_s3, P["W^s_2"])           # Eq. 6, as a product
J8 = shared_to_shared_jacobian(fw.s[3], P["W^s_2"])              # Eq. 8, explicit: (N, |s_3|, |s_2|)
dE_ds2_explicit = np.einsum("nj,nji->ni", dE_ds3, J8)            # row vector times Jacobian, per example
print("Eq. 8, ds_3/ds_2 for example 0 =\n", J8[0])
print("Eq. 6, dE/ds_2 =\n", dE_ds2)
cmp("Eq. 6 product vs explicit Eq. 8", dE_ds2, dE_ds2_explicit)
cmp("dE/ds_2 vs library", dE_ds2, ref.ds[2])

# %% [markdown]
# Now the heart of DMF. **Eq. 5** says the error on $h^x_2$ is the sum of two terms,
#
# $$\frac{\partial E}{\partial h^x_2} = \underbrace{\frac{\partial E}{\partial h^x_3}\frac{\partial h^x_3}{\partial h^x_2}}_{\text{modality path (Eq. 2)}}
# + \underbrace{\frac{\partial E}{\partial s_2}\frac{\partial s_2}{\partial h^x_2}}_{\text{shared path (Eq. 7)}}.$$
#
# The first is the *only* term an IMF network has (Eq. 2): error that came down modality $x$'s own
# stack (and which entered that stack at the top, at $s_3$). The second is new: error that reached
# $s_2$ down the shared chain and now crosses into modality $x$. **Eq. 7** writes it out,
#
# $$\frac{\partial E}{\partial s_2}\frac{\partial s_2}{\partial h^x_2} = \left(\frac{\partial E}{\partial s_3}\frac{\partial s_3}{\partial s_2}\right)\cdot\left(W^{s\to x}_2 f(M_2)(1 - f(M_2))\right),$$
#
# and since $M_2$ and $M_3$ both contain $W^{y\to s} h^y$, this error carries information about
# modality $y$: the paper's cross-modal, hierarchical supervision.

# %%
delta_x3 = sigmoid_backward(dE_dhx3, fw.h[(0, 3)])              # dE/d(pre-activation of h^x_3)
modality_x2 = grad_via_modality_path(delta_x3, P["W^x_2"])       # Eq. 2 = first term of Eq. 5
delta_s2 = sigmoid_backward(dE_ds2, fw.s[2])                     # dE/dM_2
shared_x2 = grad_via_shared_path(delta_s2, P["W^{x->s}_2"])      # Eq. 7 = second term of Eq. 5
dE_dhx2 = grad_modality_activation(modality_x2, shared_x2)       # Eq. 5: their sum
print("Eq. 2 term (from h^x_3) =\n", modality_x2)
print("Eq. 7 term (from s_2)   =\n", shared_x2)
print("Eq. 5 total dE/dh^x_2   =\n", dE_dhx2)

# explicit Jacobians: dh^x_3/dh^x_2 = diag(f'(.)) W^x_2 and ds_2/dh^x_2 = diag(f(M_2)(1-f(M_2))) W^{x->s}_2
h3 = fw.h[(0, 3)]
J2 = (h3 * (1 - h3))[:, :, None] * P["W^x_2"][None]                               # (N, 3, 3)
J7 = shared_to_modality_jacobian(fw.s[2], P["W^{x->s}_2"])                       # (N, |s_2|, 3)
cmp("Eq. 2 product vs explicit Jacobian", modality_x2, np.einsum("nj,nji->ni", dE_dhx3, J2))
cmp("Eq. 7 product vs paper's form", shared_x2, np.einsum("nj,nji->ni", dE_ds2_explicit, J7))
cmp("Eq. 5 modality term vs library", modality_x2, ref.dh_paths[(0, 2)]["modality"])
cmp("Eq. 5 shared term vs library", shared_x2, ref.dh_paths[(0, 2)]["shared"])
cmp("dE/dh^x_2 vs library", dE_dhx2, ref.dh[(0, 2)])

# %% [markdown]
# ## 4. The bottom unit ($l = 1$), and every parameter's gradient
#
# The same three steps once more: Eq. 6 into $s_1$, then both terms of Eq. 5 into the input
# $h^x_1$. Then the weight gradients, each the `delta` of the layer a weight feeds times the
# activation it reads: $\partial E/\partial W = \delta^\top h$ (tutorial 1).

# %%
dE_ds1 = grad_shared_activation(delta_s2, P["W^s_1"])           # Eq. 6
delta_s1 = sigmoid_backward(dE_ds1, fw.s[1])
delta_x2 = sigmoid_backward(dE_dhx2, fw.h[(0, 2)])
modality_x1 = grad_via_modality_path(delta_x2, P["W^x_1"])       # Eq. 2 term into the input
shared_x1 = grad_via_shared_path(delta_s1, P["W^{x->s}_1"])      # Eq. 7 term into the input
dE_dhx1 = grad_modality_activation(modality_x1, shared_x1)       # Eq. 5
print("Eq. 6, dE/ds_1 =\n", dE_ds1)
print("Eq. 5 into the input h^x_1: modality term\n", modality_x1, "\n  + shared term\n", shared_x1)
cmp("dE/ds_1 vs library", dE_ds1, ref.ds[1])
cmp("dE/dh^x_1 vs library", dE_dhx1, ref.dh[(0, 1)])

delta_s = {1: delta_s1, 2: delta_s2, 3: delta_s3}
delta_x = {2: delta_x2, 3: delta_x3}
mine = {}
for l in (2, 3):                                                 # modality chain, Eq. 4's weights
    mine[f"W^x_{l - 1}"] = delta_x[l].T @ fw.h[(0, l - 1)]
    mine[f"b^x_{l}"] = delta_x[l].sum(axis=0)
for l in (1, 2, 3):                                              # fusion and shared chain, Eq. 3's weights
    mine[f"W^{{x->s}}_{l}"] = delta_s[l].T @ fw.h[(0, l)]
    mine[f"b^s_{l}"] = delta_s[l].sum(axis=0)
    if l >= 2:
        mine[f"W^s_{l - 1}"] = delta_s[l].T @ fw.s[l - 1]
for key, g in mine.items():
    cmp(f"dE/d{key} vs library", g, ref.grads[key])

# %% [markdown]
# Modality $y$ is the mirror image (the same lines with `y` for `x`). Finally, the independent
# check of tutorial 1: central differences of the loss, for **every** parameter of the network,
# against the library's gradients. In float64 a correct gradient shows a relative error of about
# $10^{-8}$ or less.

# %%
_, full = loss_and_grads(P, xs, labels, arch)


def loss_now():
    return softmax_cross_entropy(forward(P, xs, arch, check=False).logits, labels)[0]


errors = check_gradients(loss_now, P, full.grads)
print("largest relative error over all", len(errors), "parameters:",
      f"{max(errors.values()):.1e} ({max(errors, key=errors.get)})")
assert max(errors.values()) < 1e-6

# %% [markdown]
# ## 5. What fraction does each path carry?
#
# Two examples say little, so from here on we feed the same tiny network a batch of generated
# examples. `backward(..., paths=True)` returns, besides the gradients,
#
# * `dh_paths[(m, l)]`: the two terms of Eq. 5 for every modality layer, `"modality"` (Eq. 2, from
#   $h^m_{l+1}$) and `"shared"` (Eq. 7, from $s_l$);
# * `grad_paths["modality"][key]` and `grad_paths["shared"][key]`: each parameter's gradient split
#   by the Eq. 5 term that carried the error into the layer it feeds. They add up to the gradient.
#   (Shared-layer and classifier parameters receive their error along one route, counted as
#   "shared".)
#
# How to turn "two vectors that add up to $g$" into fractions? The projection share
# $\text{share}_p = \langle g_p, g\rangle / \lVert g\rVert^2$ sums to exactly 1 over the paths; a path can
# have a share above 1 or below 0 when the paths partly cancel. The cosine between the two path
# gradients says whether they push the same way (near +1), are unrelated (near 0) or conflict.

# %%
N_BATCH = 64 if FAST else 500
xs_b, y_b = two_modality_classes(n=N_BATCH, sizes=(4, 5), n_classes=3, seed=4)
xs_b = [x.astype(np.float64) for x in xs_b]
E_b, bw = loss_and_grads(P, xs_b, y_b, arch, paths=True, input_grads=True)


def share(part, total):
    return float((part * total).sum() / (total * total).sum())


def cosine(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float((a * b).sum() / (na * nb)) if na and nb else float("nan")


print(f"batch of {N_BATCH}: loss {E_b:.4f}")
print("Error reaching each modality layer, the two terms of Eq. 5 (root-mean-square per entry):")
print(f"  {'layer':8s} {'modality (Eq.2)':>16s} {'shared (Eq.7)':>14s} {'share mod.':>11s} {'share sh.':>10s} {'cosine':>7s}")
for (m, l), split in sorted(bw.dh_paths.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
    tot = bw.dh[(m, l)]
    rms = {p: float(np.sqrt((split[p] ** 2).mean())) for p in split}
    print(f"  h^{arch.names[m]}_{l:<5d} {rms['modality']:16.2e} {rms['shared']:14.2e} "
          f"{share(split['modality'], tot):11.3f} {share(split['shared'], tot):10.3f} "
          f"{cosine(split['modality'], split['shared']):7.3f}".replace("nan", "  -"))

# %% [markdown]
# And for every parameter. The modality-chain weights are the ones with two paths; the rest have
# a single route.

# %%
print(f"  {'parameter':12s} {'|grad|':>9s} {'share via modality path':>24s} {'share via shared path':>22s}")
for key, g in bw.grads.items():
    gm, gs = bw.grad_paths["modality"][key], bw.grad_paths["shared"][key]
    assert np.allclose(gm + gs, g, rtol=1e-12, atol=1e-15)       # the split is exact
    print(f"  {key:12s} {np.linalg.norm(g):9.2e} {share(gm, g):24.3f} {share(gs, g):22.3f}")

# %% [markdown]
# ## 6. Where did the error enter the modality stack?
#
# The split above is one level deep: the "modality" term of $h^x_2$ is whatever came down from
# $h^x_3$, and that itself entered the stack at $s_3$. Following each piece to where it crossed from
# the shared stack into modality $x$ gives the full account. Error enters modality $x$ only through
# the Eq. 7 edges $s_k \to h^x_k$, and back-propagation is linear in the error, so the error on any
# layer of the stack is exactly the sum of one contribution per entry level $k$.
#
# We measure each contribution with **cuts**: `backward(..., cut=...)` can drop chosen paths, and
# cutting every `("shared", "x", j)` except $j = k$ leaves only the error that entered at $s_k$.
# In Fig. 2's colours, entry at the top ($k = L$) is the IMF-like path; entry lower down is the
# orange path, through a shared layer into the modality layer.

# %%
def entry_decomposition(params, xs_, labels_, arch_, m=0):
    """{k: Backward with only the error that entered modality m at s_k}, plus the uncut Backward."""
    levels = [l for l in arch_.fusion_levels()]
    out = {}
    for k in levels:
        cuts = [("shared", m, j) for j in levels if j != k]
        out[k] = loss_and_grads(params, xs_, labels_, arch_, cut=cuts, input_grads=True)[1]
    return out, loss_and_grads(params, xs_, labels_, arch_, input_grads=True)[1]


parts, whole = entry_decomposition(P, xs_b, y_b, arch, m=0)
tiny_shares = {}
for what, get in (("dE/dh^x_2 (bottom hidden layer)", lambda b: b.dh.get((0, 2))),
                  ("dE/dW^x_1 (bottom modality weights)", lambda b: b.grads["W^x_1"]),
                  ("dE/dh^x_1 (the input)", lambda b: b.dh.get((0, 1)))):
    total = get(whole)
    pieces = {k: (get(b) if get(b) is not None else np.zeros_like(total)) for k, b in parts.items()}
    summed = sum(pieces.values())
    print(f"{what}: |total| = {np.linalg.norm(total):.3e}")
    for k, c in pieces.items():
        print(f"   entered at s_{k}: |part| = {np.linalg.norm(c):.3e}, share = {share(c, total):6.3f}")
        tiny_shares.setdefault(what, {})[k] = share(c, total)
    print(f"   sum of the parts vs the total: max diff {np.abs(summed - total).max():.1e}")
    assert np.allclose(summed, total, rtol=1e-10, atol=1e-15)

# %% [markdown]
# Read the shares as: "of the gradient that trains the bottom modality weights $W^x_1$, this
# fraction entered modality $x$ at $s_k$". In an IMF network all of it would enter at $s_L$; in DMF
# the error that crosses at lower levels is the extra, cross-modal supervision of Eq. 7.
#
# ## 7. A drawing of the paths, in the manner of Fig. 2
#
# (a) **Feed forward**: the paths that carry modality $x$ to the top shared layer $s_3$: green
# climbs the modality stack and fuses at the top (IMF's path), yellow fuses at the bottom and
# climbs the shared chain (EMF's path), blue crosses in the middle (new in DMF).
# (b) **Back propagation**: purple is error coming down modality $x$'s own stack (Eq. 2, the first
# term of Eq. 5), red is error coming down the shared chain from the top (Eq. 6), and orange is
# the dense cross path, from a shared layer into the modality layer of the same unit (Eq. 7, the
# second term of Eq. 5). Each arrow in (b) is labelled with the root-mean-square size of the
# error it carried in section 5's batch, and its width follows that size. Modality $y$ (grey) is
# the mirror image.

# %%
import matplotlib

if "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # a script: draw into files, never open a window
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from dmf_np.io import atomic_write_bytes

COLORS = {"imf": "#2ca02c", "emf": "#e6b800", "middle": "#1f77b4",
          "modality": "#8e44ad", "chain": "#d62728", "cross": "#ff7f0e", "grey": "#b0b0b0"}
COL = {"x": 0.0, "s": 1.6, "y": 3.2}                       # column of each stack


def node_xy(kind, l):
    return COL[kind], float(l)


def draw_nodes(ax, L):
    for l in range(1, L + 1):
        for kind, label in (("x", f"$h^x_{l}$"), ("s", f"$s_{l}$"), ("y", f"$h^y_{l}$")):
            cx, cy = node_xy(kind, l)
            ax.add_patch(FancyBboxPatch((cx - 0.32, cy - 0.17), 0.64, 0.34, boxstyle="round,pad=0.02",
                                        fc="#f4f4f4", ec="black", lw=1.0, zorder=3))
            ax.text(cx, cy, label, ha="center", va="center", fontsize=11, zorder=4)
    cx, cy = COL["s"], L + 1.0
    ax.add_patch(FancyBboxPatch((cx - 0.4, cy - 0.17), 0.8, 0.34, boxstyle="round,pad=0.02",
                                fc="white", ec="black", lw=1.0, zorder=3))
    ax.text(cx, cy, "softmax", ha="center", va="center", fontsize=10, zorder=4)


def arrow(ax, p, q, color, lw=1.2, offset=(0.0, 0.0), z=2):
    """An arrow between two node centres (a vertical or horizontal edge), clipped to the boxes."""
    gap_x, gap_y = 0.38, 0.23                      # half a box plus a little air
    if p[1] == q[1]:                               # horizontal: leave through the side
        sx = np.sign(q[0] - p[0])
        a, b = (p[0] + sx * gap_x, p[1]), (q[0] - sx * gap_x, q[1])
    else:                                          # vertical: leave through the top or bottom
        sy = np.sign(q[1] - p[1])
        a, b = (p[0], p[1] + sy * gap_y), (q[0], q[1] - sy * gap_y)
    a = (a[0] + offset[0], a[1] + offset[1])
    b = (b[0] + offset[0], b[1] + offset[1])
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, color=color, lw=lw,
                                 shrinkA=0, shrinkB=0, zorder=z))


def grey_edges(ax, arch_, reverse=False):
    """Every edge of the DMF graph, thin and grey (reversed for the backward panel)."""
    L = arch_.L
    E_ = []
    for l in range(1, L + 1):
        for m in ("x", "y"):
            E_.append((node_xy(m, l), node_xy("s", l)))
            if l >= 2:
                E_.append((node_xy(m, l - 1), node_xy(m, l)))
        if l >= 2:
            E_.append((node_xy("s", l - 1), node_xy("s", l)))
    E_.append((node_xy("s", L), (COL["s"], L + 1.0)))
    for p, q in E_:
        arrow(ax, *((q, p) if reverse else (p, q)), color=COLORS["grey"], lw=0.8, z=1)


def draw_feed_forward(ax, arch_):
    L = arch_.L
    draw_nodes(ax, L)
    grey_edges(ax, arch_)
    for k in range(1, L + 1):                      # the path that crosses from x into the shared stack at k
        color = COLORS["imf"] if k == L else COLORS["emf"] if k == 1 else COLORS["middle"]
        pts = [node_xy("x", l) for l in range(1, k + 1)] + [node_xy("s", l) for l in range(k, L + 1)]
        d = 0.07 * (k - (L + 1) / 2)                # small offset so that overlapping paths stay visible
        for p, q in zip(pts, pts[1:]):
            arrow(ax, p, q, color, lw=2.4, offset=(0.0, -d) if p[1] == q[1] else (d, 0.0))
    ax.set_title("(a) Feed forward", fontsize=12)


def draw_back_propagation(ax, arch_, bw_):
    L = arch_.L
    draw_nodes(ax, L)
    grey_edges(ax, arch_, reverse=True)
    rms = lambda a: float(np.sqrt((a ** 2).mean()))
    edges_ = []                                     # (from, to, colour, rms of the error it carries)
    for l in range(1, L + 1):
        edges_.append((node_xy("s", l), node_xy("x", l), COLORS["cross"], rms(bw_.dh_paths[(0, l)]["shared"])))
        if l < L:
            edges_.append((node_xy("x", l + 1), node_xy("x", l), COLORS["modality"],
                           rms(bw_.dh_paths[(0, l)]["modality"])))
            edges_.append((node_xy("s", l + 1), node_xy("s", l), COLORS["chain"], rms(bw_.ds[l])))
    top = max(e[3] for e in edges_)
    for p, q, color, size in edges_:
        arrow(ax, p, q, color, lw=1.0 + 4.0 * size / top)
        mx, my = (p[0] + q[0]) / 2, (p[1] + q[1]) / 2
        dx, dy = (0.0, 0.13) if p[1] == q[1] else (-0.5 if p[0] == COL["x"] else 0.45, 0.0)
        ax.text(mx + dx, my + dy, f"{size:.1e}", color=color, fontsize=8, ha="center", va="center")
    ax.set_title("(b) Back propagation", fontsize=12)


fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
draw_feed_forward(axes[0], arch)
draw_back_propagation(axes[1], arch, bw)
for ax in axes:
    ax.set_xlim(-0.9, 3.8)
    ax.set_ylim(0.5, arch.L + 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
legend = [Line2D([], [], color=COLORS[c], lw=2.4, label=t) for c, t in (
    ("imf", "x enters at the top (IMF's path)"), ("emf", "x enters at the bottom (EMF's path)"),
    ("middle", "x enters in the middle (DMF only)"), ("modality", "error down the modality stack (Eq. 2)"),
    ("chain", "error down the shared chain (Eq. 6)"), ("cross", "error from $s_l$ into $h^x_l$ (Eq. 7)"))]
fig.legend(handles=legend, loc="lower center", ncol=3, fontsize=9, frameon=False)
fig.suptitle("Learning paths of a 3-unit DMF (modality y, grey, is the mirror image)", fontsize=12)
fig.tight_layout(rect=(0, 0.1, 1, 0.95))
buf = _io.BytesIO()
fig.savefig(buf, format="png", dpi=130)
path = atomic_write_bytes(FIGURES / "tutorial_04_learning_paths.png", buf.getvalue())
plt.close(fig)
print("figure written to", path)

# %% [markdown]
# ## 8. What is the cross-modal error path worth? An ablation
#
# `dmf_np.backprop.cross_modal_cuts(arch)` lists the cuts that remove every Eq. 7 term below the
# top unit, i.e. every orange arrow except the top one. What is left is IMF's single error path
# into each modality stack, while the forward pass is still DMF's. Training the same network, from
# the same initial weights, with and without those cuts isolates what the cross-modal error paths
# contribute to learning. (A cut gradient is no longer the gradient of any loss: the optimiser then
# follows a biased direction for the modality weights.)
#
# The data are generated two-modality classes (`dmf_np.data.synthetic`), and the network has four
# units, so that two levels of cross paths are cut. Each configuration is trained from several
# seeds (a seed fixes the initial weights and the minibatch order; both configurations share it),
# with SGD (learning rate 0.1, momentum 0.9, the rate multiplied by 0.95 after each epoch), and we
# compare the final training loss seed by seed. An IMF network of the same sizes is trained
# too, for reference.

# %%
SEEDS = [0, 1] if FAST else list(range(6))
EPOCHS = 3 if FAST else 30
N_TRAIN = 300 if FAST else 2000
from dmf_np.optim import SGD
from dmf_np.train import fit_classifier

abl = Architecture("dmf", ((20, 32, 24, 16), (30, 32, 24, 16)), (32, 24, 16, 12), n_classes=6)
xs_t, y_t = two_modality_classes(n=N_TRAIN, sizes=(20, 30), n_classes=6, seed=0)
cuts = cross_modal_cuts(abl)
print("cuts:", cuts)
configs = {"DMF": (abl, ()), "DMF, cross-modal paths cut": (abl, cuts), "IMF (reference)": (abl.with_scheme("imf"), ())}
curves, trained = {}, {}
t0 = time.perf_counter()
for name, (a, c) in configs.items():
    runs = []
    for seed in SEEDS:
        p = init_params(a, np.random.default_rng(seed))
        h = fit_classifier(p, a, xs_t, y_t, epochs=EPOCHS, batch_size=50, optimizer=SGD(lr=0.1, momentum=0.9),
                           lr_decay=0.95, seed=seed, cut=c, show_progress=False)
        runs.append(h["train_loss"])
        if seed == SEEDS[0]:
            trained[name] = p
    curves[name] = np.array(runs)                                  # (seeds, epochs)
print(f"{len(configs) * len(SEEDS)} training runs of {EPOCHS} epochs on {N_TRAIN} examples took "
      f"{time.perf_counter() - t0:.2f} s")
marks = sorted({0, EPOCHS // 4, EPOCHS // 2, EPOCHS - 1})
print(f"mean training loss over {len(SEEDS)} seeds, by epoch:")
print(f"  {'':28s}" + "".join(f"{'epoch ' + str(e + 1):>10s}" for e in marks))
for name, c in curves.items():
    print(f"  {name:28s}" + "".join(f"{c[:, e].mean():10.4f}" for e in marks))

# %%
full_last = curves["DMF"][:, -1]
cut_last = curves["DMF, cross-modal paths cut"][:, -1]
diff = cut_last - full_last                                        # paired by seed: > 0 means cutting hurt
print("final training loss, seed by seed:")
for s, a_, b_ in zip(SEEDS, full_last, cut_last):
    print(f"  seed {s}: DMF {a_:.4f}   cut {b_:.4f}   difference {b_ - a_:+.4f}")
sem = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
rel = diff.mean() / full_last.mean()
print(f"mean difference (cut - DMF): {diff.mean():+.4f} ({100 * rel:+.1f}% of DMF's loss), "
      f"standard error over seeds {sem:.4f}; cutting was worse for {(diff > 0).sum()} of {len(diff)} seeds")
if len(diff) > 1 and diff.mean() > 2 * sem and (diff > 0).all():
    verdict = ("Cutting the cross-modal error paths raised the training loss for every seed, by more than "
               "twice the seed-to-seed standard error: the effect is consistent")
else:
    verdict = "The difference is not clearly larger than the seed-to-seed variation"
size = "small" if abs(rel) < 0.05 else "sizeable"
print(f"{verdict}, and {size} ({100 * abs(rel):.1f}% of the loss) on this data.")

# %% [markdown]
# How much of the gradient did the cuts remove? The entry decomposition of section 6, applied to
# the ablation network at its initial weights and after training (full DMF, first seed), gives
# the share of $W^x_1$'s gradient that entered modality $x$ at each shared layer.

# %%
abl_shares = {}
for when, p in (("at initialisation", init_params(abl, np.random.default_rng(SEEDS[0]))),
                ("after training", trained["DMF"])):
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    xs64 = [x.astype(np.float64) for x in xs_t]
    parts_, whole_ = entry_decomposition(p64, xs64, y_t, abl, m=0)
    g = whole_.grads["W^x_1"]
    shares = abl_shares[when] = {k: share(b.grads["W^x_1"], g) for k, b in parts_.items()}
    print(f"{when}: share of dE/dW^x_1 by entry level: "
          + ", ".join(f"s_{k}: {v:.3f}" for k, v in shares.items() if k >= 2)
          + f"; the cuts removed the entries below s_{abl.L}, together {sum(v for k, v in shares.items() if 2 <= k < abl.L):.3f}")

# %% [markdown]
# The figure: the mean training-loss curves (left), the cost of the cut seed by seed, as the loss
# with cuts minus the loss without, from the same initial weights and minibatch order (middle), and
# the decomposition just printed (right).

# %%
fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.0), gridspec_kw={"width_ratios": [1, 1, 0.8]})
styles = {"DMF": ("#1f77b4", "-"), "DMF, cross-modal paths cut": ("#d62728", "--"), "IMF (reference)": ("#7f7f7f", ":")}
epochs_axis = np.arange(1, EPOCHS + 1)
for name, c in curves.items():
    color, ls = styles[name]
    ax.plot(epochs_axis, c.mean(axis=0), ls, color=color, label=name, lw=1.8)
    if len(SEEDS) > 1:
        ax.fill_between(epochs_axis, c.min(axis=0), c.max(axis=0), color=color, alpha=0.12)
ax.set_xlabel("epoch")
ax.set_ylabel("training loss (cross-entropy)")
ax.set_yscale("log")
ax.set_title(f"Training loss, mean of {len(SEEDS)} seeds (band: min..max)", fontsize=10)
ax.legend()
ax.grid(True, alpha=0.3)
paired = curves["DMF, cross-modal paths cut"] - curves["DMF"]     # (seeds, epochs), same seed in both
for row in paired:
    ax2.plot(epochs_axis, row, color="#d62728", alpha=0.3, lw=0.8)
ax2.plot(epochs_axis, paired.mean(axis=0), color="#d62728", lw=2.0, label="mean over seeds")
ax2.axhline(0.0, color="black", lw=0.8)
ax2.set_xlabel("epoch")
ax2.set_ylabel("loss with cuts minus loss without")
ax2.set_title("What the cut costs, seed by seed (above 0: cutting hurt)", fontsize=10)
ax2.legend()
ax2.grid(True, alpha=0.3)
# where the gradient of the bottom modality weights W^x_1 entered modality x (section 6's decomposition)
whens = list(abl_shares)
entry_colors = {k: ("#2ca02c" if k == abl.L else plt.cm.Oranges(0.35 + 0.5 * k / abl.L)) for k in range(2, abl.L + 1)}
for row, when in enumerate(whens):
    left = 0.0
    for k in range(abl.L, 1, -1):
        width = abl_shares[when][k]
        ax3.barh(row, width, left=left, color=entry_colors[k], edgecolor="white",
                 label=(f"entered at $s_{k}$" + (" (top: IMF's path)" if k == abl.L else " (cross path, cut)"))
                 if row == 0 else None)
        if width > 0.06:
            ax3.text(left + width / 2, row, f"{width:.2f}", ha="center", va="center", fontsize=8)
        left += width
ax3.set_yticks(range(len(whens)), whens)
ax3.set_xlabel("share of the gradient of $W^x_1$")
ax3.set_title("Where the error entered modality x (first seed)", fontsize=10)
ax3.set_ylim(-0.6, len(whens) + 0.9)                      # room for the legend above the bars
ax3.legend(fontsize=7.5, loc="upper center", ncol=1, frameon=False)
fig.tight_layout()
buf = _io.BytesIO()
fig.savefig(buf, format="png", dpi=120)
path = atomic_write_bytes(FIGURES / "tutorial_04_ablation.png", buf.getvalue())
plt.close(fig)
print("figure written to", path)

# %% [markdown]
# ## The learning paths in numbers
#
# Everything above, gathered into a few sentences (each number computed in this run).

# %%
w1 = tiny_shares["dE/dW^x_1 (bottom modality weights)"]
print(f"1. Tiny 3-unit DMF, batch of {N_BATCH}: of the gradient of the bottom modality weights W^x_1, "
      f"{100 * w1[3]:.1f}% entered modality x at the top shared layer s_3 (IMF's path, down the modality "
      f"stack) and {100 * w1[2]:.1f}% at s_2 (the cross path of Eq. 7).")
after = abl_shares["after training"]
below = sum(v for k, v in after.items() if 2 <= k < abl.L)
print(f"2. Four-unit DMF after {EPOCHS} epochs: {100 * below:.1f}% of W^x_1's gradient entered below the top "
      f"(at s_2..s_{abl.L - 1}), {100 * after[abl.L]:.1f}% at s_{abl.L}.")
print(f"3. Cutting those cross-modal error paths raised the final training loss by {100 * rel:+.1f}% "
      f"(mean over {len(SEEDS)} seeds; worse for {(diff > 0).sum()} of {len(diff)}); "
      f"IMF, which never had them, ended at {curves['IMF (reference)'][:, -1].mean():.4f} "
      f"against DMF's {full_last.mean():.4f}.")

# %% [markdown]
# ## What to take away
#
# * Eq. 5 is two lines of code: the error on $h^x_l$ is the Eq. 2 term from the modality layer above
#   plus the Eq. 7 term from the shared layer of the same unit. Both are `delta @ W`; the Jacobians of
#   Eqs. 7 and 8 never need to be formed (we formed them once, above, to see that they agree).
# * Eq. 6 carries error down the shared chain; Eq. 8 is its Jacobian. The Eq. 7 term at level $l$
#   therefore holds error that passed through $M_{l+1}$ and $M_l$, both of which mix in modality $y$:
#   that is the cross-modal supervision.
# * The path split is exact: the printed shares say how much of each gradient came by each path,
#   and the entry decomposition says at which shared layer it crossed into the modality stack.
# * Cutting the cross-modal error paths is a clean ablation; read its printed verdict above for how
#   much they are worth on this data, and compare with the full MNIST experiment (tutorial 6).
#
# **Next:** tutorial 5 (pretraining the multimodal units) or tutorial 6 (Fig. 4 on MNIST).
