"""The second round's units (study_units), rules (study_rules) and E5 (study_e5), on generated digits."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dmf_np.data.synthetic import fake_digits
from dmf_np.experiments import mnist as E
from dmf_np.experiments import study as S
from dmf_np.experiments import study_e5 as E5
from dmf_np.experiments import study_rules as R
from dmf_np.experiments.rundir import RunDir
from dmf_np.experiments.runner import run_plan
from dmf_np.experiments.study_units import (Data, Net, Start, Train, divide_fan_in, feeding, rescale_shared,
                                            unpack_correct)
from dmf_np.fusion import init_params

TINY = E.PRESETS["tiny"]
QUIET = dict(log=lambda _m: None)


def tiny_start(scheme="dmf", recipe="A", seed=0, **kw):
    net = Net(scheme, TINY.modality_hidden, TINY.shared_sizes)
    cd = S.cd_config(TINY) if recipe in S.VARIANTS else None
    return Start(net, recipe, seed, Data(TINY.n_train, TINY.n_val, TINY.n_test), 0, cd, stats_rows=100, **kw)


def tiny_train(start, lr=0.1):
    return Train(start, lr, epochs=TINY.finetune_epochs, momentum=TINY.momentum, lr_decay=TINY.lr_decay,
                 path_rows=50)


def run(units, out):
    RunDir(out).start({"test": True})
    try:
        return run_plan(lambda done: units, E.context(fake_digits(), out, E.Options(TINY)), **QUIET)
    finally:
        RunDir(out).release()


@pytest.mark.slow  # a tiny first-round E1 and the same units again: about 5 s
def test_round_two_units_repeat_round_one_units_bit_for_bit(tmp_path):
    """Round 2's units (per-epoch layer statistics on) against round 1's E1 units (off): the same numbers."""
    from dmf_np.experiments import study_round1 as R1

    plan = S.E1Plan(preset=TINY, levels=(0,), seeds=(0,), models=("imf", "dmf-A", "dmf-B'"), lr_grid=(0.1,),
                    edge_grid=(0.1,), stats_rows=100, path_rows=50)
    R1.run_e1(fake_digits(), tmp_path / "e1", plan, **QUIET)
    units = {m: tiny_train(tiny_start(scheme, variant)) for m, (scheme, variant) in
             (("imf", ("imf", "A")), ("dmf-A", ("dmf", "A")), ("dmf-B'", ("dmf", "B'")))}
    done = run(list(units.values()), tmp_path / "r2")
    for model, unit in units.items():
        old = json.loads((tmp_path / "e1" / "units" / "d0" / model / "seed0" / "lr0.1" / "result.json").read_text())
        new = done[unit]
        for key in ("train_loss", "val_error", "test_error", "paths"):
            assert new["history"][key] == old["history"][key], (model, key)
        assert new["final"]["test"] == old["final"]["test"] and new["paths_before"] == old["paths_before"]
        # round 2's extra logging: per-epoch layer statistics and CPU seconds, per-image correctness
        assert len(new["history"]["layer_stats"]) == TINY.finetune_epochs
        assert all(s > 0 for s in new["history"]["epoch_cpu_seconds"])
        right = unpack_correct(new["final"]["correct"]["left+right"], TINY.n_test)
        assert 100 * (1 - right.mean()) == pytest.approx(new["final"]["test"]["left+right"])


def test_rescale_shared_hits_its_target_and_touches_only_what_feeds_the_layer():
    arch = Net("dmf", TINY.modality_hidden, TINY.shared_sizes).architecture()
    params = init_params(arch, np.random.default_rng(0))
    params["b^s_2"][...] = 0.5  # biases start at 0: give this one a value, so that its scaling shows
    xs = [x[:100] for x in E.MnistHalves(fake_digits(), TINY, np).split("train", "pixels", 0, 0).xs()]
    before = {k: v.copy() for k, v in params.items()}
    report = rescale_shared(params, arch, 2, 7.5, xs)
    assert report["after"] == pytest.approx(7.5, rel=1e-4) and report["factor"] == pytest.approx(7.5 / report["before"])
    changed = {k for k in params if not np.array_equal(params[k], before[k])}
    assert changed == set(feeding(arch, 2)) | {arch.b_sh(2)} == {"W^{x->s}_2", "W^{y->s}_2", "W^s_1", "b^s_2"}
    assert S.layer_statistics(params, xs, arch)["s_1"] == S.layer_statistics(before, xs, arch)["s_1"]


def test_divide_fan_in_divides_each_shared_input_by_its_block_count():
    arch = Net("dmf", TINY.modality_hidden, TINY.shared_sizes).architecture()
    params = init_params(arch, np.random.default_rng(1))
    before = {k: v.copy() for k, v in params.items()}
    assert divide_fan_in(params, arch) == {"s_1": 2, "s_2": 3, "s_3": 3}
    np.testing.assert_array_equal(params["W^{x->s}_1"], before["W^{x->s}_1"] / np.float32(2))
    np.testing.assert_array_equal(params["W^s_2"], before["W^s_2"] / np.float32(3))
    np.testing.assert_array_equal(params["b^s_3"], before["b^s_3"])


def test_thresholds_curves_and_lag():
    assert R.epochs_to([3, 1.5, 0.9], 1.0) == 3 and R.epochs_to([3, 2.5], 2.0) == math.inf
    assert R.seconds_to([3, 0.4], [2.0, 5.0], 0.5) == 7.0
    fast, slow = [1.5, 0.8, 0.3, 0.15], [2.5, 1.9, 0.9, 0.4]
    assert R.curve_ahead(fast, slow) and not R.curve_ahead(slow, fast)
    assert not R.curve_ahead([1.5, 0.8, 0.6, 0.55], [2.5, 0.9, 0.45, 0.3])   # ahead at 2, 1; behind at 0.5
    # in seconds, ahead only under 0.8 x: at T = 2, 1 s against 1.1 s is a tie; at T = 1, B's 2.2 s beats 3 s
    a, b = ([1.5, 1.2, 0.9], [1, 1, 1]), ([1.9, 0.9], [1.1, 1.1])
    assert not R.curve_ahead(a[0], b[0], a[1], b[1]) and R.curve_ahead(b[0], a[0], b[1], a[1])
    runs = [{"train_loss": fast}] * 4 + [{"train_loss": slow}]
    assert R.faster(runs, [{"train_loss": slow}] * 5) == {"seeds_ahead": 4, "seeds": 5, "holds": True}
    assert R.needed(5) == 4 and R.needed(15) == 12
    assert R.lag([2.0] * 10, [1.0] * 10) == pytest.approx(math.log(2))
    assert R.bootstrap_ci([1, 2, 3, 4, 5]) == R.bootstrap_ci([1, 2, 3, 4, 5])  # seeded: the same bounds


def test_h5a_rule_on_hand_made_lags():
    a = [0.7, 0.75, 0.72, 0.71, 0.77]
    ok = E5.h5a_rule(a, [0.1, 0.1, 0.05, 0.1, 0.5], [0.5, 0.4, 0.6, 0.5, 0.0], [0.3] * 5)
    assert ok["verdict"] == "supported" and ok["removal_seeds"] == 4 and ok["induction_seeds"] == 4
    assert not ok["top_suffices"] and ok["removed_all"]["median"] == pytest.approx(1 - 0.1 / 0.71)
    assert E5.h5a_rule(a, [0.8] * 5, [-0.1] * 5, [0.7] * 5)["verdict"] == "reversed"
    assert E5.h5a_rule(a, [0.3] * 5, [0.5] * 5, [0.5] * 5)["verdict"] == "not supported"
    assert E5.h5a_rule([0.1, 0.1, 0.7, 0.7, 0.7], [0] * 5, [1] * 5, [0] * 5)["verdict"] == "inconclusive"


@pytest.mark.slow  # E5-P at the tiny preset: 7 models x 5 seeds, about 5 s on 2 processes
def test_e5_interventions_set_the_registered_stds(tmp_path, monkeypatch):
    from dmf_np.cli import main
    from dmf_np.commands import study

    monkeypatch.setattr(study, "load_mnist", lambda *a, **k: fake_digits())
    assert main(["study", "e5", "--preset", "tiny", "--out", str(tmp_path / "r2")]) == 0
    ctx = E.context(fake_digits(), tmp_path / "r2", E.Options(TINY))
    from dmf_np.experiments.runner import read_result

    def stats(start):
        return read_result(ctx.out, start, ctx)[0]["layer_stats"]

    for seed in E5.SEEDS:
        st = E5.starts(seed, TINY)
        imf, dmf_a, dmf_b = (stats(st[m])["s_3"]["pre_std"] for m in ("imf", "dmf-A", "dmf-B"))
        assert stats(st["dmf-A-down-top"])["s_3"]["pre_std"] == pytest.approx(imf, rel=0.01)
        assert stats(st["imf-up-top"])["s_3"]["pre_std"] == pytest.approx(dmf_a, rel=0.01)
        down_all = stats(st["dmf-A-down-all"])
        assert down_all["s_2"]["pre_std"] == pytest.approx(stats(st["dmf-B"])["s_2"]["pre_std"], rel=0.01)
        assert down_all["s_3"]["pre_std"] == pytest.approx(imf, rel=0.01) and dmf_b > 0
    assert "e5 pretrained: {'H5a': 'inconclusive'" in (tmp_path / "r2" / "run.log").read_text()  # 2 epochs: no lag


def test_exact_tests_match_scipy_and_the_near_tie_rule_picks_dmf_b():
    stats = pytest.importorskip("scipy.stats")
    from dmf_np.experiments import study_e8 as E8

    rng = np.random.default_rng(3)
    for n in (5, 9, 15):
        d = rng.normal(-0.3, 1, n)  # no ties: scipy's exact test is the same test
        assert R.wilcoxon_exact(d)["p"] == pytest.approx(stats.wilcoxon(d, method="exact").pvalue, abs=1e-12)
    assert R.mcnemar_exact(30, 12) == pytest.approx(stats.binomtest(12, 42, 0.5).pvalue, abs=1e-12)
    assert R.wilcoxon_exact([0, 0])["p"] == 1.0
    # ties in |d| get mid-ranks: ranks of |-1|, |1|, |2| are 1.5, 1.5, 3
    assert R.wilcoxon_exact([-1, 1, -2])["W"] == -3.0
    cmp = R.paired_comparison([1.0, 2.0], [1.5, 2.5], [np.array([1, 1, 0], bool)] * 2, [np.array([1, 0, 0], bool)] * 2)
    assert (cmp["b"], cmp["c"], cmp["margin_images"], cmp["margin_per_run"]) == (2, 0, 2, 1.0)
    choice = E8.dmf_star2()  # the registered choice over round 1's committed E1 units
    assert choice["chosen"] == "B" and choice["means"]["B"] == pytest.approx(2.266, abs=5e-4)
    assert choice["t"]["B'"] == pytest.approx(2.6, abs=0.05) and choice["tied"] == ["B"]


def test_edge_tuning_extends_the_grid_until_the_best_rate_is_inside():
    scores = {0.03: 2.0, 0.1: 1.0, 0.3: 1.2, 1.0: 1.5, 3.0: None}  # 3 diverged
    # 0.3 wins the grid at its low edge: 0.1 is added and wins, so 0.03 is added and loses
    assert R.edge_tuning(scores.get, (0.3, 1.0, 3.0), (0.03, 0.1, 0.3, 1.0, 3.0)) == ([0.03, 0.1, 0.3, 1.0, 3.0], 0.1)
    assert R.edge_tuning(lambda lr: ..., (0.3, 1.0), (0.1, 0.3, 1.0)) == ([0.3, 1.0], None)
    up = {0.3: 3.0, 1.0: 2.0, 3.0: 1.0, 10.0: 1.5}
    assert R.edge_tuning(up.get, (0.3, 1.0, 3.0), (0.03, 0.1, 0.3, 1.0, 3.0, 10.0), upward=True)[1] == 3.0


@pytest.mark.slow  # E8 (c2, c3) and E9 at the tiny preset on 3 seeds: about 10 s
def test_e8_and_e9_run_at_the_tiny_preset(tmp_path, monkeypatch):
    from dmf_np.experiments import study_e8 as E8
    from dmf_np.experiments import study_round2 as R2

    ctx = E.context(fake_digits(), tmp_path, E.Options(TINY))
    RunDir(tmp_path).start({"test": True})
    try:
        c2 = run_plan(E8.plan("c2", TINY, seeds=(0, 1, 2), variant="B"), ctx, **QUIET)
        out = E8.summary(c2, "c2", TINY, seeds=(0, 1, 2), variant="B")
        cmp = out["comparisons"]["70"]["imf"]
        assert len(cmp["diffs"]) == 3 and out["verdict"] in {"supported", "not supported", "reversed"}
        e9 = run_plan(R2.experiment("e9", "all", TINY)[0], ctx, **QUIET)
        star = R2.dmf_star3(e9, TINY)
        assert star["chosen"] in ("A", "B", "B'") and star["rate"] > 0
    finally:
        RunDir(tmp_path).release()


def fake_result(losses, val, diverged=None):
    from dmf_np.experiments.runner import Result

    values = {} if diverged else {"history": {"train_loss": list(losses), "epoch_cpu_seconds": [1.0] * len(losses)},
                                  "final": {"val_error": val}}
    return Result(("x",), "f", values, diverged)


def test_e7_grid_grows_at_an_edge_and_the_readings_judge_every_rate():
    from dmf_np.experiments import study_e7 as E7

    paper = E.PRESETS["paper"]
    done = {}

    def fill(rates, init="lsuv", depth=5):
        for lr in rates:
            for m in E7.MODELS:
                for s in E7.SEEDS:
                    # DMF leaves the plateau in epoch 1, IMF in epoch 3; the best rate is 0.07 for everyone
                    first = 1 if m == "dmf" else 3
                    losses = [2.3] * (first - 1) + [1.5, 0.9, 0.4, 0.2, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01][:11 - first]
                    done[E7.u2(E7.net(m, depth), init, s, lr, paper)] = fake_result(losses[:10], abs(lr - 0.07) + 1)

    fill(E7.GRIDS["lsuv"])
    g = E7.grid("lsuv", 5, done, paper)
    assert g["best"] is None and g["rates"] == [0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 0.07]  # 0.1 won at the edge
    fill([0.07])
    assert E7.grid("lsuv", 5, done, paper)["rates"][-1] == 0.05  # 0.07 won at the new edge: one more
    fill([0.05])
    g = E7.grid("lsuv", 5, done, paper)
    assert g["best"] == {"emf": 0.07, "imf": 0.07, "dmf": 0.07} and not g["at_edge"]
    r = E7.readings("lsuv", 5, done, paper)
    assert r["own"]["PL"] == "supported" and r["own"]["C1b"] == "supported"
    assert set(r["common"]) == {str(lr) for lr in g["rates"]} and r["trainable"] == g["rates"]
    # the mirror: IMF first and lower
    assert E7.plateau([fake_result([2.3, 2.3, 0.9] + [0.5] * 7, 1)] * 5, [fake_result([1.5, 0.9] + [0.4] * 8, 1)] * 5) \
        == "reversed"
    assert R.several_readings(["supported", "supported"]) == "supported"
    assert R.several_readings(["supported", "inconclusive"]) == "inconclusive"
    assert R.several_readings(["supported", "reversed"]) == "not supported"
