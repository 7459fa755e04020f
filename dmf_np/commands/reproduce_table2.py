"""``python -m dmf_np reproduce table2 --wiki-dir DIR [--preset quick|paper] [--out RUN] [--figures DIR]``.

Table 2 of the paper, cross-modal retrieval on Wiki: the protocol is :mod:`dmf_np.experiments.wiki`.
Every option, the backend, the output directories and the Wiki files are checked before anything is
created; every failure is one line (:func:`dmf_np.cli.main`).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..data.wiki import FILES, load_wiki
from ..experiments.wiki import DEFAULT_PROTOCOL, ITEMS, METHODS, PRESETS, RANKINGS, Options, run_table2, with_overrides
from ..experiments.wiki_outputs import figure_name, table2_json, table2_markdown
from ..io import atomic_write_json, atomic_write_text
from .options import (Parser, UsageError, backend_name, check_writable_dir, nonneg_int, positive_int,
                      scheduler_address)

NEED_DIR = (f"give --wiki-dir DIR (or set $DMF_WIKI_DIR): the directory holding the Wiki features "
            f"({', '.join(FILES)})")


def wiki_dir(text: str) -> Path:
    """A directory that exists (its files are checked when loaded); a file or a missing path is named."""
    if not text:
        raise argparse.ArgumentTypeError(f"is empty; {NEED_DIR}")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a directory; give the directory that holds "
                                         f"{', '.join(FILES)}")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} does not exist; give the directory that holds {', '.join(FILES)}")
    return path


def method_list(text: str) -> tuple:
    """Comma-separated methods, a subset of cca,emf,imf,dmf."""
    methods = tuple(m.strip().lower() for m in text.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise argparse.ArgumentTypeError(f"unknown method(s) {bad or [text]}; choose from {','.join(METHODS)}")
    return methods


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m dmf_np reproduce table2",
               description="Table 2: cross-modal retrieval on Wiki (CCA, EMF, IMF, DMF)")
    p.add_argument("--wiki-dir", type=wiki_dir, default=os.environ.get("DMF_WIKI_DIR"),
                   help="directory with raw_features.mat and the .list files (default $DMF_WIKI_DIR)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    p.add_argument("--splits", type=positive_int, default=None,
                   help="number of random splits (preset: paper 5, quick 2)")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--methods", type=method_list, default=METHODS,
                   help="comma-separated subset of " + ",".join(METHODS))
    p.add_argument("--out", default=None, help="run directory (default runs/table2-<preset>); rerun to resume")
    p.add_argument("--figures", default=None, help="where to write table2.md/json (default <out>/figures)")
    p.add_argument("--backend", default=None, help="numpy or cupy (default $DMF_BACKEND or numpy)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or log echo")
    p.add_argument("--items", choices=ITEMS, default="single",
                   help="retrieval-set items seen through one modality (single, default) or represented from "
                        "both (paired: a different, easier task; writes table2_paired.*)")
    p.add_argument("--ranking", choices=tuple(RANKINGS), default="cosine",
                   help="distance in the joint space (default: cosine centred on the items' mean)")
    p.add_argument("--explore-rankings", action="store_true",
                   help="also score every other items/ranking reading on validation, each with its own chosen "
                        "configurations (their test numbers go to the table's last section)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: the tables from the units finished so far")
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="run the units on N local worker processes, one BLAS thread each (default 1)")
    p.add_argument("--scheduler", type=scheduler_address, default=None,
                   help="'local' (a Dask LocalCluster of --jobs workers) or a Dask scheduler's address "
                        "(docs/cluster.md)")
    return p


def main(argv=None) -> int:
    """Train or resume Table 2, write table2.json/.md (or the reading's own names), print the table."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.wiki_dir is None:
        raise UsageError(NEED_DIR)
    preset = with_overrides(PRESETS[args.preset], splits=args.splits)
    opts = Options(preset, seed=args.seed, methods=args.methods, items=args.items, ranking=args.ranking,
                   explore=args.explore_rankings, backend=backend_name(args.backend),
                   show_progress=False if args.no_progress else None)
    out = check_writable_dir(args.out or f"runs/table2-{args.preset}", "--out")
    figs = check_writable_dir(args.figures, "--figures") if args.figures else out / "figures"
    data = load_wiki(args.wiki_dir)  # checked (files, checksums, shapes) before the run directory is made
    metrics = run_table2(data, out, opts, jobs=args.jobs, scheduler=args.scheduler, report_only=args.report_only)
    if DEFAULT_PROTOCOL not in metrics:  # --report-only before any split of any method has finished
        raise ValueError(f"{out} has no finished split of any method yet: run without --report-only first")
    typed = argv_wiki(argv)  # a local path: the command printed in the table says DIR instead
    command = "python -m dmf_np reproduce table2 --wiki-dir DIR " + " ".join(
        a for a in argv if not a.startswith("--wiki-dir") and a != typed)
    name = figure_name(args.items, args.ranking)
    atomic_write_json(figs / f"{name}.json", table2_json(metrics))
    atomic_write_text(figs / f"{name}.md", table2_markdown(metrics, command.strip()))
    print(table2_markdown(metrics, command.strip()))
    if metrics.get("missing"):
        print(f"incomplete: {len(metrics['missing'])} split/method entries have not finished, "
              f"e.g. {metrics['missing'][0]}")
    return 0


def argv_wiki(argv: list) -> str | None:
    """The --wiki-dir value as typed, if given as a separate argument."""
    for i, a in enumerate(argv):
        if a == "--wiki-dir" and i + 1 < len(argv):
            return argv[i + 1]
    return None
