import subprocess
import sys

import pytest

from dmf_np.cli import main


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


def test_demo_prints_three_losses(capsys):
    assert main(["demo", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert all(s in out for s in ("EMF:", "IMF:", "DMF:"))


def test_params_command_reports_ratio(capsys):
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    assert "DMF: 1,362,634" in out and "2.48x EMF" in out
