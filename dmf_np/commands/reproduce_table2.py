"""``python -m dmf_np reproduce table2 --wiki-dir DIR [--preset quick|paper] [--out RUN] [--figures DIR]``.

Table 2 of the paper, cross-modal retrieval on Wiki: the protocol is :mod:`dmf_np.experiments.wiki`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..experiments.wiki import ITEMS, METHODS, PRESETS, RANKINGS, figure_name, run_table2, table2_json, table2_markdown
from ..io import atomic_write_json, atomic_write_text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dmf_np reproduce table2",
                                description="Table 2: cross-modal retrieval on Wiki (CCA, EMF, IMF, DMF)")
    p.add_argument("--wiki-dir", default=os.environ.get("DMF_WIKI_DIR"),
                   help="directory with raw_features.mat and the .list files (default $DMF_WIKI_DIR)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    p.add_argument("--splits", type=int, default=None, help="number of random splits (preset: paper 5, quick 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
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
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not args.wiki_dir:
        print("error: give --wiki-dir DIR (or set $DMF_WIKI_DIR): the directory holding the Wiki features "
              "(raw_features.mat, trainset_txt_img_cat.list, testset_txt_img_cat.list, categories.list)",
              file=sys.stderr)
        return 2
    methods = tuple(m.strip().lower() for m in args.methods.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad:
        print(f"error: unknown method(s) {bad}; choose from {METHODS}", file=sys.stderr)
        return 2
    out = Path(args.out or f"runs/table2-{args.preset}")
    metrics = run_table2(args.wiki_dir, out, preset=args.preset, splits=args.splits, seed=args.seed, methods=methods,
                         backend_name=args.backend, show_progress=False if args.no_progress else None,
                         items=args.items, ranking=args.ranking, explore=args.explore_rankings)
    figs = Path(args.figures) if args.figures else out / "figures"
    command = "python -m dmf_np reproduce table2 --wiki-dir DIR " + " ".join(
        a for a in argv if not a.startswith("--wiki-dir") and a != args.wiki_dir)
    name = figure_name(args.items, args.ranking)
    atomic_write_json(figs / f"{name}.json", table2_json(metrics))
    atomic_write_text(figs / f"{name}.md", table2_markdown(metrics, command.strip()))
    print(table2_markdown(metrics, command.strip()))
    return 0
