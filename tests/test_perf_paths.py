"""The buffer-reusing paths of the training loop give the same numbers as the plain ones.

A workspace changes where results are written, never what is computed: every test here compares a
call that writes into reused buffers with one that allocates fresh arrays, and asks for equality.
(Timings are not tested; see bench/bench.py.)
"""
from pathlib import Path

import numpy as np
import pytest

from dmf_np import backend
from dmf_np.backprop import cross_modal_cuts, loss_and_grads
from dmf_np.fusion import Architecture, forward, init_params
from dmf_np.layers import NO_WORKSPACE, Workspace, affine_backward, sigmoid, sigmoid_backward
from dmf_np.optim import SGD
from dmf_np.train import fit_classifier

ARCH = Architecture("dmf", ((7, 9, 5), (6, 8, 4)), (10, 7, 5), n_classes=4)


def _data(xp, n, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    xs = [backend.to_device(rng.random((n, k)), xp, dtype) for k in ARCH.input_sizes]
    return xs, backend.to_device(rng.integers(0, ARCH.n_classes, n), xp)


def _host(a):
    return backend.to_host(a)


def _same(a, b):
    return np.array_equal(_host(a), _host(b))


def test_workspace_hands_back_the_same_memory_and_shrinks_rows():
    ws, like = Workspace(), np.zeros(0, np.float32)
    a = ws.buffer("a", (10, 3), like)
    b = ws.buffer("a", (4, 3), like)
    assert b.base is a.base or b.base is a  # a view of the same buffer
    assert np.shares_memory(a, b) and b.shape == (4, 3) and b.flags.c_contiguous
    c = ws.buffer("a", (12, 3), like)  # more rows than held: a new, larger buffer
    assert c.shape == (12, 3) and not np.shares_memory(a, c)
    assert ws.buffer("a", (12, 3), np.zeros(0, np.float64)).dtype == np.float64  # dtype follows `like`


@pytest.mark.parametrize("scheme", ["emf", "imf", "dmf"])
def test_loss_and_grads_with_a_workspace_equal_the_plain_ones(xp, scheme):
    arch = ARCH.with_scheme(scheme)
    params = init_params(arch, np.random.default_rng(1), xp=xp)
    ws = Workspace()
    for n, seed in ((16, 0), (16, 1), (5, 2)):  # reuse, then a smaller last minibatch
        xs, y = _data(xp, n, seed)
        loss_plain, plain = loss_and_grads(params, xs, y, arch)
        loss_ws, reused = loss_and_grads(params, xs, y, arch, workspace=ws)
        assert float(loss_plain) == float(loss_ws)
        assert list(plain.grads) == list(reused.grads)
        for k in plain.grads:
            assert _same(plain.grads[k], reused.grads[k]), k
        for key in plain.dh:
            assert _same(plain.dh[key], reused.dh[key]), key
        for l in plain.ds:
            assert _same(plain.ds[l], reused.ds[l]), l
    assert len(ws) > 0


def test_workspace_with_cuts_and_input_grads_equals_plain(xp):
    params = init_params(ARCH, np.random.default_rng(2), xp=xp)
    xs, y = _data(xp, 12)
    ws = Workspace()
    for cut in (cross_modal_cuts(ARCH), (("chain", 1), ("modality", "y", 2)), (("shared", 0, 1),)):
        _, plain = loss_and_grads(params, xs, y, ARCH, cut=cut, input_grads=True)
        _, reused = loss_and_grads(params, xs, y, ARCH, cut=cut, input_grads=True, workspace=ws)
        assert all(_same(plain.grads[k], reused.grads[k]) for k in plain.grads)
        assert plain.dh.keys() == reused.dh.keys()
        assert all(_same(plain.dh[k], reused.dh[k]) for k in plain.dh)


def test_the_null_workspace_allocates(xp):
    params = init_params(ARCH, np.random.default_rng(3), xp=xp)
    xs, y = _data(xp, 8)
    assert NO_WORKSPACE.buffer("any", (3, 4), xs[0]) is None and len(NO_WORKSPACE) == 0
    _, a = loss_and_grads(params, xs, y, ARCH)
    _, b = loss_and_grads(params, xs, y, ARCH)
    assert all(a.grads[k] is not b.grads[k] and _same(a.grads[k], b.grads[k]) for k in a.grads)


def test_forward_into_a_workspace_equals_plain_forward(xp):
    params = init_params(ARCH, np.random.default_rng(4), xp=xp)
    xs, _ = _data(xp, 9)
    plain = forward(params, xs, ARCH)
    reused = forward(params, xs, ARCH, workspace=Workspace())
    assert all(_same(plain.h[k], reused.h[k]) for k in plain.h)
    assert all(_same(plain.s[k], reused.s[k]) for k in plain.s)
    assert _same(plain.logits, reused.logits)


def test_float64_data_with_float32_params_keeps_numpy_promotion():
    params = init_params(ARCH, np.random.default_rng(5), xp=np)
    xs, y = _data(np, 6, dtype=np.float64)
    _, plain = loss_and_grads(params, xs, y, ARCH)
    _, reused = loss_and_grads(params, xs, y, ARCH, workspace=Workspace())
    assert all(plain.grads[k].dtype == reused.grads[k].dtype for k in plain.grads)
    assert all(_same(plain.grads[k], reused.grads[k]) for k in plain.grads)


def test_sigmoid_backward_into_a_buffer_equals_allocating_and_refuses_out_dy(xp, rng):
    y = sigmoid(xp.asarray(rng.normal(size=(5, 4)), dtype=xp.float32))
    dy = xp.asarray(rng.normal(size=(5, 4)), dtype=xp.float32)
    fresh = sigmoid_backward(dy, y)
    buf = xp.empty_like(y)
    assert sigmoid_backward(dy, y, out=buf) is buf and _same(buf, fresh)
    with pytest.raises(ValueError, match="out must not be dy"):
        sigmoid_backward(dy, y, out=dy)
    assert np.allclose(_host(fresh), _host(dy) * _host(y) * (1 - _host(y)), rtol=1e-6, atol=1e-7)


def test_affine_backward_into_buffers_equals_allocating(xp, rng):
    x = xp.asarray(rng.normal(size=(6, 5)), dtype=xp.float32)
    W = xp.asarray(rng.normal(size=(3, 5)), dtype=xp.float32)
    da = xp.asarray(rng.normal(size=(6, 3)), dtype=xp.float32)
    bufs = (xp.empty((6, 5), xp.float32), xp.empty((3, 5), xp.float32), xp.empty(3, xp.float32))
    got = affine_backward(da, x, W, out=bufs)
    for g, b, want in zip(got, bufs, affine_backward(da, x, W)):
        assert g is b and _same(g, want)


def test_sgd_in_place_update_matches_the_formula_and_leaves_grads_alone(xp, rng):
    p0 = {"W": rng.normal(size=(4, 3)).astype(np.float32), "b": rng.normal(size=4).astype(np.float32)}
    params = {k: backend.to_device(v, xp) for k, v in p0.items()}
    opt = SGD(lr=0.05, momentum=0.8, weight_decay=0.01)
    v = {k: np.zeros_like(a) for k, a in p0.items()}
    ref = {k: a.copy() for k, a in p0.items()}
    for lr in (None, 0.05, 0.3, 0.001):  # the per-step override, as a decaying schedule uses it
        step = 0.05 if lr is None else lr
        g = {k: rng.normal(size=a.shape).astype(np.float32) for k, a in p0.items()}
        g_dev = {k: backend.to_device(a, xp) for k, a in g.items()}
        opt.step(params, g_dev, lr=lr)
        for k in ref:
            assert np.array_equal(_host(g_dev[k]), g[k])  # the caller's gradients are not touched
            v[k] = np.float32(0.8) * v[k] - np.float32(step) * g[k]
            if k == "W":
                v[k] -= np.float32(step * 0.01) * ref[k]
            ref[k] += v[k]
    for k in ref:
        assert np.allclose(_host(params[k]), ref[k], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="lr > 0"):
        opt.step(params, g_dev, lr=0.0)


def _plain_loop(params, arch, xs, y, epochs, batch_size, optimizer, seed):
    """fit_classifier's loop written the plain way: fancy-index copies, fresh arrays every step."""
    xp = backend.array_module(xs[0])
    rng = np.random.default_rng(seed)
    n = xs[0].shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n, batch_size):
            idx = backend.to_device(order[i:i + batch_size], xp)
            _, bw = loss_and_grads(params, [x[idx] for x in xs], y[idx], arch)
            optimizer.step(params, bw.grads)


def test_fit_classifier_equals_the_plain_loop(xp):
    xs, y = _data(xp, 107)  # 107 = 5 minibatches of 20 and one of 7
    p0 = init_params(ARCH, np.random.default_rng(6), xp=xp)
    fast = {k: v.copy() for k, v in p0.items()}
    plain = {k: v.copy() for k, v in p0.items()}
    fit_classifier(fast, ARCH, xs, y, epochs=2, batch_size=20, optimizer=SGD(0.2, 0.9, 1e-3), seed=3)
    _plain_loop(plain, ARCH, xs, y, 2, 20, SGD(0.2, 0.9, 1e-3), seed=3)
    for k in p0:
        assert _same(fast[k], plain[k]), k


@pytest.mark.slow
def test_bench_runs_end_to_end_on_a_tiny_input(tmp_path, capsys):
    """A smoke run of bench/bench.py's logic (its timings are not checked, only that it reports)."""
    from dmf_np.commands.bench import main

    out = tmp_path / "bench.json"
    assert main(["--samples", "200", "--repeats", "2", "--threads", "1", "--json", str(out)]) == 0
    import json
    import statistics

    result = json.loads(out.read_text())
    assert result["samples"] == 200 and result["machine"]["threads"] == 1
    for key in ("ratio_finetune_vs_gemm", "ratio_cd1_vs_gemm"):
        assert result[key] > 0 and len(result[key + "_rounds"]) == 2
        assert result[key] == pytest.approx(statistics.median(result[key + "_rounds"]))
    for key in ("ratio_finetune_vs_torch", "ratio_cd1_vs_torch", "ratio_cd1_vs_sklearn"):
        assert key in result  # None where PyTorch or scikit-learn is not installed
    assert "GEMM-only bound" in capsys.readouterr().out


def test_bench_ratios_pair_the_engines_round_by_round():
    from dmf_np.commands.bench import load_bench

    paired_ratios = load_bench().paired_ratios

    # a slow spell in round 2 doubles both times; the paired ratio stays 0.5 in every round
    rows = {"a": {"seconds": [1.0, 2.0, 1.1]}, "b": {"seconds": [2.0, 4.0, 2.2]}}
    assert paired_ratios(rows, "a", "b") == pytest.approx([0.5, 0.5, 0.5])
    assert paired_ratios(rows, "a", "missing") == []


def test_bench_rejects_a_bad_sample_count():
    from dmf_np.commands.bench import main

    with pytest.raises(ValueError, match="multiple of 100"):
        main(["--samples", "150"])


def test_bench_summary_counts_the_runs_that_meet_each_goal(tmp_path):
    import importlib.util
    import json

    # bench/ is scripts, not a package: load bench/summarise.py by its path
    path = Path(__file__).resolve().parents[1] / "bench" / "summarise.py"
    spec = importlib.util.spec_from_file_location("summarise", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    load, summarise = module.load, module.summarise

    def run(name, ratio_gemm):
        engines = {"dmf_np fit_classifier": {"median_s": 1.0}, "GEMM-only bound": {"median_s": 1.0 / ratio_gemm}}
        data = {"machine": {"threads": 2}, "finetune": {"engines": engines},
                "ratio_finetune_vs_gemm": ratio_gemm, "ratio_finetune_vs_torch": None}
        (tmp_path / name).write_text(json.dumps(data))
        return tmp_path / name

    lines = summarise(load([run("a.json", 1.2), run("b.json", 1.6)]), ["finetune"])
    assert any("ratio_finetune_vs_gemm" in s and "1.20-1.60" in s and "met in 1 of 2" in s for s in lines), lines
    with pytest.raises(SystemExit, match="cannot read bench result"):
        load([tmp_path / "missing.json"])
