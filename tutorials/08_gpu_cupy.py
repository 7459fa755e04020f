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
# # Tutorial 8: the same code on the GPU, with CuPy
#
# **What this teaches.** dmf_np runs unchanged on an NVIDIA GPU through CuPy, a NumPy look-alike.
# We see the whole switch (a handful of functions in `dmf_np/backend.py`), check that the GPU gives
# the same numbers as NumPy (float64 within $10^{-10}$, float32 within $10^{-4}$, relative), and time
# one training step of the paper's MNIST network on both. Where there is no usable GPU, the
# tutorial says why and skips the GPU cells; the NumPy parts still run.
#
# **Read first.** Tutorial 3 (the forward pass) and tutorial 4 (the backward pass); then
# `dmf_np/backend.py`, which is short.
#
# **How long it runs.** Ten to twenty seconds on a two-core machine without a GPU (the CPU timings
# of the paper's network are most of it); with a GPU, a few seconds more for CuPy's first kernel
# compilations. A few seconds with `DMF_TUTORIAL_FAST=1`.
#
# **The idea** (Chainer's and DeZero's): compute code never imports numpy or cupy. It asks for the
# array module of the array in hand, `xp = array_module(x)`, and calls `xp.exp`, `xp.matmul`, ...;
# NumPy and CuPy share that interface, so one code path serves both. Only the edges of the program
# (loading data, metrics, plots, files) move arrays between host and device.

# %%
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().resolve()
if not (ROOT / "dmf_np").is_dir():
    ROOT = ROOT.parent  # a notebook started inside tutorials/
sys.path.insert(0, str(ROOT))
FAST = os.environ.get("DMF_TUTORIAL_FAST") == "1"

import numpy as np

from dmf_np import backend
from dmf_np.backprop import loss_and_grads
from dmf_np.data.synthetic import two_modality_classes
from dmf_np.fusion import Architecture, init_params, paper_mnist_architecture
from dmf_np.gradcheck import rel_error
from dmf_np.optim import SGD
from dmf_np.train import fit_classifier

# %% [markdown]
# ## 1. Is there a GPU?
#
# `import cupy` can succeed on a machine with no GPU at all, so it proves nothing. The backend asks
# `cupy.cuda.is_available()` and returns a reason either way; every GPU cell below runs only when
# `GPU` is true.

# %%
GPU, WHY = backend.cupy_status()
print(f"CuPy usable: {GPU} ({WHY})")
if not GPU:
    print(f"GPU parts of this tutorial are skipped: {WHY}")
print(backend.describe())

# %% [markdown]
# ## 2. The switch
#
# `backend.get_xp(name)` returns the array module for a name; with no name it reads the environment
# variable `DMF_BACKEND` (default `numpy`), so a whole program moves to the GPU with
# `DMF_BACKEND=cupy python ...`. Asking for CuPy where it cannot run is an error that says why,
# never a CUDA traceback.

# %%
print("get_xp('numpy') ->", backend.get_xp("numpy").__name__)
saved = os.environ.get(backend.ENV_VAR)
os.environ[backend.ENV_VAR] = "numpy"
print(f"with {backend.ENV_VAR}=numpy, get_xp() ->", backend.get_xp().__name__)
if saved is None:
    del os.environ[backend.ENV_VAR]
else:
    os.environ[backend.ENV_VAR] = saved
try:
    cp = backend.get_xp("cupy")
    print("get_xp('cupy') ->", cp.__name__)
except backend.BackendError as exc:
    cp = None
    print("get_xp('cupy') raised BackendError:", exc)

# %% [markdown]
# Arrays are moved explicitly: `to_device(x, xp, dtype)` puts a host array on a backend,
# `to_host(x)` brings any array back as NumPy, and `array_module(x)` tells which module owns an
# array. Initial weights are drawn on the host from a seeded NumPy generator and then moved, so
# the same seed gives the same network on every backend.

# %%
x_host = np.arange(6, dtype=np.float64).reshape(2, 3)
print("array_module of a NumPy array:", backend.array_module(x_host).__name__)
if GPU:
    x_dev = backend.to_device(x_host, cp, np.float32)
    print("on the device:", type(x_dev).__module__, x_dev.dtype, "| array_module:", backend.array_module(x_dev).__name__)
    print("back on the host:", type(backend.to_host(x_dev)).__module__, backend.to_host(x_dev).tolist())
else:
    print("(device transfer skipped: no GPU)")

# %% [markdown]
# ## 3. The parity check
#
# One forward and backward pass of a DMF network (the library's `loss_and_grads`, Eqs. 3-8) with
# the same weights and the same batch on each backend. We compare the loss and every gradient with
# the norm-wise relative error $\lVert a - b\rVert / (\lVert a\rVert + \lVert b\rVert)$. The two backends use
# different matrix-multiply libraries (OpenBLAS or MKL on the CPU, cuBLAS on the GPU), which add
# in different orders, so the results agree to rounding, not bit for bit: about $10^{-16}$ in
# float64 and $10^{-7}$ in float32 per operation, with the tolerances below leaving room for that to
# accumulate through the layers.

# %%
arch = Architecture("dmf", ((20, 32, 24, 16), (30, 32, 24, 16)), (32, 24, 16, 12), n_classes=6)
xs_host, labels_host = two_modality_classes(n=64 if FAST else 256, sizes=(20, 30), n_classes=6, seed=0)
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def one_pass(xp, dtype):
    """Loss and gradients (host copies) of one DMF forward/backward on backend xp."""
    params = init_params(arch, np.random.default_rng(0), xp=xp, dtype=dtype)
    xs = [backend.to_device(x, xp, dtype) for x in xs_host]
    labels = backend.to_device(labels_host, xp)
    loss, bw = loss_and_grads(params, xs, labels, arch)
    return float(loss), {k: backend.to_host(g) for k, g in bw.grads.items()}


parity = {}
for dtype in (np.float64, np.float32):
    ref_loss, ref_grads = one_pass(np, dtype)
    print(f"{dtype.__name__}: NumPy loss {ref_loss:.10f}")
    if not GPU:
        print(f"   CuPy comparison skipped: {WHY}")
        continue
    dev_loss, dev_grads = one_pass(cp, dtype)
    errs = {k: rel_error(ref_grads[k], dev_grads[k]) for k in ref_grads}
    worst = max(errs, key=errs.get)
    loss_err = abs(dev_loss - ref_loss) / abs(ref_loss)
    parity[dtype.__name__] = max(loss_err, errs[worst])
    print(f"   CuPy  loss {dev_loss:.10f}; relative difference {loss_err:.1e}")
    print(f"   largest gradient difference over {len(errs)} parameters: {errs[worst]:.1e} ({worst}); "
          f"tolerance {TOL[dtype]:.0e}")
    assert loss_err < TOL[dtype] and errs[worst] < TOL[dtype], "CuPy and NumPy disagree"

# %% [markdown]
# Training on both backends: `fit_classifier` draws the minibatch order from a host generator, so
# both runs see the same batches. In float64 the two loss curves should agree to many digits;
# rounding differences grow slowly over many steps, so we print the difference rather than
# demand a tolerance for it.

# %%
def train_curve(xp, epochs):
    params = init_params(arch, np.random.default_rng(1), xp=xp, dtype=np.float64)
    xs = [backend.to_device(x, xp, np.float64) for x in xs_host]
    hist = fit_classifier(params, arch, xs, backend.to_device(labels_host, xp), epochs=epochs, batch_size=32,
                          optimizer=SGD(lr=0.1, momentum=0.9), seed=1, show_progress=False)
    return np.array(hist["train_loss"])


EPOCHS = 2 if FAST else 5
cpu_curve = train_curve(np, EPOCHS)
print("NumPy float64 training loss by epoch:", np.round(cpu_curve, 8).tolist())
if GPU:
    gpu_curve = train_curve(cp, EPOCHS)
    print("CuPy  float64 training loss by epoch:", np.round(gpu_curve, 8).tolist())
    print(f"largest difference: {np.abs(gpu_curve - cpu_curve).max():.1e}")
else:
    print(f"CuPy training skipped: {WHY}")

# %% [markdown]
# ## 4. Timings
#
# One training step (forward, backward, SGD update) of the paper's MNIST network under DMF (each
# half [392, 512, 128], shared [512, 256, 64]; tutorial 3 counted its parameters) in float32, at two
# batch sizes. GPU work is queued asynchronously, so the clock is read only after
# `backend.synchronize(xp)`; the first steps (CuPy compiles its kernels then) are not timed.
# These are small measurements for orientation, not a benchmark; the machine, its load and its
# BLAS threads all matter (the project's benchmark suite is the place for careful numbers).

# %%
mnist = paper_mnist_architecture("dmf")
rng = np.random.default_rng(0)
REPEATS, WARMUP = (1, 1) if FAST else (5, 2)
BATCHES = (100,) if FAST else (100, 1000)


def time_step(xp, batch):
    """Median seconds of one SGD step on backend xp."""
    params = init_params(mnist, np.random.default_rng(0), xp=xp, dtype=np.float32)
    xs = [backend.to_device(rng.uniform(0, 1, (batch, 392)), xp, np.float32) for _ in range(2)]
    labels = backend.to_device(rng.integers(0, 10, batch), xp)
    opt = SGD(lr=0.01, momentum=0.9)
    times = []
    for i in range(REPEATS + WARMUP):
        backend.synchronize(xp)
        t0 = time.perf_counter()
        _, bw = loss_and_grads(params, xs, labels, mnist)
        opt.step(params, bw.grads)
        backend.synchronize(xp)
        if i >= WARMUP:                             # the first steps are warm-up
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


for batch in BATCHES:
    t_cpu = time_step(np, batch)
    line = f"batch {batch:5d}: NumPy {1e3 * t_cpu:8.2f} ms/step"
    if GPU:
        t_gpu = time_step(cp, batch)
        line += f", CuPy {1e3 * t_gpu:8.2f} ms/step, speed-up {t_cpu / t_gpu:.1f}x"
    else:
        line += f"; CuPy skipped ({WHY})"
    print(line)

# %% [markdown]
# ## What to take away
#
# * The switch is `backend.get_xp(name)` or `DMF_BACKEND=cupy`; everything else follows the arrays
#   through `array_module(x)`. There is no GPU copy of the model code to keep in step.
# * Parity is checked, not assumed: the same seed gives the same network on both backends, and
#   the numbers agree to rounding (the printed relative differences). The test suite runs the
#   same check on every backend through its `xp` fixture.
# * On a machine without a GPU, `cupy_status()` says why, and every GPU step is skipped cleanly.
# * Code that only the GPU runs is still tested where there is no GPU: `tests/cupy_standin.py` is a
#   stand-in for CuPy that computes with NumPy but refuses what CuPy refuses. It rejects a NumPy
#   array mixed into device work and `numpy.asarray` of a device array, and it returns 0-d arrays
#   from reductions. Every backend-parametrised test also runs on it. A host array that slips into
#   device code therefore fails on any machine, before it first meets a GPU. It cannot check
#   CuPy's numerics or speed; the cells above, on a real GPU, do that.
