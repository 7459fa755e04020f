"""dmf_np.experiments.study_e3: E3's modality dropout, its units, rule and verdict; fit_classifier's epoch_inputs."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dmf_np.data.synthetic import fake_digits
from dmf_np.experiments import mnist as E
from dmf_np.experiments import study_e3 as S3
from dmf_np.experiments import study_round1 as R1
from dmf_np.experiments import study_units as U
from dmf_np.experiments.rundir import RunDir
from dmf_np.fusion import init_params
from dmf_np.optim import SGD
from dmf_np.train import fit_classifier
from markdown_tables import numbers, tables

PRESET = E.PRESETS["tiny"]       # halves [392, 32, 16], shared [32, 16, 8], 2 fine-tuning epochs
LEVELS = (0, 30, 50, 70)


def _draw(seed, epoch, n=3000, split="train"):
    left, right = np.ones((n, 392), np.float32), np.ones((n, 392), np.float32)
    rng = np.random.default_rng(S3.dropout_seed(seed, epoch, split))
    return (left, right) + S3.modality_dropout_inputs(left, right, rng, LEVELS)


# --- modality dropout ------------------------------------------------------------------------------

def test_dropout_draw_proportions_and_determinism():
    left, right, new_left, new_right, draw = _draw(0, 3)
    n = left.shape[0]
    shares = np.bincount(draw["inputs"], minlength=3) / n
    assert np.all(np.abs(shares - 1 / 3) < 0.03), shares          # 3 sd of a share at n = 3000: 0.026
    level_shares = np.array([np.mean(draw["levels"] == lv) for lv in LEVELS])
    assert np.all(np.abs(level_shares - 1 / 4) < 0.03), level_shares
    # the level does not depend on the input choice (drawn independently)
    for k in range(3):
        sub = draw["levels"][draw["inputs"] == k]
        assert abs(np.mean(sub == 70) - 0.25) < 0.05
    # the same (seed, epoch) gives the same draw; another epoch, seed or split another one
    again = _draw(0, 3)
    assert np.array_equal(again[2], new_left) and np.array_equal(again[3], new_right)
    for other in (_draw(0, 4), _draw(1, 3), _draw(0, 3, split="val")):
        assert not np.array_equal(other[3], new_right)
    with pytest.raises(ValueError, match="split must be"):
        S3.dropout_seed(0, 0, "test")


def test_dropout_zeroes_halves_and_damages_each_example_at_its_level():
    left, right, new_left, new_right, draw = _draw(2, 0)
    assert left.all() and right.all(), "the clean inputs must not change"
    both, no_left, no_right = (draw["inputs"] == k for k in range(3))
    assert not new_left[no_left].any() and new_left[~no_left].all()
    assert not new_right[no_right].any()
    zeros = (new_right == 0).sum(axis=1)
    for lv in LEVELS:
        rows = (draw["levels"] == lv) & ~no_right
        assert np.all(zeros[rows] == round(lv * 392 / 100)), lv       # exactly its own level, per example
    rows70 = np.flatnonzero((draw["levels"] == 70) & ~no_right)[:2]
    assert not np.array_equal(new_right[rows70[0]], new_right[rows70[1]])   # a mask per example
    assert new_left.dtype == np.float32 and new_right.dtype == np.float32
    with pytest.raises(ValueError, match="one shape"):
        S3.modality_dropout_inputs(left, right[:, :10], np.random.default_rng(0))


# --- fit_classifier's epoch_inputs hook -------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    data = E.MnistHalves(fake_digits(), PRESET, np)
    train = data.split("train", "pixels", 0, 0)
    arch = PRESET.architecture("imf")
    return train, arch


def _fit(train, arch, **kw):
    params = init_params(arch, np.random.default_rng(0))
    hist = fit_classifier(params, arch, train.xs(), train.labels, epochs=2, optimizer=SGD(0.1, 0.9), seed=1, **kw)
    return params, hist


def test_epoch_inputs_hook_returning_xs_changes_nothing(small):
    train, arch = small
    ref, ref_hist = _fit(train, arch)
    same, same_hist = _fit(train, arch, epoch_inputs=lambda e: train.xs())
    assert ref_hist == same_hist and all(np.array_equal(ref[k], same[k]) for k in ref)
    seen = []
    _, other = _fit(train, arch, epoch_inputs=lambda e: seen.append(e) or [train.left * 0, train.right])
    assert seen == [0, 1] and other["train_loss"] != ref_hist["train_loss"]


@pytest.mark.parametrize("bad, message", [
    (lambda t: [t.left[:10], t.right[:10]], r"epoch_inputs\(0\)\[0\] has shape \(10, 392\)"),
    (lambda t: [t.left.astype(np.float64), t.right], r"epoch_inputs\(0\)\[0\] has dtype float64"),
    (lambda t: [t.left], "returned 1 arrays; the network has 2 modalities"),
])
def test_epoch_inputs_hook_refuses_mismatched_inputs(small, bad, message):
    train, arch = small
    with pytest.raises(ValueError, match=message):
        _fit(train, arch, epoch_inputs=lambda e: bad(train))
    with pytest.raises(TypeError, match="must return a list"):
        _fit(train, arch, epoch_inputs=lambda e: train.left)


# --- rule and verdict on hand-made numbers ----------------------------------------------------------

def test_e3_rule_counts_seeds_and_asks_for_more_than_the_spread():
    imf = np.array([50.0, 52, 48, 51, 49])
    r = S3.e3_rule(imf - 5, imf)
    assert r["dmf_below"] == 5 and r["imf_below"] == 0 and r["mean_imf_minus_dmf"] == pytest.approx(5)
    assert r["spread"] == pytest.approx(np.std(imf, ddof=1)) and r["beats"] and not r["mirrored"]
    # below in 5 of 5, but by 1 point against a spread of 7.9: fails on the spread
    wide = np.array([40.0, 60, 45, 55, 50])
    r = S3.e3_rule(wide - 1, wide)
    assert r["dmf_below"] == 5 and r["spread"] == pytest.approx(7.9057, rel=1e-4) and not r["beats"]
    # a large mean carried by 3 seeds: fails on the count; a tie counts for neither model
    r = S3.e3_rule([30.0, 31, 29, 52, 49], [50.0, 52, 48, 51, 49])
    assert r["dmf_below"] == 3 and r["imf_below"] == 1 and r["mean_imf_minus_dmf"] > r["spread"]
    assert not r["beats"]
    # the mirror: IMF well below DMF in every seed
    assert S3.e3_rule(imf + 9, imf)["mirrored"]
    with pytest.raises(ValueError, match="paired"):
        S3.e3_rule([1.0, 2.0], [1.0, 2.0, 3.0])


def _rules(beats=(), mirrored=()):
    return {str(lv): {"beats": lv in beats, "mirrored": lv in mirrored} for lv in LEVELS}


def test_c3_verdict():
    assert S3.c3_verdict(_rules(beats=(0, 30, 50)), LEVELS, True)["verdict"] == "supported"
    # three levels, but not 0%: not supported
    assert S3.c3_verdict(_rules(beats=(30, 50, 70)), LEVELS, True)["verdict"] == "not supported"
    assert S3.c3_verdict(_rules(beats=(0, 30)), LEVELS, True)["verdict"] == "not supported"
    v = S3.c3_verdict(_rules(mirrored=(0, 50, 70)), LEVELS, True)
    assert v["verdict"] == "reversed" and v["imf_beats_at"] == ["0", "50", "70"]
    assert S3.c3_verdict(_rules(beats=LEVELS), LEVELS, False)["verdict"] == "inconclusive"
    assert S3.c3_verdict({}, LEVELS, True)["verdict"] == "inconclusive"
    assert S3.c3_verdict(_rules(beats=LEVELS), LEVELS, True, at_edge=True)["verdict"] == "inconclusive"


def test_ahead_counts():
    a = S3.ahead_counts([1.0, 1, 1, 1, 3], {"imf": [2.0] * 5, "emf": [2.0, 2, 2, 0.5, 2]})
    assert (a["below_imf"], a["below_emf"], a["emf_below"]) == (4, 3, 2) and not a["ahead"]
    assert S3.ahead_counts([1.0] * 5, {"imf": [2.0] * 5, "emf": [1.5] * 5})["ahead"]
    assert S3.ahead_counts([3.0] * 5, {"imf": [2.0] * 5})["imf_ahead"]
    with pytest.raises(ValueError, match="pair"):
        S3.ahead_counts([1.0] * 5, {"imf": [2.0] * 4})


def test_e3_plan_checks():
    with pytest.raises(ValueError, match="include 'imf'"):
        S3.E3Plan(models=("emf", "dmf-A"))
    with pytest.raises(ValueError, match="judged"):
        S3.E3Plan(judged="imf")
    with pytest.raises(ValueError, match="include 0"):
        S3.E3Plan(test_levels=(30, 70))
    assert S3.E3Plan().preset is E.PRESETS["paper"]


# --- the run, on the tiny preset -------------------------------------------------------------------

@pytest.fixture(scope="module")
def e3_run(tmp_path_factory):
    """A tiny E3 (2 seeds, one rate grown by the edge rule), recording every epoch's inputs per unit."""
    out = tmp_path_factory.mktemp("e3")
    plan = S3.E3Plan(preset=PRESET, seeds=(0, 1), lr_grid=(0.1,), edge_grid=(0.03, 0.1), stats_rows=100)
    seen = []
    real = U.fit_classifier

    def recording(params, arch, xs, labels, **kw):
        for e in range(kw["epochs"]):
            blob = b"".join(np.ascontiguousarray(x).tobytes() for x in kw["epoch_inputs"](e))
            seen.append((arch.scheme, kw["seed"], e, hashlib.sha256(blob).hexdigest()))
        return real(params, arch, xs, labels, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(U, "fit_classifier", recording)
        summary = R1.run_e3(fake_digits(), out, plan, log=lambda _m: None)
        calls = len(seen)
        again = R1.run_e3(fake_digits(), out, plan, log=lambda _m: None)
    return out, plan, summary, seen, calls, again


def test_every_model_of_a_seed_sees_the_same_draws(e3_run):
    _, plan, _, seen, _, _ = e3_run
    by_key = {}
    for scheme, seed, epoch, digest in seen:
        by_key.setdefault((seed, epoch), set()).add((scheme, digest))
    assert len(by_key) == len(plan.seeds) * PRESET.finetune_epochs
    for key, entries in by_key.items():
        assert {s for s, _ in entries} == {"emf", "imf", "dmf"}, key
        assert len({d for _, d in entries}) == 1, f"{key}: the models saw different inputs"
    digests = {next(iter(e))[1] for e in by_key.values()}
    assert len(digests) == len(by_key)                    # a fresh draw every epoch and seed


def test_e3_run_tunes_summarises_and_resumes(e3_run):
    out, plan, summary, seen, calls, again = e3_run
    assert len(seen) == calls, "the second run_e3 must read the units back, not train again"
    assert again == summary and (out / "e3.json").is_file()
    assert summary["tuning"]["grids"] == {m: [0.1, 0.03] for m in plan.models}
    for m in plan.models:
        e = summary["models"][m]
        assert e["train_loss"]["seeds"] == 2 and len(e["train_loss"]["mean"]) == PRESET.finetune_epochs
        assert len(e["val_error"]["mean"]) == PRESET.finetune_epochs
        assert set(e["right"]) == set(e["left+right"]) == {"0", "30", "50", "70"}
        assert e["right"]["0"]["seeds"] == 2 and len(e["right"]["0"]["values"]) == 2
    assert set(summary["rule"]) == {"0", "30", "50", "70"} and summary["rule"]["0"]["seeds"] == 2
    assert summary["verdict"]["model"] == "dmf-A" and summary["verdict"]["C3"] in (
        "supported", "reversed", "not supported", "inconclusive")
    # the test errors are E1's test sets: the unit's own Right-only error at 0% is recomputable
    rd = RunDir(out)
    r = rd.result("dropout", "imf", "seed1", f"lr{summary['tuning']['chosen_lr']['imf']:g}")
    assert r["final"]["test"]["right"]["0"] == summary["models"]["imf"]["right"]["0"]["values"][1]
    assert (out / "units" / "start" / "d0" / "dmf-32x16-32x16x8" / "A" / "seed1" / "start.npz").is_file()


def test_e3_markdown_tables_show_the_summary(e3_run):
    summary = e3_run[2]
    text = S3.e3_markdown(summary)
    errors_lr, errors_right, rule, *_, training = tables(text)
    labels = {"EMF": "emf", "IMF": "imf", "DMF-A": "dmf-A"}
    levels = ["0", "30", "50", "70"]
    # the two error tables: every cell is the seed mean ± sample std of that input and level
    for table, reading in ((errors_lr, "left+right"), (errors_right, "right")):
        assert table[0] == ["model", "seeds", "rate"] + [f"{lv}%" for lv in levels]
        assert [labels[r[0]] for r in table[1:]] == list(summary["models"])
        for label, seeds, rate, *cells in table[1:]:
            e = summary["models"][labels[label]]
            assert numbers(seeds) == [2] and numbers(rate) == [pytest.approx(e["lr"])]
            for lv, cell in zip(levels, cells):
                c = e[reading][lv]
                assert numbers(cell) == pytest.approx([c["mean"], c["std"]], abs=5e-3), (label, reading, lv)
                assert c["std"] == pytest.approx(np.std(c["values"], ddof=1))
    # the C3 rule, level by level: counts of seeds, the mean difference, yes/no as the rule said
    for level, below, above, diff, spread, beats, mirrored in rule[1:]:
        r = summary["rule"][level.rstrip("%")]
        assert numbers(below) == [r["dmf_below"], 2] and numbers(above) == [r["imf_below"], 2]
        assert numbers(diff) == [pytest.approx(r["mean_imf_minus_dmf"], abs=5e-3)]
        assert numbers(spread) == [pytest.approx(r["spread"], abs=5e-3)]
        assert (beats, mirrored) == ("yes" if r["beats"] else "no", "yes" if r["mirrored"] else "no")
    imf = summary["models"]["imf"]["right"]
    for lv in levels:   # the mean difference is IMF's Right-only mean minus DMF-A's
        diff = imf[lv]["mean"] - summary["models"]["dmf-A"]["right"][lv]["mean"]
        assert summary["rule"][lv]["mean_imf_minus_dmf"] == pytest.approx(diff)
    # training: the seed-mean loss at epochs 1, 5, 10 and the last, the last validation error
    for label, *cells in training[1:]:
        e = summary["models"][labels[label]]
        loss = e["train_loss"]["mean"]
        shown = [loss[i] if i < len(loss) else None for i in (0, 4, 9)]
        assert [numbers(c)[0] if numbers(c) else None for c in cells[:3]] == \
               [None if v is None else pytest.approx(v, abs=5e-5) for v in shown]
        assert numbers(cells[3]) == [pytest.approx(loss[-1], abs=5e-6)]
        assert numbers(cells[4]) == [pytest.approx(e["val_error"]["mean"][-1], abs=5e-3)]
    assert f"**C3 (DMF-A): {summary['verdict']['C3']}**: {summary['verdict']['why']}." in text.splitlines()
