"""Study E4 (docs/claims.md, "E4"): which Wiki protocol the paper's Table 2 used, and C4 under it.

Every protocol is Table 2's pipeline (:func:`dmf_np.experiments.wiki.run_table2`, preset 'paper':
today's training, preprocessing and 4-configuration tuning, each configuration chosen on validation
queries carved from the training pairs under the protocol's own scoring), run into its own
subdirectory of the study's directory:

* **P0** (``out/P0``) today's: 5 seeded random splits, 25% queries, 75% retrieval set and training;
* **P1** (``out/P1``) the data set's original split: train on its 2,173 training pairs; its 693 test
  pairs are both queries and retrieval items (a query's own partner is a relevant item); the 5
  repeats differ only in the networks' seeds; CCA is deterministic (its repeats are identical and
  count once);
* **P2** a second scoring of P0 and P1 (and P3): mAP over the top R = 50 of the ranking (AP@50
  normalised by the relevant items found in the top 50). Its configuration is chosen on validation
  by mAP@50 too; where that is the configuration full mAP chose, the rankings are the same ones;
* **P3** (``out/P3``) retrieval items seen through both modalities (``items='paired'``), P0's splits.

:func:`e4_summary` gathers the reported numbers (protocol ``reconstruct``) from each protocol's
``metrics.json`` (the aggregate its run writes once every unit has finished, checked against the
protocol its ``config.json`` pins), :func:`e4_match` applies the registered rule for which protocol
matches the paper's CCA row, :func:`c4_verdict` judges C4 under the matching protocol(s),
:func:`e4_markdown` writes the table for docs/claims.md. Each protocol is a run directory of
:mod:`.runner` units (their fingerprints tie each to its protocol); rerun the same call to resume.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import backend
from ..data.wiki import WikiData, load_wiki
from ..io import CorruptFile, atomic_write_json, atomic_write_text, read_json
from .rundir import RunDir
from .runner import cell
from .wiki import DEFAULT_PROTOCOL, METHODS, PAPER, PRESETS, Options, run_table2, with_overrides

# protocol -> how run_table2 runs it (items reading, split); P2 is the '@R' reading of each
E4_RUNS = {"P0": {"items": "single", "split": "random"},
           "P1": {"items": "single", "split": "original"},
           "P3": {"items": "paired", "split": "random"}}
TASKS = ("i2t", "t2i")
OTHERS = ("cca", "emf", "imf")  # the methods DMF must beat for C4
MATCH_TOLERANCE = 0.02          # |our CCA - the paper's CCA| on both tasks
PAPER_CCA = {t: PAPER[t]["CCA"] for t in TASKS}   # 0.2490 / 0.1960
PAPER_DMF = {t: PAPER[t]["DMF"] for t in TASKS}   # 0.2921 / 0.5612
DESCRIPTIONS = {"P0": "5 random 25%/75% splits (today's Table 2)",
                "P1": "original split: train 2,173, queries = items = the 693 test pairs; 5 network seeds",
                "P3": "items seen through both modalities, P0's splits"}


@dataclass(frozen=True)
class E4Plan:
    """E4's settings (docs/claims.md): Table 2's preset, 5 repeats, the cut R = 50."""

    preset: str = "paper"
    repeats: int = 5                      # random splits (P0, P3) or network seeds (P1)
    seed: int = 0                         # run_table2's seed: P0's splits are the committed Table 2's
    top_r: int = 50
    methods: tuple = METHODS
    protocols: tuple = ("P0", "P1", "P3")
    overrides: dict = field(default_factory=dict)  # run_table2 overrides (tests: tiny grids and epochs)
    verify_checksums: bool = True

    def __post_init__(self):
        unknown = [p for p in self.protocols if p not in E4_RUNS]
        if unknown:
            raise ValueError(f"unknown E4 protocol(s) {unknown}; choose from {tuple(E4_RUNS)}")
        if int(self.top_r) != self.top_r or self.top_r < 1:
            raise ValueError(f"top_r must be a positive integer, got {self.top_r!r}")
        if "dmf" not in self.methods:
            raise ValueError("E4 judges DMF: methods must include 'dmf'")


def _readings(protocol: str, top_r: int) -> dict:
    """{summary key: run_table2 criterion key} of one protocol: full ranking and top R."""
    items = E4_RUNS[protocol]["items"]
    return {protocol: f"{items}/cosine", f"{protocol}@{top_r}": f"{items}/cosine@{top_r}"}


def run_e4(wiki, out, plan: E4Plan = E4Plan(), show_progress=False, log=print, *, backend_name: str | None = None,
           jobs: int = 1, scheduler: str | None = None) -> dict:
    """Run (or resume) every protocol of ``plan`` into ``out/<protocol>``; then write ``out/e4.json``
    (summary, match, verdict, chosen configurations) and ``out/e4.md``. Returns the e4.json content.

    ``wiki``: the Wiki directory or its loaded :class:`~dmf_np.data.wiki.WikiData`; ``backend_name``:
    None for $DMF_BACKEND, else numpy; ``jobs``/``scheduler``: each protocol's units in parallel.
    """
    out, data = Path(out), wiki_data(wiki, plan)
    rd = RunDir(out)
    rd.start({"experiment": "e4", **json.loads(json.dumps(asdict(plan)))})
    try:
        for p in plan.protocols:
            if log:
                log(f"E4 {p}: {DESCRIPTIONS[p]} -> {out / p}")
            run_protocol(data, out, plan, p, show_progress, backend_name=backend_name, jobs=jobs,
                         scheduler=scheduler)
            rd.log(f"{p} finished", echo=bool(log))
        return write_e4(out)
    finally:
        rd.release()


def wiki_data(wiki, plan: E4Plan) -> WikiData:
    """``wiki`` loaded (checked against the published checksums unless the plan says not to)."""
    return wiki if isinstance(wiki, WikiData) else load_wiki(wiki, verify_checksums=plan.verify_checksums)


def protocol_options(plan: E4Plan, protocol: str, backend_name: str | None = None, show_progress=False) -> Options:
    """The Table 2 options of one protocol: the plan's preset and repeats, the protocol's items reading
    and split, scored by full mAP (chosen for) and by mAP@R (``also``: chosen for and reported too)."""
    items, split = E4_RUNS[protocol]["items"], E4_RUNS[protocol]["split"]
    preset = with_overrides(PRESETS[plan.preset], plan.overrides, splits=plan.repeats)
    name = backend.backend_name(backend.get_xp(backend_name))
    return Options(preset, seed=plan.seed, methods=tuple(plan.methods), items=items, ranking="cosine",
                   also=((items, f"cosine@{plan.top_r}"),), split=split, backend=name, show_progress=show_progress)


def run_protocol(wiki, out, plan: E4Plan, protocol: str, show_progress=False, *, backend_name: str | None = None,
                 jobs: int = 1, scheduler: str | None = None) -> dict:
    """One protocol of E4 into ``out/<protocol>``: the ``run_table2`` call :func:`run_e4` makes for it
    (so protocols can also run side by side, one process each, and ``run_e4`` then resumes them)."""
    opts = protocol_options(plan, protocol, backend_name, show_progress)
    return run_table2(wiki_data(wiki, plan), Path(out) / protocol, opts, jobs=jobs, scheduler=scheduler)


def write_e4(out) -> dict:
    """out/e4.json and out/e4.md from the finished protocols (atomically); returns the e4.json content."""
    out = Path(out)
    summary = e4_summary(out)
    report = {"summary": summary, "match": e4_match(summary), "verdict": c4_verdict(summary),
              "dmf_minus_paper": dmf_distance(summary), "chosen": _chosen(out), "paper_cca": PAPER_CCA,
              "paper_dmf": PAPER_DMF, "protocol": DEFAULT_PROTOCOL}
    atomic_write_json(out / "e4.json", report)
    atomic_write_text(out / "e4.md", e4_markdown(summary))
    return report


def _metrics(out: Path, protocol: str) -> dict | None:
    """A finished protocol's metrics.json (None before it has finished), refused when it was written
    under another protocol than the one its run directory's config.json pins."""
    path = out / protocol / "metrics.json"
    if not path.is_file():
        return None
    remedy = f"delete it and rerun run_e4: {protocol}'s metrics are rebuilt from its units"
    metrics = read_json(path, remedy)
    config = read_json(out / protocol / "config.json", "rerun run_e4 with the same plan")
    if not isinstance(metrics, dict) or metrics.get("protocol") != config.get("protocol"):
        raise CorruptFile(f"{path} does not belong to the protocol in {out / protocol / 'config.json'}; {remedy}")
    return metrics


def _top_r(out: Path) -> int:
    cfg = read_json(out / "config.json", "rerun run_e4 with the same plan") if (out / "config.json").is_file() else {}
    return int(cfg.get("protocol", {}).get("top_r", E4Plan.top_r))


def e4_summary(out) -> dict:
    """{"P0": {"i2t": {method: {"mean", "std", "n", "values"}}, "t2i": ...}, "P0@50": ..., "P1": ...,
    "P1@50": ..., "P3": ..., "P3@50": ...}: test mAP (protocol ``reconstruct``) of each finished protocol
    (an unfinished one is absent). In P1, CCA's repeats are one deterministic fit: identical values
    count once (n = 1, std 0)."""
    out = Path(out)
    r = _top_r(out)
    summary = {}
    for p in E4_RUNS:
        metrics = _metrics(out, p)
        if metrics is None:
            continue
        for key, criterion in _readings(p, r).items():
            agg = metrics["criteria"][criterion][DEFAULT_PROTOCOL]
            summary[key] = {}
            for task in TASKS:
                cells = {}
                for method, c in agg[task].items():
                    vals = c["values"]
                    if E4_RUNS[p]["split"] == "original" and method == "cca" and np.ptp(vals) == 0:
                        vals = vals[:1]
                    cells[method] = cell(vals, n_key="n")
                summary[key][task] = cells
    return summary


def _chosen(out: Path) -> dict:
    """{reading: {method: [chosen configuration per repeat]}}: P@R chooses on validation by mAP@R, so it
    may train another configuration than P."""
    r, res = _top_r(out), {}
    for p in E4_RUNS:
        metrics = _metrics(out, p)
        if metrics is not None:
            for key, criterion in _readings(p, r).items():
                res[key] = metrics["criteria"][criterion]["chosen"]
    return res


# --- the decision rule --------------------------------------------------------------------------

def cca_deviation(summary: dict) -> dict:
    """{protocol: {"i2t": |ours - paper|, "t2i": ..., "larger": max of the two}} of the CCA row."""
    out = {}
    for p, res in summary.items():
        if "cca" not in res["i2t"]:
            continue
        d = {t: abs(res[t]["cca"]["mean"] - PAPER_CCA[t]) for t in TASKS}
        out[p] = {**d, "larger": max(d.values())}
    return out


def e4_match(summary: dict) -> dict:
    """The registered rule: a protocol matches if our CCA is within 0.02 of the paper's on both tasks;
    of several, the one(s) with the smallest larger deviation; none: C4 is judged under every protocol.

    Returns {"deviation": cca_deviation, "within": [protocols within 0.02], "matched": [the chosen
    one(s); empty when none matches], "judge_under": [protocols C4 is judged under], "text": one line}.
    """
    dev = cca_deviation(summary)
    within = [p for p, d in dev.items() if d["i2t"] <= MATCH_TOLERANCE and d["t2i"] <= MATCH_TOLERANCE]
    if within:
        best = min(dev[p]["larger"] for p in within)
        matched = [p for p in within if dev[p]["larger"] == best]
        text = (f"matching protocol: {', '.join(matched)} (CCA within {MATCH_TOLERANCE} of the paper's "
                f"{PAPER_CCA['i2t']:.3f} / {PAPER_CCA['t2i']:.3f} on both tasks"
                + (f"; also within: {', '.join(p for p in within if p not in matched)}" if len(within) > 1 else "")
                + f"; larger deviation {best:.4f})")
        judge = matched
    else:
        matched, judge = [], [p for p in summary if p in dev]
        text = (f"no protocol matches (no CCA within {MATCH_TOLERANCE} of {PAPER_CCA['i2t']:.3f} / "
                f"{PAPER_CCA['t2i']:.3f} on both tasks): C4 is judged under every protocol")
    return {"deviation": dev, "within": within, "matched": matched, "judge_under": judge, "text": text}


def _ahead(a: dict, b: dict) -> bool:
    """a's mean above b's by more than the larger of the two standard deviations."""
    return a["mean"] - b["mean"] > max(a["std"], b["std"])


def c4_rule(result: dict, need: int = 5, cca_once: bool = False) -> dict:
    """C4 under one protocol: {"verdict", "why"}. Supported: DMF above CCA, EMF and IMF on both tasks,
    each by more than the larger std; reversed: one of them above DMF on both tasks by that margin;
    not supported otherwise; inconclusive when a method is missing or has fewer than ``need`` repeats
    (``cca_once``: CCA is one deterministic fit, as in P1, and needs one)."""
    missing = [m for m in ("dmf",) + OTHERS if any(m not in result[t] for t in TASKS)]
    if missing:
        return {"verdict": "inconclusive", "why": f"no result for {', '.join(missing)}"}
    short = [m for m in ("dmf",) + OTHERS for t in TASKS
             if result[t][m]["n"] < (1 if m == "cca" and cca_once else need)]
    if short:
        return {"verdict": "inconclusive", "why": f"fewer than {need} repeats: {', '.join(sorted(set(short)))}"}
    if all(_ahead(result[t]["dmf"], result[t][o]) for o in OTHERS for t in TASKS):
        return {"verdict": "supported", "why": "DMF above CCA, EMF and IMF on both tasks by more than the larger std"}
    ahead = [o for o in OTHERS if all(_ahead(result[t][o], result[t]["dmf"]) for t in TASKS)]
    if ahead:
        return {"verdict": "reversed", "why": f"{', '.join(o.upper() for o in ahead)} above DMF on both tasks "
                                              "by more than the larger std"}
    return {"verdict": "not supported", "why": "neither DMF ahead of every other method on both tasks nor one "
                                               "method ahead of DMF on both, by the margin"}


def c4_verdict(summary: dict, need: int = 5) -> dict:
    """C4 under the protocol(s) :func:`e4_match` selects: {"judge_under", "by_protocol": {p: c4_rule},
    "verdict": the one verdict when every judged protocol agrees, else None, "text"}."""
    match = e4_match(summary)
    by = {p: c4_rule(summary[p], need, cca_once=E4_RUNS[p.split("@")[0]]["split"] == "original")
          for p in match["judge_under"]}
    kinds = sorted({v["verdict"] for v in by.values()})
    verdict = kinds[0] if len(kinds) == 1 else None
    if not by:
        text = "C4: no protocol has results yet"
    elif verdict is not None:
        text = f"C4 {verdict} under {', '.join(by)}"
    else:
        text = "C4 differs by protocol: " + "; ".join(f"{p} {v['verdict']}" for p, v in by.items())
    return {"judge_under": match["judge_under"], "by_protocol": by, "verdict": verdict, "text": text}


def dmf_distance(summary: dict) -> dict:
    """{protocol: {"i2t": DMF mean - 0.2921, "t2i": DMF mean - 0.5612}}: reported, not part of the verdict."""
    return {p: {t: res[t]["dmf"]["mean"] - PAPER_DMF[t] for t in TASKS} for p, res in summary.items()
            if all("dmf" in res[t] for t in TASKS)}


# --- the table for docs/claims.md -----------------------------------------------------------------

def e4_markdown(summary: dict, command: str | None = None) -> str:
    """The E4 results as markdown: mAP (mean ± std, n) per protocol, method and task; the CCA deviation
    from the paper and DMF's distance to the paper per protocol; the match line and the C4 verdict."""
    methods = [m for m in METHODS if any(m in res[t] for res in summary.values() for t in TASKS)]
    lines = []
    if command:
        lines += ["Generated by", "", f"    {command}", ""]
    lines += ["| protocol | task | " + " | ".join(m.upper() for m in methods) + " | n |",
              "| --- | --- |" + " --- |" * len(methods) + " --- |"]
    for p, res in summary.items():
        for t in TASKS:
            cells = [f"{res[t][m]['mean']:.4f} ± {res[t][m]['std']:.4f}" if m in res[t] else "-" for m in methods]
            ns = sorted({res[t][m]["n"] for m in methods if m in res[t]})
            lines.append(f"| {p} | {t.upper()} | " + " | ".join(cells) + f" | {'/'.join(map(str, ns))} |")
    match, dist = e4_match(summary), dmf_distance(summary)
    lines += ["", f"| protocol | CCA − paper I2T ({PAPER_CCA['i2t']:.3f}) | CCA − paper T2I ({PAPER_CCA['t2i']:.3f}) "
                  f"| within {MATCH_TOLERANCE} on both | DMF − paper I2T ({PAPER_DMF['i2t']:.4f}) "
                  f"| DMF − paper T2I ({PAPER_DMF['t2i']:.4f}) |",
              "| --- | --- | --- | --- | --- | --- |"]
    for p, res in summary.items():
        cca = [f"{res[t]['cca']['mean'] - PAPER_CCA[t]:+.4f}" if "cca" in res[t] else "-" for t in TASKS]
        dmf = [f"{dist[p][t]:+.4f}" if p in dist else "-" for t in TASKS]
        lines.append(f"| {p} | {cca[0]} | {cca[1]} | {'yes' if p in match['within'] else 'no'} | {dmf[0]} | {dmf[1]} |")
    verdict = c4_verdict(summary)
    lines += ["", f"**Match (E4 rule):** {match['text']}.", "",
              f"**C4 (E4 rule):** {verdict['text']}."]
    for p, v in verdict["by_protocol"].items():
        lines.append(f"* {p}: {v['verdict']} ({v['why']})")
    lines += ["", "Protocols: " + "; ".join(f"{p}: {d}" for p, d in DESCRIPTIONS.items())
              + "; P@50: the same protocol scored by mAP over the top 50 (configuration chosen by it on "
                "validation). Representations: `reconstruct`. n: repeats (splits or network seeds; "
                "P1's deterministic CCA counts once).", ""]
    return "\n".join(lines)


__all__ = ["E4Plan", "E4_RUNS", "run_e4", "run_protocol", "protocol_options", "write_e4",
           "e4_summary", "e4_match", "c4_rule", "c4_verdict",
           "cca_deviation", "dmf_distance", "e4_markdown"]
