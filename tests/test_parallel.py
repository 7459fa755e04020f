"""Parallel units (dmf_np.experiments.parallel): the same tables, bit for bit, as the serial run.

A unit reads only its arguments and its own files and runs with one BLAS thread, so running the units
on worker processes, in whatever order, must give exactly the serial run's results. The serial run
here is made under threadpool_limits(1), like the workers' units.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from dmf_np.data.damage import DamageSpec
from dmf_np.data.synthetic import fake_digits
from dmf_np.experiments import mnist as E
from dmf_np.experiments.parallel import DaskMissing, make_executor, single_threaded, wait_all


def _tiny(seed=3):
    return E.Options(E.PRESETS["tiny"], DamageSpec(), seed=seed, show_progress=False)


def _serial(out):
    return single_threaded(E.run_experiment, fake_digits(), out, _tiny(), log=lambda _m: None)


def _tables(metrics):
    """Everything a reader sees: tuning scores, chosen rates, every table cell and curve."""
    return json.dumps({"tuning": metrics["tuning"], "readings": metrics["readings"],
                       "missing": metrics["missing"]}, sort_keys=True)


def _histories(out):
    """Every unit's per-epoch history, keyed by the unit's path in the run directory."""
    return {str(p.relative_to(out)): json.loads(p.read_text()).get("history")
            for p in sorted(out.rglob("result.json"))}


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    return out, _serial(out)


def _square(x):
    return x * x


def test_make_executor_refuses_bad_jobs():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="jobs must be a positive integer"):
            make_executor(bad)
    with pytest.raises(ValueError, match="scheduler must be"):
        make_executor(2, "")


def test_missing_dask_is_named(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("no module named distributed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(DaskMissing, match=r"pip install 'dask\[distributed\]'"):
        make_executor(2, "local")


def test_process_pool_runs_and_reports_failures():
    with make_executor(2) as ex:
        assert ex.workers == 2
        assert wait_all(ex.submit(_square, i) for i in range(5)) == [0, 1, 4, 9, 16]
        with pytest.raises(TypeError):
            wait_all([ex.submit(_square, "x")])


def test_workers_use_one_blas_thread():
    from threadpoolctl import threadpool_info

    with make_executor(1) as ex:
        pools = ex.submit(threadpool_info).result()
    assert pools, "threadpoolctl found no BLAS pool in the worker"
    assert all(p["num_threads"] == 1 for p in pools), pools


@pytest.mark.slow
def test_process_pool_gives_the_serial_tables(serial_run, tmp_path):
    serial_out, serial = serial_run
    out = tmp_path / "jobs2"
    parallel = E.run_experiment(fake_digits(), out, _tiny(), log=lambda _m: None, jobs=2)
    assert parallel["complete"] and serial["complete"]
    assert _tables(parallel) == _tables(serial)
    assert _histories(out) == _histories(serial_out)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_tables(serial_run, tmp_path):
    pytest.importorskip("distributed")
    serial_out, serial = serial_run
    out = tmp_path / "dask2"
    parallel = E.run_experiment(fake_digits(), out, _tiny(), log=lambda _m: None, jobs=2, scheduler="local")
    assert _tables(parallel) == _tables(serial)
    assert _histories(out) == _histories(serial_out)
    # and the weights themselves: every checkpoint array equal to the serial run's
    for path in sorted(serial_out.rglob("finetune.npz")):
        with np.load(path) as a, np.load(out / path.relative_to(serial_out)) as b:
            for key in a.files:
                if key != "meta.json":
                    assert np.array_equal(a[key], b[key]), (path, key)


@pytest.mark.slow
def test_cli_jobs_2(serial_run, tmp_path, monkeypatch):
    """`reproduce table1 --preset tiny --jobs 2` through the command line's main."""
    from dmf_np.cli import main

    serial_out, serial = serial_run
    monkeypatch.setattr("dmf_np.data.mnist.load_mnist", lambda *a, **k: fake_digits())
    monkeypatch.setattr("dmf_np.commands.reproduce.load_mnist", lambda *a, **k: fake_digits())
    out = tmp_path / "cli"
    rc = main(["reproduce", "table1", "--preset", "tiny", "--seed", "3", "--out", str(out), "--no-progress",
               "--jobs", "2"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert _tables(metrics) == _tables(serial)


def test_inline_executor_runs_here_and_hands_back_failures():
    import os

    with make_executor(1, inline=True) as ex:
        assert ex.submit(os.getpid).result() == os.getpid()
        assert wait_all(ex.submit(_square, i) for i in range(3)) == [0, 1, 4]
        with pytest.raises(TypeError):
            wait_all([ex.submit(_square, "x")])
