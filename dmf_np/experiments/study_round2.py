"""The second round's experiments by name and part (docs/protocol_round2.md, "Commands"): each is a plan
for :func:`.runner.run_plan` and a summary with its verdict, read from the same units.

All parts share one run directory (``runs/study-r2``), so a unit that several experiments need (E5's
IMF at rate 1 is E8's seed-0 IMF at 0%) runs once and is found again by its fingerprint.
"""
from __future__ import annotations

from . import study_e5, study_e6, study_e7, study_e8, study_e9
from .study_rules import near_tie_choice

PARTS = {"e5": ("pretrained", "scratch"), "e6": ("e1", "e2"), "e7": ("lsuv", "gains"), "e8": ("c2", "c3"),
         "e9": ("all",)}


def dmf_star3(done: dict, preset) -> dict:
    """DMF*3 for E8-C3: the near-tie rule over A (round 1's E3 units) and E9's B and B' (U3 validation
    errors under the fixed draw, seeds 0-4); None until E9 has finished."""
    e9 = study_e9.summary(done, preset)
    if any(e9[v]["val_errors"] is None for v in study_e9.VARIANTS):
        return None
    a = [study_e8.committed("e3")[f"dropout/dmf-A/seed{s}/lr0.3/result.json"]["final"]["val_error"]
         for s in study_e9.SEEDS]
    choice = near_tie_choice({"A": a, **{v: e9[v]["val_errors"] for v in study_e9.VARIANTS}}, order=("A", "B", "B'"))
    rate = 0.3 if choice["chosen"] == "A" else e9[choice["chosen"]]["chosen"]
    return {**choice, "rate": rate}


def with_verdicts(summary: dict) -> dict:
    """A summary of several rules, with their verdict words gathered under "verdict"."""
    return {"verdict": {k: v["verdict"] for k, v in summary.items()}, **summary}


def e5_summary(done: dict, preset) -> dict:
    """E5's rules, with H5b-P's third comparator, E6-E1's tuned IMF-wide at 0%, where it has run."""
    _, lr = study_e6.tune_e1("imf-wide", done, preset)
    wide = [done.get(study_e6.u1("imf-wide", s, 0, lr, preset)) for s in study_e5.SEEDS] if lr else [None]
    return study_e5.summary(done, preset, imf_wide=None if None in wide else wide)


def experiment(name: str, part: str, preset, done_so_far: dict | None = None):
    """(plan, summary(done) -> dict) of one part; raises ValueError when a part's input is missing."""
    if name == "e5":
        return study_e5.plan(preset, part), lambda done: with_verdicts(e5_summary(done, preset))
    if name == "e6":
        return study_e6.plan(part, preset), lambda done: study_e6.summary(done, part, preset)
    if name == "e7":
        return study_e7.plan(part, preset), lambda done: study_e7.summary(done, preset)
    if name == "e9":
        return study_e9.plan(preset), lambda done: study_e9.summary(done, preset)
    if part == "c2":
        variant = study_e8.dmf_star2()["chosen"]
        return (study_e8.plan("c2", preset, variant=variant),
                lambda done: study_e8.summary(done, "c2", preset, variant=variant))
    star = dmf_star3(done_so_far or {}, preset)
    if star is None:
        raise ValueError("E8-C3 needs DMF*3, chosen from E9: run `python -m dmf_np study e9` first")
    choice = {"variant": star["chosen"], "dmf_rate": star["rate"]}
    return study_e8.plan("c3", preset, **choice), lambda done: study_e8.summary(done, "c3", preset, **choice)
