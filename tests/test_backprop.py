"""Eqs. 5-8: gradient checks of every parameter, learning-path decomposition, path cuts; the same with
fan-in-normalised shared layers."""
import dataclasses

import numpy as np
import pytest

from dmf_np import backend
from dmf_np.backprop import (backward, classifier_loss, cross_modal_cuts, grad_shared_activation,
                             grad_via_shared_path, loss_and_grads, shared_to_modality_jacobian,
                             shared_to_shared_jacobian)
from dmf_np.fusion import SCHEMES, forward, init_params
from dmf_np.gradcheck import check_directional, gradcheck_fusion, small_architecture
from dmf_np.layers import Workspace, sigmoid_backward, softmax_cross_entropy
from dmf_np.learning_paths import learning_paths, loss_and_learning_paths


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("modalities", [2, 3])
@pytest.mark.parametrize("depth", [2, 3, pytest.param(4, marks=pytest.mark.slow)])  # depth 4: CI only
def test_every_parameter_passes_gradient_check(scheme, modalities, depth, xp):
    errors = gradcheck_fusion(scheme, modalities, depth, seed=depth, xp=xp)
    assert len(errors) == len(small_architecture(scheme, modalities, depth).param_shapes())
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-6, f"{worst}: {errors[worst]}"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("modalities", [2, 3])
@pytest.mark.parametrize("depth", [3, 4])
def test_fan_in_normalised_network_passes_gradient_check(scheme, modalities, depth, xp):
    # eps 1e-4, not 1e-6: the 1/k_l factors shrink the bottom gradients (1/54 at DMF depth 4), and
    # with them the share of the rounding noise a step of 1e-6 leaves; 1e-4 costs O(eps^2) instead
    errors = gradcheck_fusion(scheme, modalities, depth, seed=depth, xp=xp, fan_in_norm=True, eps=1e-4)
    assert len(errors) == len(small_architecture(scheme, modalities, depth).param_shapes())
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-6, f"{worst}: {errors[worst]}"


def _divisor_of(arch, key):
    """k_l for a weight feeding s_l (W^{m->s}_l, W^s_{l-1}), 1 for every other parameter."""
    dest = arch.destination(key)
    return arch.fan_in_blocks(int(dest[2:])) if key.startswith("W") and dest.startswith("s_") else 1


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("modalities", [2, 3])
def test_fan_in_norm_is_the_plain_network_at_weights_divided_by_k(scheme, modalities, xp):
    """E_FN(W) = E(W/k_l): the same pre-activations, and by the chain rule dE_FN/dW = (1/k_l) dE/dW at W/k_l."""
    fn, params, xs, labels = _setup(scheme, xp, M=modalities, L=4, fan_in_norm=True)
    params = {k: v + 0.2 if k.startswith("b") else v for k, v in params.items()}  # biases in general position
    plain = dataclasses.replace(fn, fan_in_norm=False)
    k = {key: _divisor_of(plain, key) for key in params}
    assert max(k.values()) == (modalities + 1 if scheme == "dmf" else modalities)
    divided = {key: v / k[key] for key, v in params.items()}
    fw_fn, fw_plain = forward(params, xs, fn, pre_activations=True), forward(divided, xs, plain, pre_activations=True)
    assert fw_fn.pre.keys() == fw_plain.pre.keys()
    for name, M in fw_fn.pre.items():
        assert np.allclose(backend.to_host(M), backend.to_host(fw_plain.pre[name]), rtol=1e-12, atol=1e-14), name
    loss_fn, bw_fn = loss_and_grads(params, xs, labels, fn, input_grads=True)
    loss_plain, bw_plain = loss_and_grads(divided, xs, labels, plain, input_grads=True)
    assert float(loss_fn) == pytest.approx(float(loss_plain), rel=1e-12)
    for key in params:
        assert np.allclose(backend.to_host(bw_fn.grads[key]), backend.to_host(bw_plain.grads[key] / k[key]),
                           rtol=1e-10, atol=1e-15), key
    for key in bw_plain.dh:  # the errors reaching every layer are the plain network's
        assert np.allclose(backend.to_host(bw_fn.dh[key]), backend.to_host(bw_plain.dh[key]), rtol=1e-10, atol=1e-15)


def test_fan_in_normalised_backward_is_the_same_in_a_workspace(xp):
    arch, params, xs, labels = _setup("dmf", xp, M=3, L=4, fan_in_norm=True)
    _, fresh = loss_and_grads(params, xs, labels, arch)
    ws = Workspace()
    for _ in range(2):  # the second call reuses the buffers the first one wrote
        _, bw = loss_and_grads(params, xs, labels, arch, workspace=ws)
        for key, g in fresh.grads.items():
            assert np.array_equal(backend.to_host(bw.grads[key]), backend.to_host(g)), key


def test_without_fan_in_norm_nothing_changes(xp):
    """fan_in_norm=False is the paper's Eq. 3, computed bit for bit as before the option existed."""
    arch, params, xs, labels = _setup("dmf", xp, M=3, L=3)
    assert arch == dataclasses.replace(arch, fan_in_norm=False)
    fw = forward(params, xs, arch, pre_activations=True)
    hand = params[arch.b_sh(2)] + fw.h[(0, 2)] @ params[arch.W_fuse(0, 2)].T  # the engine's order: bias first
    for m in (1, 2):
        hand += fw.h[(m, 2)] @ params[arch.W_fuse(m, 2)].T
    hand += fw.s[1] @ params[arch.W_sh(1)].T
    assert np.array_equal(backend.to_host(fw.pre["s_2"]), backend.to_host(hand))


def _setup(scheme, xp, M=2, L=3, n=6, seed=0, fan_in_norm=False):
    arch = small_architecture(scheme, M, L, fan_in_norm=fan_in_norm)
    rng = np.random.default_rng(seed)
    params = init_params(arch, rng, xp=xp, dtype=np.float64)
    xs = [backend.to_device(rng.uniform(0, 1, (n, k)), xp, np.float64) for k in arch.input_sizes]
    labels = backend.to_device(rng.integers(0, arch.n_classes, n), xp)
    return arch, params, xs, labels


def test_directional_check_detects_a_wrong_gradient(xp):
    arch, params, xs, labels = _setup("dmf", xp)
    _, bw = loss_and_grads(params, xs, labels, arch)

    def loss():
        return softmax_cross_entropy(forward(params, xs, arch).logits, labels)[0]

    rng = np.random.default_rng(5)
    assert max(check_directional(loss, params, bw.grads, rng)) < 1e-6
    bw.grads["W^{x->s}_2"] = bw.grads["W^{x->s}_2"] * 1.05  # a 5% mistake in one parameter
    assert min(check_directional(loss, params, bw.grads, rng)) > 1e-4


@pytest.mark.parametrize("fan_in_norm", [False, True])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_learning_paths_sum_to_the_total(scheme, fan_in_norm, xp):
    arch, params, xs, labels = _setup(scheme, xp, M=3, L=4, fan_in_norm=fan_in_norm)
    _, lp = loss_and_learning_paths(params, xs, labels, arch, input_grads=True)
    _, bw = loss_and_grads(params, xs, labels, arch, input_grads=True)
    assert list(lp.total.grads) == list(bw.grads) and lp.dh.keys() == bw.dh.keys()
    for key, g in bw.grads.items():
        assert np.array_equal(backend.to_host(lp.total.grads[key]), backend.to_host(g)), key
        parts = lp.grads["modality"][key] + lp.grads["shared"][key]
        assert np.allclose(backend.to_host(parts), backend.to_host(g), rtol=1e-12, atol=1e-15), key
    for key, split in lp.dh.items():
        total = split["modality"] + split["shared"]
        assert np.allclose(backend.to_host(total), backend.to_host(bw.dh[key]), rtol=1e-12, atol=1e-15)


def test_learning_paths_from_any_head_and_shares(xp):
    arch, params, xs, labels = _setup("dmf", xp)
    fw = forward(params, xs, arch)
    d_top = classifier_loss(params, fw, labels).d_top
    lp = learning_paths(params, fw, d_top)
    assert (0, 1) not in lp.dh and (0, 2) in lp.dh  # inputs only with input_grads=True
    assert lp.share("W^s_1", "modality") == 0 and lp.share("W^s_1", "shared") == pytest.approx(1)
    assert 0 < lp.share("W^x_1", "shared") < 1 + 1e-12


def test_dmf_has_both_paths_and_imf_one(xp):
    _, _, _, _ = None, None, None, None
    for scheme, both in (("dmf", True), ("imf", False)):
        arch, params, xs, labels = _setup(scheme, xp)
        _, lp = loss_and_learning_paths(params, xs, labels, arch)
        split = lp.dh[(0, 2)]  # h^x_2, below the top unit
        has_shared = float(abs(split["shared"]).sum()) > 0
        has_mod = float(abs(split["modality"]).sum()) > 0
        assert has_mod and has_shared == both


def test_eq7_and_eq8_products_equal_explicit_jacobians(xp):
    arch, params, xs, labels = _setup("dmf", xp)
    fw = forward(params, xs, arch)
    bw = backward(params, fw, classifier_loss(params, fw, labels).d_top)
    l = 2
    # Eq. 6 with Eq. 8: dE/ds_2 = dE/ds_3 ds_3/ds_2, one example at a time
    J8 = backend.to_host(shared_to_shared_jacobian(fw.s[l + 1], params[f"W^s_{l}"]))
    ds_next = backend.to_host(bw.ds[l + 1])
    explicit = np.einsum("nj,nji->ni", ds_next, J8)
    product = grad_shared_activation(sigmoid_backward(bw.ds[l + 1], fw.s[l + 1]), params[f"W^s_{l}"])
    assert np.allclose(explicit, backend.to_host(product), rtol=1e-12)
    assert np.allclose(explicit, backend.to_host(bw.ds[l]), rtol=1e-12)
    # Eq. 7: dE/ds_2 ds_2/dh^x_2
    J7 = backend.to_host(shared_to_modality_jacobian(fw.s[l], params[f"W^{{x->s}}_{l}"]))
    explicit7 = np.einsum("nj,nji->ni", backend.to_host(bw.ds[l]), J7)
    product7 = grad_via_shared_path(sigmoid_backward(bw.ds[l], fw.s[l]), params[f"W^{{x->s}}_{l}"])
    assert np.allclose(explicit7, backend.to_host(product7), rtol=1e-12)


def test_cross_modal_cuts_remove_exactly_the_shared_terms(xp):
    arch, params, xs, labels = _setup("dmf", xp, L=4)
    cuts = cross_modal_cuts(arch)
    assert set(cuts) == {("shared", m, l) for m in (0, 1) for l in (2, 3)}
    _, full = loss_and_learning_paths(params, xs, labels, arch)
    _, cut = loss_and_learning_paths(params, xs, labels, arch, cut=cuts)
    # the shared stack and the top unit are untouched by cuts into the modality stacks
    for key in ("W^out", "W^s_3", "W^{x->s}_4", "W^{y->s}_2", "W^x_3"):
        assert np.allclose(backend.to_host(full.total.grads[key]), backend.to_host(cut.total.grads[key])), key
    # below the top, each modality layer now gets only its modality term
    for m in (0, 1):
        for l in (2, 3):
            assert float(abs(cut.dh[(m, l)]["shared"]).sum()) == 0
    assert not np.allclose(backend.to_host(full.total.grads["W^x_1"]), backend.to_host(cut.total.grads["W^x_1"]))


def test_cutting_every_path_into_a_modality_zeroes_its_gradients(xp):
    arch, params, xs, labels = _setup("dmf", xp, L=3)
    cuts = [("shared", "x", l) for l in (2, 3)]
    _, bw = loss_and_grads(params, xs, labels, arch, cut=cuts)
    for key in ("W^x_1", "b^x_2", "W^x_2", "b^x_3"):
        assert float(abs(bw.grads[key]).sum()) == 0, key
    assert float(abs(bw.grads["W^y_1"]).sum()) > 0


def test_chain_cut_and_bad_cuts(xp):
    arch, params, xs, labels = _setup("dmf", xp, L=3)
    _, bw = loss_and_grads(params, xs, labels, arch, cut=[("chain", 2)])
    assert float(abs(bw.grads["W^s_1"]).sum()) == 0 and float(abs(bw.grads["W^{x->s}_1"]).sum()) == 0
    for bad, match in ((("chain", 5), "no edge"), (("shared", "q", 2), "unknown modality"),
                       (("sideways", 0, 1), "unknown cut"), ("shared", "a cut is a tuple")):
        with pytest.raises(ValueError, match=match):
            loss_and_grads(params, xs, labels, arch, cut=[bad])


def test_gradients_keep_dtype_and_shape(xp):
    arch, params, xs, labels = _setup("dmf", xp)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    _, bw = loss_and_grads(p32, [x.astype(np.float32) for x in xs], labels, arch)
    assert list(bw.grads) == list(p32)
    for k, g in bw.grads.items():
        assert g.shape == p32[k].shape and g.dtype == np.float32, k
