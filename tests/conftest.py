"""One test suite for every backend: the ``xp`` fixture runs a test on NumPy and on CuPy.

CuPy cases skip, with the reason, where CuPy is not installed or no GPU is available.
"""
import numpy as np
import pytest

from dmf_np import backend


@pytest.fixture(params=backend.BACKENDS)
def xp(request):
    if request.param == "cupy":
        ok, why = backend.cupy_status()
        if not ok:
            pytest.skip(why)
    return backend.get_xp(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
