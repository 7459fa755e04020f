"""Summarise several ``bench/bench.py --json`` files: per thread count, each ratio's range over the runs.

    python bench/summarise.py bench/results/2026-11-26/*.json
    python bench/summarise.py --skip-cd1 bench/results/2026-11-26/78643c1-*.json   # fine-tuning only

Each run's ratio is the median over its rounds of the paired ratio (see bench/bench.py); this
prints, per workload and thread count, the runs' medians of every engine's time, each ratio's range
over the runs, and how many runs met the issue's goal.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

GOALS = {"ratio_finetune_vs_torch": 1.0, "ratio_finetune_vs_gemm": 1.5, "ratio_cd1_vs_torch": 1.0,
         "ratio_cd1_vs_sklearn": 0.5, "ratio_cd1_vs_gemm": 1.5}


def load(paths) -> list:
    runs = []
    for p in paths:
        try:
            runs.append((Path(p).name, json.loads(Path(p).read_text())))
        except (OSError, json.JSONDecodeError) as exc:
            raise SystemExit(f"error: cannot read bench result {p}: {exc}") from exc
    return runs


def summarise(runs, workloads=("finetune", "cd1")) -> list:
    """Lines of text: one block per (workload, threads)."""
    lines = []
    for workload in workloads:
        for threads in sorted({d["machine"]["threads"] for _, d in runs}):
            sel = [(name, d) for name, d in runs if d["machine"]["threads"] == threads and workload in d]
            if not sel:
                continue
            lines.append(f"{workload}, {threads} thread(s), {len(sel)} run(s): {', '.join(n for n, _ in sel)}")
            engines = sel[0][1][workload]["engines"]
            for engine in engines:
                times = [d[workload]["engines"][engine]["median_s"] for _, d in sel if engine in d[workload]["engines"]]
                lines.append(f"  {engine:<34} median s per run: {', '.join(f'{t:.2f}' for t in times)}")
            for key, goal in GOALS.items():
                if not key.startswith(f"ratio_{workload}_"):
                    continue
                vals = [d[key] for _, d in sel if d.get(key) is not None]
                if vals:
                    met = sum(v <= goal for v in vals)
                    lines.append(f"  {key:<28} {min(vals):.2f}-{max(vals):.2f} (median of runs "
                                 f"{statistics.median(vals):.2f}); goal <= {goal}: met in {met} of {len(vals)}")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", help="JSON files written by bench/bench.py --json")
    p.add_argument("--skip-cd1", action="store_true", help="fine-tuning only")
    p.add_argument("--skip-finetune", action="store_true", help="CD-1 only")
    args = p.parse_args(argv)
    workloads = [w for w, skip in (("finetune", args.skip_finetune), ("cd1", args.skip_cd1)) if not skip]
    print("\n".join(summarise(load(args.files), workloads)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
