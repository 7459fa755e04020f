"""``python -m dmf_np reproduce halves [--scheme dmf] [--n-train 10000] [--epochs 20] [--out RUN] [--figures DIR]``.

The generative variant on MNIST halves (cross-half retrieval, inferred halves): the experiment is
:mod:`dmf_np.experiments.mnist_halves`. Every option, the backend, the output directories and the
sizes against the data are checked before anything is created; every failure is one line
(:func:`dmf_np.cli.main`).
"""
from __future__ import annotations

import argparse
import json
import math

from ..data.mnist import load_mnist
from ..experiments.mnist_halves import SCHEMES, Options, Setup, run_halves
from .options import (Parser, backend_name, check_writable_dir, nonneg_int, positive_int, scheduler_address)


def scheme_list(text: str) -> tuple:
    """Comma-separated schemes, a subset of emf,imf,dmf."""
    schemes = tuple(dict.fromkeys(s.strip().lower() for s in text.split(",") if s.strip()))
    bad = [s for s in schemes if s not in SCHEMES]
    if bad or not schemes:
        raise argparse.ArgumentTypeError(f"unknown scheme(s) {bad or [text]}; choose from {','.join(SCHEMES)}")
    return schemes


def learning_rate(text: str) -> float:
    """A finite positive number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a finite positive learning rate")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m dmf_np reproduce halves",
               description="MNIST halves: cross-half retrieval and inferred halves")
    p.add_argument("--scheme", type=scheme_list, default=("dmf",),
                   help="emf, imf, dmf, or several comma-separated (default dmf)")
    p.add_argument("--n-train", type=positive_int, default=10000)
    p.add_argument("--n-test", type=positive_int, default=2000)
    p.add_argument("--n-queries", type=positive_int, default=500)
    p.add_argument("--epochs", type=positive_int, default=20)
    p.add_argument("--pretrain-epochs", type=nonneg_int, default=3)
    p.add_argument("--lr", type=learning_rate, default=0.002)
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--mnist-dir", default=None, help="directory of IDX files (default: the cached MNIST)")
    p.add_argument("--backend", default=None, help="numpy or cupy (default: $DMF_BACKEND, else numpy)")
    p.add_argument("--out", default=None, help="run directory (default runs/halves-seed<S>); rerun to resume")
    p.add_argument("--figures", default="figures", help="where mnist_halves_<scheme>.json and the figures go")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="train the schemes on N local worker processes, one BLAS thread each (default 1)")
    p.add_argument("--scheduler", type=scheduler_address, default=None,
                   help="'local' (a Dask LocalCluster of --jobs workers) or a Dask scheduler's address")
    return p


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    setup = Setup(a.n_train, a.n_test, a.n_queries, a.epochs, a.pretrain_epochs, a.lr, a.seed)
    opts = Options(setup, a.scheme, backend_name(a.backend), show_progress=False if a.no_progress else None)
    out = check_writable_dir(a.out or f"runs/halves-seed{a.seed}", "--out")
    figures = check_writable_dir(a.figures, "--figures")
    mnist = load_mnist(a.mnist_dir)
    setup.check(mnist)  # sizes against the data, before the run directory is made
    results = run_halves(mnist, out, opts, figures, jobs=a.jobs, scheduler=a.scheduler)
    for scheme, result in results.items():
        print(f"{scheme}: " + json.dumps({k: result[k] for k in ("reconstruct", "encode", "right_from_left_mse",
                                                                  "linear_classifier_test_error", "train_seconds")}))
    print(f"run directory: {out}; figures in {figures}")
    return 0
