"""The generative variant: mirrored decoder, reconstruction losses, missing-modality training."""
import numpy as np
import pytest

from dmf_np import backend
from dmf_np.backprop import Backward
from dmf_np.fusion import Architecture, forward
from dmf_np.generative import (Decode, cross_entropy_loss, decode, decoder_param_shapes, encode,
                               generative_param_shapes, init_decoder, init_generative, loss_and_grads, mirrored_key,
                               reconstruct, reconstruction_delta, squared_error_loss)
from dmf_np.generative_train import fit_generative, sample_presence
from dmf_np.gradcheck import gradcheck_generative
from dmf_np.linear import fit_linear_classifier
from dmf_np.optim import SGD

# Central differences in float64 give ~1e-8 for a correct gradient; the reconstruction loss is a sum
# over features (larger |E| than the classifier's), so rounding puts a few entries near 1e-7.
TOL = 1e-5


@pytest.mark.parametrize("scheme", ["emf", "imf", "dmf"])
@pytest.mark.parametrize("n_modalities", [2, 3])
def test_every_parameter_passes_gradient_check(scheme, n_modalities):
    errors = gradcheck_generative(scheme, n_modalities, depth=3, seed=n_modalities)
    assert set(errors) == set(generative_param_shapes(Architecture(scheme, *_sizes(n_modalities), None)))
    assert max(errors.values()) < TOL, sorted(errors.items(), key=lambda kv: -kv[1])[:3]


def _sizes(M):
    from dmf_np.gradcheck import small_architecture
    a = small_architecture("dmf", M, 3)
    return a.modality_sizes, a.shared_sizes


@pytest.mark.parametrize("scheme", ["emf", "imf", "dmf"])
@pytest.mark.parametrize("outputs", ["bernoulli", "gaussian"])
def test_gradient_check_single_output_kind_depth2(scheme, outputs):
    errors = gradcheck_generative(scheme, 2, depth=2, seed=5, outputs=outputs, missing=False)
    assert max(errors.values()) < TOL


def test_gradient_check_fails_for_a_wrong_gradient(monkeypatch):
    import dmf_np.generative as g
    real = g.reconstruction_delta
    monkeypatch.setattr(g, "reconstruction_delta", lambda xhat, x, w=1.0: 1.1 * real(xhat, x, w))
    assert max(gradcheck_generative("dmf", 2, 2).values()) > 1e-3


def test_decoder_mirrors_every_encoder_edge():
    arch = Architecture("dmf", ((5, 4, 3), (6, 5, 4)), (5, 4, 3), None)
    enc_w = {k: s for k, s in arch.param_shapes().items() if k.startswith("W")}
    dec_w = {k: s for k, s in decoder_param_shapes(arch).items() if k.startswith("W")}
    assert len(enc_w) == len(dec_w)
    for k, s in dec_w.items():
        assert enc_w[mirrored_key(arch, k)] == s[::-1]
    # IMF and EMF: their decoders have exactly their encoders' edge counts too
    for scheme in ("imf", "emf"):
        a = arch.with_scheme(scheme)
        n_enc = sum(k.startswith("W") for k in a.param_shapes())
        assert n_enc == sum(k.startswith("W") for k in decoder_param_shapes(a))


def test_tied_initialisation_is_transpose_and_untied_afterwards():
    arch = Architecture("dmf", ((6, 5), (4, 3)), (5, 3), None)
    rng = np.random.default_rng(0)
    p = init_generative(arch, rng, xp=np, dtype=np.float64, tied=True)
    np.testing.assert_array_equal(p["W'^{s->x}_2"], p["W^{x->s}_2"].T)
    np.testing.assert_array_equal(p["W'^x_1"], p["W^x_1"].T)
    p["W^x_1"] += 1.0  # a copy, not a view: training updates them separately
    assert not np.allclose(p["W'^x_1"], p["W^x_1"].T)


def test_losses_and_delta_match_definitions():
    x = np.array([[0.0, 1.0, 0.5]])
    xhat = np.array([[0.1, 0.8, 0.5]])
    ce = -(np.log(0.9) + np.log(0.8) + 0.5 * np.log(0.5) * 2)
    assert cross_entropy_loss(xhat, x) == pytest.approx(ce)
    assert squared_error_loss(xhat, x) == pytest.approx(0.5 * (0.01 + 0.04))
    np.testing.assert_allclose(reconstruction_delta(xhat, x, 2.0), 2.0 * (xhat - x))


def test_forward_shapes_dtypes_and_backends(xp):
    arch = Architecture("dmf", ((6, 5, 4), (4, 3, 3)), (5, 4, 2), None)
    rng = np.random.default_rng(0)
    p = init_generative(arch, rng, xp=xp, dtype=np.float32)
    xs = [backend.to_device(rng.uniform(0, 1, (7, n)), xp, np.float32) for n in arch.input_sizes]
    rec = reconstruct(p, xs, arch, ("bernoulli", "gaussian"), present=[True, False])
    assert [r.shape for r in rec] == [(7, 6), (7, 4)] and all(r.dtype == np.float32 for r in rec)
    assert float(rec[0].min()) >= 0 and float(rec[0].max()) <= 1
    z = encode(p, xs, arch, [False, True])
    np.testing.assert_allclose(backend.to_host(z), backend.to_host(
        forward(p, [xp.zeros_like(xs[0]), xs[1]], arch).top), rtol=1e-6)


def test_bad_outputs_and_ranges_give_clear_errors():
    arch = Architecture("imf", ((4, 3), (3, 3)), (2, 2), None)
    p = init_generative(arch, np.random.default_rng(0), xp=np)
    xs = [np.full((5, 4), 2.0, np.float32), np.zeros((5, 3), np.float32)]
    with pytest.raises(ValueError, match="outputs must name"):
        loss_and_grads(p, xs, xs, arch, ("bernoulli",))
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        fit_generative(p, arch, xs, "bernoulli", epochs=1)
    with pytest.raises(ValueError, match="n_classes=None"):
        init_generative(Architecture("imf", ((4, 3), (3, 3)), (2, 2), 3), np.random.default_rng(0))


def test_sample_presence_fractions():
    pres = sample_presence(30000, 2, np.random.default_rng(0))
    both = (pres[0] * pres[1]).mean()
    only_x = (pres[0] * (1 - pres[1])).mean()
    assert abs(both - 1 / 3) < 0.02 and abs(only_x - 1 / 3) < 0.02
    assert ((pres[0] + pres[1]) >= 1).all()  # never both missing
    with pytest.raises(ValueError, match="probabilities"):
        sample_presence(5, 2, np.random.default_rng(0), probs=[0.5, 0.5])


def _two_views(n=300, seed=0):
    """x and y both generated from one latent class: y can be inferred from x."""
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 3, n)
    protos_x, protos_y = rng.uniform(0, 1, (3, 8)), rng.uniform(0, 1, (3, 5))
    x = np.clip(protos_x[c] + 0.05 * rng.standard_normal((n, 8)), 0, 1).astype(np.float32)
    y = np.clip(protos_y[c] + 0.05 * rng.standard_normal((n, 5)), 0, 1).astype(np.float32)
    return x, y, c


def test_training_learns_to_infer_the_missing_modality(tmp_path):
    x, y, c = _two_views()
    arch = Architecture("dmf", ((8, 16), (5, 16)), (16, 8), None)
    p = init_generative(arch, np.random.default_rng(1), xp=np)
    before = np.mean((reconstruct(p, [x, y], arch, "bernoulli", [True, False])[1] - y) ** 2)
    hist = fit_generative(p, arch, [x, y], "bernoulli", epochs=60, batch_size=30, optimizer=SGD(0.05, 0.9), seed=3)
    after = np.mean((reconstruct(p, [x, y], arch, "bernoulli", [True, False])[1] - y) ** 2)
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert after < 0.2 * before  # y reconstructed from x alone
    # and a linear classifier on the joint representation (the paper's SVM stand-in) reads the class
    z = encode(p, [x, y], arch)
    clf = fit_linear_classifier(z, c, 3, epochs=20, seed=0)
    assert clf.error_rate(z, c) < 5.0


def test_resume_matches_uninterrupted_run(tmp_path):
    x, y, _ = _two_views(120)
    arch = Architecture("imf", ((8, 6), (5, 6)), (6, 4), None)

    def run(epochs, ck):
        p = init_generative(arch, np.random.default_rng(1), xp=np)
        fit_generative(p, arch, [x, y], "bernoulli", epochs=epochs, batch_size=40, optimizer=SGD(0.05, 0.9),
                       seed=2, checkpoint=ck)
        return p

    full = run(4, None)
    ck = tmp_path / "ck.npz"
    run(2, ck)  # "interrupted" after 2 epochs
    resumed = run(4, ck)
    for k in full:
        np.testing.assert_array_equal(full[k], resumed[k])


def test_same_seed_same_result():
    x, y, _ = _two_views(90)
    arch = Architecture("emf", ((8, 6), (5, 6)), (6, 4), None)
    outs = []
    for _ in range(2):
        p = init_generative(arch, np.random.default_rng(4), xp=np)
        outs.append(fit_generative(p, arch, [x, y], "bernoulli", epochs=2, batch_size=30, seed=9)["train_loss"])
    assert outs[0] == outs[1]


def test_decode_of_a_given_code_uses_only_the_decoder():
    arch = Architecture("dmf", ((6, 5), (4, 3)), (5, 3), None)
    dec = init_decoder(arch, np.random.default_rng(0), np, np.float64)
    top = np.random.default_rng(1).uniform(0, 1, (3, 3))
    d = decode(dec, top, arch, ("gaussian", "bernoulli"))
    assert d.reconstructions[0].shape == (3, 6) and d.reconstructions[1].shape == (3, 4)


def test_decoder_error_at_the_code_matches_finite_differences():
    """dE/ds_L from decoder_backward (the mirror of Eqs. 5-6, bottom to top) against central differences."""
    from dmf_np.generative import decoder_backward, reconstruction_loss
    arch = Architecture("dmf", ((5, 4, 3), (4, 3, 3)), (4, 3, 2), None)
    rng = np.random.default_rng(7)
    p = init_generative(arch, rng, xp=np, dtype=np.float64, tied=False)
    top = rng.uniform(0.1, 0.9, (3, 2))
    targets = [rng.uniform(0, 1, (3, 5)), rng.standard_normal((3, 4))]
    outs = ("bernoulli", "gaussian")
    _, ds = decoder_backward(p, decode(p, top, arch, outs), targets, (1.0, 2.0))
    num = np.zeros_like(top)
    for idx in np.ndindex(*top.shape):
        t = top.copy(); t[idx] += 1e-6
        e1 = reconstruction_loss(decode(p, t, arch, outs), targets, (1.0, 2.0))
        t[idx] -= 2e-6
        e0 = reconstruction_loss(decode(p, t, arch, outs), targets, (1.0, 2.0))
        num[idx] = (e1 - e0) / 2e-6
    np.testing.assert_allclose(ds, num, rtol=1e-6, atol=1e-9)


def test_loss_and_grads_answers_like_the_discriminative_one():
    """(E, Backward): grads keyed like the parameters, the encoder's errors, ds[L] the decoder's error at the code."""
    from dmf_np.generative import decoder_backward
    arch = Architecture("dmf", ((5, 4, 3), (4, 3, 3)), (4, 3, 2), None)
    rng = np.random.default_rng(3)
    p = init_generative(arch, rng, xp=np, dtype=np.float64, tied=False)
    xs = [rng.uniform(0, 1, (6, 5)), rng.uniform(0, 1, (6, 4))]
    loss, bw = loss_and_grads(p, xs, xs, arch, "bernoulli")
    assert isinstance(bw, Backward) and isinstance(bw.decoded, Decode)
    assert list(bw.grads) == list(p)
    # E: the cross-entropy of each modality's reconstruction from the joint code, summed over units and
    # modalities, averaged over rows
    xhat = reconstruct(p, xs, arch, "bernoulli")
    by_hand = sum(-np.mean(np.sum(x * np.log(r) + (1 - x) * np.log(1 - r), axis=1)) for x, r in zip(xs, xhat))
    assert float(loss) == pytest.approx(by_hand, rel=1e-12)
    _, ds_top = decoder_backward(p, bw.decoded, xs)
    np.testing.assert_array_equal(bw.ds[arch.L], ds_top)


# --- the MNIST-halves experiment (dmf_np.experiments.mnist_halves) --------------------------------

def _fake_idx_digits(d):
    """IDX files of random digits whose ink density follows the label (train: 10,000 validation + 200)."""
    import struct

    from dmf_np.data.mnist import N_VAL

    rng = np.random.default_rng(0)

    def write_idx(path, arr):
        path.write_bytes(b"\x00\x00" + bytes([0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
                         + arr.tobytes())

    for part, n in (("train", N_VAL + 200), ("t10k", 80)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.uniform(0, 1, (n, 28, 28)) < 0.1 + 0.08 * labels[:, None, None]).astype(np.uint8) * 255
        write_idx(d / f"{part}-images-idx3-ubyte", images)
        write_idx(d / f"{part}-labels-idx1-ubyte", labels)
    return d


@pytest.mark.slow
def test_mnist_halves_pipeline_on_fake_digits(tmp_path, capsys):
    """The MNIST-halves experiment end to end on generated IDX files: metrics, the figure, resume (the
    unit read back), one run directory per setup, and the command's bad options as one line."""
    import json

    from dmf_np import cli
    from dmf_np.data.mnist import load_mnist
    from dmf_np.experiments.mnist_halves import Options, Setup, draw_digits, run_halves

    mnist = load_mnist(_fake_idx_digits(tmp_path))
    figs, run = tmp_path / "figs", tmp_path / "run"
    opts = Options(Setup(n_train=150, n_test=60, n_queries=20, epochs=1, pretrain_epochs=0), show_progress=False)
    res = run_halves(mnist, run, opts, figs, log=lambda m: None)["dmf"]
    for protocol in ("reconstruct", "encode"):
        assert 0.0 < res[protocol]["left2right"] <= 1.0 and 0.0 < res[protocol]["right2left"] <= 1.0
    d = draw_digits(mnist, opts.setup, np)  # the baseline by hand: predict every right half as the mean one
    assert res["right_from_left_mse"]["mean_right_half"] == pytest.approx(
        float(((d.test_right - d.right.mean(axis=0)) ** 2).mean()), rel=1e-6)
    assert d.test_labels.shape == (60,) and res["n_queries"] == 20
    assert (figs / "mnist_halves_reconstruction.png").stat().st_size > 1000
    assert json.loads((figs / "mnist_halves_dmf.json").read_text()) == json.loads(json.dumps(res))
    result = run / "units" / "dmf" / "result.json"
    stamp = result.stat().st_mtime_ns
    assert run_halves(mnist, run, opts, figs, log=lambda m: None)["dmf"] == res and result.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="protocol"):  # another setup in the same run directory
        run_halves(mnist, run, Options(Setup(n_train=100, n_test=60, n_queries=20, epochs=1, pretrain_epochs=0)))
    for bad, name in ((["--n-queries", "60", "--n-test", "60"], "--n-queries"), (["--scheme", "svm"], "--scheme"),
                      (["--lr", "nan"], "--lr"), (["--epochs", "0"], "--epochs"), (["--seed", "-1"], "--seed"),
                      (["--figures", str(result)], "--figures"), (["--n-train", "999999"], "--n-train")):
        argv = ["reproduce", "halves", "--mnist-dir", str(tmp_path), "--out", str(tmp_path / "new"), "--n-train", "100",
                "--n-test", "60", "--n-queries", "20", *bad]
        assert cli.main(argv) == 2, bad
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and name in err and "Traceback" not in err, (bad, err)
    assert not (tmp_path / "new").exists()  # nothing created by a bad option
