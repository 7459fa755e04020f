"""Fault injection: each fault ends in one line (no traceback) and loses nothing that was finished.

The runs are the tiny preset on generated digits through the real command line (tests/fault_child.py
runs it in a child process, so that it can be killed or limited); a clean run of the same protocol
is the reference every recovered run must equal, bit for bit.
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}


def child(out, epochs="2", kill_at=None, **kwargs) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "tests.fault_child", str(out), str(epochs)] + ([str(kill_at)] if kill_at else [])
    return subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300, **kwargs)


def results(out) -> dict:
    """Every unit's stored result (fingerprint, history, final errors), keyed by its path."""
    out = Path(out) / "units"
    return {str(p.relative_to(out)): json.loads(p.read_text()) for p in sorted(out.rglob("result.json"))}


def numbers(out) -> dict:
    """What must be bit-identical between a recovered run and the reference: every unit's fingerprint,
    per-epoch history and final errors."""
    return {k: (r["fingerprint"], r.get("history"), r.get("final")) for k, r in results(out).items()}


def one_line_error(proc) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    proc = child(out)
    assert proc.returncode == 0, proc.stderr
    return out


def no_litter(out):
    assert not list(Path(out).rglob("*.tmp")), list(Path(out).rglob("*.tmp"))


@pytest.mark.slow
def test_two_protocols_started_together_never_mix(tmp_path, reference):
    out = tmp_path / "run"
    procs = [subprocess.Popen([sys.executable, "-m", "tests.fault_child", str(out), e], cwd=ROOT, env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for e in ("2", "3")]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], outs  # one ran; the other was refused (lock held, or the protocol differs)
    loser = outs[codes.index(2)][1]
    assert "Traceback" not in loser and ("is in use by pid" in loser or "different protocol" in loser), loser
    epochs = json.loads((out / "config.json").read_text())["protocol"]["preset"]["finetune_epochs"]
    assert {len(r["history"]["train_loss"]) for r in results(out).values()} == {epochs}
    if epochs == 2:
        assert numbers(out) == numbers(reference)


@pytest.mark.slow
def test_a_second_process_is_refused_with_the_holder_named(tmp_path):
    from dmf_np.experiments.rundir import RunDir

    rd = RunDir(tmp_path / "run")
    rd.start({"held": True})  # this process holds the lock
    proc = child(tmp_path / "run")
    line = one_line_error(proc)
    assert f"is in use by pid {os.getpid()} on" in line and "choose another --out" in line
    assert not (tmp_path / "run" / "units").exists()
    rd.release()


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [3, 17, 40])
def test_kill_mid_write_then_resume_is_bit_identical(tmp_path, reference, kill_at):
    out = tmp_path / "run"
    proc = child(out, kill_at=kill_at)
    assert proc.returncode == -9  # SIGKILL between writing a temporary file and renaming it
    assert list(out.rglob("*.tmp")), "the kill should have left a temporary file"
    proc = child(out)
    assert proc.returncode == 0, proc.stderr
    no_litter(out)
    assert numbers(out) == numbers(reference)


@pytest.mark.slow
def test_kill_at_unit_boundaries_then_resume_is_bit_identical(tmp_path, reference):
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "tests.fault_child", str(out), "2"], cwd=ROOT, env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(out.rglob("result.json"))) < 3 and time.time() < deadline and p.poll() is None:
        time.sleep(0.005)
    p.kill()
    p.wait()
    assert 0 < len(list(out.rglob("result.json"))) < len(results(reference))
    proc = child(out)
    assert proc.returncode == 0, proc.stderr
    no_litter(out)
    assert numbers(out) == numbers(reference)


@pytest.mark.slow
def test_protocol_change_after_config_is_deleted_recomputes_and_keeps_the_old(tmp_path, reference):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    (out / "config.json").unlink()
    proc = child(out, epochs="3")
    assert proc.returncode == 0, proc.stderr
    assert "recomputing clean/dmf/seed0/lr0.1: made under another protocol (preset.finetune_epochs: 2 -> 3" \
        in proc.stdout
    stale = [json.loads(p.read_text()) for p in (out / "stale").rglob("result.json")]
    assert stale and {len(r["history"]["train_loss"]) for r in stale} == {2}  # the old units, kept aside
    fresh = tmp_path / "fresh"
    assert child(fresh, epochs="3").returncode == 0
    used, kept = numbers(fresh), numbers(out)
    assert {k: kept[k] for k in used} == used  # every unit the run reads is the new protocol's
    assert json.loads((out / "metrics.json").read_text())["readings"] == \
        json.loads((fresh / "metrics.json").read_text())["readings"]


@pytest.mark.slow
def test_units_copied_from_another_protocol_are_not_reused(tmp_path, reference):
    out = tmp_path / "run"
    assert child(out, epochs="3").returncode == 0
    before = numbers(out)
    unit = Path("clean/dmf/seed0/lr0.1")
    shutil.rmtree(out / "units" / unit)
    shutil.copytree(reference / "units" / unit, out / "units" / unit)  # a 2-epoch unit in a 3-epoch run
    proc = child(out, epochs="3")
    assert proc.returncode == 0 and f"recomputing {unit}" in proc.stdout
    assert numbers(out) == before


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))  # checkpoints are ~400 kB: the first fails


@pytest.mark.slow
def test_full_disk_is_one_line_and_the_rerun_completes(tmp_path, reference):
    out = tmp_path / "run"
    proc = child(out, preexec_fn=_limit_file_size)
    line = one_line_error(proc)
    assert "cannot write" in line and "File too large" in line and "rerun the same command" in line
    proc = child(out)
    assert proc.returncode == 0, proc.stderr
    no_litter(out)
    assert numbers(out) == numbers(reference)


def _read_only(path: Path):
    """Make ``path`` unwritable even for root (chattr +i), or skip; returns the undo function."""
    if os.geteuid() != 0:
        path.chmod(0o500)
        return lambda: path.chmod(0o700)
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is unavailable: nothing is read-only to root")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_directory_is_one_line_and_creates_nothing(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    undo = _read_only(ro)
    try:
        proc = child(ro / "run")
        line = one_line_error(proc)
        assert "--out" in line and "not writable" in line
        assert not list(ro.iterdir())
    finally:
        undo()


@pytest.mark.slow
@pytest.mark.parametrize("text", ["{}", "[1, 2]", '{"val_\x01error": 3}', ""])
def test_malformed_result_json_is_recomputed_and_kept(tmp_path, reference, text):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    bad = out / "units" / "clean" / "emf" / "seed0" / "lr0.03" / "result.json"
    bad.write_text(text)
    proc = child(out)
    assert proc.returncode == 0, proc.stderr
    assert "recomputing clean/emf/seed0/lr0.03" in proc.stdout
    assert numbers(out) == numbers(reference)
    assert [p.read_text() for p in (out / "stale").rglob("result.json")] == [text]  # the bad file is kept


@pytest.mark.parametrize("text", ["[]", "{not json", '{"protocol": 3}'])
def test_malformed_config_json_is_one_line(tmp_path, text):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(text)
    line = one_line_error(child(out))
    assert str(out / "config.json") in line and "another --out" in line
    assert (out / "config.json").read_text() == text


@pytest.mark.parametrize("args, words", [
    (["--seed", "-5"], "argument --seed: -5 is negative"),
    (["--epochs", "0"], "argument --epochs: 0 must be at least 1"),
    (["--levels", "0,abc"], "argument --levels: 'abc' is not an integer percentage"),
    (["--lr-grid", "nan"], "argument --lr-grid: nan is not a finite positive learning rate"),
    (["--scheduler", "foo:bar"], "argument --scheduler: 'foo:bar' is neither 'local' nor a Dask scheduler"),
    (["--jobs", "0"], "argument --jobs: 0 must be at least 1"),
])
def test_bad_options_are_one_line_and_create_nothing(tmp_path, args, words):
    from dmf_np.cli import main

    proc = subprocess.run([sys.executable, "-m", "dmf_np", "reproduce", "table1", "--preset", "tiny", "--out",
                           str(tmp_path / "run"), *args], cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert words in one_line_error(proc)
    assert not (tmp_path / "run").exists()
    assert main is not None


def test_figures_naming_a_file_is_refused_before_training(tmp_path):
    (tmp_path / "figs").write_text("mine")
    proc = subprocess.run([sys.executable, "-m", "dmf_np", "reproduce", "table1", "--preset", "tiny", "--out",
                           str(tmp_path / "run"), "--figures", str(tmp_path / "figs")], cwd=ROOT, env=ENV,
                          capture_output=True, text=True)
    assert "--figures" in one_line_error(proc) and not (tmp_path / "run").exists()
    assert (tmp_path / "figs").read_text() == "mine"


@pytest.mark.slow
def test_unreachable_scheduler_is_one_line_within_seconds(tmp_path):
    pytest.importorskip("distributed")
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "tests.fault_child", str(tmp_path / "run"), "2"], cwd=ROOT,
                          env={**ENV, "DMF_TEST_SCHEDULER": "tcp://127.0.0.1:1"}, capture_output=True, text=True)
    assert time.time() - t0 < 40
    assert "no Dask scheduler answered within 10 s" in one_line_error(proc)


def test_corrupt_mnist_cache_is_one_line(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mnist-uint8.npz").write_bytes(b"PK\x03\x04 truncated")
    proc = subprocess.run([sys.executable, "-m", "dmf_np", "reproduce", "table1", "--preset", "tiny", "--out",
                           str(tmp_path / "run"), "--cache", str(cache)], cwd=ROOT, env=ENV, capture_output=True,
                          text=True)
    line = one_line_error(proc)
    assert "mnist-uint8.npz is unreadable" in line and "delete it" in line and "pickle" not in line


def test_result_files_honour_the_umask(tmp_path):
    from dmf_np.io import atomic_write_json

    old = os.umask(0o022)
    try:
        assert (atomic_write_json(tmp_path / "a.json", {}).stat().st_mode & 0o777) == 0o644
        os.umask(0o077)
        assert (atomic_write_json(tmp_path / "b.json", {}).stat().st_mode & 0o777) == 0o600
    finally:
        os.umask(old)
