"""Hidden tests of tutorial 4 (the learning paths): fresh shapes, another 2-unit DMF, deeper cuts."""
import numpy as np

from dmf_np.backprop import classifier_loss
from dmf_np.fusion import Architecture, forward, init_params
from dmf_np.learning_paths import learning_paths

EXERCISES = {"4.1": ("my_grad_via_shared_path", 1), "4.2": ("my_eq5_two_units", 3),
             "4.3": ("my_paths_cut_by_chain", 2)}


def test_4_1(fn):
    g = np.random.default_rng(2401)
    for n, n_s, n_x in ((6, 4, 7), (3, 5, 5)):   # the square case tells W from W^T
        delta, W = g.normal(0, 1, (n, n_s)), g.normal(0, 1, (n_s, n_x))
        got = np.asarray(fn(delta.copy(), W.copy()), dtype=np.float64)
        assert got.shape == (n, n_x), f"shape {got.shape}, expected {(n, n_x)}: one row per example"
        assert np.allclose(got, delta @ W, rtol=1e-12, atol=1e-15), \
            "not the paper's W^(s->x) delta for rows, W^(s->x) = (W^(x->s))^T: mind the layouts box"


def _network(modality_sizes, shared_sizes, seed, n=5, names=None):
    arch = Architecture("dmf", modality_sizes, shared_sizes, n_classes=3, names=names)
    P = init_params(arch, np.random.default_rng(seed), xp=np, dtype=np.float64)
    g = np.random.default_rng(seed + 1)
    xs = [g.uniform(0, 1, (n, sizes[0])) for sizes in modality_sizes]
    labels = g.integers(0, 3, n)
    fw = forward(P, xs, arch)
    return arch, P, xs, labels, fw, classifier_loss(P, fw, labels).d_top


def test_4_2(fn):
    arch, P, _, _, fw, top = _network(((6, 3), (5, 4)), (4, 3), seed=2402)
    result = fn({k: v.copy() for k, v in P.items()}, fw, top.copy())
    assert isinstance(result, (tuple, list)) and len(result) == 2, "return a pair (modality_term, shared_term)"
    split = learning_paths(P, fw, top, input_grads=True).dh[(0, 1)]
    for (path, want), got in zip(split.items(), result):
        got = np.asarray(got, dtype=np.float64)
        assert got.shape == want.shape, f"the {path} term has shape {got.shape}, expected {want.shape}"
        assert np.allclose(got, want, rtol=1e-10, atol=1e-15), \
            f"the {path} term is off: does the error pick up f'(M) = f(M)(1-f(M)) at every layer it crosses?"


def _vanished(arch, P, xs, labels, cut):
    fw = forward(P, xs, arch)
    top = classifier_loss(P, fw, labels).d_top
    before = learning_paths(P, fw, top, input_grads=True).dh
    after = learning_paths(P, fw, top, cut=cut, input_grads=True).dh
    return {(arch.names[m], k, p) for (m, k), split in before.items() for p in split
            if np.any(split[p] != 0) and not np.any(after.get((m, k), {}).get(p, 0) != 0)}


def test_4_3(fn):
    nets = [_network(((4, 3, 3, 3, 3), (5, 3, 3, 3, 3)), (4, 3, 3, 3, 3), seed=2403),
            _network(((4, 3, 3), (5, 3, 3), (3, 2, 2)), (4, 3, 3), seed=2404, names=("a", "b", "c"))]
    for arch, P, xs, labels, _, _ in nets:
        for l in range(1, arch.L):
            answer = fn(arch, l)
            got = {tuple(t) for t in answer}
            assert got == _vanished(arch, P, xs, labels, [("chain", l)]), \
                (f"cut ('chain', {l}) on a {arch.L}-unit DMF with modalities {arch.names}: not the terms that vanish. "
                 "Which shared layers still receive error, and which Eq. 5 terms are made of it?")

