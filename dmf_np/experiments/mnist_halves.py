"""MNIST halves with the generative variant: infer one half from the other, retrieve across halves.

``python -m dmf_np reproduce halves [--scheme dmf,imf,emf] [--n-train 10000] [--epochs 20] [--out RUN]
[--figures DIR]``

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

Each scheme is one unit of :mod:`.runner` (:class:`Halves`), in a run directory that pins the
:class:`Setup`; its files carry its fingerprint (setup, backend, dtype, the MNIST checksum), so a rerun
reads a finished scheme back and resumes an unfinished one from its checkpoints. A modest subset and
few epochs by default, so that it runs in a few minutes on 2 CPU cores.
"""
from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import backend
from ..data import mnist as mnist_data
from ..errors import DivergenceError
from ..fusion import Architecture, init_params
from ..generative import encode, init_decoder, reconstruct
from ..generative_train import fit_generative
from ..io import atomic_write_bytes, atomic_write_json, load_checkpoint, save_checkpoint
from ..linear import fit_linear_classifier
from ..optim import SGD
from ..pretrain import CDConfig, pretrain_fusion
from ..retrieval import retrieval_map
from .rundir import RunDir
from .runner import Context, Unit, array_checksum, run_plan
from .runner import unit_dir as runner_unit_dir

SCHEMES = ("emf", "imf", "dmf")
SIZES = ((392, 512, 128), (392, 512, 128))
SHARED = (512, 256, 64)
PRESENT = {"both": [True, True], "left": [True, False], "right": [False, True]}
SHOWN = 10  # test digits drawn in the reconstruction figure


@dataclass(frozen=True)
class Setup:
    """What one scheme's run trains and measures (the same for every scheme)."""

    n_train: int = 10000      # training digits drawn from the 50,000 of the training split
    n_test: int = 2000        # test digits drawn from the 10,000: the first n_queries query the others
    n_queries: int = 500
    epochs: int = 20          # reconstruction epochs
    pretrain_epochs: int = 3  # CD epochs per RBM (0: none)
    lr: float = 0.002
    seed: int = 0

    def check(self, mnist) -> None:
        """Refuse sizes the data cannot give, naming the option (before anything is created)."""
        n_train, n_test = mnist.train_images.shape[0] - mnist_data.N_VAL, mnist.test_images.shape[0]
        for option, value, most in (("--n-train", self.n_train, n_train), ("--n-test", self.n_test, n_test),
                                    ("--n-queries", self.n_queries, self.n_test - 1)):
            if not 1 <= value <= most:
                raise ValueError(f"{option} {value}: must lie in 1..{most} (the data has {n_train} training and "
                                 f"{n_test} test digits; the queries leave at least one test digit as an item)")


@dataclass(frozen=True)
class Options:
    """A halves run: its setup, the schemes trained, and how (backend, progress bars)."""

    setup: Setup = Setup()
    schemes: tuple = ("dmf",)
    backend: str = "numpy"
    show_progress: bool | None = field(default=None, compare=False)

    def protocol(self) -> dict:
        """What config.json pins: every scheme of a run directory shares one setup."""
        return {"experiment": "mnist-halves", **asdict(self.setup)}


@dataclass
class Digits:
    """The drawn digits as float32 halves on the backend (train and test) and their labels (host)."""

    left: object
    right: object
    test_left: object
    test_right: object
    labels: np.ndarray
    test_labels: np.ndarray


def draw_digits(mnist, s: Setup, xp) -> Digits:
    """n_train training digits (validation split excluded) and n_test test digits, drawn from the seed."""
    rng = np.random.default_rng(s.seed)
    tr = np.sort(rng.choice(mnist.train_images.shape[0] - mnist_data.N_VAL, s.n_train, replace=False))
    te = np.sort(rng.choice(mnist.test_images.shape[0], s.n_test, replace=False))
    xl, xr = (a.astype(np.float32) for a in mnist_data.halves(mnist_data.to_float(mnist.train_images[tr])))
    tl, trr = (a.astype(np.float32) for a in mnist_data.halves(mnist_data.to_float(mnist.test_images[te])))
    xl, xr, tl, trr = (backend.to_device(a, xp) for a in (xl, xr, tl, trr))
    return Digits(xl, xr, tl, trr, mnist.train_labels[tr], mnist.test_labels[te])


def single_half_representation(params, arch, left, right, side: str, protocol: str):
    """The joint representation of each example from one half alone ('left' or 'right')."""
    present = PRESENT[side]
    if protocol == "encode":
        return encode(params, [left, right], arch, present)
    rec = reconstruct(params, [left, right], arch, ("bernoulli", "bernoulli"), present)
    filled = [left, rec[1]] if side == "left" else [rec[0], right]
    return encode(params, filled, arch)


@dataclass(frozen=True)
class Halves(Unit):
    """One scheme trained (CD pretraining, then reconstruction) and measured on the test digits."""

    scheme: str
    setup: Setup

    @property
    def path(self) -> tuple:
        return (self.scheme,)

    def run(self, ctx: Context, unit_dir, inputs) -> dict:
        s, xp = self.setup, backend.get_xp(ctx.settings["backend"])
        d = draw_digits(ctx.data, s, xp)
        arch = Architecture(self.scheme, SIZES, SHARED, None, ("left", "right"))
        t0 = time.time()
        params, hist = train(arch, d, s, xp, unit_dir, ctx.show_progress)
        result = {"scheme": self.scheme, **{k: getattr(s, k) for k in ("n_train", "n_test", "n_queries", "epochs",
                                                                          "pretrain_epochs", "lr", "seed")},
                  "train_seconds": time.time() - t0, "final_train_loss": hist["train_loss"][-1],
                  "train_loss": hist["train_loss"], "distance": "cosine, centred on the items' mean",
                  "default_protocol": "reconstruct", "command": command(self.scheme, s)}
        # right halves inferred from left halves alone: measured, and kept for the figure
        rec = reconstruct(params, [d.test_left, d.test_right], arch, ("bernoulli", "bernoulli"), PRESENT["left"])[1]
        result.update(measure(params, arch, d, s, xp, rec))
        save_checkpoint(unit_dir / "reconstruction.npz",
                        {"left": d.test_left[:SHOWN], "right": d.test_right[:SHOWN], "right_hat": rec[:SHOWN]},
                        {"fingerprint": ctx.fingerprint(self)})
        return result


def train(arch, d: Digits, s: Setup, xp, unit_dir: Path, show_progress=None) -> tuple:
    """(params, history): layer-wise CD pretraining, then reconstruction training from the tied start,
    resumable from the unit's checkpoints (``pretrain/`` and ``fit.npz``)."""
    seeds = backend.spawn_seeds(s.seed, 3)
    params = init_params(arch, np.random.default_rng(seeds[0]), xp=xp)
    if s.pretrain_epochs:
        pretrain_fusion(params, arch, [d.left, d.right], CDConfig(epochs=s.pretrain_epochs), seed=seeds[1], log=None,
                        show_progress=show_progress, checkpoint_dir=unit_dir / "pretrain")
    params.update(init_decoder(arch, None, xp, encoder_params=params))  # tied start, untied training
    hist = fit_generative(params, arch, [d.left, d.right], "bernoulli", epochs=s.epochs, batch_size=100,
                          optimizer=SGD(s.lr, 0.9, 1e-4), seed=seeds[2], show_progress=show_progress,
                          checkpoint=unit_dir / "fit.npz", desc=f"{arch.scheme} halves")
    return params, hist


def measure(params, arch, d: Digits, s: Setup, xp, rec) -> dict:
    """Cross-half retrieval under both protocols, the right half inferred from the left (``rec``: error per
    pixel, beside predicting the mean right half), and the linear classifier on the joint representation."""
    q, it = slice(0, s.n_queries), slice(s.n_queries, s.n_test)
    yt = d.test_labels
    out = {}
    for protocol in ("reconstruct", "encode"):
        zl = single_half_representation(params, arch, d.test_left, d.test_right, "left", protocol)
        zr = single_half_representation(params, arch, d.test_left, d.test_right, "right", protocol)
        out[protocol] = {"left2right": retrieval_map(zl[q], zr[it], yt[q], yt[it]),
                         "right2left": retrieval_map(zr[q], zl[it], yt[q], yt[it])}
    out["right_from_left_mse"] = {"model": float(((rec - d.test_right) ** 2).mean()),
                                  "mean_right_half": float(((d.test_right - d.right.mean(axis=0)) ** 2).mean())}
    clf = fit_linear_classifier(encode(params, [d.left, d.right], arch), backend.to_device(d.labels, xp), 10,
                                epochs=30, seed=s.seed)
    out["linear_classifier_test_error"] = {
        side: clf.error_rate(encode(params, [d.test_left, d.test_right], arch, PRESENT[side]),
                             backend.to_device(yt, xp)) for side in PRESENT}
    return out


def command(scheme: str, s: Setup) -> str:
    return (f"python -m dmf_np reproduce halves --scheme {scheme} --n-train {s.n_train} --epochs {s.epochs} "
            f"--pretrain-epochs {s.pretrain_epochs} --lr {s.lr} --seed {s.seed}")


# --- the experiment -----------------------------------------------------------------------------

def context(mnist, out, opts: Options) -> Context:
    """What every unit shares; the data's checksum and the backend enter every fingerprint."""
    checksum = array_checksum(mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels)
    return Context(str(Path(out).resolve()), mnist, {"backend": opts.backend, "dtype": "float32", "data": checksum},
                   show_progress=opts.show_progress)


def run_halves(mnist, out, opts: Options = Options(), figures="figures", *, jobs: int = 1,
               scheduler: str | None = None, log=None) -> dict:
    """Train (or read back) every scheme of ``opts`` in run directory ``out``, write each one's
    ``mnist_halves_<scheme>.json`` and reconstruction figure into ``figures``; returns {scheme: result}."""
    opts.setup.check(mnist)
    rd = RunDir(out)
    rd.start(opts.protocol(), backend_name=opts.backend, units_blas_threads=1)  # the runner's units: 1 thread
    log = log or rd.log
    try:
        ctx = context(mnist, out, opts)
        if jobs != 1 or scheduler is not None:
            ctx = replace(ctx, show_progress=False)
        units = [Halves(scheme, opts.setup) for scheme in opts.schemes]
        done = run_plan(lambda finished: units, ctx, jobs=jobs, scheduler=scheduler, log=log)
        failed = [u for u in units if done[u].diverged]
        if failed:
            raise DivergenceError(f"{failed[0].scheme}: {done[failed[0]].diverged}")
        return {u.scheme: write_figures(done[u].values, runner_unit_dir(out, u), figures) for u in units}
    finally:
        rd.release()


def write_figures(result: dict, unit_dir: Path, figures) -> dict:
    """mnist_halves_<scheme>.json and the reconstruction figure (DMF's without a suffix)."""
    figs, scheme = Path(figures), result["scheme"]
    arrays, _ = load_checkpoint(unit_dir / "reconstruction.npz")
    draw_reconstructions(arrays["left"], arrays["right"], arrays["right_hat"],
                         figs / ("mnist_halves_reconstruction.png" if scheme == "dmf" else
                                 f"mnist_halves_reconstruction_{scheme}.png"))
    atomic_write_json(figs / f"mnist_halves_{scheme}.json", result)
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


__all__ = ["Setup", "Options", "Halves", "run_halves", "draw_digits", "single_half_representation",
           "draw_reconstructions"]
