"""``python -m dmf_np pretrain``: layer-wise RBM pretraining of an EMF/IMF/DMF network, no fine-tuning.

The flags fill a :class:`dmf_np.pretrain.CDConfig`; :func:`dmf_np.pretrain.pretrain_fusion` does the work.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .. import backend
from ..data.mnist import halves, load_mnist, to_float
from ..data.synthetic import two_modality_classes
from ..fusion import Architecture, init_params
from ..io import save_checkpoint
from ..pretrain import CDConfig, pretrain_fusion

DEFAULT = CDConfig()


def _load_data(args, xp):
    """(xs_train, xs_heldout, description) for --data synthetic | mnist | PATH.npz."""
    if args.data == "synthetic":
        xs, _ = two_modality_classes(n=args.n + args.n // 5, sizes=(40, 40), n_classes=6, seed=args.seed)
        tr = [backend.to_device(x[:args.n], xp) for x in xs]
        te = [backend.to_device(x[args.n:], xp) for x in xs]
        return tr, te, f"generated two-modality data, {args.n} train / {args.n // 5} held-out rows"
    if args.data == "mnist":
        (train, _), (val, _) = load_mnist(mnist_dir=args.mnist_dir).split()
        tr, te = halves(to_float(train)), halves(to_float(val))
        return ([backend.to_device(x, xp) for x in tr], [backend.to_device(x, xp) for x in te],
                f"MNIST left/right halves, {train.shape[0]} train / {val.shape[0]} validation images")
    path = Path(args.data)
    if not path.is_file():
        raise FileNotFoundError(f"--data {args.data}: no such file (expected 'synthetic', 'mnist' or an .npz "
                                f"with arrays x0, x1, ...)")
    with np.load(path, allow_pickle=False) as z:
        keys = sorted((k for k in z.files if k[:1] == "x" and k[1:].isdigit()), key=lambda k: int(k[1:]))
        if len(keys) < 2:
            raise ValueError(f"{path} must hold at least two arrays named x0, x1, ...; it has {z.files}")
        xs = [np.asarray(z[k], dtype=np.float32) for k in keys]
        held = None
        if f"heldout_{keys[0]}" in z.files:
            held = [np.asarray(z[f"heldout_{k}"], dtype=np.float32) for k in keys]
    return ([backend.to_device(x, xp) for x in xs], None if held is None else [backend.to_device(x, xp) for x in held],
            f"{path}: {len(xs)} modalities, {xs[0].shape[0]} rows")


def _ints(text: str) -> tuple:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dmf_np pretrain",
                                description="Layer-wise RBM pretraining of an EMF/IMF/DMF network (no fine-tuning).")
    p.add_argument("--model", choices=["emf", "imf", "dmf"], default="dmf")
    p.add_argument("--data", default="synthetic",
                   help="'synthetic' (default), 'mnist', or an .npz with arrays "
                        "x0, x1, ... (and optionally heldout_x0, ...)")
    p.add_argument("--mnist-dir", default=None, help="--data mnist: a directory with the four IDX files "
                   "(default: dmf_np.data.mnist's cache or offline source)")
    p.add_argument("--n", type=int, default=2000, help="rows of synthetic data (default 2000)")
    p.add_argument("--layers", type=_ints, default=None,
                   help="hidden sizes of each modality stack above the input, e.g. 512,128 "
                        "(default: the paper's for mnist, 64,32 otherwise)")
    p.add_argument("--shared", type=_ints, default=None,
                   help="shared sizes, e.g. 512,256,64 (default: paper / 64,32,16)")
    p.add_argument("--epochs", type=int, default=DEFAULT.epochs)
    p.add_argument("--batch-size", type=int, default=DEFAULT.batch_size)
    p.add_argument("--lr", type=float, default=DEFAULT.lr)
    p.add_argument("--momentum", type=float, default=DEFAULT.momentum)
    p.add_argument("--weight-decay", type=float, default=DEFAULT.weight_decay)
    p.add_argument("--cd-k", type=int, default=DEFAULT.k)
    p.add_argument("--persistent", action="store_true", help="persistent CD instead of CD-k")
    p.add_argument("--gaussian-inputs", action="store_true", help="real-valued inputs: Gaussian visible units")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None, help="numpy or cupy (default: $DMF_BACKEND or numpy)")
    p.add_argument("--checkpoint-dir", default=None, help="resume point: one file per finished RBM")
    p.add_argument("--out", default=None, help="directory to save the pretrained parameters (pretrained.npz)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    config = CDConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                      weight_decay=args.weight_decay, k=args.cd_k, persistent=args.persistent)
    for flag, value in (("--out", args.out), ("--checkpoint-dir", args.checkpoint_dir)):
        if value is not None and Path(value).exists() and not Path(value).is_dir():  # say so before training
            raise ValueError(f"{flag}: {value} is a file, not a directory (give a new or existing directory)")
    xp = backend.get_xp(args.backend)
    xs, heldout, what = _load_data(args, xp)
    mnist = args.data == "mnist"
    layers = args.layers or ((512, 128) if mnist else (64, 32))
    shared = args.shared or ((512, 256, 64) if mnist else (64, 32, 16))
    if len(shared) != len(layers) + 1:
        raise ValueError(f"--shared needs one size more than --layers (one shared layer per unit), "
                         f"got {len(shared)} and {len(layers)}")
    arch = Architecture(args.model, tuple((x.shape[1], *layers) for x in xs), shared, n_classes=None)
    params = init_params(arch, np.random.default_rng(args.seed), xp=xp)
    log = None if args.quiet else print
    print(f"pretraining {arch.scheme.upper()} {arch.modality_sizes} shared {arch.shared_sizes} on {what}; "
          f"CD-{args.cd_k}{' (persistent)' if args.persistent else ''}, {args.epochs} epochs, lr {args.lr}, "
          f"backend {backend.backend_name(xp)}")
    t0 = time.perf_counter()
    hist = pretrain_fusion(params, arch, xs, config, gaussian_inputs=args.gaussian_inputs, seed=args.seed,
                           heldout=heldout, checkpoint_dir=args.checkpoint_dir, log=log)
    for name, h in hist.items():
        last = {k: v[-1] for k, v in h.items() if isinstance(v, list) and v and isinstance(v[0], float)}
        gap = f", free-energy gap {last['free_energy_gap']:.3g}" if "free_energy_gap" in last else ""
        print(f"  {name:<8} <- [{', '.join(h['visible'])}] ({h['visible_type']}): reconstruction error "
              f"{last.get('recon_error', float('nan')):.4f}{gap}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    if args.out:
        path = save_checkpoint(Path(args.out) / "pretrained.npz", params,
                    {"arch": {"scheme": arch.scheme, "modality_sizes": arch.modality_sizes,
                              "shared_sizes": arch.shared_sizes, "names": arch.names}, "history": hist})
        print(f"saved pretrained parameters to {path}")
    return 0
