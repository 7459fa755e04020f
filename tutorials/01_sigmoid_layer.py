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
# for a batch of rows; every gradient is $\partial \varepsilon / \partial(\text{thing})$ for a loss
# $\varepsilon$ that we minimise. $\varepsilon$ is the paper's symbol for the training loss (its
# "objective function", section 3.1); $E$ is kept for the RBM's energy (tutorial 2).
#
# **Exercises.** Two, each a stub for you to fill in and a check that runs when the tutorial does
# (`dmf_np.exercises.attempt`): 1.1 writes the layer's backward pass, 1.2 derives the gradient of an
# activation that feeds two layers (Eq. 5 of the paper in miniature). Until you fill a stub in, the
# tutorial says "not attempted yet" and runs on; solutions are in `tutorials/solutions/tutorial_01.py`.

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

import numpy as np

from dmf_np import layers
from dmf_np.exercises import attempt
from dmf_np.gradcheck import numerical_gradient, rel_error
from dmf_np.plots import show_and_save

np.set_printoptions(precision=4, suppress=True, linewidth=110)

# %% [markdown]
# ## 1. The forward pass, one named intermediate per line
#
# $$a = x W^\top + b, \qquad y = f(a) = \frac{1}{1 + e^{-a}}.$$
#
# To have something to differentiate we need a scalar loss. Any will do; we take
# $\varepsilon = \frac{1}{N} \sum_{n,j} y_{nj} R_{nj}$ with a fixed random matrix $R$, so that $\partial \varepsilon/\partial y = R/N$
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
loss = (y * R).sum() / N                          # the scalar loss ε
print("a =\n", a)
print("y = f(a) =\n", y)
print("ε =", loss)

# %% [markdown]
# ## 2. The backward pass: a matching `d<name>` line for each forward line
#
# Walking back up the same lines, each step multiplies by one local derivative:
#
# * $\partial \varepsilon/\partial y = R / N$;
# * the sigmoid's derivative can be written with its own output, $f'(a) = f(a)(1 - f(a)) = y(1-y)$,
#   so $\partial \varepsilon/\partial a = \partial \varepsilon/\partial y \odot y (1-y)$ — this is the factor $f(M)(1-f(M))$ that
#   appears in Eqs. 7 and 8 of the paper;
# * for $a = x W^\top + b$: $\partial \varepsilon/\partial W = (\partial \varepsilon/\partial a)^\top x$,
#   $\partial \varepsilon/\partial b = \sum_n \partial \varepsilon/\partial a_n$, and $\partial \varepsilon/\partial x = (\partial \varepsilon/\partial a)\, W$.
#
# The last one is the error handed to the layer below: in a deep network it is how error travels.

# %%
dy = R / N                                        # (N, n_out)
da = dy * y * (1 - y)                             # (N, n_out)  sigmoid backward
dW = da.T @ x                                     # (n_out, n_in)  same shape as W
db = da.sum(axis=0)                               # (n_out,)
dx = da @ W                                       # (N, n_in)   the error for the layer below
print("dε/dW =\n", dW)
print("dε/db =", db)

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
cmp("dε/da", da, da_lib)
cmp("dε/dW", dW, dW_lib)
cmp("dε/db", db, db_lib)
cmp("dε/dx", dx, dx_lib)

# %% [markdown]
# ## 3. Is the backward pass right? Central differences
#
# The definition of a derivative gives an independent answer. For one entry $\theta_i$ of a parameter,
#
# $$\frac{\partial \varepsilon}{\partial \theta_i} \approx \frac{\varepsilon(\theta + h e_i) - \varepsilon(\theta - h e_i)}{2h}$$
#
# for a small step $h$. The *central* difference is accurate to $O(h^2)$ (the even terms of the
# Taylor series cancel), where the one-sided $(\varepsilon(\theta+h e_i) - \varepsilon(\theta))/h$ is only $O(h)$.
# Here is one entry, $W_{0,0}$, by hand:

# %%
def loss_fn():
    """ε as a function of the current W, b, x (read from the enclosing scope)."""
    return float((layers.sigmoid(layers.affine_forward(x, W, b)) * R).sum() / N)


step = 1e-6                                       # the finite-difference step h
old = W[0, 0]
W[0, 0] = old + step
loss_plus = loss_fn()
W[0, 0] = old - step
loss_minus = loss_fn()
W[0, 0] = old                                     # always restore the parameter
print(f"backprop    dε/dW[0,0] = {dW[0, 0]:.12f}")
print(f"central     difference = {(loss_plus - loss_minus) / (2 * step):.12f}")

# %% [markdown]
# Entry-by-entry agreement is judged by a **relative error**, so that it means the same for large
# and small gradients. dmf_np uses the norm-wise form
#
# $$\text{rel}(g, \hat g) = \frac{\lVert g - \hat g\rVert}{\max(\lVert g\rVert + \lVert \hat g\rVert,\ 10^{-12})}.$$
#
# `dmf_np.gradcheck.numerical_gradient` perturbs every entry of an array in turn (in place, and
# restores it; its argument `eps` is the step $h$). In float64 with $h = 10^{-6}$ a correct
# gradient gives a relative error of about $10^{-8}$ or less; a wrong one about $10^{-2}$ or more.
# Let's see which we get, for every parameter and for the input.

# %%
checks = {"W": (W, dW), "b": (b, db), "x": (x, dx)}
for name, (p, g) in checks.items():
    num = numerical_gradient(loss_fn, p)
    print(f"dε/d{name}: relative error {rel_error(g, num):.1e}")
    assert rel_error(g, num) < 1e-7

# %% [markdown]
# ### A check must be able to fail
#
# A classic mistake is to write the sigmoid's derivative with the *pre*-activation,
# $a(1-a)$, instead of the output, $y(1-y)$. The check catches it at once:

# %%
da_wrong = dy * a * (1 - a)                       # the bug: f'(a) written as a(1 - a)
dW_wrong = da_wrong.T @ x
err_wrong = rel_error(dW_wrong, numerical_gradient(loss_fn, W))
print(f"dε/dW with the wrong derivative: relative error {err_wrong:.1e}")
assert err_wrong > 1e-3

# %% [markdown]
# ### Exercise 1.1: the backward pass of one sigmoid layer
#
# Write `sigmoid_layer_backward(dy, x, W, y)`: given the error arriving at the layer's output,
# $\partial \varepsilon/\partial y$ of shape $(N, n_{out})$, the layer's input $x$ $(N, n_{in})$, its weights $W$
# $(n_{out}, n_{in})$ and its output $y = f(x W^\top + b)$, return the three gradients
# `(dx, dW, db)`, shaped like `x`, `W` and `b`. Use only NumPy (not `dmf_np.layers`). The check
# compares your answer with central differences on a fresh random layer, so it catches a wrong
# formula, a wrong orientation and a missing sum over the batch alike.

# %%
def sigmoid_layer_backward(dy, x, W, y):
    """dε/dx (N, n_in), dε/dW (n_out, n_in), dε/db (n_out,) of y = f(x W^T + b), given dy = dε/dy (N, n_out)."""
    raise NotImplementedError("exercise 1.1: write the backward pass")


def check_backward(fn):
    """Exercise 1.1's check: fn's gradients against central differences on a fresh random layer."""
    g = np.random.default_rng(11)
    xc, Wc, bc, Rc = g.uniform(0, 1, (5, 4)), g.normal(0, 1, (3, 4)), g.normal(0, 0.5, 3), g.normal(0, 1, (5, 3))
    yc = 1.0 / (1.0 + np.exp(-(xc @ Wc.T + bc)))
    out = fn(Rc / 5, xc, Wc, yc)                  # the loss is sum(y * R) / N, so dε/dy = R / N
    assert isinstance(out, (tuple, list)) and len(out) == 3, f"return the tuple (dx, dW, db); you returned {type(out).__name__}"

    def eps_c():
        return float(((1.0 / (1.0 + np.exp(-(xc @ Wc.T + bc)))) * Rc).sum() / 5)

    for name, mine, param in zip(("dx", "dW", "db"), out, (xc, Wc, bc)):
        assert np.shape(mine) == param.shape, f"{name} has shape {np.shape(mine)}; it must be shaped like the parameter, {param.shape}"
        err = rel_error(np.asarray(mine, dtype=np.float64), numerical_gradient(eps_c, param))
        assert err < 1e-7, (f"{name} is off: relative error {err:.1e} against central differences (a correct one is "
                            "below 1e-8). Is the sigmoid's derivative written with the output, y(1-y)? Is db summed over the batch?")


attempt("1.1", sigmoid_layer_backward, check_backward)

# %% [markdown]
# ### Exercise 1.2: an activation that feeds two layers (Eq. 5 in miniature)
#
# In DMF a modality layer $h^x_l$ feeds two layers: the next modality layer $h^x_{l+1}$ and the shared
# layer $s_l$ of its own unit. Take the smallest such case, $L = 2$ levels: an input $x$ feeding two
# sigmoid layers, $u = f(x W_u^\top + b_u)$ and $s = f(x W_s^\top + b_s)$, and the loss
# $\varepsilon = \frac1N \sum (u \odot R_u) + \frac1N \sum (s \odot R_s)$. Derive
# $\partial \varepsilon/\partial x$ by hand first (what does the chain rule do when a variable has two
# consumers?), then write `two_consumer_input_grad(x, W_u, b_u, W_s, b_s, R_u, R_s)` returning it,
# shape $(N, n_{in})$. The paper's Eq. 5 is this sum, one term per path.

# %%
def two_consumer_input_grad(x, W_u, b_u, W_s, b_s, R_u, R_s):
    """dε/dx (N, n_in) for ε = sum(f(x W_u^T + b_u) R_u)/N + sum(f(x W_s^T + b_s) R_s)/N."""
    raise NotImplementedError("exercise 1.2: derive and write dε/dx")


def check_two_consumers(fn):
    """Exercise 1.2's check: fn's dε/dx against central differences, and against each path alone."""
    g = np.random.default_rng(12)
    n, n_in = 4, 5
    xc = g.uniform(0, 1, (n, n_in))
    Wu, bu, Ru = g.normal(0, 1, (3, n_in)), g.normal(0, 0.5, 3), g.normal(0, 1, (n, 3))
    Ws, bs, Rs = g.normal(0, 1, (2, n_in)), g.normal(0, 0.5, 2), g.normal(0, 1, (n, 2))

    def f_(a):
        return 1.0 / (1.0 + np.exp(-a))

    def eps_c():
        return float((f_(xc @ Wu.T + bu) * Ru).sum() / n + (f_(xc @ Ws.T + bs) * Rs).sum() / n)

    mine = np.asarray(fn(xc, Wu, bu, Ws, bs, Ru, Rs), dtype=np.float64)
    assert mine.shape == xc.shape, f"dε/dx has shape {mine.shape}; it must be shaped like x, {xc.shape}"
    num = numerical_gradient(eps_c, xc)
    yu, ys = f_(xc @ Wu.T + bu), f_(xc @ Ws.T + bs)
    one_path = {"u": (Ru / n * yu * (1 - yu)) @ Wu, "s": (Rs / n * ys * (1 - ys)) @ Ws}
    for name, part in one_path.items():
        assert rel_error(mine, part) > 1e-3, (f"your dε/dx is the error through {name} alone: x has two consumers, "
                                               "and the chain rule adds one term per path (Eq. 5)")
    err = rel_error(mine, num)
    assert err < 1e-7, f"dε/dx is off: relative error {err:.1e} against central differences"


attempt("1.2", two_consumer_input_grad, check_two_consumers)

# %% [markdown]
# ## 4. Choosing the step $h$, and why checks run in float64
#
# The difference quotient has two errors pulling in opposite directions: the Taylor truncation,
# which shrinks like $h^2$, and rounding, about (machine epsilon)$/h$, which grows as
# $h$ shrinks. Their sum is smallest near $h \approx$ (machine epsilon)$^{1/3}$, and
# float32's machine epsilon is hundreds of millions of times larger than float64's, so its best
# achievable error is far worse. The next cell prints both estimates; the sweep after it measures
# them. (`numerical_gradient` refuses float32 arrays for this reason, so the float32 column is
# computed by hand.)

# %%
for dt in (np.float64, np.float32):
    mach = np.finfo(dt).eps
    print(f"{dt.__name__}: machine epsilon {mach:.1e}, so the best step h is near {mach ** (1 / 3):.0e}")

# %%
def central_diff_W(h, dtype):
    """The whole dε/dW by central differences with step h, computed in ``dtype``."""
    xd, Wd, bd, Rd = (v.astype(dtype) for v in (x, W, b, R))
    g = np.zeros_like(Wd)
    for i in np.ndindex(Wd.shape):
        old = Wd[i]
        Wd[i] = old + dtype(h)
        ep = (layers.sigmoid(layers.affine_forward(xd, Wd, bd)) * Rd).sum() / N
        Wd[i] = old - dtype(h)
        em = (layers.sigmoid(layers.affine_forward(xd, Wd, bd)) * Rd).sum() / N
        Wd[i] = old
        g[i] = (ep - em) / (2 * dtype(h))
    return g


step_grid = [10.0 ** k for k in range(-1, -12, -1)]
sweep = {dt.__name__: [rel_error(dW, central_diff_W(h, dt)) for h in step_grid] for dt in (np.float64, np.float32)}
print("     h     float64   float32")
for i, h in enumerate(step_grid):
    print(f"{h:7.0e}   {sweep['float64'][i]:.1e}   {sweep['float32'][i]:.1e}")
best = {k: step_grid[int(np.argmin(v))] for k, v in sweep.items()}
print(f"best step h: float64 {best['float64']:.0e} (error {min(sweep['float64']):.1e}), "
      f"float32 {best['float32']:.0e} (error {min(sweep['float32']):.1e})")

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5.5, 3.6))
for name, style in (("float64", "o-"), ("float32", "s--")):
    ax.loglog(step_grid, sweep[name], style, label=name)
ax.set_xlabel(r"finite-difference step $h$")
ax.set_ylabel(r"relative error of $\partial\varepsilon/\partial W$")
ax.set_title("Central differences: truncation vs rounding")
ax.invert_xaxis()
ax.grid(True, which="major", alpha=0.3)
ax.legend()
fig.tight_layout()
path = show_and_save(fig, "tutorial_01_epsilon.png")   # shown in a notebook; saved to dmf_np.plots.figures_dir()
print("figure written to", path)

# %% [markdown]
# ## What to take away
#
# * One layer is two lines forward and four lines back; the sigmoid's derivative is written with
#   its output, $y(1-y)$.
# * The error a layer hands down is $\partial \varepsilon/\partial x = (\partial \varepsilon/\partial a) W$: in DMF a modality
#   layer receives such an error from *two* layers above it (Eq. 5), and the two simply add
#   (exercise 1.2).
# * Trust a backward pass only after a float64 central-difference check has passed, and after
#   you have seen the same check fail on a deliberate bug.
#
# **Next:** tutorial 2 (the RBM, which pretrains these layers) or tutorial 3 (wiring the layers
# into EMF, IMF and DMF).
