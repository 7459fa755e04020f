"""``python -m dmf_np gradcheck --model dmf --modalities 3 --depth 4``: every parameter gradient
against float64 central differences (:func:`dmf_np.gradcheck.gradcheck_fusion`); exit status 1 above ``--tol``."""
from __future__ import annotations

import argparse

from .. import backend
from ..gradcheck import gradcheck_fusion


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dmf_np gradcheck",
                                description="finite-difference check of every parameter gradient")
    p.add_argument("--model", choices=["emf", "imf", "dmf"], default="dmf")
    p.add_argument("--modalities", type=int, default=2)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None, help="numpy or cupy (default: $DMF_BACKEND or numpy)")
    p.add_argument("--tol", type=float, default=1e-6, help="exit status 1 above this (default 1e-6)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    xp = backend.get_xp(args.backend)
    errors = gradcheck_fusion(args.model, args.modalities, args.depth, seed=args.seed, xp=xp)
    print(f"gradient check: {args.model.upper()}, {args.modalities} modalities, depth {args.depth}, "
          f"seed {args.seed}, float64 central differences, backend {backend.backend_name(xp)}")
    width = max(len(k) for k in errors)
    for key, err in errors.items():
        print(f"  {key:<{width}}  rel_error={err:.3e}")
    worst = max(errors.values())
    print(f"max_rel_error={worst:.3e}")
    return 0 if worst <= args.tol else 1
