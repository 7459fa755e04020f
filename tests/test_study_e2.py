"""dmf_np.experiments.study_e2: the study's E2 (convergence without pretraining), its rules and its runs."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dmf_np.data.synthetic import fake_digits
from dmf_np.experiments import mnist as E
from dmf_np.experiments import study_e2 as S2
from dmf_np.experiments import study_round1 as R1
from markdown_tables import numbers, tables

INF = math.inf


def test_epochs_and_seconds_to_a_loss():
    losses, secs = [0.5, 0.2, 0.1, 0.05], [3.0, 2.0, 2.0, 1.0]
    assert S2.epochs_to(losses, 0.1) == 3          # at or below: epoch 3 reaches 0.1 exactly
    assert S2.seconds_to(losses, secs, 0.1) == 7.0
    assert S2.epochs_to(losses, 0.01) == INF and S2.seconds_to(losses, secs, 0.01) == INF


def test_e2_rule_counts_paired_seeds_and_ties():
    # DMF faster in seeds 0 and 1; seed 2 equal (counts against DMF); DMF lower in all three
    r = S2.e2_rule([3, 4, 5], [4, 6, 5], [0.1, 0.1, 0.1], [0.2, 0.2, 0.2])
    assert (r["dmf_faster"], r["imf_faster"], r["dmf_lower"], r["imf_lower"]) == (2, 0, 3, 0)
    assert not r["dmf_ahead"] and not r["imf_ahead"]
    # not reached (inf) is slower than any count; both not reached is a tie
    r = S2.e2_rule([3, 4, INF], [INF, 6, INF], [0.1, 0.1, 0.1], [0.2, 0.2, 0.2])
    assert (r["dmf_faster"], r["imf_faster"]) == (2, 0)
    assert S2.e2_rule([3, 4, None], [None, 6, None], [0.1] * 3, [0.2] * 3) == r   # None (JSON) is inf
    r = S2.e2_rule([3, 4, 5], [INF, 6, 7], [0.1, 0.1, 0.1], [0.2, 0.2, 0.2])
    assert r["dmf_ahead"] and S2.verdict([r, r]) == "supported"
    # seconds: within 20% of IMF's is a tie
    r = S2.e2_rule([90.0, 70.0, 50.0], [100.0, 100.0, 100.0], [0.1] * 3, [0.2] * 3, tie=0.2)
    assert r["dmf_faster"] == 2
    mirrored = S2.e2_rule([9, 9, 9], [3, 4, 5], [0.3] * 3, [0.2] * 3)
    assert mirrored["imf_ahead"] and S2.verdict([mirrored, mirrored]) == "reversed"
    assert S2.verdict([mirrored, r]) == "not supported"
    assert S2.verdict([r, None]) == "inconclusive"
    with pytest.raises(ValueError, match="paired"):
        S2.e2_rule([1, 2], [1, 2, 3], [0.1, 0.1], [0.1, 0.1])


def test_best_setting_ties_and_divergence():
    ok = {"final": {"val_error": 2.0}}
    results = {(0.1, 0.5): {"diverged": "x"}, (0.2, 0.5): ok, (0.5, 0.5): {"final": {"val_error": 2.0}}}
    assert S2.best_setting(results) == (0.2, 0.5)     # the tie goes to the earlier setting
    assert S2.best_setting({(0.1, 0.5): {"diverged": "x"}}) is None


def test_plan_checks():
    with pytest.raises(ValueError, match="have no sizes"):
        S2.E2Plan(depths=(4,))
    with pytest.raises(ValueError, match="must include both"):
        S2.E2Plan(models=("emf", "dmf"))
    plan = S2.E2Plan()
    assert plan.architecture("dmf", 5).L == 5 and plan.architecture("imf", 3).L == 3
    assert len(plan.settings()) == 10


TINY = S2.E2Plan(preset=E.PRESETS["tiny"], depths=(2, 3), seeds=(0, 1), lr_grid=(0.1, 1.0), momenta=(0.5,),
                 epochs=2, init_rows=100, path_rows=50,
                 sizes=((2, (32,), (32, 16)), (3, (32, 16), (32, 16, 8))))


@pytest.fixture(scope="module")
def e2_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2")
    mnist = fake_digits()
    return out, mnist, R1.run_e2(mnist, out, TINY)


def test_e2_run_fixes_choices_before_other_seeds_and_summarises(e2_run):
    out, _, summary = e2_run
    common = json.loads((out / "e2_common.json").read_text())
    for L in ("2", "3"):
        depth = summary["depths"][L]
        for m in ("emf", "imf", "dmf"):
            grid = depth["grid"][m]
            finite = {k: v for k, v in grid.items() if v is not None}
            best = depth["models"][m]["best"]
            assert grid[f"lr{best['lr']:g}-m{best['momentum']:g}"] == min(finite.values())
            # seed 1 ran only at the best setting
            seed1 = sorted(p.name for p in (out / "units" / f"L{L}" / m / "seed1").iterdir())
            assert seed1 == [f"lr{best['lr']:g}-m{best['momentum']:g}"]
            assert len(depth["models"][m]["epochs_to_common"]) == 2
            assert len(depth["models"][m]["train_loss"]["mean"]) == TINY.epochs
        # the common loss is the highest of the three best-setting seed-0 last losses
        assert depth["common_loss"] == common["common_loss"][L]
        assert depth["common_loss"] == pytest.approx(max(
            json.loads((out / "units" / f"L{L}" / m / "seed0" / f"lr{b['lr']:g}-m{b['momentum']:g}" / "result.json")
                       .read_text())["final"]["train_loss"]
            for m, b in ((m, depth["models"][m]["best"]) for m in ("emf", "imf", "dmf"))))
        assert "epochs" in depth["rule"] and "seconds" in depth["rule"]
        paths = depth["models"]["dmf"]["paths"]
        assert f"h^x_{L}" in paths and len(paths["h^x_2"]["shared"]) == TINY.epochs + 1
        if L == "3":  # at L = 2 the cut keeps every path (level 1 is never cut)
            assert "cut_cosine W^x_1" in paths
    assert set(summary["verdicts"]) == {"C1b", "C1c"}
    assert all(v in ("supported", "reversed", "not supported", "inconclusive") for v in summary["verdicts"].values())
    # the markdown shows these numbers: per depth, each model's best setting, its curve and the seed-0 grid
    md = S2.e2_markdown(summary)
    shown = tables(md)
    assert len(shown) == 2 * len(summary["depths"])
    for (L, depth), best, grid in zip(summary["depths"].items(), shown[0::2], shown[1::2]):
        for row in best[1:]:
            r = depth["models"][row[0].lower()]
            assert numbers(row[1]) == pytest.approx([r["best"]["lr"], r["best"]["momentum"]])
            assert numbers(row[4]) == [pytest.approx(r["train_loss"]["mean"][0], abs=5e-5)]
            assert numbers(row[6]) == [pytest.approx(r["train_loss"]["mean"][-1], abs=5e-6)]
            assert numbers(row[7]) == pytest.approx([r["best_val_error"]["mean"], r["best_val_error"]["std"]],
                                                    abs=5e-3)
        assert grid[0][1:] == list(next(iter(depth["grid"].values())))
        for row in grid[1:]:
            g = depth["grid"][row[0].lower()]
            assert [None if c == "—" else numbers(c)[0] for c in row[1:]] == \
                   [None if v is None else pytest.approx(v, abs=5e-3) for v in g.values()], (L, row[0])
    assert md.splitlines()[-1] == (f"Verdicts: C1b **{summary['verdicts']['C1b']}**, "
                                   f"C1c **{summary['verdicts']['C1c']}**.")


def test_e2_units_start_at_unit_pre_activation_std_and_log_seconds(e2_run):
    out, _, _ = e2_run
    r = json.loads((out / "units" / "L3" / "dmf" / "seed0" / "lr0.1-m0.5" / "result.json").read_text())
    for layer, (before, after) in r["lsuv"].items():
        assert abs(after - 1.0) <= 0.05 or after == 0, (layer, before, after)
    for key in ("epoch_seconds", "epoch_cpu_seconds"):
        assert len(r["history"][key]) == TINY.epochs and min(r["history"][key]) > 0, key
    assert len(r["history"]["paths"]) == TINY.epochs


def test_e2_resumes_without_training_again(e2_run):
    out, mnist, summary = e2_run
    unit = out / "units" / "L2" / "imf" / "seed0" / "lr1-m0.5" / "result.json"
    stamp = unit.stat().st_mtime_ns
    again = R1.run_e2(mnist, out, TINY)
    assert unit.stat().st_mtime_ns == stamp
    assert json.dumps(again, sort_keys=True) == json.dumps(summary, sort_keys=True)
    # the same unit computed again gives the same numbers (seconds aside)
    from dmf_np.experiments.rundir import RunDir
    from dmf_np.experiments.runner import run_plan

    again_unit = R1.e2_unit(TINY, 2, "imf", 0, 1.0, 0.5)
    RunDir(out / "again").start({"again": True})
    redo = run_plan(lambda done: [again_unit], E.context(mnist, out / "again", E.Options(TINY.preset)),
                    log=lambda _m: None)[again_unit]
    RunDir(out / "again").release()
    first = json.loads(unit.read_text())
    assert np.array_equal(redo["history"]["train_loss"], first["history"]["train_loss"])


def test_plan_round_trips_through_config_json(e2_run):
    out, _, _ = e2_run
    protocol = json.loads((out / "config.json").read_text())["protocol"]
    assert S2.plan_from_protocol(protocol) == TINY
