"""``python -m dmf_np demo``: EMF, IMF and DMF side by side on generated two-modality data (:mod:`dmf_np.demo`)."""
from __future__ import annotations

import argparse

from ..demo import run_demo


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dmf_np demo",
                                description="EMF, IMF and DMF side by side on generated two-modality data")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    run_demo(backend_name=args.backend, epochs=args.epochs, seed=args.seed)
    return 0
