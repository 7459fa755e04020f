"""``python -m dmf_np grade SUBMISSIONS --out grades.csv``: grade a class's tutorial work (docs/teaching.md).

Every .ipynb and .py file under SUBMISSIONS is one submission (a student's copy of a tutorial);
each runs in its own process, with a time limit, against the hidden tests of tutorials/grading/.
The CSV has one row per student and exercise: student, exercise, points, message.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..grading import TESTS_DIR, grade_folder, write_csv


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dmf_np grade",
                                description="grade a folder of tutorial submissions against hidden tests")
    p.add_argument("submissions", type=Path,
                   help="folder of submissions: one subfolder per student, or files named after the students")
    p.add_argument("--out", type=Path, default=Path("grades.csv"), help="the CSV to write (default grades.csv)")
    p.add_argument("--tests", type=Path, default=TESTS_DIR,
                   help="folder of hidden tests, tutorial_NN.py (default tutorials/grading/ of this checkout)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds one submission may run, tests included (default 300)")
    p.add_argument("--tutorial", type=int, default=None,
                   help="grade every submission as this tutorial (default: tell from each file's content)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not args.submissions.is_dir():
        raise FileNotFoundError(f"{args.submissions} is not a folder of submissions")
    if not args.tests.is_dir():
        raise FileNotFoundError(f"{args.tests} is not a folder of hidden tests (tutorial_NN.py)")
    if args.timeout <= 0:
        raise ValueError(f"--timeout must be positive, got {args.timeout:g}")
    rows = grade_folder(args.submissions, args.tests, timeout=args.timeout, tutorial=args.tutorial)
    if not rows:
        raise FileNotFoundError(f"no .py or .ipynb submissions under {args.submissions}")
    write_csv(rows, args.out)
    print(f"{len(rows)} rows ({len({r.student for r in rows})} students) written to {args.out}")
    return 0
