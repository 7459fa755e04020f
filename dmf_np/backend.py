"""The one place that knows about NumPy and CuPy.

Everything else asks this module for an array module ``xp`` (``numpy`` or ``cupy``) and calls
``xp.<function>``; no compute file imports numpy or cupy itself. The idea is Chainer's and DeZero's:
a handful of functions, and ``xp = array_module(x)`` wherever an array is at hand.

Choice of backend, in order: an explicit argument, else the environment variable ``DMF_BACKEND``
(``numpy`` or ``cupy``), else ``numpy``. CuPy is optional. ``import cupy`` can succeed on a machine
without a GPU, so a GPU is declared present only when ``cupy.cuda.is_available()`` says so; asking for
CuPy without one raises :class:`BackendError` with a message, never a CUDA traceback.

Dtype policy: float32 for training (``DEFAULT_DTYPE``), float64 for gradient checks (``CHECK_DTYPE``).
Random numbers: generators are made here from a seed and passed in by the caller; nothing in dmf_np
draws from a global random state.
"""
from __future__ import annotations

import os

import numpy

BACKENDS = ("numpy", "cupy")
DEFAULT_DTYPE = numpy.float32
CHECK_DTYPE = numpy.float64
ENV_VAR = "DMF_BACKEND"
_ALIASES = {"numpy": "numpy", "np": "numpy", "cpu": "numpy", "cupy": "cupy", "cp": "cupy", "gpu": "cupy",
            "cuda": "cupy"}


class BackendError(ValueError, RuntimeError):
    """A backend was asked for that is unknown or not usable on this machine.

    A ValueError (a bad argument or $DMF_BACKEND), and a RuntimeError as it was first.
    """


def _import_cupy():
    """cupy, or None where it is not installed (or fails to import)."""
    try:
        import cupy  # noqa: PLC0415  (optional dependency, imported lazily)
    except Exception:  # ImportError, or a broken CUDA install raising at import time
        return None
    return cupy


def cupy_status() -> tuple[bool, str]:
    """(usable, reason): whether CuPy can run here, and why not when it cannot."""
    cupy = _import_cupy()
    if cupy is None:
        return False, "CuPy is not installed (pip install cupy-cuda12x or cupy-cuda13x)"
    try:
        ok = bool(cupy.cuda.is_available())
    except Exception as exc:  # driver or runtime library missing
        return False, f"CuPy is installed but CUDA is unusable: {exc}"
    if not ok:
        return False, "CuPy is installed but no CUDA GPU is available on this machine"
    return True, "CuPy can use a CUDA GPU"


def get_xp(name: str | None = None):
    """The array module for a backend name (None: $DMF_BACKEND, else 'numpy')."""
    if name is None:
        name = os.environ.get(ENV_VAR, "numpy") or "numpy"
    key = str(name).strip().lower()
    if _ALIASES.get(key) == "numpy":
        return numpy
    if _ALIASES.get(key) == "cupy":
        ok, why = cupy_status()
        if not ok:
            raise BackendError(f"backend 'cupy' was requested but is unusable: {why}")
        return _import_cupy()
    source = f" (from ${ENV_VAR})" if name == os.environ.get(ENV_VAR) else ""
    raise BackendError(f"unknown backend {name!r}{source}; choose one of {', '.join(BACKENDS)}")


def backend_name(xp) -> str:
    """'numpy' or 'cupy' for an array module."""
    return "numpy" if xp is numpy else "cupy"


def array_module(x):
    """The array module that owns array ``x`` (numpy for anything that is not a CuPy array)."""
    cupy = _import_cupy() if type(x).__module__.startswith("cupy") else None
    return cupy if cupy is not None else numpy


def to_host(x):
    """A NumPy array (copied from the GPU when ``x`` lives there); for metrics, plots and files."""
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return numpy.asarray(x)


def to_device(x, xp, dtype=None):
    """``x`` as an array of module ``xp`` (and ``dtype`` when given)."""
    if xp is numpy:
        return numpy.asarray(to_host(x), dtype=dtype)
    return xp.asarray(x, dtype=dtype)


def make_rng(seed, xp=numpy):
    """A seeded random generator of backend ``xp``; pass it to whatever needs random numbers.

    ``seed`` may be an int or a ``numpy.random.SeedSequence``; the same seed gives the same stream.
    """
    if xp is numpy:
        return numpy.random.default_rng(seed)
    if isinstance(seed, numpy.random.SeedSequence):
        seed = int(seed.generate_state(1)[0])
    return xp.random.default_rng(seed)


def spawn_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent integer seeds derived from one (for seeds per model, per run, ...)."""
    return [int(s.generate_state(1)[0]) for s in numpy.random.SeedSequence(seed).spawn(n)]


def synchronize(xp) -> None:
    """Wait for queued GPU work to finish (a no-op on NumPy); needed before reading a timer."""
    if xp is not numpy:
        xp.cuda.Device().synchronize()


def blas_pools() -> list:
    """NumPy's BLAS thread pools as threadpoolctl sees them: one dict per loaded BLAS library with
    its ``library``, ``version``, ``threads`` and ``architecture`` (the kernel set chosen for this
    CPU). [] when threadpoolctl is missing. The thread count changes float32 summation order, so
    results can differ in the last digits between counts (see docs/reproducibility.md)."""
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415  (imported when needed)
    except ImportError:
        return []
    return [{"library": d.get("internal_api"), "version": d.get("version"), "threads": d.get("num_threads"),
             "architecture": d.get("architecture")}
            for d in threadpool_info() if d.get("user_api") == "blas"]


def blas_info() -> str:
    """A one-line description of NumPy's BLAS (library, version, threads), best effort."""
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415  (optional)

        libs = [f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)"
                for d in threadpool_info() if d.get("user_api") == "blas"]
        if libs:
            return ", ".join(libs)
    except Exception:
        pass
    try:
        cfg = numpy.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        return "unknown"


def env_backend_line() -> str:
    """What $DMF_BACKEND says, and whether it names a usable backend."""
    value = os.environ.get(ENV_VAR)
    if value is None or not value.strip():
        return f"${ENV_VAR} = (unset: numpy)"
    try:
        get_xp(value)
    except BackendError as exc:
        if str(value).strip().lower() in _ALIASES:
            return f"${ENV_VAR} = {value}: not usable here ({exc})"
        return (f"${ENV_VAR} = {value} is not a valid backend; valid values: {', '.join(BACKENDS)} "
                f"(unset it to use numpy)")
    return f"${ENV_VAR} = {value}"


def describe() -> str:
    """The text of ``python -m dmf_np info``: backends, devices, BLAS and versions."""
    import platform  # noqa: PLC0415

    lines = [f"python {platform.python_version()} on {platform.machine()} ({os.cpu_count()} CPUs)",
             f"numpy {numpy.__version__}; BLAS: {blas_info()}",
             "backend numpy: available (default dtype float32, checks in float64)"]
    ok, why = cupy_status()
    cupy = _import_cupy()
    if ok:
        n = cupy.cuda.runtime.getDeviceCount()
        names = []
        for i in range(n):
            props = cupy.cuda.runtime.getDeviceProperties(i)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            names.append(f"{i}: {name}, {props['totalGlobalMem'] / 2**30:.1f} GiB")
        lines.append(f"backend cupy: available, cupy {cupy.__version__}, devices: " + "; ".join(names))
    else:
        lines.append(f"backend cupy: unavailable ({why})")
    lines.append(env_backend_line())
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    for mod in ("matplotlib", "tqdm", "scipy", "threadpoolctl", "torch"):
        try:  # the installed version, without importing the package (torch takes seconds to import)
            lines.append(f"{mod} {version(mod)}")
        except PackageNotFoundError:
            lines.append(f"{mod}: not installed")
    return "\n".join(lines)
