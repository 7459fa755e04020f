"""The study's first round (docs/claims.md): figures/study.json, its verdicts and its figures.

Reads the E1 run directory (``dmf_np.experiments.study_round1.run_e1``; finished or not) and, when given,
the E2, E3 and E4 run directories (``study_round1.run_e2``, ``run_e3``, ``study_e4.run_e4``; the
commands are in docs/claims.md), and writes

* ``figures/study.json``: ``{"e1": {"<variant>": {"<damage>": {"<model>": {"train_loss": {"mean": [...],
  "seeds": N}, "test_error": {"mean", "std", "seeds", "values"}, "right_only": {...}}}}}, ...},
  "verdicts": {...}, "pending": [...]}``. A variant's models are "emf", "imf" (the same baselines in
  every variant) and "dmf" (that variant's DMF). Beside them: the E1 rule per variant and level, the
  tuning, the layer statistics before fine-tuning, and the learning paths per epoch (seed means).
* ``figures/study_e1_fig4.png``: Fig. 4 for every variant; ``figures/study_e1_paths.png``: the learning
  paths during fine-tuning, the figure that explains it; ``figures/study_e2.png`` (E2's curves) and
  ``figures/study_e2_paths.png`` when E2 is given.
* "e2", "e3", "e4": each experiment's summary with its rule counts; the verdicts of C1b, C1c (E2), C3 (E3)
  and C4 (E4) join C1a and C2 (E1).

The verdicts follow docs/claims.md's pre-registered rules, computed here from the numbers, never typed in.

    python -m dmf_np study report                 # from the committed results/study-e*-units.tar.gz
    python -m dmf_np study report --runs runs     # from runs/study-e1 .. runs/study-e4
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io import atomic_write_json
from ..plots import draw_study_e2, draw_study_e3, draw_study_e4, draw_study_fig4, draw_study_paths, show_and_save
from . import study_e2, study_e3, study_e4
from .mnist import Preset
from .rundir import RunDir
from .study import E1Plan, e1_summary, path_dynamics
from .study_rules import edge_tuning

VARIANTS = {"dmf-A": "A", "dmf-B": "B", "dmf-B'": "B'", "dmf-C": "C"}
NEED = 4  # seeds of 5 that a rule asks for (docs/claims.md)


def _units(run: Path, level, model: str, lr) -> list:
    """The finished final units of (level, model) at rate lr, in seed order."""
    found = sorted((run / "units" / f"d{level}" / model).glob(f"seed*/lr{lr:g}/result.json"),
                   key=lambda p: int(p.parent.parent.name[4:]))
    results = [json.loads(p.read_text()) for p in found]
    return [r for r in results if "final" in r]


def verdict_c1a(rule: dict, levels) -> tuple:
    """C1a from the E1 rule (docs/claims.md): supported / reversed / not supported / inconclusive."""
    levels = [str(d) for d in levels]
    if any(len(rule.get(m, {})) < len(levels) or rule[m][d]["seeds"] < 5 for m in VARIANTS for d in levels):
        return "inconclusive", "fewer than 5 finished paired seeds for some variant and level"
    passing = [m for m in VARIANTS if all(rule[m][d]["passes"] for d in levels)]
    if passing:
        if passing == ["dmf-C"]:
            return "inconclusive", "only DMF-C passes; the protocol then asks for IMF-C, not yet run"
        return "supported", f"{', '.join(passing)} pass(es) the E1 rule at every level"
    if all(rule[m][d]["imf_loss_lower_seeds"] >= NEED for m in VARIANTS for d in levels):
        return "reversed", "IMF's training loss is below every DMF variant's at every epoch 1-10 in >= 4 of 5 seeds"
    return "not supported", "no variant passes the E1 rule at every level"


def verdict_c2(e1: dict, val0: dict, levels) -> tuple:
    """C2 from E1: DMF* (lowest seed-0 clean validation error among the variants) against IMF and EMF."""
    star = min(VARIANTS, key=lambda m: val0[m])
    ahead, behind = [], []
    for d in (str(x) for x in levels):
        cells = e1[VARIANTS[star]][d]
        dmf = np.array(cells["dmf"]["test_error"]["values"])
        rivals = [np.array(cells[m]["test_error"]["values"]) for m in ("imf", "emf")]
        ahead.append(all(int((dmf < r).sum()) >= NEED for r in rivals))
        behind.append(any(int((r < dmf).sum()) >= NEED for r in rivals))
    if all(ahead):
        return star, "supported"
    if all(behind):
        return star, "reversed"
    return star, "not supported"


def interim_summary(run: Path, protocol: dict) -> dict:
    """What e1.json will hold, from the units finished so far (for a run still going, or stopped).

    The rates are chosen from the finished seed-0 tuning units by the same rule as ``run_e1``; a model
    whose tuning is not finished is left out. The E1 rule is evaluated only where all seeds finished.
    """
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in protocol.items() if k != "experiment"}
    plan = E1Plan(**{**fields, "preset": Preset(**{k: tuple(v) if isinstance(v, list) else v
                                                     for k, v in protocol["preset"].items()})})
    rd, chosen, grids = RunDir(run), {}, {}
    for model in plan.models:
        def score(lr, model=model):
            r = rd.result(f"d{plan.levels[0]}", model, f"seed{plan.seeds[0]}", f"lr{lr:g}")
            return ... if r is None else r.get("final", {}).get("val_error")
        rates, best = edge_tuning(score, plan.lr_grid, plan.edge_grid)
        if best is not None:  # a model whose tuning is still running is left out
            chosen[model] = best
            grids[model] = [*plan.lr_grid, *sorted((r for r in rates if r not in plan.lr_grid), reverse=True)]
    plan = E1Plan(**{**plan.__dict__, "models": tuple(m for m in plan.models if m in chosen)})
    return e1_summary(rd, plan, chosen, grids)


def build(run: Path) -> dict:
    protocol = json.loads((run / "config.json").read_text())["protocol"]
    finished = (run / "e1.json").is_file()
    summary = json.loads((run / "e1.json").read_text()) if finished else interim_summary(run, protocol)
    levels, chosen = protocol["levels"], summary["tuning"]["chosen_lr"]
    e1 = {}
    for model, variant in VARIANTS.items():
        for d in (str(x) for x in levels):
            for name, source in (("emf", "emf"), ("imf", "imf"), ("dmf", model)):
                cell = summary["models"].get(source, {}).get(d)
                if cell is not None:
                    e1.setdefault(variant, {}).setdefault(d, {})[name] = {
                        k: cell[k] for k in ("train_loss", "test_error", "right_only")}
    paths, val0, losses = {}, {}, {}
    for model in (m for m in ("emf", "imf", *VARIANTS) if m in chosen):
        for d in levels:
            results = _units(run, d, model, chosen[model])
            if len(results) == len(protocol["seeds"]):
                losses[(model, str(d))] = np.array([r["history"]["train_loss"] for r in results])
            if results:
                paths.setdefault(model, {})[str(d)] = path_dynamics(results)
            if d == 0 and results:
                val0[model] = results[0]["final"]["val_error"]   # seed 0: the first finished unit
    # per epoch, in how many paired seeds each model's training loss is at or below IMF's
    at_or_below_imf = {}
    for (m, d), loss in losses.items():
        if m != "imf" and ("imf", d) in losses:
            at_or_below_imf.setdefault(m, {})[d] = (loss <= losses[("imf", d)]).sum(axis=0).tolist()
    c1a, why = verdict_c1a(summary["rule"], levels)
    complete = all(len(e1.get(v, {}).get(str(d), {}).get(m, {}).get("test_error", {}).get("values", [])) == 5
                   for v in VARIANTS.values() for d in levels for m in ("emf", "imf", "dmf"))
    star, c2 = verdict_c2(e1, val0, levels) if complete and len(val0) == 6 else ("not yet chosen", "inconclusive")
    return {"e1": {**e1, "rule": summary["rule"], "tuning": summary["tuning"],
                   "layer_stats": {m: {d: c["layer_stats"] for d, c in by.items()}
                                   for m, by in summary["models"].items()},
                   "paths": paths, "validation_seed0": val0, "dmf_star": star,
                   "seeds_at_or_below_imf_by_epoch": at_or_below_imf},
            "verdicts": {"C1a": c1a, "C2": c2},
            "verdict_notes": {"C1a": why, "C2": f"from E1 only (DMF* = {star}); E3 adds test-only damage"
                                                + ("" if complete else "; E1 not finished")},
            "pending": ["C1b (E2)", "C1c (E2)", "C3 (E3)", "C4 (E4)"] + ([] if finished else ["E1 (still running)"]),
            "command": "python -m dmf_np study report"}


def _protocol(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())["protocol"]


def add_e2(study: dict, run: Path) -> None:
    """E2's summary (``study_e2.e2_summary``) and the C1b/C1c verdicts, into ``study``."""
    plan = study_e2.plan_from_protocol(_protocol(run))
    e2 = study_e2.e2_summary(RunDir(run), plan)
    study["e2"] = e2
    study["verdicts"].update(e2["verdicts"])
    for claim in ("C1b", "C1c"):
        study["verdict_notes"][claim] = "E2 rule (docs/claims.md) at L = " + ", ".join(e2["depths"])
    study["pending"] = [p for p in study["pending"] if "(E2)" not in p]


def add_e3(study: dict, run: Path) -> None:
    """E3's summary (the finished run's ``e3.json``) and C3's verdict, into ``study``."""
    path = run / "e3.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: E3 has not finished; rerun `python -m dmf_np study e3` "
                                f"(it resumes) first")
    e3 = json.loads(path.read_text())
    study["e3"] = e3
    study["verdicts"]["C3"] = e3["verdict"]["verdict"]
    study["verdict_notes"]["C3"] = f"E3 rule (docs/claims.md): {e3['verdict']['why']}"
    study["pending"] = [p for p in study["pending"] if "(E3)" not in p]


def add_e4(study: dict, run: Path) -> None:
    """E4 into ``study``: "e4" as the protocol asks ({protocol: {"i2t": {method: mean mAP}, "t2i": ...}}) and
    "e4_detail" (each cell's mean, std and values, the protocol match, C4 per protocol, DMF minus the paper)."""
    summary = study_e4.e4_summary(run)
    match, c4 = study_e4.e4_match(summary), study_e4.c4_verdict(summary)
    study["e4"] = {p: {t: {m: c["mean"] for m, c in by_task.items()} for t, by_task in res.items()}
                   for p, res in summary.items()}
    study["e4_detail"] = {"cells": summary, "match": match, "c4": c4, "dmf_minus_paper": study_e4.dmf_distance(summary),
                          "paper": {t: {"CCA": study_e4.PAPER_CCA[t], "DMF": study_e4.PAPER_DMF[t]}
                                    for t in study_e4.TASKS}}
    # several protocols judged with different verdicts: docs/claims.md ("Changes after registration", 5)
    study["verdicts"]["C4"] = c4["verdict"] if c4["verdict"] is not None else "inconclusive"
    study["verdict_notes"]["C4"] = f"{match['text']}; {c4['text']}"
    done = all(p in summary for p in ("P0", "P1", "P3"))
    study["pending"] = [p for p in study["pending"] if "(E4)" not in p] + ([] if done else ["E4 (not finished)"])


def markdown(study: dict) -> str:
    """E1's tables for docs/claims.md: per level, each model's training loss at epochs 1, 5, 10 and the
    last, its Left+Right and Right-only test error, and the rule's counts; the layer statistics of s_3."""
    e1, out = study["e1"], []
    levels = sorted({d for v in VARIANTS.values() for d in e1.get(v, {})}, key=int)
    for d in levels:
        out += [f"**{d}% damage** (mean over finished seeds; ± sample std)", "",
                "| model | seeds | loss ep. 1 | ep. 5 | ep. 10 | last | Left+Right error % | Right-only % "
                "| rule vs IMF |",
                "|---|---|---|---|---|---|---|---|---|"]
        rows = []
        for name in ("emf", "imf"):
            cell = next((e1[v][d][name] for v in VARIANTS.values() if name in e1.get(v, {}).get(d, {})), None)
            rows.append((name.upper(), cell, None))
        for model, v in VARIANTS.items():
            rows.append((f"DMF-{v}", e1.get(v, {}).get(d, {}).get("dmf"), e1["rule"].get(model, {}).get(d)))
        for name, cell, rule in rows:
            if cell is None:
                out.append(f"| {name} | 0 | not finished | | | | | | |")
                continue
            loss, err, right = cell["train_loss"]["mean"], cell["test_error"], cell["right_only"]
            verdict = "" if rule is None else (f"loss {rule['loss_seeds']}/{rule['seeds']}, error "
                                               f"{rule['error_seeds']}/{rule['seeds']}: "
                                               + ("passes" if rule["passes"] else "fails"))
            at = [loss[min(e, len(loss)) - 1] for e in (1, 5, 10)]  # epochs 1, 5, 10 (the last, if fewer)
            out.append(f"| {name} | {err['seeds']} | {at[0]:.4f} | {at[1]:.4f} | {at[2]:.4f} | {loss[-1]:.5f} | "
                       f"{err['mean']:.2f} ± {err['std']:.2f} | {right['mean']:.1f} ± {right['std']:.1f} | {verdict} |")
        out.append("")
    counts = e1.get("seeds_at_or_below_imf_by_epoch", {})
    if counts:
        out += ["**Paired seeds in which the training loss is at or below IMF's, epoch by epoch**", ""]
        for m, by_level in counts.items():
            for d, c in by_level.items():
                out.append(f"* {m}, {d}%: {' '.join(str(x) for x in c)}")
        out.append("")
    stats = e1["layer_stats"]
    out += ["**Before fine-tuning** (clean data, 1,000 training images, seed mean): the top shared layer s_3",
            "", "| model | std of M | share with abs(M) > 4 | mean f'(M) |", "|---|---|---|---|"]
    for model, by_level in stats.items():
        s3 = by_level.get("0", {}).get("s_3")
        if s3:
            out.append(f"| {model} | {s3['pre_std']:.2f} | {s3['saturated']:.1%} | {s3['mean_fprime']:.3f} |")
    return "\n".join(out) + "\n"


def plot_fig4(study: dict, figures: Path) -> Path:
    return show_and_save(draw_study_fig4(study["e1"]), "study_e1_fig4.png", save_to=figures, dpi=110)


def plot_paths(study: dict, figures: Path, level: str = "0") -> Path:
    return show_and_save(draw_study_paths(study["e1"]["paths"], level), "study_e1_paths.png", save_to=figures, dpi=110)


def write_report(runs: dict, json_path=None, figures=None, markdown_out: bool = False,
                 command: str = "python -m dmf_np study report", echo=print) -> dict:
    """The study's report from its run directories ``runs`` ({"e1": Path, "e2": ..., "e3", "e4"}; e1 is
    required): figures/study.json (``json_path``), its figures (into ``figures``), the tables as markdown
    (``markdown_out``), and one line per verdict. Reads the units; never trains or re-tunes."""
    if not (runs["e1"] / "config.json").is_file():
        raise FileNotFoundError(f"{runs['e1'] / 'config.json'} not found: is {runs['e1']} an E1 run directory?")
    study = build(runs["e1"])
    for name, add in (("e2", add_e2), ("e3", add_e3), ("e4", add_e4)):
        if runs.get(name):
            add(study, runs[name])
    study["command"] = command
    if json_path:
        atomic_write_json(json_path, study)
    if figures:
        draw_figures(study, figures)
    if markdown_out:
        echo(markdown(study))
        for name, module in (("e2", study_e2), ("e3", study_e3)):
            if name in study:
                echo(f"### {name.upper()} tables\n\n" + getattr(module, f"{name}_markdown")(study[name]))
        if "e4" in study:
            echo("### E4 tables\n\n" + study_e4.e4_markdown(study["e4_detail"]["cells"]))
    for claim, verdict in study["verdicts"].items():
        echo(f"{claim}: {verdict} ({study['verdict_notes'][claim]})")
    for model, by_level in study["e1"]["rule"].items():
        echo(f"  {model}: " + "; ".join(f"{d}%: loss {r['loss_seeds']}/5, error {r['error_seeds']}/5"
                                        f"{' PASS' if r['passes'] else ''}" for d, r in by_level.items()))
    return study


def draw_figures(study: dict, figures) -> None:
    """The study's figures (study_e1_fig4, study_e1_paths, and E2-E4's where present) into ``figures``."""
    plot_fig4(study, figures)
    plot_paths(study, figures)
    if "e2" in study:
        show_and_save(draw_study_e2(study["e2"]), "study_e2.png", save_to=figures, dpi=110)
        paths = {m: {"0": r["paths"]} for m, r in study["e2"]["depths"]["3"]["models"].items()}
        show_and_save(draw_study_paths(paths, "0", title="E2 (L = 3, no pretraining)"), "study_e2_paths.png",
                      save_to=figures, dpi=110)
    if "e3" in study:
        show_and_save(draw_study_e3(study["e3"]), "study_e3.png", save_to=figures, dpi=110)
    if "e4" in study:
        show_and_save(draw_study_e4(study["e4"], study["e4_detail"]["paper"]), "study_e4.png", save_to=figures,
                      dpi=110)
