"""The CuPy stand-in refuses what CuPy refuses and allows what CuPy allows (tests/cupy_standin.py).

If it were laxer than CuPy, the device-path tests would pass here and fail on a GPU; if stricter, they
would fail for nothing. Each case below is one rule read from CuPy's source or documentation.
"""
import numpy as np
import pytest

import cupy_standin
from dmf_np import backend

cp = cupy_standin.cupy
HOST = np.ones((3, 4), np.float32)


def dev(a=HOST):
    return cp.asarray(a)


REFUSED = {
    "device + host": (lambda: dev() + HOST, TypeError),
    "host + device": (lambda: HOST + dev(), TypeError),
    "xp function on a host array": (lambda: cp.matmul(dev(), np.ones((4, 2), np.float32)), TypeError),
    "host array as out=": (lambda: cp.exp(dev(), out=np.empty((3, 4), np.float32)), TypeError),
    "xp.concatenate with a host array": (lambda: cp.concatenate([dev(), HOST]), TypeError),
    "numpy function mixing host and device": (lambda: np.concatenate([dev(), HOST]), TypeError),
    "numpy.asarray(device)": (lambda: np.asarray(dev()), TypeError),
    "numpy.float32(0-d device)": (lambda: np.float32(dev().sum()), TypeError),
    "a 0-d device array as a list index": (lambda: [1, 2, 3][dev(np.array(1))], TypeError),
    "non-scalar host value into a slice": (lambda: dev().__setitem__(slice(0, 2), HOST[:2]), ValueError),
    "Generator.normal": (lambda: cp.random.default_rng(0).normal(0, 1, 3), AttributeError),
    "Generator.permutation": (lambda: cp.random.default_rng(0).permutation(5), AttributeError),
    "Generator.choice": (lambda: cp.random.default_rng(0).choice(5), AttributeError),
    "random out= of another dtype": (lambda: cp.random.default_rng(0).random((3, 4), dtype=np.float64,
                                                                          out=dev()), TypeError),
    "the .ctypes attribute": (lambda: dev().ctypes, AttributeError),
    "take into another dtype": (lambda: cp.take(dev(), dev(np.array([0])), axis=0,
                                                out=cp.empty((1, 4), np.float64)), TypeError),
    "argsort kind='quicksort'": (lambda: cp.argsort(dev(), kind="quicksort"), ValueError),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_refuses_what_cupy_refuses(case):
    action, error = REFUSED[case]
    with pytest.raises(error):
        action()


def test_allows_what_cupy_allows_and_returns_what_cupy_returns(monkeypatch):
    cupy_standin.install(monkeypatch)
    a = dev()
    assert backend.array_module(a) is not np and isinstance(a, cp.ndarray)
    total = a.sum()
    assert isinstance(total, cp.ndarray) and total.shape == ()      # 0-d array, not a scalar
    assert float(total) == 12.0 and f"{total:.1f}" == "12.0" and np.float64(total) == 12.0
    assert isinstance(a[0, 0], cp.ndarray)                          # full indexing: 0-d as well
    assert (a * np.float32(2)).dtype == np.float32 and (a * 2.0).dtype == np.float32
    assert isinstance(np.exp(a), cp.ndarray) and isinstance(np.concatenate([a, a]), cp.ndarray)
    rows = a[np.array([0, 2])]                                      # host index arrays are copied in
    assert rows.shape == (2, 4) and a[[0, 1]].shape == (2, 4)
    a[np.array([0])] = np.zeros((1, 4), np.float32)                 # advanced index, host value
    a[1:2] = 0.0
    cp.copyto(a, np.array([3.0], np.float32))                       # one-element host array: a scalar
    assert backend.to_host(a).tolist() == [[3.0] * 4] * 3
    u = cp.empty((3, 4), np.float32)
    assert cp.random.default_rng(np.random.SeedSequence(1)).random((3, 4), dtype=np.float32, out=u) is u
    host = a.get()
    assert type(host) is np.ndarray and host is not a.get()
