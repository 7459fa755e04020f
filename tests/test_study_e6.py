"""E6, capacity (dmf_np.experiments.study_e6; docs/protocol_round2.md, "E6" and "Capacity-matched sizes"):
the table's networks and parameter counts, the plan's units, the rules on hand-made numbers and Results,
and both parts at the tiny preset."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dmf_np.data.synthetic import fake_digits
from dmf_np.experiments import mnist as E
from dmf_np.experiments import study_e6 as E6
from dmf_np.experiments.rundir import RunDir
from dmf_np.experiments.runner import Result, run_plan
from dmf_np.experiments.study import lsuv_init
from dmf_np.experiments.study_e2 import DEPTHS
from dmf_np.experiments.study_e8 import c2_units
from dmf_np.experiments.study_units import Net, Train
from dmf_np.fusion import init_params
from dmf_np.optim import SGD
from dmf_np.train import fit_classifier

PAPER, TINY = E.PRESETS["paper"], E.PRESETS["tiny"]
QUIET = dict(log=lambda _m: None)
TABLE = {  # the protocol's "Capacity-matched sizes", literally: (halves, shared, parameters)
    (3, "imf-wide"): ((1006, 252), (126,), 1_363_144), (3, "emf-wide"): (None, (1007, 503, 126), 1_362_293),
    (3, "dmf-narrow"): ((259, 65), (259, 130, 32), 550_511),
    (5, "imf-wide"): ((931, 465, 349, 233), (116,), 2_142_236),
    (5, "emf-wide"): (None, (1022, 766, 511, 255, 128), 2_142_443),
    (5, "dmf-narrow"): ((278, 139, 104, 69), (278, 208, 139, 69, 35), 830_935)}
PAPER_COUNTS = {3: {"emf": 550_346, "imf": 550_858, "dmf": 1_362_634}, 5: {"emf": 739_274, "imf": 830_282,
                                                                          "dmf": 2_142_282}}


def test_capacity_sizes_are_the_protocol_table():
    for (L, m), (halves, shared, count) in TABLE.items():
        net = E6.SIZES[L][m]
        assert net.architecture().n_params() == count, (L, m)
        if halves is not None:                        # EMF reads no halves, IMF only its top shared width
            assert net.hidden == halves
        assert net.shared[-len(shared):] == shared if m.startswith("imf") else net.shared == shared
    for L in (3, 5):
        for s in ("emf", "imf", "dmf"):
            assert E6.SIZES[L][s] == Net(s, *DEPTHS[L])
            assert E6.SIZES[L][s].architecture().n_params() == PAPER_COUNTS[L][s]
    assert E6.capacity_sizes(DEPTHS) == E6.SIZES     # the table is the rule "every width times w, rounded"
    # the controls are E8-C2's units (shared by fingerprint); U2 is round 1's E2 unit with LSUV
    assert E6.u1("dmf-B", 3, 70, 1.0) == c2_units(3, 70, PAPER, "B")["dmf"]
    u = E6.u2(E6.SIZES[5]["dmf"], 2, 0.2)
    assert (u.start.recipe, u.epochs, u.momentum, u.lr_decay, u.weight_decay, u.batch_size) == ("lsuv", 10, 0.9,
                                                                                               1.0, 0.0, 100)


def model_of(unit: Train) -> str:
    net = unit.start.net
    names = {E6.SIZES[L][m]: m for L in (3, 5) for m in E6.SIZES[L]}
    return names.get(net, net.scheme) + ("-B" if unit.start.recipe == "B" and net.scheme == "dmf" else "")


def finish(plan, make) -> dict:
    """Hand-made Results for every unit the plan names, until it names no more: ``make(model, unit)``."""
    done = {}
    while new := [u for u in plan(done) if u not in done]:
        for u in new:
            done[u] = make(model_of(u), u)
    return done


def result(loss, err=2.0, val=2.0, cpu=1.0, diverged=None) -> Result:
    values = {} if diverged else {"history": {"train_loss": list(loss), "epoch_cpu_seconds": [cpu] * len(loss)},
                                  "final": {"val_error": val, "test": {"left+right": err}}}
    return Result(("x",), "f", values, diverged)


FAST, SLOW = [1.5 / 2 ** e for e in range(20)], [2.5 / 2 ** e for e in range(20)]


def test_plan_units_at_the_paper_preset():
    e1, e2 = E6.plan("e1"), E6.plan("e2")
    assert len(e1({})) == 30 + 9 and len(e2({})) == 60          # controls and tuning grids; seed 0 everywhere
    # tuning interior at 1 (val error lowest there): every new model's 9 further units
    done = finish(e1, lambda m, u: result(FAST, val=abs(math.log10(u.lr)) + 1))
    assert len(done) == 66 and {u.lr for u in done if model_of(u) == "imf-wide"} == {0.3, 1.0, 3.0}
    # best at the top of the grid: 10 is added (new models extend upwards), and wins: at the edge
    done = finish(e1, lambda m, u: result(FAST, val=1 / u.lr))
    assert len(done) == 69 and E6.summary(done, "e1")["C1a-cap"]["verdict"] == "inconclusive"
    done = finish(e2, lambda m, u: result(FAST[:10], val=abs(u.lr - 0.2)))
    assert len(done) == 100 and {u.lr for u in done if u.start.seed == 4} == {0.2}
    assert E6.summary(done, "e2")["rates"]["L5/dmf-narrow"]["chosen"] == 0.2


def test_e1_rules_on_hand_made_results():
    def make(dmf_ahead, diverge=None):
        def f(m, u):
            if m == diverge and u.start.seed in (1, 2):
                return result(FAST, diverged="loss is nan")
            dmf = m.startswith("dmf")
            good = dmf == dmf_ahead
            return result(FAST if good else SLOW, err=1.0 if good else 2.0, val=abs(math.log10(u.lr)),
                          cpu=1.0 if good else 3.0)
        return f

    out = E6.summary(finish(E6.plan("e1"), make(True)), "e1")
    assert [out[r]["verdict"] for r in ("C1a-cap", "C1c-cap", "C2-cap")] == ["supported"] * 3
    pair = out["C1a-cap"]["pairs"]["70|dmf-B-narrow|imf"]
    assert pair["dmf_faster"]["seeds_ahead"] == 5 and pair["e1_count"] == 5
    assert out["lags"]["imf-wide|imf"]["0"] == pytest.approx([0.0] * 5)
    assert out["lags"]["dmf-B-narrow|dmf-B"]["70"] == pytest.approx([0.0] * 5)
    assert len(out["curves"]["d70/emf-wide"]) == 5 and out["rates"]["dmf-B-narrow"]["chosen"] == 1.0
    out = E6.summary(finish(E6.plan("e1"), make(False)), "e1")
    assert [out[r]["verdict"] for r in ("C1a-cap", "C1c-cap", "C2-cap")] == ["reversed"] * 3
    out = E6.summary(finish(E6.plan("e1"), make(True, diverge="emf-wide")), "e1")   # only C2-cap uses EMF-wide
    assert out["C1a-cap"]["verdict"] == "supported" and out["C2-cap"]["verdict"] == "inconclusive"
    out = E6.summary(finish(E6.plan("e1"), make(True, diverge="dmf-B")), "e1")      # counts against DMF
    assert out["C1a-cap"]["verdict"] == "not supported" and out["C2-cap"]["verdict"] == "not supported"
    assert E6.summary({}, "e1")["C2-cap"]["verdict"] == "inconclusive"               # nothing finished
    lost = finish(E6.plan("e1"), lambda m, u: result(FAST, diverged="nan") if m == "dmf-narrow-B" else make(True)(m, u))
    out = E6.summary(lost, "e1")                        # a tuning that diverged at every rate: no seeds run
    assert out["rates"]["dmf-B-narrow"]["lost"] and len(lost) == 30 + 2 * 12 + 3
    assert out["C1a-cap"]["verdict"] == "inconclusive" and "every rate diverged" in " ".join(out["C1a-cap"]["why"])


def test_rules_on_hand_made_numbers():
    f, s = ({"train_loss": c[:10], "epoch_cpu_seconds": [1] * 10} for c in (FAST, SLOW))
    slow_cpu = {**f, "epoch_cpu_seconds": [2] * 10}      # ahead in epochs, behind in seconds
    pairs = {(3, "dmf", "imf-wide"): ([f] * 5, [s] * 5), (3, "dmf-narrow", "imf"): ([f] * 4 + [s], [s] * 5)}
    assert E6.rule(pairs, E6.speed)["verdict"] == "supported"
    assert E6.rule(pairs, E6.speed, why=["imf-wide at 3: a comparator diverged"])["verdict"] == "inconclusive"
    assert E6.rule({k: (b, a) for k, (a, b) in pairs.items()}, E6.speed)["verdict"] == "reversed"
    mixed = {**pairs, (5, "dmf", "imf-wide"): ([s] * 5, [f] * 5)}
    assert E6.rule(mixed, E6.speed)["verdict"] == "not supported"
    seconds = E6.rule({(3, "dmf", "imf"): ([slow_cpu] * 5, [s] * 5)}, lambda a, b: E6.speed(a, b, seconds=True))
    assert seconds["verdict"] == "reversed"   # 2 s against 1 s per epoch: IMF ahead in seconds at T = 1
    # C1b: faster, and a lower last loss in 4 of 5 seeds
    flat_end = {**f, "train_loss": FAST[:9] + [SLOW[9] + 1e-5]}   # the same epochs to every T, a higher end
    c1b = E6.speed([flat_end] * 2 + [f] * 3, [s] * 5, last_loss=True)
    assert c1b["dmf_lower"] == 3 and not c1b["holds"] and c1b["dmf_faster"]["holds"]
    # C2-cap: reversed if one family (the EMFs here) is below DMF in every pair, not supported if mixed
    errs = {(0, "dmf-B", "imf-wide"): ([1] * 5, [2] * 5), (0, "dmf-B", "emf-wide"): ([2] * 5, [1] * 5),
            (0, "dmf-B-narrow", "imf"): ([1] * 5, [2] * 5), (0, "dmf-B-narrow", "emf"): ([2] * 5, [1] * 5)}
    assert E6.rule(errs, E6.below)["verdict"] == "reversed"
    errs[(0, "dmf-B-narrow", "emf")] = ([1, 1, 2, 2, 2], [2] * 5)
    assert E6.rule(errs, E6.below)["verdict"] == "not supported"
    assert E6.below([1, 1, 1, 1, 2], [2, 2, 2, 2, 2])["holds"] and not E6.below([1, 2, 2, 2, 2], [2] * 5)["holds"]


def test_e2_rules_on_hand_made_results():
    def make(m, u):
        good = m.startswith("dmf")
        return result((FAST if good else SLOW)[:10], val=abs(u.lr - 0.3))
    out = E6.summary(finish(E6.plan("e2"), make), "e2")
    assert out["C1b-cap"]["verdict"] == "supported" and out["C1c-cap"]["verdict"] == "supported"
    assert set(out["C1b-cap"]["pairs"]) == {"3|dmf|imf-wide", "3|dmf-narrow|imf", "5|dmf|imf-wide", "5|dmf-narrow|imf"}
    done = finish(E6.plan("e2"), make)
    done = {u: (result(SLOW[:10], diverged="nan") if model_of(u) == "imf" and u.start.seed == 3 else r)
            for u, r in done.items()}
    assert E6.summary(done, "e2")["C1b-cap"]["verdict"] == "inconclusive"


def tiny_sizes() -> dict:
    return E6.capacity_sizes({3: (TINY.modality_hidden, TINY.shared_sizes), 5: ((32, 16, 12, 8), (32, 24, 16, 8, 4))})


@pytest.mark.slow  # both parts at the tiny preset on 2 seeds: about a minute
def test_both_parts_run_at_the_tiny_preset(tmp_path):
    ctx = E.context(fake_digits(), tmp_path, E.Options(TINY))
    sizes, seeds = tiny_sizes(), (0, 1)
    RunDir(tmp_path).start({"test": True})
    try:
        for part, rules in (("e1", ("C1a-cap", "C1c-cap", "C2-cap")), ("e2", ("C1b-cap", "C1c-cap"))):
            done = run_plan(E6.plan(part, TINY, seeds, sizes), ctx, **QUIET)
            out = E6.summary(done, part, TINY, seeds, sizes)
            assert all(out[r]["verdict"] in {"supported", "not supported", "reversed", "inconclusive"} for r in rules)
            assert all(v["chosen"] is not None for v in out["rates"].values()), out["rates"]
            assert all(len(c) == 2 for c in out["curves"].values())
            assert len(out["curves"]) == (12 if part == "e1" else 10)
    finally:
        RunDir(tmp_path).release()


@pytest.mark.slow  # one U2 unit at tiny sizes: a few seconds
def test_u2_repeats_round_one_e2_recipe_bit_for_bit(tmp_path):
    """Round 1's E2 unit, written out from the registered recipe (docs/claims.md, E2): init_params, LSUV on
    the first 500 training images, SGD at a constant rate with momentum 0.9, 10 epochs, the E2 seeds."""
    net, seed, lr = Net("dmf", TINY.modality_hidden, TINY.shared_sizes), 1, 0.2
    arch, train = net.architecture(), E.MnistHalves(fake_digits(), TINY, np).split("train", "pixels", 0, seed)
    params = init_params(arch, np.random.default_rng(E.derived_seed(seed, "init")), xp=np)
    lsuv_init(params, [x[:500] for x in train.xs()], arch)
    old = fit_classifier(params, arch, train.xs(), train.labels, epochs=10, batch_size=100,
                         optimizer=SGD(lr, 0.9, 0.0), seed=E.derived_seed(seed, "finetune"), show_progress=False)
    RunDir(tmp_path).start({"test": True})
    try:
        unit = E6.u2(net, seed, lr, TINY)
        new = run_plan(lambda done: [unit], E.context(fake_digits(), tmp_path, E.Options(TINY)), **QUIET)[unit]
    finally:
        RunDir(tmp_path).release()
    assert new["history"]["train_loss"] == old["train_loss"] and len(old["train_loss"]) == 10
