"""A CPU stand-in for CuPy, as strict as CuPy about what lives on the host and what on the device.

Why it exists: the CuPy cases of the suite skip without a GPU, and most machines this project runs
on have none, so the code that only CuPy takes (every ``xp is not numpy`` branch, ``.get()``, device
random generators, 0-d arrays where NumPy gives scalars) would otherwise go untested until a GPU
turns up. The stand-in computes with NumPy underneath but refuses, with a TypeError or an
AttributeError as CuPy does, what CuPy refuses:

* mixing a NumPy array into an operation on device arrays (``device + host``, ``xp.matmul(device,
  host)``, a host array as ``out=``, a non-scalar host array assigned to a slice);
* implicit conversion to NumPy (``numpy.asarray(device)``, ``numpy.float32(device)``): CuPy asks
  for an explicit ``.get()``;
* a method CuPy's ``random.Generator`` does not have (``normal``, ``permutation``, ``choice``...);
* ``out=`` of another dtype or shape in the generator methods;
* ``int`` indexing with a 0-d device array (CuPy arrays have no ``__index__``);
* ``take(..., out=)`` into another dtype, ``argsort`` with a ``kind`` other than None or 'stable'.

It lets through what CuPy lets through: host index arrays and lists (CuPy copies them to the device),
NumPy scalars, ``float()``, ``numpy.float64()`` and ``format()`` of a 0-d array. It is NumPy 2
underneath, so type promotion follows NEP 50 like CuPy 14 (CuPy 13 kept float32 for
``float32 array * numpy.float64 scalar``).
What CuPy does was read from its source (cupy/_core/core.pyx, _routines_indexing.pyx, _kernel.pyx,
cupy/random/_generator_api.pyx) and its "Differences between CuPy and NumPy" page.

It also returns what CuPy returns: reductions and full indexing give 0-d device arrays, not scalars.
It says nothing about CuPy's numerics or speed; tests/test_parity.py does that on a real GPU.

Use: ``install(monkeypatch)`` makes ``dmf_np.backend`` see it as CuPy on a usable GPU and returns the
module (the ``xp`` fixture in conftest.py does this for its ``cupy-standin`` case).
"""
from __future__ import annotations

import types

import numpy as np

__version__ = "0+standin"

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed (CuPy stand-in). "
             "Use .get() or dmf_np.backend.to_host to copy a device array to the host explicitly.")

# Names in numpy that CuPy does not have (text I/O, masked and record arrays, memmaps; errstate
# and seterr live in cupyx); asking the stand-in for one raises AttributeError, as asking CuPy would.
_NOT_IN_CUPY = {"loadtxt", "savetxt", "genfromtxt", "memmap", "errstate", "seterr", "geterr",
                "ma", "char", "rec", "ctypeslib"}
# ndarray attributes NumPy has and CuPy lacks (or means something else by, like .data).
_NOT_ON_CUPY_ARRAY = {"ctypes", "data", "tofile", "tostring", "setflags", "byteswap",
                      "newbyteorder", "resize", "itemset", "__array_interface__", "__array_struct__",
                      "getfield", "setfield", "dump", "dumps"}


class ndarray:  # named as CuPy names it, so that xp.ndarray reads the same
    """A device array: a NumPy array that may only meet other device arrays and scalars."""

    # dmf_np.backend recognises a CuPy array by the module of its type.
    __module__ = "cupy_standin"
    __slots__ = ("_a",)
    __hash__ = None

    def __init__(self, a):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"stand-in ndarray wraps a numpy.ndarray, got {type(a).__name__}")
        self._a = a

    # --- what NumPy sees -----------------------------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        result = getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs))
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        if func.__name__ in _NOT_IN_CUPY:
            return NotImplemented
        out = kwargs.get("out")
        result = func(*_unwrap(args), **_unwrap(kwargs))
        return out if out is not None else _wrap(result)

    # --- explicit transfers and Python scalars ----------------------------------------------------
    def get(self, stream=None, order="C", out=None):
        if out is not None:
            np.copyto(out, self._a)
            return out
        return np.array(self._a, order=order, copy=True)

    def item(self, *args):
        return self._a.item(*args)

    def tolist(self):
        return self._a.tolist()

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __complex__(self):
        return complex(self._a)

    def __bool__(self):
        return bool(self._a)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (_wrap(row) for row in self._a)

    def __format__(self, spec):
        return format(self._a, spec)

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):
        return (ndarray, (self._a.copy(),))

    # --- attributes ----------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))

    def __getattr__(self, name):
        if name == "_a":  # not set yet (during unpickling or copying): no recursion
            raise AttributeError(name)
        if name in _NOT_ON_CUPY_ARRAY:
            raise AttributeError(f"CuPy arrays have no attribute {name!r} (CuPy stand-in)")
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args, **kwargs):
            out = kwargs.get("out")
            result = attr(*_unwrap(args), **_unwrap(kwargs))
            return out if out is not None else _wrap(result)
        return method

    # --- indexing ------------------------------------------------------------------------------
    def take(self, indices, axis=None, out=None):
        return take(self, indices, axis=axis, out=out)

    def argsort(self, axis=-1, kind=None):
        return argsort(self, axis=axis, kind=kind)

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap_index(key)])

    def __setitem__(self, key, value):
        key = _unwrap_index(key)
        if isinstance(value, np.ndarray):
            # CuPy copies a host value in for an advanced (array) index but fills a basic one
            # (ints, slices, ...), and fill takes only a scalar.
            basic = all(isinstance(k, (int, np.integer, slice, type(None), type(Ellipsis)))
                        for k in (key if isinstance(key, tuple) else (key,)))
            if basic and value.ndim > 0:
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill (CuPy stand-in); "
                                 "assign xp.asarray(value) instead")
            self._a[key] = value
            return
        self._a[key] = _unwrap(value)


def _binary(ufunc):
    def forward(self, other):
        return ufunc(self, other)

    def reflected(self, other):
        return ufunc(other, self)

    def inplace(self, other):
        return ufunc(self, other, out=(self,))
    return forward, reflected, inplace


for _name, _ufunc in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                      ("truediv", np.true_divide), ("floordiv", np.floor_divide),
                      ("mod", np.remainder), ("pow", np.power), ("matmul", np.matmul),
                      ("and", np.bitwise_and), ("or", np.bitwise_or), ("xor", np.bitwise_xor),
                      ("lshift", np.left_shift), ("rshift", np.right_shift)]:
    _f, _r, _i = _binary(_ufunc)
    setattr(ndarray, f"__{_name}__", _f)
    setattr(ndarray, f"__r{_name}__", _r)
    setattr(ndarray, f"__i{_name}__", _i)
for _name, _ufunc in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                      ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)]:
    setattr(ndarray, f"__{_name}__", _binary(_ufunc)[0])
for _name, _ufunc in [("neg", np.negative), ("pos", np.positive), ("abs", np.absolute),
                      ("invert", np.invert)]:
    setattr(ndarray, f"__{_name}__", lambda self, _u=_ufunc: _u(self))


def _wrap(x):
    """NumPy results as device results: arrays and NumPy scalars become (0-d) device arrays."""
    if isinstance(x, np.ndarray):
        return ndarray(x)
    if isinstance(x, np.generic):
        return ndarray(np.asarray(x))
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, tuple):  # a named tuple, as numpy.linalg returns
        return type(x)(*(_wrap(v) for v in x))
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _unwrap(x):
    """Device arrays to their NumPy arrays; a NumPy array here is a host array in a device call."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError(f"a NumPy (host) array of shape {x.shape} and dtype {x.dtype} was passed "
                        "where CuPy needs a device array (CuPy stand-in); move it with xp.asarray "
                        "or dmf_np.backend.to_device")
    if isinstance(x, tuple):
        return tuple(_unwrap(v) for v in x)
    if isinstance(x, list):
        return [_unwrap(v) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _unwrap_index(key):
    # CuPy accepts device arrays, host (NumPy) arrays and lists, slices and integers as indices; it
    # copies host index arrays to the device itself.
    if isinstance(key, tuple):
        return tuple(_unwrap_index(k) for k in key)
    return key._a if isinstance(key, ndarray) else key


# --- the module namespace ---------------------------------------------------------------------------
def _device_function(func):
    def call(*args, **kwargs):
        out = kwargs.get("out")
        result = func(*_unwrap(args), **_unwrap(kwargs))
        return out if out is not None else _wrap(result)
    call.__name__ = getattr(func, "__name__", "function")
    return call


def asarray(a, dtype=None, order=None, *, blocking=False):
    """Host data to the device (a copy); a device array of the same dtype is returned as it is."""
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else ndarray(a._a.astype(dtype))
    return ndarray(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if isinstance(obj, ndarray):
        obj = obj._a
    return ndarray(np.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    return a.get(order=order, out=out) if isinstance(a, ndarray) else np.asarray(a, order=order)


def take(a, indices, axis=None, out=None):
    """CuPy's take: ``out`` must have exactly the input's dtype (NumPy would cast)."""
    if out is not None and out.dtype != a.dtype:
        raise TypeError(f"Output dtype mismatch: {a.dtype} into {out.dtype} (CuPy stand-in)")
    result = np.take(_unwrap(a), _unwrap_index(indices), axis=axis, out=_unwrap(out))
    return out if out is not None else _wrap(result)


def argsort(a, axis=-1, kind=None):
    """CuPy's argsort: only ``kind=None`` or ``'stable'`` (it always sorts stably)."""
    if kind not in (None, "stable"):
        raise ValueError(f"kind={kind!r} is not supported by CuPy's argsort (CuPy stand-in)")
    return _wrap(np.argsort(_unwrap(a), axis=axis, kind="stable"))


def copyto(dst, src, casting="same_kind", where=True):
    if isinstance(src, np.ndarray) and src.size == 1:
        src = src.reshape(())[()]  # CuPy takes a one-element host array as a scalar
    np.copyto(_unwrap(dst), _unwrap(src), casting=casting, where=_unwrap(where))


class Generator:
    """CuPy's ``random.Generator`` as far as its methods and arguments go (random, uniform,
    integers, standard_normal), drawing from NumPy's PCG64 underneath."""

    def __init__(self, seed):
        if isinstance(seed, ndarray):
            seed = seed.get()
        if not isinstance(seed, (int, np.integer, list, tuple, np.ndarray, np.random.SeedSequence, type(None))):
            raise TypeError(f"CuPy's default_rng takes an int, a sequence of ints or a SeedSequence "
                            f"(stand-in), got {type(seed).__name__}")
        self._rng = np.random.default_rng(seed)

    @staticmethod
    def _check_out(out, dtype, size):
        if not isinstance(out, ndarray):
            raise TypeError("out must be a device array (CuPy stand-in)")
        if out.dtype != np.dtype(dtype):
            raise TypeError(f"Supplied output array has the wrong type. Expected "
                            f"{np.dtype(dtype).name}, got {out.dtype.name}")
        if size is not None and tuple(np.atleast_1d(size)) != out.shape:
            raise ValueError("size must match out.shape when used together")

    def random(self, size=None, dtype=np.float64, out=None):
        if out is not None:
            self._check_out(out, dtype, size)
            self._rng.random(out.shape, dtype=dtype, out=out._a)
            return out
        return _wrap(np.asarray(self._rng.random(size, dtype=dtype)))

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        if out is not None:
            self._check_out(out, dtype, size)
            self._rng.standard_normal(out.shape, dtype=dtype, out=out._a)
            return out
        return _wrap(np.asarray(self._rng.standard_normal(size, dtype=dtype)))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        draw = self._rng.uniform(_unwrap(low), _unwrap(high), size)
        return _wrap(np.asarray(draw).astype(dtype, copy=False))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return _wrap(np.asarray(self._rng.integers(low, high, size, dtype=dtype, endpoint=endpoint)))

    def __getattr__(self, name):
        raise AttributeError(f"CuPy's random.Generator has no method {name!r} (CuPy stand-in); "
                             "draw on the host with a NumPy generator and move the result")


random = types.SimpleNamespace(default_rng=lambda seed=None: Generator(seed), Generator=Generator)


class _Device:
    def __init__(self, device=0):
        self.id = device

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_POOL = _MemoryPool()
cuda = types.SimpleNamespace(
    is_available=lambda: True,
    Device=_Device,
    runtime=types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDeviceProperties=lambda i: {"name": b"CuPy stand-in (NumPy on the CPU)",
                                       "totalGlobalMem": 0, "major": 0, "minor": 0},
        runtimeGetVersion=lambda: 0, driverGetVersion=lambda: 0),
)


def get_default_memory_pool():
    return _POOL


class _Namespace(types.ModuleType):
    """numpy.<name> as a device function, for the names this module does not define itself."""

    def __init__(self, name, source):
        super().__init__(name)
        self._source = source

    def __getattr__(self, name):
        if name.startswith("__") or name in _NOT_IN_CUPY:
            raise AttributeError(f"module 'cupy' has no attribute {name!r} (CuPy stand-in)")
        value = getattr(self._source, name)
        if callable(value) and not isinstance(value, type):  # functions and ufuncs, not dtypes
            return _device_function(value)
        return value  # dtypes, constants, numpy scalar types (CuPy re-exports NumPy's)


def _module():
    mod = _Namespace("cupy_standin", np)
    for name in ("ndarray", "asarray", "array", "asnumpy", "take", "argsort", "copyto", "random", "cuda",
                 "get_default_memory_pool", "__version__"):
        setattr(mod, name, globals()[name])
    mod.linalg = _Namespace("cupy_standin.linalg", np.linalg)
    return mod


cupy = _module()


def install(monkeypatch):
    """Make dmf_np.backend take the stand-in for CuPy on a usable GPU; returns the module."""
    from dmf_np import backend

    monkeypatch.setattr(backend, "_import_cupy", lambda: cupy)
    return cupy
