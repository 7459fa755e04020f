"""Layer-wise pretraining: the schedule per scheme, weights landing in the network, resuming, benefit."""
from dataclasses import replace

import numpy as np
import pytest

from dmf_np import backend
from dmf_np.commands.pretrain import main
from dmf_np.data.synthetic import two_modality_classes
from dmf_np.fusion import Architecture, forward, init_params, shared_layer_forward
from dmf_np.io import load_checkpoint, save_checkpoint
from dmf_np.optim import SGD
from dmf_np.pretrain import CDConfig, pretrain_fusion, rbm_schedule, train_rbm
from dmf_np.rbm import hidden_probs, init_rbm, reconstruction_error
from dmf_np.train import fit_classifier, mean_loss

FAST = dict(log=None, show_progress=False)
CD_FAST = CDConfig(epochs=2, batch_size=50)


def _problem(xp, scheme="dmf", n=200):
    xs, y = two_modality_classes(n=n, sizes=(10, 12), n_classes=3, seed=0)
    arch = Architecture(scheme, ((10, 14, 8), (12, 14, 8)), (16, 12, 6), n_classes=3)
    return arch, [backend.to_device(x, xp) for x in xs], backend.to_device(y, xp)


def test_schedule_follows_each_schemes_edges():
    arch = Architecture("dmf", ((4, 5, 6), (4, 5, 6)), (7, 8, 9), 2)
    names = {s: [(j.name, j.weight_keys) for j in rbm_schedule(arch.with_scheme(s))] for s in ("emf", "imf", "dmf")}
    assert names["emf"] == [("s_1", ("W^{x->s}_1", "W^{y->s}_1")), ("s_2", ("W^s_1",)), ("s_3", ("W^s_2",))]
    assert names["imf"] == [("h^x_2", ("W^x_1",)), ("h^y_2", ("W^y_1",)), ("h^x_3", ("W^x_2",)),
                            ("h^y_3", ("W^y_2",)), ("s_3", ("W^{x->s}_3", "W^{y->s}_3"))]
    assert [n for n, _ in names["dmf"]] == ["s_1", "h^x_2", "h^y_2", "s_2", "h^x_3", "h^y_3", "s_3"]
    assert dict(names["dmf"])["s_2"] == ("W^{x->s}_2", "W^{y->s}_2", "W^s_1")


@pytest.mark.parametrize("scheme", ["emf", "imf", "dmf"])
def test_pretraining_writes_every_unit_weight_and_leaves_the_classifier(xp, scheme):
    arch, xs, _ = _problem(xp, scheme)
    params = init_params(arch, np.random.default_rng(0), xp=xp)
    before = {k: backend.to_host(v).copy() for k, v in params.items()}
    hist = pretrain_fusion(params, arch, xs, CD_FAST, seed=1, **FAST)
    written = {k for entry in hist.values() for k in entry["keys"]}
    assert written == set(arch.param_shapes()) - {"W^out", "b^out"}
    for k, v in params.items():
        changed = not np.array_equal(backend.to_host(v), before[k])
        assert changed == (k in written), k
        assert v.dtype == np.float32 and tuple(v.shape) == arch.param_shapes()[k]
    for entry in hist.values():
        # two epochs at CD_FAST's rate and the early momentum (min(0.5, 0.9) for the first 5 epochs);
        # a pseudo-log-likelihood is the log of a probability, a reconstruction error of [0, 1] data a
        # mean square in [0, 1]
        assert entry["lr"] == [CD_FAST.lr] * 2 and entry["momentum"] == [0.5, 0.5]
        assert all(v < 0 for v in entry["pseudo_log_likelihood"])
        assert all(0 < v < 1 for v in entry["recon_error"])


@pytest.mark.parametrize("scheme", ["emf", "imf", "dmf"])
def test_split_shared_weights_reproduce_the_rbm_hidden_probabilities(tmp_path, scheme):
    arch, xs, _ = _problem(np, scheme)
    params = init_params(arch, np.random.default_rng(0), xp=np)
    hist = pretrain_fusion(params, arch, xs, CD_FAST, seed=2, checkpoint_dir=tmp_path, **FAST)
    fw = forward(params, xs, arch)
    for j, job in enumerate(rbm_schedule(arch)):
        arrays, _ = load_checkpoint(next(tmp_path.glob(f"{j:02d}-*.npz")))
        parts = [fw.h[(p[1], p[2])] if p[0] == "h" else fw.s[p[1]] for p in job.parts]
        v = np.concatenate(parts, axis=1)
        rbm_h = hidden_probs(v, arrays["rbm/W"], arrays["rbm/b_h"])
        # the last epoch's monitor is the trained RBM's reconstruction error on its data (all 200 rows:
        # fewer than monitor_size), the data being the pretrained network's activations below the layer
        rbm = {"W": arrays["rbm/W"], "b_h": arrays["rbm/b_h"], "b_v": arrays["rbm/b_v"]}
        assert hist[job.name]["recon_error"][-1] == pytest.approx(reconstruction_error(v, rbm), rel=1e-6)
        if job.name.startswith("s_"):
            l = job.level
            chained = arch.has_shared_chain(l)
            hs = [p for p, q in zip(parts, job.parts) if q[0] == "h"]
            net = shared_layer_forward(hs, [params[k] for k, q in zip(job.weight_keys, job.parts) if q[0] == "h"],
                                       parts[-1] if chained else None, params[f"W^s_{l - 1}"] if chained else None,
                                       params[f"b^s_{l}"])
            assert np.allclose(net, fw.s[l])
        else:
            net = fw.h[(job.parts[0][1], job.level)]
        assert np.allclose(rbm_h, net, atol=1e-5), job.name


def test_gaussian_inputs_are_standardised_and_folded_into_the_weights(tmp_path):
    arch, xs, _ = _problem(np, "dmf")
    raw = [(x * 7.0 - 2.0).astype(np.float32) for x in xs]      # real-valued, far from unit variance
    params = init_params(arch, np.random.default_rng(0), xp=np)
    hist = pretrain_fusion(params, arch, raw, CD_FAST, gaussian_inputs=True, seed=3, checkpoint_dir=tmp_path,
                           **FAST)
    assert hist["s_1"]["visible_type"] == "gaussian" and hist["h^x_2"]["visible_type"] == "gaussian"
    assert hist["s_2"]["visible_type"] == "bernoulli"
    arrays, _ = load_checkpoint(next(tmp_path.glob("01-*.npz")))          # h^x_2 <- x
    z = (raw[0] - raw[0].mean(0)) / raw[0].std(0)
    assert np.allclose(hidden_probs(z, arrays["rbm/W"], arrays["rbm/b_h"]),
                       forward(params, raw, arch).h[(0, 2)], atol=1e-4)
    with pytest.raises(ValueError, match="mixed visible types"):
        pretrain_fusion(params, arch, [raw[0], xs[1]], CD_FAST, gaussian_inputs=[True, False], **FAST)


def test_rerun_skips_finished_rbms_and_resumes_an_interrupted_one(tmp_path):
    arch, xs, _ = _problem(np, "dmf")
    full = init_params(arch, np.random.default_rng(0), xp=np)
    cd = CDConfig(epochs=3, batch_size=50)
    h_full = pretrain_fusion(full, arch, xs, cd, seed=4, log=None)

    calls = []

    def interrupt_on_fifth_epoch(line):
        calls.append(line)
        if len(calls) == 5:   # inside the second RBM (3 epochs each), after its epoch 2 was saved
            raise KeyboardInterrupt

    part = init_params(arch, np.random.default_rng(0), xp=np)
    with pytest.raises(KeyboardInterrupt):
        pretrain_fusion(part, arch, xs, cd, seed=4, log=interrupt_on_fifth_epoch, checkpoint_dir=tmp_path)
    assert len(list(tmp_path.glob("*.partial.npz"))) == 1
    fresh = init_params(arch, np.random.default_rng(99), xp=np)   # a new process, other random weights
    lines = []
    h_res = pretrain_fusion(fresh, arch, xs, cd, seed=4, log=lines.append, checkpoint_dir=tmp_path)
    assert "finished earlier" in lines[0] and h_res["s_1"]["resumed"]
    assert h_res["h^x_2"]["recon_error"] == h_full["h^x_2"]["recon_error"]
    for k in h_full:
        assert h_res[k]["recon_error"] == h_full[k]["recon_error"], k
    for k in full:
        if k not in ("W^out", "b^out"):
            assert np.array_equal(full[k], fresh[k]), k
    assert not list(tmp_path.glob("*.partial.npz"))
    with pytest.raises(ValueError, match="other settings"):
        pretrain_fusion(fresh, arch, xs, replace(cd, lr=0.05), seed=4, log=None, checkpoint_dir=tmp_path)


def test_train_rbm_resume_by_epoch_matches_uninterrupted(tmp_path):
    data = (np.random.default_rng(0).random((120, 9)) < 0.3).astype(np.float32)
    cd = CDConfig(epochs=4, batch_size=32, lr=0.1, lr_decay=0.9, k=2, persistent=True, sparsity_target=0.1,
                  sparsity_cost=0.5)
    opts = dict(seed=7, heldout=data[:30])
    a = init_rbm(9, 5, np.random.default_rng(1), np, np.float32)
    ha = train_rbm(a, data, cd, **opts)
    b = init_rbm(9, 5, np.random.default_rng(1), np, np.float32)
    train_rbm(b, data, replace(cd, epochs=2), checkpoint=tmp_path / "r.npz", **opts)
    c = init_rbm(9, 5, np.random.default_rng(2), np, np.float32)
    hc = train_rbm(c, data, cd, checkpoint=tmp_path / "r.npz", **opts)
    assert hc["recon_error"] == ha["recon_error"] and hc["free_energy_gap"] == ha["free_energy_gap"]
    assert all(np.array_equal(a[k], c[k]) for k in a)
    assert "exact_log_likelihood" in ha and ha["momentum"] == [0.5, 0.5, 0.5, 0.5]


def test_bad_data_is_named():
    params = init_rbm(4, 3, np.random.default_rng(0), np, np.float32)
    with pytest.raises(ValueError, match=r"Bernoulli visible units need data in \[0, 1\]"):
        train_rbm(params, np.full((10, 4), 3.0, np.float32), CDConfig(epochs=1))
    with pytest.raises(ValueError, match="4 visible units"):
        train_rbm(init_rbm(5, 3, np.random.default_rng(0), np, np.float32), np.zeros((10, 4), np.float32))
    arch, xs, _ = _problem(np)
    with pytest.raises(ValueError, match="one bool per modality"):
        pretrain_fusion(init_params(arch, np.random.default_rng(0)), arch, xs, CD_FAST, gaussian_inputs=[True],
                        **FAST)


@pytest.mark.parametrize("scheme", ["emf", "imf", "dmf"])
def test_pretrained_networks_fine_tune_to_a_lower_training_loss(scheme):
    xs, y = two_modality_classes(n=600, sizes=(16, 16), n_classes=4, seed=0)
    arch = Architecture(scheme, ((16, 24, 12), (16, 24, 12)), (24, 16, 8), n_classes=4)
    losses = []
    for pretrain in (False, True):
        params = init_params(arch, np.random.default_rng(0), xp=np)
        if pretrain:
            pretrain_fusion(params, arch, xs, CDConfig(epochs=10, batch_size=20), seed=0, log=None)
        fit_classifier(params, arch, xs, y, epochs=3, batch_size=20, optimizer=SGD(lr=0.1), seed=0,
                       show_progress=False)
        losses.append(mean_loss(params, xs, y, arch))
    assert losses[1] < 0.85 * losses[0], losses   # measured: EMF .43 -> .24, IMF .42 -> .27, DMF .33 -> .26


def test_command_line_pretrains_and_saves(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", x0=np.random.default_rng(0).random((100, 6)).astype(np.float32),
             x1=np.random.default_rng(1).random((100, 5)).astype(np.float32))
    out = tmp_path / "out"
    assert main(["--model", "imf", "--data", str(tmp_path / "d.npz"), "--layers", "4", "--shared", "4,3",
                 "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    arrays, meta = load_checkpoint(out / "pretrained.npz")
    assert set(arrays) == {"W^x_1", "W^y_1", "b^x_2", "b^y_2", "W^{x->s}_2", "W^{y->s}_2", "b^s_2"}
    assert meta["arch"]["scheme"] == "imf"
    assert "s_2" in capsys.readouterr().out
    assert main(["--epochs", "1", "--n", "200", "--quiet"]) == 0


def test_cd_config_names_a_bad_setting():
    with pytest.raises(ValueError, match="batch_size"):
        CDConfig(batch_size=0)
    with pytest.raises(ValueError, match="negative_hidden"):
        CDConfig(negative_hidden="mean")


def test_per_rbm_hooks_are_recorded_so_a_rerun_reuses_only_the_same_choices(tmp_path):
    arch, xs, _ = _problem(np, "dmf")

    def no_chain(job, part):
        return part[0] != "s"

    def half_rate(job, n_visible):
        return replace(CD_FAST, lr=CD_FAST.lr / 2)

    first = init_params(arch, np.random.default_rng(0), xp=np)
    hist = pretrain_fusion(first, arch, xs, CD_FAST, seed=5, checkpoint_dir=tmp_path, keep_part=no_chain, **FAST)
    assert hist["s_2"]["zeroed"] == ["W^s_1"] and not first["W^s_1"].any()
    again = init_params(arch, np.random.default_rng(9), xp=np)
    h2 = pretrain_fusion(again, arch, xs, CD_FAST, seed=5, checkpoint_dir=tmp_path, keep_part=no_chain, **FAST)
    assert all(e["resumed"] for e in h2.values())
    assert all(np.array_equal(first[k], again[k]) for k in first if k not in ("W^out", "b^out"))
    for hooks in ({}, {"config_for": half_rate}):   # s_1 has no chain: the first mismatch is its rate, or s_2's parts
        with pytest.raises(ValueError, match="other settings"):
            pretrain_fusion(init_params(arch, np.random.default_rng(0)), arch, xs, CD_FAST, seed=5,
                            checkpoint_dir=tmp_path, keep_part=no_chain if hooks else None, **hooks, **FAST)
    # a file written before the per-RBM record existed was trained with the defaults, and is reused for them
    plain = tmp_path / "plain"
    pretrain_fusion(init_params(arch, np.random.default_rng(0)), arch, xs, CD_FAST, seed=5, checkpoint_dir=plain,
                    **FAST)
    for path in plain.glob("*.npz"):
        arrays, meta = load_checkpoint(path)
        meta.pop("rbm")
        save_checkpoint(path, arrays, meta)
    h3 = pretrain_fusion(init_params(arch, np.random.default_rng(0)), arch, xs, CD_FAST, seed=5,
                         checkpoint_dir=plain, **FAST)
    assert all(e["resumed"] for e in h3.values())
