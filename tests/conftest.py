"""One test suite for every backend: the ``xp`` fixture runs a test on NumPy, on CuPy and on the
CuPy stand-in.

CuPy cases skip, with the reason, where CuPy is not installed or no GPU is available. The stand-in
(tests/cupy_standin.py) runs everywhere: NumPy underneath, but as strict as CuPy about host and
device arrays, so the CuPy code paths are exercised on machines without a GPU.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import cupy_standin
from dmf_np import backend


def _array_module(name, monkeypatch):
    if name == "cupy-standin":
        return cupy_standin.install(monkeypatch)
    if name == "cupy":
        ok, why = backend.cupy_status()
        if not ok:
            pytest.skip(why)
    return backend.get_xp(name)


@pytest.fixture(params=backend.BACKENDS + ("cupy-standin",))
def xp(request, monkeypatch):
    return _array_module(request.param, monkeypatch)


@pytest.fixture(params=("cupy", "cupy-standin"))
def device_xp(request, monkeypatch):
    """A device backend only: real CuPy (skipped without a GPU) and the stand-in."""
    return _array_module(request.param, monkeypatch)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def script():
    """load(name) -> the module of scripts/<name>.py, so a test can call its functions and main()."""
    def load(name):
        path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
