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
# # Tutorial 1: a sigmoid layer by hand, and checking its gradient
#
# **What this teaches.** Every layer of a DMF network is the same small machine: an affine map
# followed by the sigmoid $f(a) = 1/(1+e^{-a})$ (Eqs. 3 and 4 of the paper). Here we write its
# forward and backward pass by hand, line by line, and then learn the one tool that tells us
# whether a backward pass is right: the central finite-difference check. Everything later
# (the learning paths of Eqs. 5-8 in tutorial 4) is this layer, wired many times.
#
# **Read first.** Nothing but basic calculus and the chain rule. Afterwards look at
# `dmf_np/layers.py` (the same layer, as the library writes it) and `dmf_np/gradcheck.py`.
#
# **How long it runs.** A second or two.
#
# **Conventions** (the same throughout dmf_np):
# a batch is a matrix with one example per row, $x$ of shape $(N, n_{in})$; a weight matrix has the
# paper's orientation $(n_{out}, n_{in})$, so the paper's column-vector product $W h$ becomes `h @ W.T`
# for a batch of rows; every gradient is $\partial E / \partial(\text{thing})$ for a loss $E$ that we
# minimise.

# %%
import os
import sys
from pathlib import Path

# Find the repository root (this file lives in tutorials/) so that dmf_np imports without installing.
ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().resolve()
if not (ROOT / "dmf_np").is_dir():
    ROOT = ROOT.parent  # a notebook started inside tutorials/
sys.path.insert(0, str(ROOT))
FAST = os.environ.get("DMF_TUTORIAL_FAST") == "1"  # the test suite runs every tutorial in fast mode
FIGURES = Path(os.environ.get("DMF_FIGURES_DIR", ROOT / "figures"))

import numpy as np

from dmf_np import layers
from dmf_np.gradcheck import numerical_gradient, rel_error

np.set_printoptions(precision=4, suppress=True, linewidth=110)

# %% [markdown]
# ## 1. The forward pass, one named intermediate per line
#
# $$a = x W^\top + b, \qquad y = f(a) = \frac{1}{1 + e^{-a}}.$$
#
# To have something to differentiate we need a scalar loss. Any will do; we take
# $E = \frac{1}{N} \sum_{n,j} y_{nj} R_{nj}$ with a fixed random matrix $R$, so that $\partial E/\partial y = R/N$
# is different for every entry (a loss like $\sum y$ would hide mistakes that permute entries).
# We work in float64: the finite differences below need it (section 4 shows why).

# %%
rng = np.random.default_rng(0)
N, n_in, n_out = 4, 5, 3
x = rng.uniform(0, 1, (N, n_in))                  # (N, n_in)   a batch of 4 inputs
W = rng.normal(0, 1, (n_out, n_in))               # (n_out, n_in)
b = rng.normal(0, 0.5, n_out)                     # (n_out,)
R = rng.normal(0, 1, (N, n_out))                  # (N, n_out)  fixes the loss

a = x @ W.T + b                                   # (N, n_out)  pre-activation
y = 1.0 / (1.0 + np.exp(-a))                      # (N, n_out)  the sigmoid f(a)
E = (y * R).sum() / N                             # scalar loss
print("a =\n", a)
print("y = f(a) =\n", y)
print("E =", E)

# %% [markdown]
# ## 2. The backward pass: a matching `d<name>` line for each forward line
#
# Walking back up the same lines, each step multiplies by one local derivative:
#
# * $\partial E/\partial y = R / N$;
# * the sigmoid's derivative can be written with its own output, $f'(a) = f(a)(1 - f(a)) = y(1-y)$,
#   so $\partial E/\partial a = \partial E/\partial y \odot y (1-y)$ — this is the factor $f(M)(1-f(M))$ that
#   appears in Eqs. 7 and 8 of the paper;
# * for $a = x W^\top + b$: $\partial E/\partial W = (\partial E/\partial a)^\top x$,
#   $\partial E/\partial b = \sum_n \partial E/\partial a_n$, and $\partial E/\partial x = (\partial E/\partial a)\, W$.
#
# The last one is the error handed to the layer below: in a deep network it is how error travels.

# %%
dy = R / N                                        # (N, n_out)
da = dy * y * (1 - y)                             # (N, n_out)  sigmoid backward
dW = da.T @ x                                     # (n_out, n_in)  same shape as W
db = da.sum(axis=0)                               # (n_out,)
dx = da @ W                                       # (N, n_in)   the error for the layer below
print("dE/dW =\n", dW)
print("dE/db =", db)

# %% [markdown]
# The library's layer functions do the same computation (with a numerically safer sigmoid,
# $0.5 + 0.5\tanh(a/2)$, which cannot overflow). A small `cmp` helper, in the manner of the
# backprop lectures, says whether two tensors agree exactly, approximately, and by how much.

# %%
def cmp(name, ours, ref):
    """Exact / approximately equal / largest absolute difference, for two arrays."""
    exact = bool(np.all(ours == ref))
    approx = bool(np.allclose(ours, ref, rtol=1e-12, atol=1e-14))
    print(f"{name:8s} exact: {exact!s:5s}  approx: {approx!s:5s}  max diff: {np.abs(ours - ref).max():.2e}")


y_lib = layers.sigmoid(layers.affine_forward(x, W, b))
da_lib = layers.sigmoid_backward(dy, y_lib)
dx_lib, dW_lib, db_lib = layers.affine_backward(da_lib, x, W)
cmp("y", y, y_lib)
cmp("dE/da", da, da_lib)
cmp("dE/dW", dW, dW_lib)
cmp("dE/db", db, db_lib)
cmp("dE/dx", dx, dx_lib)

# %% [markdown]
# ## 3. Is the backward pass right? Central differences
#
# The definition of a derivative gives an independent answer. For one entry $\theta_i$ of a parameter,
#
# $$\frac{\partial E}{\partial \theta_i} \approx \frac{E(\theta + \epsilon e_i) - E(\theta - \epsilon e_i)}{2\epsilon}.$$
#
# The *central* difference is accurate to $O(\epsilon^2)$ (the even terms of the Taylor series cancel),
# where the one-sided $(E(\theta+\epsilon e_i) - E(\theta))/\epsilon$ is only $O(\epsilon)$.
# Here is one entry, $W_{0,0}$, by hand:

# %%
def loss():
    """E as a function of the current W, b, x (read from the enclosing scope)."""
    return float((layers.sigmoid(layers.affine_forward(x, W, b)) * R).sum() / N)


eps = 1e-6
old = W[0, 0]
W[0, 0] = old + eps
E_plus = loss()
W[0, 0] = old - eps
E_minus = loss()
W[0, 0] = old                                     # always restore the parameter
print(f"backprop    dE/dW[0,0] = {dW[0, 0]:.12f}")
print(f"central     difference = {(E_plus - E_minus) / (2 * eps):.12f}")

# %% [markdown]
# Entry-by-entry agreement is judged by a **relative error**, so that it means the same for large
# and small gradients. dmf_np uses the norm-wise form
#
# $$\text{rel}(g, \hat g) = \frac{\lVert g - \hat g\rVert}{\max(\lVert g\rVert + \lVert \hat g\rVert,\ 10^{-12})}.$$
#
# `dmf_np.gradcheck.numerical_gradient` perturbs every entry of an array in turn (in place, and
# restores it). In float64 with $\epsilon = 10^{-6}$ a correct gradient gives a relative error of
# about $10^{-8}$ or less; a wrong one about $10^{-2}$ or more. Let's see which we get, for every
# parameter and for the input.

# %%
checks = {"W": (W, dW), "b": (b, db), "x": (x, dx)}
for name, (p, g) in checks.items():
    num = numerical_gradient(loss, p)
    print(f"dE/d{name}: relative error {rel_error(g, num):.1e}")
    assert rel_error(g, num) < 1e-7

# %% [markdown]
# ### A check must be able to fail
#
# A classic mistake is to write the sigmoid's derivative with the *pre*-activation,
# $a(1-a)$, instead of the output, $y(1-y)$. The check catches it at once:

# %%
da_wrong = dy * a * (1 - a)                       # the bug: f'(a) written as a(1 - a)
dW_wrong = da_wrong.T @ x
err_wrong = rel_error(dW_wrong, numerical_gradient(loss, W))
print(f"dE/dW with the wrong derivative: relative error {err_wrong:.1e}")
assert err_wrong > 1e-3

# %% [markdown]
# ## 4. Choosing $\epsilon$, and why checks run in float64
#
# The difference quotient has two errors pulling in opposite directions: the Taylor truncation,
# which shrinks like $\epsilon^2$, and rounding, about (machine epsilon)$/\epsilon$, which grows as
# $\epsilon$ shrinks. Their sum is smallest near $\epsilon \approx$ (machine epsilon)$^{1/3}$, and
# float32's machine epsilon is hundreds of millions of times larger than float64's, so its best
# achievable error is far worse. The next cell prints both estimates; the sweep after it measures
# them. (`numerical_gradient` refuses float32 arrays for this reason, so the float32 column is
# computed by hand.)

# %%
for dt in (np.float64, np.float32):
    mach = np.finfo(dt).eps
    print(f"{dt.__name__}: machine epsilon {mach:.1e}, so the best eps is near {mach ** (1 / 3):.0e}")

# %%
def central_diff_W(eps, dtype):
    """The whole dE/dW by central differences, computed in ``dtype``."""
    xd, Wd, bd, Rd = (v.astype(dtype) for v in (x, W, b, R))
    g = np.zeros_like(Wd)
    for i in np.ndindex(Wd.shape):
        old = Wd[i]
        Wd[i] = old + dtype(eps)
        ep = (layers.sigmoid(layers.affine_forward(xd, Wd, bd)) * Rd).sum() / N
        Wd[i] = old - dtype(eps)
        em = (layers.sigmoid(layers.affine_forward(xd, Wd, bd)) * Rd).sum() / N
        Wd[i] = old
        g[i] = (ep - em) / (2 * dtype(eps))
    return g


eps_grid = [10.0 ** k for k in range(-1, -12, -1)]
sweep = {dt.__name__: [rel_error(dW, central_diff_W(e, dt)) for e in eps_grid] for dt in (np.float64, np.float32)}
print("   eps     float64   float32")
for i, e in enumerate(eps_grid):
    print(f"{e:7.0e}   {sweep['float64'][i]:.1e}   {sweep['float32'][i]:.1e}")
best = {k: eps_grid[int(np.argmin(v))] for k, v in sweep.items()}
print(f"best eps: float64 {best['float64']:.0e} (error {min(sweep['float64']):.1e}), "
      f"float32 {best['float32']:.0e} (error {min(sweep['float32']):.1e})")

# %%
import io as _io

import matplotlib

if "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # a script: draw into files, never open a window
import matplotlib.pyplot as plt

from dmf_np.io import atomic_write_bytes

fig, ax = plt.subplots(figsize=(5.5, 3.6))
for name, style in (("float64", "o-"), ("float32", "s--")):
    ax.loglog(eps_grid, sweep[name], style, label=name)
ax.set_xlabel(r"finite-difference step $\epsilon$")
ax.set_ylabel("relative error of dE/dW")
ax.set_title("Central differences: truncation vs rounding")
ax.invert_xaxis()
ax.grid(True, which="major", alpha=0.3)
ax.legend()
fig.tight_layout()
buf = _io.BytesIO()
fig.savefig(buf, format="png", dpi=120)
path = atomic_write_bytes(FIGURES / "tutorial_01_epsilon.png", buf.getvalue())
plt.close(fig)
print("figure written to", path)

# %% [markdown]
# ## What to take away
#
# * One layer is two lines forward and four lines back; the sigmoid's derivative is written with
#   its output, $y(1-y)$.
# * The error a layer hands down is $\partial E/\partial x = (\partial E/\partial a) W$: in DMF a modality
#   layer receives such an error from *two* layers above it (Eq. 5), and the two simply add.
# * Trust a backward pass only after a float64 central-difference check has passed, and after
#   you have seen the same check fail on a deliberate bug.
#
# **Next:** tutorial 2 (the RBM, which pretrains these layers) or tutorial 3 (wiring the layers
# into EMF, IMF and DMF).
