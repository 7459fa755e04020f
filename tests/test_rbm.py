"""The RBM's formulas against brute force, CD against the exact gradient, CD-1 against a hand step."""
import itertools
import math

import numpy as np
import pytest

from dmf_np import backend
from dmf_np.optim import SGD
from dmf_np.rbm import (CDWorkspace, cd_k, energy, exact_log_likelihood, exact_log_likelihood_gradient,
                        free_energy, free_energy_gap, gibbs_hvh, gibbs_vhv, hidden_free_energy, hidden_probs,
                        init_rbm, log_partition, pcd, pseudo_log_likelihood, reconstruction_error,
                        sample_bernoulli, sample_gaussian, sparsity_gradient, visible_mean)


def _rbm(n_v, n_h, xp, seed=0, scale=1.0, dtype=np.float64):
    r = np.random.default_rng(seed)
    return {"W": backend.to_device(r.normal(0, scale, (n_h, n_v)), xp, dtype),
            "b_h": backend.to_device(r.normal(0, scale, n_h), xp, dtype),
            "b_v": backend.to_device(r.normal(0, scale, n_v), xp, dtype)}


def _host(params):
    return {k: backend.to_host(v).astype(np.float64) for k, v in params.items()}


def _states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def _brute_energy(v, h, p, gaussian=False):
    """E(v, h) written out term by term, independently of dmf_np.rbm."""
    vis = 0.5 * np.sum((v - p["b_v"]) ** 2) if gaussian else -v @ p["b_v"]
    return vis - h @ p["b_h"] - h @ p["W"] @ v


class Scripted:
    """A 'generator' that hands out given numbers: how tests inject uniforms into the samplers."""

    def __init__(self, arrays):
        self.arrays = [np.asarray(a) for a in arrays]

    def random(self, size=None, dtype=np.float64, out=None):
        out[...] = backend.to_device(self.arrays.pop(0), backend.array_module(out), out.dtype)
        return out


# --- energies and exact quantities ----------------------------------------------------------

@pytest.mark.parametrize("gaussian", [False, True])
def test_free_energy_matches_brute_force_sum_over_hidden_states(xp, gaussian):
    visible = "gaussian" if gaussian else "bernoulli"
    params = _rbm(4, 3, xp, seed=1)
    p = _host(params)
    v = np.random.default_rng(2).normal(size=(5, 4)) if gaussian else _states(4)[[0, 3, 7, 12, 15]]
    brute = [-math.log(sum(math.exp(-_brute_energy(row, h, p, gaussian)) for h in _states(3))) for row in v]
    got = backend.to_host(free_energy(backend.to_device(v, xp), params, visible))
    assert np.allclose(got, brute, rtol=0, atol=1e-10)
    e = backend.to_host(energy(backend.to_device(v, xp), backend.to_device(_states(3)[[1] * 5], xp), params, visible))
    assert np.allclose(e, [_brute_energy(row, _states(3)[1], p, gaussian) for row in v], atol=1e-10)


@pytest.mark.parametrize("n_v,n_h", [(3, 5), (5, 3)])  # enumerates v in one case, h in the other
def test_log_partition_and_likelihood_match_joint_enumeration(xp, n_v, n_h):
    params = _rbm(n_v, n_h, xp, seed=3)
    p = _host(params)
    log_z = math.log(sum(math.exp(-_brute_energy(v, h, p)) for v in _states(n_v) for h in _states(n_h)))
    assert abs(float(log_partition(params)) - log_z) < 1e-10
    V = backend.to_device(_states(n_v), xp)
    probs = [math.exp(exact_log_likelihood(V[i:i + 1], params)) for i in range(2 ** n_v)]
    assert abs(sum(probs) - 1) < 1e-10   # a distribution over all 2^n_v visible vectors
    brute_p0 = sum(math.exp(-_brute_energy(_states(n_v)[0], h, p)) for h in _states(n_h)) / math.exp(log_z)
    assert abs(probs[0] - brute_p0) < 1e-12


def test_gaussian_log_partition_matches_numerical_integration(xp):
    params = _rbm(2, 3, xp, seed=4, scale=0.7)
    p = _host(params)
    g = np.linspace(-14, 14, 701)
    dv = g[1] - g[0]
    V = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    z = 0.0
    for h in _states(3):
        e = 0.5 * ((V - p["b_v"]) ** 2).sum(1) - h @ p["b_h"] - V @ (h @ p["W"])
        z += np.exp(-e).sum() * dv * dv
    assert abs(float(log_partition(params, "gaussian")) - math.log(z)) < 1e-8
    # and hidden_free_energy is the same integral for one h
    h = _states(3)[5]
    e = 0.5 * ((V - p["b_v"]) ** 2).sum(1) - h @ p["b_h"] - V @ (h @ p["W"])
    f_h = float(hidden_free_energy(backend.to_device(h[None], xp), params, "gaussian")[0])
    assert abs(f_h + math.log(np.exp(-e).sum() * dv * dv)) < 1e-8


@pytest.mark.parametrize("n_v,n_h,visible", [(4, 6, "bernoulli"), (6, 4, "bernoulli"), (3, 4, "gaussian")])
def test_exact_gradient_matches_finite_differences_of_exact_likelihood(n_v, n_h, visible):
    params = _rbm(n_v, n_h, np, seed=5, scale=0.5)
    r = np.random.default_rng(6)
    v = r.normal(size=(7, n_v)) if visible == "gaussian" else (r.random((7, n_v)) < 0.5).astype(float)
    grads = exact_log_likelihood_gradient(v, params, visible)
    eps = 1e-6
    for key, p in params.items():
        num = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = exact_log_likelihood(v, params, visible)
            p[i] = old - eps
            down = exact_log_likelihood(v, params, visible)
            p[i] = old
            num[i] = -(up - down) / (2 * eps)   # the library's convention: dE/dtheta = -d log p / dtheta
        rel = np.abs(num - grads[key]).max() / max(1e-8, np.abs(num).max() + np.abs(grads[key]).max())
        assert rel < 1e-7, (key, rel)


def test_pseudo_likelihood_matches_exact_conditionals():
    params = _rbm(5, 3, np, seed=7)
    V = _states(5)
    logp = np.array([exact_log_likelihood(V[i:i + 1], params) for i in range(32)])
    v_idx = [3, 10, 29]
    want = []
    for i in v_idx:
        for u in range(5):
            j = i ^ (1 << (4 - u))   # the state with unit u flipped (itertools.product order)
            want.append(logp[i] - np.logaddexp(logp[i], logp[j]))
    assert abs(pseudo_log_likelihood(V[v_idx], params) - np.mean(want)) < 1e-10
    one = pseudo_log_likelihood(V[v_idx], params, units=np.array([0, 2, 4]))
    assert abs(one - np.mean([want[0], want[5 + 2], want[10 + 4]])) < 1e-10


def test_monitors_on_identical_and_different_data():
    params = _rbm(6, 4, np, seed=8)
    v = (np.random.default_rng(9).random((20, 6)) < 0.5).astype(float)
    assert free_energy_gap(v, v, params) == 0.0
    assert free_energy_gap(v, 1 - v, params) != 0.0
    assert 0 < reconstruction_error(v, params) < 1


# --- sampling --------------------------------------------------------------------------------

def test_sample_means_match_probabilities(xp):
    rng = backend.make_rng(0, xp)
    p = xp.asarray(np.linspace(0.02, 0.98, 7), dtype=np.float32)
    draws = sample_bernoulli(xp.repeat(p[None, :], 20000, axis=0), rng)  # 20,000 draws of each p in one call
    assert draws.dtype == np.float32 and set(np.unique(backend.to_host(draws))) <= {0.0, 1.0}
    se = np.sqrt(backend.to_host(p) * (1 - backend.to_host(p)) / 20000)
    assert np.all(np.abs(backend.to_host(draws.mean(axis=0) - p)) < 5 * se)
    mean = xp.asarray([[-1.0, 0.0, 2.5]], dtype=np.float32)
    g = backend.to_host(sample_gaussian(xp.repeat(mean, 20000, axis=0), rng))
    assert np.all(np.abs(g.mean(0) - backend.to_host(mean)[0]) < 5 / np.sqrt(20000))
    assert np.all(np.abs(g.var(0) - 1) < 0.05)


def test_gibbs_steps_are_consistent_with_the_conditionals(xp):
    params = _rbm(5, 4, xp, seed=10, dtype=np.float32)
    v = xp.asarray((np.random.default_rng(0).random((3000, 5)) < 0.5), dtype=np.float32)
    step = gibbs_vhv(v, params, backend.make_rng(1, xp))
    assert np.allclose(backend.to_host(step.h_prob), backend.to_host(hidden_probs(v, params["W"], params["b_h"])))
    assert np.allclose(backend.to_host(step.v_mean), backend.to_host(visible_mean(step.h, params["W"], params["b_v"])))
    back = gibbs_hvh(step.h, params, backend.make_rng(2, xp))
    assert abs(float((back.v - back.v_mean).mean())) < 0.03   # samples average to their means
    assert back.h.shape == (3000, 4) and back.v.dtype == np.float32


# --- contrastive divergence ------------------------------------------------------------------

@pytest.mark.parametrize("pos,neg_v,neg_h", [("probs", "probs", "probs"), ("samples", "samples", "samples"),
                                             ("probs", "samples", "probs")])
def test_cd1_step_with_injected_uniforms_matches_hand_computation(xp, pos, neg_v, neg_h):
    W = np.array([[0.5, -1.0, 0.25], [1.5, 0.2, -0.7]])   # 2 hidden x 3 visible
    b_h, b_v = np.array([0.1, -0.3]), np.array([-0.2, 0.4, 0.0])
    v0 = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    u_h0 = np.array([[0.3, 0.9], [0.6, 0.1]])
    u_v1 = np.array([[0.2, 0.8, 0.5], [0.95, 0.3, 0.05]])
    u_h1 = np.array([[0.5, 0.5], [0.01, 0.99]])

    def sig(a):
        return 1 / (1 + np.exp(-a))

    # by hand, one row at a time
    dW, dbh, dbv = np.zeros_like(W), np.zeros(2), np.zeros(3)
    for n in range(2):
        ph0 = sig(W @ v0[n] + b_h)
        h0 = (u_h0[n] < ph0).astype(float)
        pv1 = sig(W.T @ h0 + b_v)
        v1 = (u_v1[n] < pv1).astype(float) if neg_v == "samples" else pv1
        ph1 = sig(W @ v1 + b_h)
        h1 = (u_h1[n] < ph1).astype(float) if neg_h == "samples" else ph1
        hp = ph0 if pos == "probs" else h0
        dW += np.outer(h1, v1) - np.outer(hp, v0[n])   # dE/dW = negative - positive statistic
        dbh += h1 - hp
        dbv += v1 - v0[n]
    params = {"W": xp.asarray(W), "b_h": xp.asarray(b_h), "b_v": xp.asarray(b_v)}
    uniforms = [u_h0] + ([u_v1] if neg_v == "samples" else []) + ([u_h1] if neg_h == "samples" else [])
    step = cd_k(xp.asarray(v0), params, Scripted(uniforms), k=1, positive_hidden=pos,
                negative_visible=neg_v, negative_hidden=neg_h)
    for key, want in (("W", dW / 2), ("b_h", dbh / 2), ("b_v", dbv / 2)):
        assert np.allclose(backend.to_host(step.grads[key]), want, atol=1e-12), key


def test_pcd_continues_the_chain_and_updates_it_in_place(xp):
    params = _rbm(3, 2, xp, seed=11)
    chain = xp.asarray([[1.0, 0.0], [0.0, 1.0]])
    u = [np.array([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]), np.array([[0.0, 0.999], [0.999, 0.0]])]
    v0 = xp.asarray([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    step = pcd(v0, params, chain, Scripted(u), k=1, negative_visible="samples")
    assert np.array_equal(backend.to_host(chain), [[1.0, 0.0], [0.0, 1.0]])   # u=0 -> on, u=.999 -> off
    p = _host(params)
    v1 = (0.5 < 1 / (1 + np.exp(-(np.array([[1.0, 0], [0, 1]]) @ p["W"] + p["b_v"])))).astype(float)
    assert np.allclose(backend.to_host(step.vk), v1)


def test_cd_k_gradient_approaches_the_exact_gradient_as_k_grows():
    params = _rbm(4, 3, np, seed=13, scale=2.0)
    data = _states(4)[[1, 6, 9, 14]]
    v = np.repeat(data, 5000, axis=0)              # many chains per data vector: small Monte-Carlo noise
    exact = exact_log_likelihood_gradient(data, params)
    errors = {}
    for k in (1, 3, 50):
        step = cd_k(v, params, np.random.default_rng(k), k=k, negative_visible="samples")
        errors[k] = max(np.abs(step.grads[key] - exact[key]).max() for key in exact)
    assert errors[1] > 0.1, errors                  # CD-1 is biased on this sharp little RBM (~0.4)
    assert errors[50] < 0.02 and errors[50] < errors[1] / 10, errors
    assert errors[3] < errors[1], errors


def _structured_data(n=400, seed=0):
    """Noisy copies of 3 prototypes over 8 binary units."""
    r = np.random.default_rng(seed)
    protos = np.array([[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0, 1, 0]], float)
    x = protos[r.integers(0, 3, n)]
    flip = r.random(x.shape) < 0.05
    return np.where(flip, 1 - x, x)


@pytest.mark.parametrize("persistent", [False, True])
def test_training_raises_the_exact_likelihood(xp, persistent):
    data = backend.to_device(_structured_data(), xp, np.float32)
    params = init_rbm(8, 6, np.random.default_rng(0), xp, np.float32, data_mean=backend.to_host(data.mean(0)))
    before = exact_log_likelihood(data, params)
    opt = SGD(lr=0.1, momentum=0.5, weight_decay=1e-4)
    rng = backend.make_rng(1, xp)
    ws = CDWorkspace(20, 8, 6, xp, np.float32)
    chain = sample_bernoulli(hidden_probs(data[:20], params["W"], params["b_h"]), rng) if persistent else None
    for _ in range(30):
        for i in range(0, 400, 20):
            if persistent:
                step = pcd(data[i:i + 20], params, chain, rng, workspace=ws, negative_visible="samples")
            else:
                step = cd_k(data[i:i + 20], params, rng, workspace=ws)
            opt.step(params, step.grads)
    after = exact_log_likelihood(data, params)
    assert after > before + 1.5, (before, after)       # before ~ -5.1 nats; a good model reaches ~ -2.4
    assert all(v.dtype == np.float32 for v in params.values())


def test_cd_step_reuses_its_buffers_and_stays_float32(xp):
    params = _rbm(7, 5, xp, dtype=np.float32)
    ws = CDWorkspace(10, 7, 5, xp, np.float32)
    v = xp.asarray(np.random.default_rng(0).random((10, 7)) < 0.5, dtype=np.float32)
    a = cd_k(v, params, backend.make_rng(0, xp), workspace=ws)
    b = cd_k(v[:6], params, backend.make_rng(0, xp), k=2, workspace=ws)   # a smaller last minibatch
    assert all(a.grads[k] is b.grads[k] and b.grads[k].dtype == np.float32 for k in a.grads)
    assert b.ph0.shape == (6, 5)
    fresh = cd_k(v[:6], params, backend.make_rng(0, xp), k=2)   # its own, exactly sized buffers
    for k in fresh.grads:
        assert np.allclose(backend.to_host(b.grads[k]), backend.to_host(fresh.grads[k]), rtol=1e-6, atol=1e-7), k


def test_sparsity_pulls_hidden_activity_toward_the_target():
    grads = {"W": np.zeros((2, 3)), "b_h": np.zeros(2)}
    sparsity_gradient(grads, np.array([0.5, 0.05]), np.array([1.0, 0.0, 0.5]), target=0.1, cost=2.0)
    assert np.allclose(grads["b_h"], [0.8, -0.1])          # too active -> push the bias down (dE > 0)
    assert np.allclose(grads["W"], [[0.8, 0, 0.4], [-0.1, 0, -0.05]])


def test_bad_options_are_named():
    params = _rbm(3, 2, np)
    v = np.zeros((2, 3))
    with pytest.raises(ValueError, match="k >= 1"):
        cd_k(v, params, np.random.default_rng(0), k=0)
    with pytest.raises(ValueError, match="negative_hidden must be 'probs' or 'samples'"):
        cd_k(v, params, np.random.default_rng(0), negative_hidden="mean")
    with pytest.raises(ValueError, match="persistent hidden states"):
        pcd(v, params, None, np.random.default_rng(0))
    with pytest.raises(ValueError, match="refusing to enumerate"):
        log_partition(_rbm(30, 25, np))
