"""The command line of dmf_np. ``python -m dmf_np --help`` lists the commands."""
from __future__ import annotations

import argparse
import sys

from . import backend


def cmd_info(args) -> int:
    print(backend.describe())
    return 0


def cmd_gradcheck(args) -> int:
    from .gradcheck import gradcheck_fusion  # noqa: PLC0415

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


def cmd_params(args) -> int:
    from .fusion import SCHEMES, paper_mnist_architecture  # noqa: PLC0415

    counts = {s: paper_mnist_architecture(s).n_params() for s in SCHEMES}
    print("parameters of the paper's MNIST network (each half [392, 512, 128], shared [512, 256, 64], 10 classes)")
    for s in SCHEMES:
        print(f"  {s.upper()}: {counts[s]:>9,d}  ({counts[s] / counts['emf']:.2f}x EMF, {counts[s] / counts['imf']:.2f}x IMF)")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo  # noqa: PLC0415

    run_demo(backend_name=args.backend, epochs=args.epochs, seed=args.seed)
    return 0


# Commands that own their argument parsing live beside the code they run; ``main(argv) -> int``.
DELEGATED = {
    "pretrain": ("dmf_np.pretrain", "layer-wise RBM pretraining of a fusion network (no fine-tuning)"),
    "reproduce": ("dmf_np.experiments.cli", "reproduce the paper: fig4, table1 (MNIST), table2 (Wiki)"),
    "bench": ("dmf_np.bench_cli", "time dmf_np beside PyTorch (see bench/bench.py)"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dmf_np", description="Dense Multimodal Fusion in NumPy/CuPy")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="backends, devices, BLAS and versions")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("gradcheck", help="finite-difference check of every parameter gradient")
    s.add_argument("--model", choices=["emf", "imf", "dmf"], default="dmf")
    s.add_argument("--modalities", type=int, default=2)
    s.add_argument("--depth", type=int, default=3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--backend", default=None, help="numpy or cupy (default: $DMF_BACKEND or numpy)")
    s.add_argument("--tol", type=float, default=1e-6, help="exit status 1 above this (default 1e-6)")
    s.set_defaults(func=cmd_gradcheck)

    s = sub.add_parser("params", help="parameter counts of EMF, IMF and DMF for the paper's MNIST network")
    s.set_defaults(func=cmd_params)

    s = sub.add_parser("demo", help="EMF, IMF and DMF side by side on generated two-modality data")
    s.add_argument("--epochs", type=int, default=15)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--backend", default=None)
    s.set_defaults(func=cmd_demo)

    for name, (_, help_text) in DELEGATED.items():  # listed in --help; main() dispatches them
        sub.add_parser(name, help=help_text, add_help=False)
    return p


def run_delegated(name: str, argv: list) -> int:
    """Hand ``argv`` to the module that owns command ``name``."""
    import importlib  # noqa: PLC0415

    module_name = DELEGATED[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"error: command {name!r} is not available in this version", file=sys.stderr)
            return 2
        raise
    return int(module.main(argv) or 0)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] in DELEGATED:
            return run_delegated(argv[0], argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (backend.BackendError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
