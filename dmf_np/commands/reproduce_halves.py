"""``python -m dmf_np reproduce halves [--n-train 10000] [--epochs 20] [--out DIR] [--figures DIR]``.

The generative variant on MNIST halves (cross-half retrieval, inferred halves): the experiment is
:mod:`dmf_np.experiments.mnist_halves`.
"""
from __future__ import annotations

import argparse

from ..experiments.mnist_halves import run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dmf_np reproduce halves",
                                description="MNIST halves: cross-half retrieval and inferred halves")
    p.add_argument("--scheme", choices=["emf", "imf", "dmf"], default="dmf")
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--n-queries", type=int, default=500)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--pretrain-epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mnist-dir", default=None, help="directory of IDX files (default: the cached MNIST)")
    p.add_argument("--out", default=None, help="checkpoint directory (resume); default: none")
    p.add_argument("--figures", default="figures")
    return p


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    run(a.scheme, a.n_train, a.n_test, a.n_queries, a.epochs, a.pretrain_epochs, a.lr, a.seed, a.out, a.figures,
        a.mnist_dir)
    return 0
