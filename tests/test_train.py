import numpy as np
import pytest

from dmf_np import backend
from dmf_np.backprop import cross_modal_cuts, loss_and_grads
from dmf_np.data.synthetic import two_modality_classes
from dmf_np.errors import DivergenceError
from dmf_np.fusion import Architecture, init_params
from dmf_np.optim import SGD
from dmf_np.train import error_rate, fit_classifier, mean_loss


def _problem(xp, scheme="dmf"):
    xs, y = two_modality_classes(n=300, sizes=(8, 10), n_classes=3, seed=0)
    arch = Architecture(scheme, ((8, 12, 6), (10, 12, 6)), (12, 8, 6), n_classes=3)
    return arch, [backend.to_device(x, xp) for x in xs], backend.to_device(y, xp)


def test_training_lowers_the_loss(xp):
    arch, xs, y = _problem(xp)
    params = init_params(arch, np.random.default_rng(0), xp=xp)
    before = mean_loss(params, xs, y, arch)
    hist = fit_classifier(params, arch, xs, y, epochs=8, batch_size=20, optimizer=SGD(lr=0.2), seed=1)
    assert len(hist["train_loss"]) == 8
    assert mean_loss(params, xs, y, arch) < 0.7 * before
    assert error_rate(params, xs, y, arch) < 40


def test_same_seed_same_result_on_cpu():
    arch, xs, y = _problem(np)
    runs = []
    for _ in range(2):
        params = init_params(arch, np.random.default_rng(4), xp=np)
        hist = fit_classifier(params, arch, xs, y, epochs=3, batch_size=32, optimizer=SGD(lr=0.1), seed=9)
        runs.append((hist["train_loss"], params))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


def test_resume_from_checkpoint_matches_uninterrupted(tmp_path):
    arch, xs, y = _problem(np)
    full = init_params(arch, np.random.default_rng(4), xp=np)
    h_full = fit_classifier(full, arch, xs, y, epochs=4, batch_size=32, optimizer=SGD(lr=0.1), seed=9,
                            lr_decay=0.9)
    ckpt = tmp_path / "run.npz"
    part = init_params(arch, np.random.default_rng(4), xp=np)
    fit_classifier(part, arch, xs, y, epochs=2, batch_size=32, optimizer=SGD(lr=0.1), seed=9,
                   lr_decay=0.9, checkpoint=ckpt)
    fresh = init_params(arch, np.random.default_rng(123), xp=np)  # a new process: other weights
    h_res = fit_classifier(fresh, arch, xs, y, epochs=4, batch_size=32, optimizer=SGD(lr=0.1), seed=9,
                           lr_decay=0.9, checkpoint=ckpt)
    assert h_res["train_loss"] == h_full["train_loss"]
    assert all(np.array_equal(full[k], fresh[k]) for k in full)


def test_divergence_stops_with_clear_message_and_keeps_checkpoint(tmp_path):
    arch, xs, y = _problem(np)
    params = init_params(arch, np.random.default_rng(0), xp=np)
    ckpt = tmp_path / "c.npz"
    h1 = fit_classifier(params, arch, xs, y, epochs=1, optimizer=SGD(lr=0.1), checkpoint=ckpt)
    good = {k: v.copy() for k, v in params.items()}
    with np.errstate(all="ignore"), pytest.raises(DivergenceError, match="loss became .*last good state"):
        fit_classifier(params, arch, xs, y, epochs=3, optimizer=SGD(lr=1e38, momentum=0.0), checkpoint=ckpt)
    from dmf_np.io import load_checkpoint
    arrays, meta = load_checkpoint(ckpt)
    # the checkpoint is still epoch 1's state: its weights and history, not the diverged ones
    assert meta["epoch"] == 1 and meta["history"]["train_loss"] == h1["train_loss"]
    assert all(np.array_equal(arrays[f"param/{k}"], good[k]) for k in good)


def test_training_with_cut_paths_is_the_plain_loop_on_the_cut_gradients(xp):
    arch, xs, y = _problem(xp)
    cuts = cross_modal_cuts(arch)
    params = init_params(arch, np.random.default_rng(0), xp=xp)
    plain, uncut = ({k: v.copy() for k, v in params.items()} for _ in range(2))
    hist = fit_classifier(params, arch, xs, y, epochs=2, cut=cuts)     # SGD(), batches of 100, seed 0
    # the same two epochs written out: the seed's row order, loss_and_grads with the cut, one SGD step each
    rng, opt, n, losses = np.random.default_rng(0), SGD(), xs[0].shape[0], []
    for _ in range(2):
        order, epoch = rng.permutation(n), []
        for i in range(0, n, 100):
            idx = backend.to_device(order[i:i + 100], xp)
            loss, bw = loss_and_grads(plain, [x[idx] for x in xs], y[idx], arch, cut=cuts)
            epoch.append(float(loss))
            opt.step(plain, bw.grads)
        losses.append(sum(epoch) / len(epoch))
    rtol = 1e-5 if xp.__name__ == "cupy" else 0.0   # a GPU promises the same result only to rounding
    np.testing.assert_allclose(hist["train_loss"], losses, rtol=max(rtol, 1e-12))
    for k in params:
        np.testing.assert_allclose(backend.to_host(params[k]), backend.to_host(plain[k]), rtol=rtol, atol=rtol)
    # and the cut matters: without it the weights below the top move differently
    fit_classifier(uncut, arch, xs, y, epochs=2)
    assert not np.array_equal(backend.to_host(uncut["W^x_1"]), backend.to_host(params["W^x_1"]))


def test_bad_labels_are_named():
    arch, xs, y = _problem(np)
    params = init_params(arch, np.random.default_rng(0), xp=np)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        fit_classifier(params, arch, xs, y + 5, epochs=1)
    with pytest.raises(TypeError, match="integer class indices"):
        fit_classifier(params, arch, xs, y.astype(np.float32), epochs=1)
    with pytest.raises(ValueError, match="labels must have shape"):
        fit_classifier(params, arch, xs, y[:10], epochs=1)
