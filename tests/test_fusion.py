"""The three schemes: edge sets, parameter counts, forward equations (plain and fan-in-normalised), dtypes,
bad input."""
import dataclasses

import numpy as np
import pytest

from dmf_np import backend
from dmf_np.fusion import (SCHEMES, Architecture, forward, init_params, modality_layer_forward,
                           paper_mnist_architecture, shared_layer_forward)
from dmf_np.gradcheck import small_architecture
from dmf_np.layers import sigmoid


def _data(arch, xp, rng, n=5, dtype=np.float64):
    return [backend.to_device(rng.uniform(0, 1, (n, k)), xp, dtype) for k in arch.input_sizes]


def test_paper_mnist_parameter_counts():
    counts = {s: paper_mnist_architecture(s).n_params() for s in SCHEMES}
    # by hand: weights + biases of each edge set, plus the 64 -> 10 classifier
    out = 64 * 10 + 10
    emf = 784 * 512 + 512 + 512 * 256 + 256 + 256 * 64 + 64 + out
    imf = 2 * (392 * 512 + 512 + 512 * 128 + 128) + 2 * 128 * 64 + 64 + out
    dmf = (2 * (392 * 512 + 512 + 512 * 128 + 128) + 784 * 512 + 512
           + 2 * 512 * 256 + 512 * 256 + 256 + 2 * 128 * 64 + 256 * 64 + 64 + out)
    assert counts == {"emf": emf, "imf": imf, "dmf": dmf}
    assert 2 <= counts["dmf"] / counts["emf"] <= 3 and 2 <= counts["dmf"] / counts["imf"] <= 3


def test_edge_sets():
    a = Architecture("dmf", ((4, 3, 2), (5, 3, 2)), (6, 5, 4))
    assert a.fusion_levels() == (1, 2, 3) and a.shared_levels() == (1, 2, 3)
    i = a.with_scheme("imf")
    assert i.fusion_levels() == (3,) and i.shared_levels() == (3,) and not i.has_shared_chain(3)
    e = a.with_scheme("emf")
    assert e.fusion_levels() == (1,) and list(e.modality_levels()) == [1] and e.has_shared_chain(2)
    assert "W^x_1" not in e.param_shapes() and "W^s_1" not in i.param_shapes()


def test_dmf_forward_is_eqs_3_and_4(xp, rng):
    """Recompute a depth-3 DMF by hand, unit by unit, from the paper's equations."""
    arch = Architecture("dmf", ((4, 3, 2), (5, 3, 2)), (6, 5, 4), n_classes=3)
    p = init_params(arch, rng, xp=xp, dtype=np.float64)
    x, y = _data(arch, xp, rng)
    fw = forward(p, [x, y], arch)
    s1 = sigmoid(x @ p["W^{x->s}_1"].T + y @ p["W^{y->s}_1"].T + p["b^s_1"])
    hx2 = sigmoid(x @ p["W^x_1"].T + p["b^x_2"])
    hy2 = sigmoid(y @ p["W^y_1"].T + p["b^y_2"])
    s2 = sigmoid(hx2 @ p["W^{x->s}_2"].T + hy2 @ p["W^{y->s}_2"].T + s1 @ p["W^s_1"].T + p["b^s_2"])
    hx3 = sigmoid(hx2 @ p["W^x_2"].T + p["b^x_3"])
    hy3 = sigmoid(hy2 @ p["W^y_2"].T + p["b^y_3"])
    s3 = sigmoid(hx3 @ p["W^{x->s}_3"].T + hy3 @ p["W^{y->s}_3"].T + s2 @ p["W^s_2"].T + p["b^s_3"])
    for got, want in ((fw.s[1], s1), (fw.s[2], s2), (fw.s[3], s3), (fw.h[(0, 3)], hx3), (fw.h[(1, 2)], hy2)):
        assert np.allclose(backend.to_host(got), backend.to_host(want), rtol=1e-12, atol=1e-14)
    logits = s3 @ p["W^out"].T + p["b^out"]
    assert np.allclose(backend.to_host(fw.logits), backend.to_host(logits))


LAYERS = {"dmf": {"s_1", "h^x_2", "h^y_2", "s_2", "h^x_3", "h^y_3", "s_3"},
          "imf": {"h^x_2", "h^y_2", "h^x_3", "h^y_3", "s_3"}, "emf": {"s_1", "s_2", "s_3"}}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_forward_keeps_the_pre_activations_its_layers_are_computed_from(scheme, xp, rng):
    """Forward.pre: every hidden layer's M (Eqs. 3, 4's sum); f(M) is the layer, bit for bit."""
    arch = Architecture("dmf", ((4, 3, 2), (5, 3, 2)), (6, 5, 4), n_classes=3).with_scheme(scheme)
    p = init_params(arch, rng, xp=xp, dtype=np.float64)
    xs = _data(arch, xp, rng)
    fw, plain = forward(p, xs, arch, pre_activations=True), forward(p, xs, arch)
    assert set(fw.pre) == LAYERS[scheme] and plain.pre is None
    layer = {**{f"h^{arch.names[m]}_{l}": h for (m, l), h in fw.h.items()}, **{f"s_{l}": s for l, s in fw.s.items()}}
    for name, M in fw.pre.items():
        assert np.array_equal(backend.to_host(sigmoid(M)), backend.to_host(layer[name])), name
    for got, want in [(fw.h[k], plain.h[k]) for k in fw.h] + [(fw.s[k], plain.s[k]) for k in fw.s]:
        assert np.array_equal(backend.to_host(got), backend.to_host(want))
    top = arch.L
    hand = sum(layer[f"h^{n}_{top}"] @ p[f"W^{{{n}->s}}_{top}"].T for n in arch.names) if scheme != "emf" else 0
    if arch.has_shared_chain(top):
        hand = hand + fw.s[top - 1] @ p[arch.W_sh(top - 1)].T
    assert np.allclose(backend.to_host(fw.pre[f"s_{top}"]), backend.to_host(hand + p[arch.b_sh(top)]), rtol=1e-12)


def test_imf_is_eq_1_and_emf_concatenates(xp, rng):
    arch = Architecture("imf", ((4, 3), (5, 2)), (6, 4), n_classes=3)
    p = init_params(arch, rng, xp=xp, dtype=np.float64)
    x, y = _data(arch, xp, rng)
    fw = forward(p, [x, y], arch)
    hx, hy = modality_layer_forward(x, p["W^x_1"], p["b^x_2"]), modality_layer_forward(y, p["W^y_1"], p["b^y_2"])
    s2 = shared_layer_forward([hx, hy], [p["W^{x->s}_2"], p["W^{y->s}_2"]], None, None, p["b^s_2"])
    assert np.allclose(backend.to_host(fw.top), backend.to_host(s2)) and set(fw.s) == {2}

    emf = arch.with_scheme("emf")
    p = init_params(emf, rng, xp=xp, dtype=np.float64)
    fw = forward(p, [x, y], emf)
    W1 = xp.concatenate([p["W^{x->s}_1"], p["W^{y->s}_1"]], axis=1)  # one weight on [x, y]
    s1 = sigmoid(xp.concatenate([x, y], axis=1) @ W1.T + p["b^s_1"])
    assert np.allclose(backend.to_host(fw.s[1]), backend.to_host(s1))
    assert set(fw.h) == {(0, 1), (1, 1)}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_float32_and_float64_forward_agree_and_keep_dtype(scheme, xp, rng):
    arch = small_architecture(scheme, 3, 3)
    p64 = init_params(arch, np.random.default_rng(0), xp=xp, dtype=np.float64)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    xs64 = _data(arch, xp, rng, n=7)
    xs32 = [x.astype(np.float32) for x in xs64]
    f64, f32 = forward(p64, xs64, arch), forward(p32, xs32, arch)
    assert f32.logits.dtype == np.float32 and f64.logits.dtype == np.float64
    assert f32.logits.shape == (7, arch.n_classes)
    for key, a in f32.h.items():
        assert a.dtype == np.float32 and a.shape == f64.h[key].shape
    assert np.allclose(backend.to_host(f32.logits), backend.to_host(f64.logits), rtol=1e-4, atol=1e-5)


def test_init_is_seeded():
    arch = paper_mnist_architecture("dmf")
    a = init_params(arch, np.random.default_rng(3), xp=np)
    b = init_params(arch, np.random.default_rng(3), xp=np)
    assert all(np.array_equal(a[k], b[k]) for k in a) and a["W^x_1"].dtype == np.float32


# --- fan-in normalisation (docs/protocol_round2.md, E5) ---------------------------------------
def test_fan_in_blocks_count_the_weights_feeding_each_shared_layer():
    for M in (2, 3):
        dmf = small_architecture("dmf", M, 4)
        assert {l: dmf.fan_in_blocks(l) for l in dmf.shared_levels()} == {1: M, 2: M + 1, 3: M + 1, 4: M + 1}
        assert {l: dmf.with_scheme("imf").fan_in_blocks(l) for l in (4,)} == {4: M}
        assert [dmf.with_scheme("emf").fan_in_blocks(l) for l in (1, 2, 3, 4)] == [M, 1, 1, 1]
        # k_l is the number of weight keys whose destination is s_l
        for scheme in SCHEMES:
            a = dmf.with_scheme(scheme)
            for l in a.shared_levels():
                assert a.fan_in_blocks(l) == sum(a.destination(k) == f"s_{l}" for k in a.param_shapes() if k[0] == "W")
                assert a.shared_divisor(l) == 1
                fn = Architecture(scheme, a.modality_sizes, a.shared_sizes, a.n_classes, a.names, fan_in_norm=True)
                assert fn.shared_divisor(l) == a.fan_in_blocks(l) == fn.fan_in_blocks(l)
    with pytest.raises(ValueError, match="no shared layer s_2"):
        small_architecture("imf", 2, 3).fan_in_blocks(2)


def test_fan_in_norm_is_an_architecture_option_with_the_same_parameters():
    plain = Architecture("dmf", ((4, 3, 2), (5, 3, 2)), (6, 5, 4), n_classes=3)
    fn = Architecture("dmf", ((4, 3, 2), (5, 3, 2)), (6, 5, 4), n_classes=3, fan_in_norm=True)
    assert plain == Architecture("dmf", ((4, 3, 2), (5, 3, 2)), (6, 5, 4), n_classes=3, fan_in_norm=False)
    assert fn != plain and hash(fn) != hash(plain) and not plain.fan_in_norm
    assert fn.param_shapes() == plain.param_shapes() and fn.n_params() == plain.n_params()
    # the plain repr is unchanged; the option shows where it is on, and the repr builds the same network
    assert repr(plain) == ("Architecture(scheme='dmf', modality_sizes=((4, 3, 2), (5, 3, 2)), "
                           "shared_sizes=(6, 5, 4), n_classes=3, names=('x', 'y'))")
    assert repr(fn) == repr(plain)[:-1] + ", fan_in_norm=True)" and eval(repr(fn)) == fn
    assert fn.with_scheme("imf").fan_in_norm and not plain.with_scheme("emf").fan_in_norm
    assert Architecture("imf", ((4, 3), (5, 3)), (6, 4), fan_in_norm=np.bool_(True)).fan_in_norm is True


def test_fan_in_normalised_dmf_forward_by_hand(xp, rng):
    """M_l = (1/k_l)(sum of the weighted inputs) + b^s_l, with k_1 = 2 and k_2 = k_3 = 3."""
    arch = Architecture("dmf", ((4, 3, 2), (5, 3, 2)), (6, 5, 4), n_classes=3, fan_in_norm=True)
    p = init_params(arch, rng, xp=xp, dtype=np.float64)
    p = {k: v + 0.3 if k.startswith("b") else v for k, v in p.items()}  # biases outside the 1/k_l
    x, y = _data(arch, xp, rng)
    fw = forward(p, [x, y], arch, pre_activations=True)
    M1 = (x @ p["W^{x->s}_1"].T + y @ p["W^{y->s}_1"].T) / 2 + p["b^s_1"]
    hx2 = sigmoid(x @ p["W^x_1"].T + p["b^x_2"])  # modality layers (Eq. 4) are untouched
    hy2 = sigmoid(y @ p["W^y_1"].T + p["b^y_2"])
    M2 = (hx2 @ p["W^{x->s}_2"].T + hy2 @ p["W^{y->s}_2"].T + sigmoid(M1) @ p["W^s_1"].T) / 3 + p["b^s_2"]
    for got, want in ((fw.pre["s_1"], M1), (fw.pre["s_2"], M2), (fw.s[2], sigmoid(M2)), (fw.h[(1, 2)], hy2)):
        assert np.allclose(backend.to_host(got), backend.to_host(want), rtol=1e-12, atol=1e-14)
    # the same weights without the option give other pre-activations
    plain = forward(p, [x, y], dataclasses.replace(arch, fan_in_norm=False))
    assert not np.allclose(backend.to_host(plain.s[1]), backend.to_host(fw.s[1]))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_fan_in_normalised_forward_keeps_float32(scheme, xp, rng):
    arch = small_architecture(scheme, 3, 3, fan_in_norm=True)
    p32 = init_params(arch, np.random.default_rng(0), xp=xp, dtype=np.float32)
    p64 = {k: v.astype(np.float64) for k, v in p32.items()}
    xs64 = _data(arch, xp, rng, n=7)
    f32, f64 = forward(p32, [x.astype(np.float32) for x in xs64], arch), forward(p64, xs64, arch)
    assert f32.logits.dtype == np.float32 and all(s.dtype == np.float32 for s in f32.s.values())
    assert np.allclose(backend.to_host(f32.logits), backend.to_host(f64.logits), rtol=1e-4, atol=1e-5)


# --- bad input ------------------------------------------------------------------------------
@pytest.fixture
def net():
    arch = Architecture("dmf", ((4, 3), (5, 3)), (6, 4), n_classes=3)
    return arch, init_params(arch, np.random.default_rng(0), xp=np)


@pytest.mark.parametrize("xs, match", [
    ([np.zeros((2, 4), np.float32)], "expected 2 modalities"),
    ([np.zeros((2, 4), np.float32)] * 3, "expected 2 modalities"),
    ([np.zeros((2, 4), np.float32), np.zeros((3, 5), np.float32)], "batch sizes differ"),
    ([np.zeros((2, 4), np.float32), np.zeros((2, 6), np.float32)], "must have 5 features"),
    ([np.zeros((2, 4, 1), np.float32), np.zeros((2, 5), np.float32)], "must be 2-D"),
    ([np.zeros((2, 4), np.int64), np.zeros((2, 5), np.int64)], "floating-point"),
    ([np.full((2, 4), np.nan, np.float32), np.zeros((2, 5), np.float32)], "NaN or infinite"),
    ([np.zeros((2, 4), np.float32), np.full((2, 5), np.inf, np.float32)], "NaN or infinite"),
    (np.zeros((2, 9), np.float32), "list of 2 arrays"),
    ([np.zeros((2, 4), np.float32), np.zeros((2, 5), np.float64)], "share one dtype"),
])
def test_bad_inputs_are_named(net, xs, match):
    arch, params = net
    with pytest.raises((ValueError, TypeError), match=match):
        forward(params, xs, arch)


@pytest.mark.parametrize("kwargs, match", [
    (dict(scheme="xmf"), "unknown fusion scheme"),
    (dict(modality_sizes=((4, 3),)), "at least 2 modalities"),
    (dict(modality_sizes=((4, 3), (5,))), "each multimodal unit needs one of each"),
    (dict(shared_sizes=(6, 0)), "positive integer"),
    (dict(names=("a", "a")), "distinct"),
])
def test_bad_architectures_are_named(kwargs, match):
    spec = dict(scheme="dmf", modality_sizes=((4, 3), (5, 3)), shared_sizes=(6, 4))
    spec.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Architecture(**spec)
