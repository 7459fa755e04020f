"""MNIST halves with the generative variant: infer one half from the other, retrieve across halves.

``python -m dmf_np reproduce halves [--n-train 10000] [--epochs 20] [--out DIR] [--figures DIR]``

The left and right halves of each digit (columns 0-13 and 14-27) are the two modalities of
section 4.1. A generative EMF/IMF/DMF with the paper's sizes (each half [392, 512, 128], shared
[512, 256, 64], no classifier) is pretrained layer-wise (Bernoulli RBMs) and then trained to
reconstruct both halves from inputs where one half may be zeroed (both / only left / only right,
a third each). Then, on test digits:

* left -> right retrieval: a test image's left half is the query; the items are the right halves of
  other test images (each represented from its right half alone); relevant = same digit; mAP over
  all queries. right -> left the other way round. Both representation protocols of the Wiki
  experiment ('reconstruct', the default, and 'encode'); distance: centred cosine.
* a linear softmax classifier (the paper's SVM stand-in, :mod:`dmf_np.linear`) on the joint
  representation of training digits, tested on test digits seen through both halves, the left only,
  or the right only;
* figures/mnist_halves_reconstruction.png: test digits, their left halves alone, and the right
  halves the network draws from the left halves alone.

A modest subset and few epochs by default, so that it runs in a few minutes on 2 CPU cores.
"""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import backend
from ..data import mnist as mnist_data
from ..fusion import Architecture, init_params
from ..generative import encode, init_decoder, reconstruct
from ..generative_train import fit_generative
from ..io import atomic_write_bytes, atomic_write_json
from ..linear import fit_linear_classifier
from ..optim import SGD
from ..pretrain import CDConfig, pretrain_fusion
from ..retrieval import retrieval_map

SIZES = ((392, 512, 128), (392, 512, 128))
SHARED = (512, 256, 64)
PRESENT = {"both": [True, True], "left": [True, False], "right": [False, True]}


def single_half_representation(params, arch, left, right, side: str, protocol: str):
    """The joint representation of each example from one half alone ('left' or 'right')."""
    present = PRESENT[side]
    if protocol == "encode":
        return encode(params, [left, right], arch, present)
    rec = reconstruct(params, [left, right], arch, ("bernoulli", "bernoulli"), present)
    filled = [left, rec[1]] if side == "left" else [rec[0], right]
    return encode(params, filled, arch)


def run(scheme: str = "dmf", n_train: int = 10000, n_test: int = 2000, n_queries: int = 500, epochs: int = 20,
        pretrain_epochs: int = 3, lr: float = 0.002, seed: int = 0, out=None, figures="figures",
        mnist_dir=None, show_progress=None, log=print) -> dict:
    """Train, evaluate and draw; returns the metrics (also written to figures/mnist_halves_<scheme>.json)."""
    m = mnist_data.load_mnist(mnist_dir)
    rng = np.random.default_rng(seed)
    tr = np.sort(rng.choice(m.train_images.shape[0] - mnist_data.N_VAL, n_train, replace=False))
    te = np.sort(rng.choice(m.test_images.shape[0], n_test, replace=False))
    xl, xr = (a.astype(np.float32) for a in mnist_data.halves(mnist_data.to_float(m.train_images[tr])))
    tl, trr = (a.astype(np.float32) for a in mnist_data.halves(mnist_data.to_float(m.test_images[te])))
    yl, yt = m.train_labels[tr], m.test_labels[te]
    xp = backend.get_xp()
    xl, xr, tl, trr = (backend.to_device(a, xp) for a in (xl, xr, tl, trr))
    arch = Architecture(scheme, SIZES, SHARED, None, ("left", "right"))
    seeds = backend.spawn_seeds(seed, 3)
    params = init_params(arch, np.random.default_rng(seeds[0]), xp=xp)
    t0 = time.time()
    ckdir = None if out is None else Path(out)
    if pretrain_epochs:
        pretrain_fusion(params, arch, [xl, xr], CDConfig(epochs=pretrain_epochs), seed=seeds[1], log=None,
                        show_progress=show_progress,
                        checkpoint_dir=None if ckdir is None else ckdir / f"{scheme}-pretrain")
    params.update(init_decoder(arch, None, xp, encoder_params=params))  # tied start, untied training
    hist = fit_generative(params, arch, [xl, xr], "bernoulli", epochs=epochs, batch_size=100,
                          optimizer=SGD(lr, 0.9, 1e-4), seed=seeds[2], show_progress=show_progress,
                          checkpoint=None if ckdir is None else ckdir / f"{scheme}-fit.npz", desc=f"{scheme} halves")
    train_seconds = time.time() - t0
    # retrieval: the first n_queries test digits query the other test digits
    q, it = slice(0, n_queries), slice(n_queries, n_test)
    result = {"scheme": scheme, "n_train": n_train, "n_test": n_test, "n_queries": n_queries, "epochs": epochs,
              "pretrain_epochs": pretrain_epochs, "lr": lr, "seed": seed, "train_seconds": train_seconds,
              "final_train_loss": hist["train_loss"][-1], "train_loss": hist["train_loss"],
              "distance": "cosine, centred on the items' mean", "default_protocol": "reconstruct",
              "command": f"python -m dmf_np reproduce halves --scheme {scheme} --n-train {n_train} "
                         f"--epochs {epochs} --pretrain-epochs {pretrain_epochs} --lr {lr} --seed {seed}"}
    for protocol in ("reconstruct", "encode"):
        zl = single_half_representation(params, arch, tl, trr, "left", protocol)
        zr = single_half_representation(params, arch, tl, trr, "right", protocol)
        result[protocol] = {"left2right": retrieval_map(zl[q], zr[it], yt[q], yt[it]),
                            "right2left": retrieval_map(zr[q], zl[it], yt[q], yt[it])}
    # right halves inferred from left halves alone: error per pixel, vs. predicting the mean right half
    rec = reconstruct(params, [tl, trr], arch, ("bernoulli", "bernoulli"), PRESENT["left"])[1]
    mse = float(((rec - trr) ** 2).mean())
    mse_mean = float(((trr - xr.mean(axis=0)) ** 2).mean())
    result["right_from_left_mse"] = {"model": mse, "mean_right_half": mse_mean}
    # the SVM stand-in on the joint representation
    clf = fit_linear_classifier(encode(params, [xl, xr], arch), backend.to_device(yl, xp), 10, epochs=30, seed=seed)
    result["linear_classifier_test_error"] = {
        side: clf.error_rate(encode(params, [tl, trr], arch, PRESENT[side]), backend.to_device(yt, xp))
        for side in PRESENT}
    figs = Path(figures)
    draw_reconstructions(backend.to_host(tl[:10]), backend.to_host(trr[:10]), backend.to_host(rec[:10]),
                         figs / "mnist_halves_reconstruction.png" if scheme == "dmf" else
                         figs / f"mnist_halves_reconstruction_{scheme}.png")
    atomic_write_json(figs / f"mnist_halves_{scheme}.json", result)
    if log is not None:
        log(json.dumps({k: result[k] for k in ("reconstruct", "encode", "right_from_left_mse",
                                              "linear_classifier_test_error", "train_seconds")}))
    return result


def draw_reconstructions(left, right, right_hat, path) -> None:
    """Three rows: the digits, their left halves alone, left halves with the inferred right halves."""
    n = left.shape[0]

    def whole(l, r):
        return np.concatenate([l.reshape(28, 14), r.reshape(28, 14)], axis=1)

    rows = [("original", [whole(left[i], right[i]) for i in range(n)]),
            ("left half only", [whole(left[i], np.zeros_like(right[i])) for i in range(n)]),
            ("right inferred", [whole(left[i], right_hat[i]) for i in range(n)])]
    fig = Figure(figsize=(n * 0.9, 3.2))  # no pyplot: no GUI backend, nothing left open
    axes = fig.subplots(3, n)
    for r, (title, imgs) in enumerate(rows):
        for i, img in enumerate(imgs):
            ax = axes[r, i]
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 2:
                ax.axvline(13.5, color="tab:red", lw=0.6)
        axes[r, 0].set_ylabel(title, fontsize=7)
    fig.suptitle("Generative DMF: right halves inferred from left halves alone (MNIST test digits)", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write_bytes(path, buf.getvalue())
