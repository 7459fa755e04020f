import subprocess
import sys
from pathlib import Path

import pytest

from dmf_np.cli import main


@pytest.mark.slow
@pytest.mark.parametrize("model", ["emf", "imf", "dmf"])
def test_gradcheck_command_passes(model, capsys):
    assert main(["gradcheck", "--model", model, "--modalities", "3", "--depth", "4"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("max_rel_error=") and float(last.split("=")[1]) < 1e-6


def test_gradcheck_fails_above_tolerance(capsys):
    assert main(["gradcheck", "--model", "dmf", "--tol", "1e-30"]) == 1


def test_unknown_backend_is_a_clean_error(capsys):
    assert main(["gradcheck", "--backend", "jax"]) == 2
    assert "unknown backend 'jax'" in capsys.readouterr().err


@pytest.mark.slow
def test_info_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "dmf_np", "info"], capture_output=True, text=True, check=True)
    assert "backend numpy: available" in out.stdout


@pytest.mark.slow
def test_demo_prints_three_losses(capsys):
    assert main(["demo", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert all(s in out for s in ("EMF:", "IMF:", "DMF:"))


def test_params_command_reports_ratio(capsys):
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    assert "DMF: 1,362,634" in out and "2.48x EMF" in out


def test_version_matches_pyproject():
    import tomllib

    import dmf_np

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert dmf_np.__version__ == project["version"]


def test_every_command_has_help(capsys):
    from dmf_np.cli import COMMANDS

    for name in COMMANDS:
        try:
            status = main([name, "--help"])
        except SystemExit as exc:  # argparse's --help
            status = exc.code
        assert status == 0, name
        assert "usage: python " in capsys.readouterr().out, name


def test_unknown_command_is_named(capsys):
    with pytest.raises(SystemExit):
        main(["nosuch"])
    assert "invalid choice: 'nosuch'" in capsys.readouterr().err


def test_bench_script_runs_from_a_checkout():
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "bench/bench.py", "--help"], capture_output=True, text=True, check=True,
                         cwd=root)
    assert "--threads" in out.stdout
