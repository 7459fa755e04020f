"""dmf_np.experiments.study: the study's pretraining variants, layer statistics and path statistics."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dmf_np import backend
from dmf_np.data.damage import DamageSpec
from dmf_np.data.synthetic import fake_digits
from dmf_np.experiments import mnist as E
from dmf_np.experiments import study as S
from dmf_np.experiments import study_round1 as R1
from dmf_np.fusion import forward, init_params
from dmf_np.learning_paths import loss_and_learning_paths
from dmf_np.pretrain import CDConfig, pretrain_fusion, rbm_schedule, train_rbm
from dmf_np.rbm import init_rbm

PRESET = E.PRESETS["tiny"]       # halves [392, 32, 16], shared [32, 16, 8]
CONFIG = CDConfig(epochs=1, batch_size=100, lr=0.1, momentum=0.9, weight_decay=2e-4, k=1)


@pytest.fixture(scope="module")
def train():
    data = E.MnistHalves(fake_digits(), PRESET, np)
    return data.split("train", "pixels", 0, 0)


def _init(model, seed=0):
    arch = PRESET.architecture(model)
    return arch, init_params(arch, np.random.default_rng(seed))


@pytest.mark.parametrize("model", ["emf", "imf", "dmf"])
def test_pretrain_fusion_hooks_at_their_defaults_change_nothing(train, model):
    arch, p_ref = _init(model)
    _, p_new = _init(model)
    xs = [x[:300] for x in train.xs()]
    pretrain_fusion(p_ref, arch, xs, CONFIG, seed=7, log=None, show_progress=False)
    pretrain_fusion(p_new, arch, xs, CONFIG, seed=7, log=None, show_progress=False,
                    config_for=lambda job, n: CONFIG, keep_part=lambda job, part: True)
    for key in p_ref:
        assert np.array_equal(p_ref[key], p_new[key]), key


def _variant_by_hand(xs, seed, config_of, chain: bool) -> dict:
    """Variants A (chain), B and C of the tiny 3-level DMF written out RBM by RBM, without the schedule code:
    s_1 <- [x, y]; h^m_2 <- m; s_2 <- [h^x_2, h^y_2] (+ s_1 if ``chain``); h^m_3; s_3 likewise.
    Each RBM is trained by train_rbm on the activations of the network's forward pass, with
    pretrain_fusion's seeds (spawn_seeds, then [seed_j, 6] for the RBM's initial weights)."""
    arch, p = _init("dmf")
    seeds = backend.spawn_seeds(seed, 7)

    def rbm(j, parts, keys, bias):
        v = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        r = init_rbm(v.shape[1], p[bias].shape[0], np.random.default_rng([seeds[j], 6]), np, np.float32,
                     data_mean=v.mean(axis=0))
        train_rbm(r, v, config_of(v.shape[1]), seed=seeds[j])
        cols = np.cumsum([0] + [q.shape[1] for q in parts])
        for i, key in enumerate(keys):
            p[key][...] = r["W"][:, cols[i]:cols[i + 1]]
        p[bias][...] = r["b_h"]

    rbm(0, xs, ["W^{x->s}_1", "W^{y->s}_1"], "b^s_1")
    rbm(1, [xs[0]], ["W^x_1"], "b^x_2")
    rbm(2, [xs[1]], ["W^y_1"], "b^y_2")
    for j, l in ((3, 2), (6, 3)):
        fw = forward(p, xs, arch)
        hs, keys = [fw.h[(0, l)], fw.h[(1, l)]], [f"W^{{x->s}}_{l}", f"W^{{y->s}}_{l}"]
        if chain:
            hs, keys = hs + [fw.s[l - 1]], keys + [f"W^s_{l - 1}"]
        else:
            p[f"W^s_{l - 1}"][...] = 0
        rbm(j, hs, keys, f"b^s_{l}")
        if l == 2:
            fw = forward(p, xs, arch)
            rbm(4, [fw.h[(0, 2)]], ["W^x_2"], "b^x_3")
            rbm(5, [fw.h[(1, 2)]], ["W^y_2"], "b^y_3")
    return p


@pytest.mark.parametrize("variant", ["A", "B", "C"])
def test_variants_are_their_rbms_written_out_bit_for_bit(train, variant):
    xs = [x[:300] for x in train.xs()]
    arch, p = _init("dmf")
    S.pretrain_variant(variant, p, arch, xs, CONFIG, seed=7)
    if variant == "C":   # 10 epochs at lr * 392 / n_visible, every edge kept
        ref = _variant_by_hand(xs, 7, lambda n: replace(CONFIG, epochs=10, lr=CONFIG.lr * 392 / n), chain=True)
    else:                # B: the shared RBMs without s_{l-1}
        ref = _variant_by_hand(xs, 7, lambda n: CONFIG, chain=variant == "A")
    for key in p:
        assert np.array_equal(p[key], ref[key]), key


def test_variant_b_drops_the_chain_from_the_shared_rbms(train):
    arch, a = _init("dmf")
    _, b = _init("dmf")
    S.pretrain_variant("A", a, arch, train.xs(), CONFIG, seed=7)
    hist = S.pretrain_variant("B", b, arch, train.xs(), CONFIG, seed=7)
    for l in range(1, arch.L):
        assert not b[arch.W_sh(l)].any(), f"W^s_{l} must start at 0 in variant B"
        assert a[arch.W_sh(l)].any()
    assert hist["s_2"]["visible"] == ["h^x_2", "h^y_2"] and hist["s_2"]["zeroed"] == ["W^s_1"]
    assert hist["s_3"]["visible"] == ["h^x_3", "h^y_3"] and hist["s_3"]["zeroed"] == ["W^s_2"]
    # below the first chained RBM nothing changes: the modality RBMs of level 2 and s_1 are A's
    for key in (arch.W_mod(0, 1), arch.W_fuse(0, 1), arch.b_sh(1)):
        assert np.array_equal(a[key], b[key]), key
    # above it they differ
    assert not np.array_equal(a[arch.W_fuse(0, 2)], b[arch.W_fuse(0, 2)])


@pytest.mark.slow  # 10 pretraining epochs: a fifth of the fast loop
def test_variant_c_scales_rates_by_visible_units_and_trains_10_epochs(train):
    arch, p = _init("dmf")
    hist = S.pretrain_variant("C", p, arch, train.xs(), CONFIG, seed=7)
    sizes = {"s_1": 392 * 2, "h^x_2": 392, "h^y_2": 392, "s_2": 32 + 32 + 32, "h^x_3": 32, "s_3": 16 + 16 + 16}
    for name, n_visible in sizes.items():
        assert hist[name]["lr"] == [pytest.approx(0.1 * 392 / n_visible)] * 10, name
        assert len(hist[name]["recon_error"]) == 10, name
    assert [j.name for j in rbm_schedule(arch)] == list(hist)


@pytest.mark.parametrize("lower", ["keep", "zero"])
def test_variant_b_prime_starts_as_exactly_the_pretrained_imf(train, lower):
    imf_arch, imf = _init("imf", seed=1)
    pretrain_fusion(imf, imf_arch, train.xs(), CONFIG, seed=7, log=None, show_progress=False)
    arch, dmf_random = _init("dmf", seed=2)
    dmf = S.dmf_from_imf(imf, dmf_random, arch, lower=lower)
    xs = train.xs()
    fw_imf, fw_dmf = forward(imf, xs, imf_arch), forward(dmf, xs, arch)
    assert np.array_equal(fw_imf.logits, fw_dmf.logits)          # exactly, not approximately
    assert np.array_equal(fw_imf.top, fw_dmf.top)
    assert not dmf[arch.W_sh(arch.L - 1)].any()
    lower_key = arch.W_fuse(0, 1)
    if lower == "keep":
        assert np.array_equal(dmf[lower_key], dmf_random[lower_key]) and dmf[lower_key].any()
    else:
        assert not dmf[lower_key].any() and not dmf[arch.W_sh(1)].any()
    # through pretrain_variant, in place
    _, p = _init("dmf", seed=2)
    assert S.pretrain_variant("B'", p, arch, xs, CONFIG, imf_params=imf) == {}
    assert np.array_equal(forward(p, xs, arch).logits, fw_imf.logits)


def test_variants_refuse_bad_requests(train):
    arch, p = _init("dmf")
    imf_arch, imf = _init("imf")
    with pytest.raises(ValueError, match="variant must be one of"):
        S.pretrain_variant("D", p, arch, train.xs(), CONFIG)
    with pytest.raises(ValueError, match="pass imf_params"):
        S.pretrain_variant("B'", p, arch, train.xs(), CONFIG)
    with pytest.raises(ValueError, match="DMF variant"):
        S.pretrain_variant("B", imf, imf_arch, train.xs(), CONFIG)
    with pytest.raises(ValueError, match="scheme 'imf'"):
        S.dmf_from_imf(imf, imf, imf_arch)
    with pytest.raises(ValueError, match="lower must be"):
        S.dmf_from_imf(imf, p, arch, lower="random")
    _, other = _init("dmf")
    wide = dict(imf, **{imf_arch.W_mod(0, 1): np.zeros((5, 392), np.float32)})
    with pytest.raises(ValueError, match="shape"):
        S.dmf_from_imf(wide, other, arch)


def test_layer_statistics_match_their_definitions(train):
    arch, p = _init("dmf")
    xs = [x[:50] for x in train.xs()]
    stats = S.layer_statistics(p, xs, arch)
    assert set(stats) == {"h^x_2", "h^y_2", "h^x_3", "h^y_3", "s_1", "s_2", "s_3"}
    fw = forward(p, xs, arch)
    # recompute s_2 by hand: M = sum of its three inputs + bias, f' = f (1 - f)
    M = (fw.h[(0, 2)] @ p[arch.W_fuse(0, 2)].T + fw.h[(1, 2)] @ p[arch.W_fuse(1, 2)].T
         + fw.s[1] @ p[arch.W_sh(1)].T + p[arch.b_sh(2)]).astype(np.float64)
    s2 = fw.s[2].astype(np.float64)
    assert stats["s_2"]["pre_std"] == pytest.approx(M.std(), rel=1e-5)
    assert stats["s_2"]["saturated"] == pytest.approx(np.mean(np.abs(M) > 4))
    assert stats["s_2"]["mean_fprime"] == pytest.approx(np.mean(s2 * (1 - s2)), rel=1e-4)
    # a saturated layer is seen as one: push s_3's bias far out
    p[arch.b_sh(3)][...] = 50.0
    hot = S.layer_statistics(p, xs, arch)["s_3"]
    assert hot["saturated"] == 1.0 and hot["mean_fprime"] < 1e-15


def test_path_statistics(train):
    xs = [x[:64] for x in train.xs()]
    labels = train.labels[:64]
    arch, dmf = _init("dmf")
    imf_arch, imf = _init("imf")
    d = S.path_statistics(dmf, xs, labels, arch)
    i = S.path_statistics(imf, xs, labels, imf_arch)
    loss, lp = loss_and_learning_paths(dmf, xs, labels, arch)
    assert d["loss"] == pytest.approx(float(loss))
    assert d["layers"]["h^x_2"]["shared"] == pytest.approx(float(np.linalg.norm(lp.dh[(0, 2)]["shared"])), rel=1e-6)
    assert d["layers"]["h^x_2"]["shared"] > 0 and -1 <= d["layers"]["h^x_2"]["cosine"] <= 1
    # IMF: below the top, error reaches a modality layer through the modality path only
    assert i["layers"]["h^x_2"]["shared"] == 0 and i["layers"]["h^x_2"]["modality"] > 0
    assert "cut" not in i
    # DMF with the cross-modal paths cut: IMF's single path at h^x_2; the classifier is unaffected
    assert d["cut"]["layers"]["h^x_2"]["shared"] == 0
    assert d["cut"]["cosine_to_full"]["W^out"] == pytest.approx(1.0)
    assert d["shares"]["W^out"] == {"modality": 0.0, "shared": 1.0}


# --- E1 as units ---------------------------------------------------------------------------------

def test_e1_rule_counts_paired_seeds():
    imf = np.full((5, 12), 0.5)
    dmf = imf.copy()
    dmf[:4] -= 0.1                       # 4 seeds at or below at every epoch
    dmf[4, 3] = 0.6                      # one epoch above in seed 4
    r = S.e1_rule(dmf, imf, [1, 1, 1, 1, 3], [2, 2, 2, 2, 2])
    assert r == {"seeds": 5, "epochs": 10, "loss_seeds": 4, "error_seeds": 4, "imf_loss_lower_seeds": 0, "passes": True,
                 "narrow": True}
    assert S.e1_rule(dmf, imf, [1, 1, 1, 3, 3], [2] * 5)["passes"] is False
    # epochs after 10 do not count; ties count for the loss, not for the error
    late = imf.copy()
    late[:, 11] = 9.0
    r = S.e1_rule(late, imf, [2] * 5, [2] * 5)
    assert r["loss_seeds"] == 5 and r["error_seeds"] == 0 and not r["passes"]
    assert S.e1_rule(imf + 1, imf, [3] * 5, [2] * 5)["imf_loss_lower_seeds"] == 5
    with pytest.raises(ValueError, match="paired"):
        S.e1_rule(dmf[:4], imf, [1] * 4, [2] * 4)


def test_rate_choice_and_edge_rule():
    from dmf_np.errors import DivergenceError
    from dmf_np.experiments.runner import choose_rate
    from dmf_np.experiments.study_rules import edge_tuning

    assert choose_rate({0.3: 2.0, 1.0: 1.5, 3.0: None}) == 1.0
    assert choose_rate({0.3: 1.5, 1.0: 1.5}) == 0.3            # ties: the smaller rate
    with pytest.raises(DivergenceError, match="every learning rate"):
        choose_rate({0.3: None})
    edge = (0.03, 0.1, 0.3, 1.0, 3.0)
    scores = {0.1: 2.0, 0.3: 1.0, 1.0: 2.0, 3.0: 3.0}
    assert edge_tuning(scores.get, (0.3, 1.0, 3.0), edge) == ([0.1, 0.3, 1.0, 3.0], 0.3)
    assert edge_tuning({0.3: 2.0, 1.0: 1.0, 3.0: 3.0}.get, (0.3, 1.0, 3.0), edge) == ([0.3, 1.0, 3.0], 1.0)
    assert edge_tuning({0.03: 1.0, 0.1: 2.0, 0.3: 3.0}.get, (0.3,), edge) == ([0.03, 0.1, 0.3], 0.03)  # at the edge


def test_e1_plan_checks():
    with pytest.raises(ValueError, match="include 'imf'"):
        S.E1Plan(models=("dmf-A",))
    with pytest.raises(ValueError, match="before"):
        S.E1Plan(models=("dmf-B'", "imf"))
    with pytest.raises(ValueError, match="include 0"):
        S.E1Plan(levels=(30, 70))


@pytest.fixture(scope="module")
def e1_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("e1")
    plan = S.E1Plan(preset=PRESET, levels=(0, 50), seeds=(0, 1), models=("imf", "dmf-A", "dmf-B'"),
                    lr_grid=(0.1,), edge_grid=(0.03, 0.1), stats_rows=100, path_rows=50)
    return out, plan, R1.run_e1(fake_digits(), out, plan, log=lambda _m: None)


def test_e1_run_tunes_with_the_edge_rule_and_summarises(e1_run):
    out, plan, summary = e1_run
    assert summary["tuning"]["grids"] == {m: [0.1, 0.03] for m in plan.models}
    assert set(summary["models"]) == set(plan.models)
    cell = summary["models"]["dmf-A"]["50"]
    assert cell["test_error"]["seeds"] == 2 and len(cell["train_loss"]["mean"]) == PRESET.finetune_epochs
    assert set(cell["layer_stats"]) == {"h^x_2", "h^y_2", "h^x_3", "h^y_3", "s_1", "s_2", "s_3"}
    assert set(summary["rule"]) == {"dmf-A", "dmf-B'"} and summary["rule"]["dmf-A"]["0"]["seeds"] == 2
    assert (out / "e1.json").is_file()


def test_e1_units_are_reproduce_units_and_b_prime_starts_as_imf(e1_run):
    out, plan, summary = e1_run
    from dmf_np.experiments.rundir import RunDir
    from dmf_np.experiments.runner import run_plan

    rd = RunDir(out)
    lr = summary["tuning"]["chosen_lr"]["dmf-A"]
    e1 = rd.result("d0", "dmf-A", "seed1", f"lr{lr:g}")
    assert len(e1["history"]["paths"]) == PRESET.finetune_epochs and "cut" in e1["history"]["paths"][0]
    # the same unit through `reproduce table1`'s code: the same losses and errors, bit for bit
    ref_dir = out.parent / (out.name + "-reference")
    opts = E.Options(PRESET, DamageSpec(), seed=1, show_progress=False)
    unit = E.Fit(PRESET.unit_part(), "pixels", 0, "dmf", 1, lr)
    ref = run_plan(lambda done: [unit], E.context(fake_digits(), ref_dir, opts), log=lambda _m: None)[unit]
    assert e1["history"]["train_loss"] == ref["history"]["train_loss"]
    assert e1["history"]["test_error"] == ref["history"]["test_error"]
    # B' computes IMF's function before fine-tuning: the same loss on the fixed batch
    lr_b, lr_i = summary["tuning"]["chosen_lr"]["dmf-B'"], summary["tuning"]["chosen_lr"]["imf"]
    b = rd.result("d0", "dmf-B'", "seed1", f"lr{lr_b:g}")
    i = rd.result("d0", "imf", "seed1", f"lr{lr_i:g}")
    assert b["paths_before"]["loss"] == i["paths_before"]["loss"]


@pytest.mark.slow
def test_e1_on_two_processes_gives_the_serial_summary(e1_run, tmp_path):
    out, plan, serial = e1_run
    parallel = R1.run_e1(fake_digits(), tmp_path / "e1-jobs2", plan, jobs=2, log=lambda _m: None)
    assert parallel == serial


@pytest.mark.parametrize("model", ["emf", "imf", "dmf"])
def test_lsuv_init_gives_unit_pre_activation_std(train, model):
    arch, p = _init(model)
    xs = [x[:100] for x in train.xs()]
    report = S.lsuv_init(p, xs, arch)
    after = S.layer_statistics(p, xs, arch)
    assert set(report) == set(after) | {"out"}
    for name, st in after.items():
        assert abs(st["pre_std"] - 1) <= 0.05, (name, st)
    logits = forward(p, xs, arch).logits.astype(np.float64)
    assert abs(logits.std() - 1) <= 0.05
    assert any(abs(b - 1) > 0.05 for b, _ in report.values())   # something needed rescaling
    with pytest.raises(ValueError, match="target > 0"):
        S.lsuv_init(p, xs, arch, target=0)
