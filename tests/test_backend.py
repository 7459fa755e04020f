import numpy as np
import pytest

from dmf_np import backend


def test_numpy_is_default(monkeypatch):
    monkeypatch.delenv("DMF_BACKEND", raising=False)
    assert backend.get_xp() is np


def test_env_variable_selects_backend(monkeypatch):
    monkeypatch.setenv("DMF_BACKEND", "numpy")
    assert backend.get_xp() is np
    monkeypatch.setenv("DMF_BACKEND", "tensorflow")
    with pytest.raises(backend.BackendError, match="unknown backend 'tensorflow'.*DMF_BACKEND"):
        backend.get_xp()


def test_unknown_backend_is_named():
    with pytest.raises(backend.BackendError, match="unknown backend 'jax'"):
        backend.get_xp("jax")


def test_cupy_without_gpu_gives_clear_error():
    ok, why = backend.cupy_status()
    if ok:
        pytest.skip("a GPU is available here")
    with pytest.raises(backend.BackendError, match="cupy.*unusable"):
        backend.get_xp("cupy")


def test_rng_is_seeded_and_local(xp):
    a = backend.make_rng(7, xp).random(5)
    b = backend.make_rng(7, xp).random(5)
    c = backend.make_rng(8, xp).random(5)
    assert np.array_equal(backend.to_host(a), backend.to_host(b))
    assert not np.array_equal(backend.to_host(a), backend.to_host(c))


def test_host_device_round_trip(xp):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    d = backend.to_device(x, xp)
    assert backend.array_module(d) is xp
    back = backend.to_host(d)
    assert isinstance(back, np.ndarray) and np.array_equal(back, x)


def test_spawn_seeds_are_distinct_and_reproducible():
    assert backend.spawn_seeds(3, 4) == backend.spawn_seeds(3, 4)
    assert len(set(backend.spawn_seeds(3, 4))) == 4


def test_describe_lists_backends():
    text = backend.describe()
    assert "backend numpy: available" in text and "backend cupy:" in text and "BLAS" in text


def test_describe_judges_dmf_backend(monkeypatch):
    monkeypatch.delenv("DMF_BACKEND", raising=False)
    assert "$DMF_BACKEND = (unset: numpy)" in backend.describe()
    monkeypatch.setenv("DMF_BACKEND", "numpy")
    assert backend.env_backend_line() == "$DMF_BACKEND = numpy"
    monkeypatch.setenv("DMF_BACKEND", "foo")
    assert "foo is not a valid backend; valid values: numpy, cupy" in backend.describe()
    ok, _ = backend.cupy_status()
    monkeypatch.setenv("DMF_BACKEND", "cupy")
    assert ("not usable here" in backend.env_backend_line()) == (not ok)
