#!/usr/bin/env python3
"""Seed-by-seed (paired) differences between the models of a finished MNIST run.

    python scripts/mnist_paired.py runs/mnist-paper5 [--reading pixels_traintest] [--json FILE]

Prints, for DMF against IMF and against EMF, the mean ± std over seeds of DMF's test error minus
the other's, and in how many seeds DMF's error was lower; then whether DMF's training loss was the
highest of the three at every epoch in every seed (Fig. 4's claim, unit by unit). ``--json`` also
writes all of it, with every seed's test error, to a file (figures/table1_paired.json is one).
"""
import argparse
import json
import sys
from pathlib import Path

from dmf_np.experiments.mnist import MODELS, paired_differences
from dmf_np.io import atomic_write_json


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a run directory of `python -m dmf_np reproduce table1|fig4`")
    p.add_argument("--reading", default=None, help="e.g. pixels_traintest (default: the run's own)")
    p.add_argument("--json", type=Path, default=None, help="write the seed values and differences here")
    args = p.parse_args(argv)
    path = args.run / "metrics.json"
    if not path.is_file():
        print(f"error: {path} not found; is {args.run} a finished run directory?", file=sys.stderr)
        return 2
    metrics = json.loads(path.read_text())
    damage = metrics["protocol"]["damage"]
    reading = args.reading or f"{damage['kind']}_{damage['when'].replace('+', '')}"
    if reading not in metrics["readings"]:
        print(f"error: no reading {reading!r}; the run has {sorted(metrics['readings'])}", file=sys.stderr)
        return 2
    report = {"run": str(args.run), "reading": reading, "seeds": metrics["protocol"]["seeds"],
              "test_error_per_seed": {c: {m: {lv: cell["values"] for lv, cell in by_level.items()}
                                          for m, by_level in by_model.items()}
                                      for c, by_model in metrics["readings"][reading]["table"].items()},
              "differences": {}, "dmf_loss_highest": {}}
    for other in ("imf", "emf"):
        diffs = paired_differences(metrics, reading, "dmf", other)
        report["differences"][f"dmf-{other}"] = diffs
        for condition, by_level in diffs.items():
            cells = "  ".join(f"{lv}%: {c['mean']:+.2f} ± {c['std']:.2f} (DMF lower in {c['a_better']}/{c['seeds']})"
                              for lv, c in by_level.items())
            print(f"DMF - {other.upper()}, {condition}: {cells}")
    units = args.run / "units"
    highest = report["dmf_loss_highest"]
    for result in sorted(units.glob("*/dmf/seed*/lr*/result.json")):
        cond, seed, lr = result.parts[-5], result.parts[-3], result.parts[-2]
        paths = {m: units / cond / m / seed / lr / "result.json" for m in MODELS}
        if not all(p.is_file() for p in paths.values()):
            continue
        runs = {m: json.loads(p.read_text()) for m, p in paths.items()}
        if not all("history" in r for r in runs.values()):  # a diverged tuning unit has no curve
            continue
        losses = {m: r["history"]["train_loss"] for m, r in runs.items()}
        below = [ep + 1 for ep, (d, e, i) in enumerate(zip(losses["dmf"], losses["emf"], losses["imf"]))
                 if d < max(e, i)]
        highest[f"{cond}/{seed}/{lr}"] = not below
        if below:
            print(f"  {cond}/{seed}/{lr}: DMF's training loss not the highest in epoch(s) {below}")
    print(f"DMF's training loss the highest of the three at every epoch: {sum(highest.values())} of "
          f"{len(highest)} (condition, seed, rate) units where all three models finished")
    if args.json is not None:
        atomic_write_json(args.json, report)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
