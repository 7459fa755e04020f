"""The CuPy code paths end to end: training, checkpoints, pretraining, the experiments, the benchmark.

Each test runs on real CuPy where a GPU is present and, everywhere, on the CuPy stand-in
(tests/cupy_standin.py), which is as strict as CuPy about host and device arrays. So a host array
slipping into device code, a 0-d device array reaching a JSON file, or a call CuPy lacks fails here
on any machine, not first on a GPU.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dmf_np import backend
from dmf_np.data.synthetic import two_modality_classes
from dmf_np.fusion import Architecture, init_params
from dmf_np.io import load_checkpoint
from dmf_np.optim import SGD
from dmf_np.train import error_rate, fit_classifier, mean_loss

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # whole pipelines on the device backends: `pytest -m "not slow"` skips them


def _is_device(a):
    return backend.backend_name(backend.array_module(a)) == "cupy"


def test_fine_tuning_on_the_device_checkpoints_and_resumes(device_xp, tmp_path):
    xs_h, y_h = two_modality_classes(n=240, sizes=(8, 10), n_classes=3, seed=0)
    arch = Architecture("dmf", ((8, 12, 6), (10, 12, 6)), (12, 8, 6), n_classes=3)
    xs = [backend.to_device(x, device_xp) for x in xs_h]
    y = backend.to_device(y_h, device_xp)

    def run(epochs, ckpt, init_seed=4):
        params = init_params(arch, np.random.default_rng(init_seed), xp=device_xp)
        hist = fit_classifier(params, arch, xs, y, epochs=epochs, batch_size=32, optimizer=SGD(lr=0.2),
                              seed=9, lr_decay=0.9, checkpoint=ckpt)
        return params, hist

    full, h_full = run(4, None)
    assert all(_is_device(v) for v in full.values())
    assert all(type(v) is float for v in h_full["train_loss"])  # plain floats, fit for JSON
    json.dumps(h_full)
    ckpt = tmp_path / "c.npz"
    run(2, ckpt)
    arrays, meta = load_checkpoint(ckpt)  # a checkpoint holds host arrays
    assert meta["epoch"] == 2 and all(isinstance(a, np.ndarray) for a in arrays.values())
    resumed, h_res = run(4, ckpt, init_seed=123)
    # bit for bit on the stand-in (NumPy underneath); a GPU promises the same result only to rounding
    rtol = 0.0 if device_xp.__name__ == "cupy_standin" else 1e-5
    np.testing.assert_allclose(h_res["train_loss"], h_full["train_loss"], rtol=rtol)
    for k in full:
        np.testing.assert_allclose(backend.to_host(resumed[k]), backend.to_host(full[k]), rtol=rtol, atol=rtol)
    assert mean_loss(full, xs, y, arch) < 1.0 and 0 <= error_rate(full, xs, y, arch) <= 100


def test_pretraining_command_on_the_device(device_xp, tmp_path, capsys):
    from dmf_np.commands.pretrain import main

    def run(out):
        assert main(["--model", "dmf", "--epochs", "1", "--n", "200", "--backend", "cupy", "--out", str(out),
                     "--quiet"]) == 0
        return load_checkpoint(out / "pretrained.npz")

    arrays, meta = run(tmp_path / "pre")
    # every parameter of the network it describes, on the host, each one written by the pretraining
    arch = Architecture(n_classes=None, **meta["arch"])
    assert {k: a.shape for k, a in arrays.items()} == arch.param_shapes()
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    initial = init_params(arch, np.random.default_rng(0), xp=np)
    assert not any(np.array_equal(arrays[k], initial[k]) for k in arrays)
    # seeded: the same command gives the same weights (bit for bit on the stand-in, to rounding on a GPU)
    again, _ = run(tmp_path / "again")
    rtol = 0.0 if device_xp.__name__ == "cupy_standin" else 1e-5
    for k in arrays:
        np.testing.assert_allclose(again[k], arrays[k], rtol=rtol, atol=rtol)


def test_generative_training_and_retrieval_on_the_device(device_xp, tmp_path):
    from dmf_np.generative import encode, init_generative, reconstruct
    from dmf_np.generative_train import fit_generative
    from dmf_np.retrieval import retrieval_map

    rng = np.random.default_rng(0)
    c = rng.integers(0, 3, 90)
    x = np.clip(rng.random((3, 8))[c] + 0.05 * rng.standard_normal((90, 8)), 0, 1).astype(np.float32)
    t = np.clip(rng.random((3, 5))[c] + 0.05 * rng.standard_normal((90, 5)), 0, 1).astype(np.float32)
    arch = Architecture("dmf", ((8, 6), (5, 6)), (6, 4), None)
    views = [backend.to_device(x, device_xp), backend.to_device(t, device_xp)]
    p = init_generative(arch, np.random.default_rng(1), xp=device_xp)
    hist = fit_generative(p, arch, views, "bernoulli", epochs=3, batch_size=30, optimizer=SGD(0.05, 0.9),
                          seed=3, checkpoint=tmp_path / "g.npz")
    assert all(type(v) is float for v in hist["train_loss"]) and hist["train_loss"][-1] < hist["train_loss"][0]
    rec = reconstruct(p, views, arch, "bernoulli", [True, False])
    assert _is_device(rec[1]) and rec[1].shape == (90, 5)
    z = encode(p, views, arch)
    assert _is_device(z)
    m = retrieval_map(z, z, backend.to_device(c, device_xp), backend.to_device(c, device_xp))
    assert type(m) is float and 0.0 < m <= 1.0


def test_mnist_experiment_command_on_the_device(device_xp, tmp_path, capsys):
    from dmf_np.commands import reproduce as cli
    from dmf_np.data.synthetic import fake_digits
    from tests.test_mnist_data import write_idx

    m = fake_digits(n_train=10_120, n_val=10_000, n_test=60)
    d = tmp_path / "idx"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte", m.train_images.reshape(-1, 28, 28))
    write_idx(d / "train-labels-idx1-ubyte", m.train_labels)
    write_idx(d / "t10k-images-idx3-ubyte", m.test_images.reshape(-1, 28, 28))
    write_idx(d / "t10k-labels-idx1-ubyte", m.test_labels)
    run = tmp_path / "run"
    args = ["table1", "--preset", "tiny", "--backend", "cupy", "--mnist-dir", str(d), "--out", str(run),
            "--seeds", "1", "--levels", "0,50", "--epochs", "1", "--pretrain-epochs", "1",
            "--lr-grid", "0.1", "--figures", str(tmp_path / "figs"), "--no-progress"]
    assert cli.main(args) == 0, capsys.readouterr().err
    assert "| Left+Right | DMF |" in capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert "cupy" in json.dumps(config)  # the run directory records the backend it ran on
    assert cli.main(args) == 0  # resumed: every unit read back from the run directory


def test_wiki_pipeline_on_the_device(device_xp, tmp_path):
    from dmf_np.data.wiki import load_wiki
    from dmf_np.experiments import wiki as W
    from dmf_np.experiments.wiki_outputs import table2_json
    from tests.test_wiki import _fake_wiki

    data_dir = tmp_path / "wiki"
    data_dir.mkdir()
    _fake_wiki(data_dir, 2173, 693)
    overrides = {"epochs": 1, "pretrain_epochs": 1, "net_grid": [{"preprocessing": "minmax", "lr": 0.01}],
                 "cca_grid": [{"preprocessing": "minmax", "reg": 0.1}]}
    opts = W.Options(W.with_overrides(W.PRESETS["quick"], overrides, splits=1), methods=("cca", "dmf"),
                     backend="cupy", show_progress=False)
    m = W.run_table2(load_wiki(data_dir, verify_checksums=False), tmp_path / "run", opts)
    t = table2_json(m)
    json.dumps(t)
    assert 0.0 < t["i2t"]["dmf"]["mean"] < 1.0 and 0.0 < t["t2i"]["cca"]["mean"] < 1.0


def test_benchmark_runs_on_the_device(device_xp, tmp_path, capsys):
    from dmf_np.commands.bench import load_bench

    bench_cli = load_bench()
    out = tmp_path / "b.json"
    assert bench_cli.main(["--backend", "cupy", "--samples", "200", "--repeats", "1", "--no-memory",
                           "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["machine"]["backend"] == "cupy" and result["ratio_finetune_vs_gemm"] > 0


def test_gpu_tutorial_on_the_standin(tmp_path):
    """Tutorial 8 takes its GPU branch: a sitecustomize puts the stand-in in place of CuPy."""
    (tmp_path / "sitecustomize.py").write_text(
        "import cupy_standin\nfrom dmf_np import backend\nbackend._import_cupy = lambda: cupy_standin.cupy\n")
    env = dict(os.environ, DMF_TUTORIAL_FAST="1", MPLBACKEND="Agg", DMF_FIGURES_DIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT / "tests"), str(ROOT)]))
    env.pop("DMF_BACKEND", None)
    result = subprocess.run([sys.executable, "tutorials/08_gpu_cupy.py"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tolerance" in result.stdout and "skipp" not in result.stdout.lower()
