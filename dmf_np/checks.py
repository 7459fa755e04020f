"""Input validation at the edges of the library: clear messages instead of silent garbage.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong kind of object) whose message names
the argument, what was expected and what was found. The checks run once per call at the API
boundary (``forward``, ``loss_and_grads``, ``fit_classifier``); the compute code behind them trusts
its inputs.
"""
from __future__ import annotations

import numpy  # dtype logic only: CuPy arrays carry NumPy dtypes

from .backend import array_module


def _is_array(x) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "ndim")


def check_array(x, name: str, ndim: int | None = None, finite: bool = True, floating: bool = True):
    """Check one array's kind, rank, dtype and values; returns it unchanged."""
    if not _is_array(x):
        hint = "; convert it with numpy.asarray(..., dtype='float32')" if isinstance(x, (list, tuple)) else ""
        raise TypeError(f"{name} must be a NumPy or CuPy array, got {type(x).__name__}{hint}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    xp = array_module(x)
    if floating and not numpy.issubdtype(x.dtype, numpy.floating):
        raise TypeError(f"{name} must be a floating-point array (float32 or float64), got dtype {x.dtype};"
                        f" convert it, e.g. x.astype('float32') / 255 for pixel values")
    if finite and floating and x.size and not bool(xp.isfinite(x).all()):
        bad = int((~xp.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return x


def check_modalities(xs, arch, finite: bool = True):
    """Check a list of per-modality batches against an Architecture: count, shapes, dtypes, values.

    Each xs[m] must be a 2-D floating array of shape (N, n^m_1) with N >= 1, the same N and dtype
    for every modality, and (``finite``) no NaN or infinity.
    """
    if isinstance(xs, (str, bytes)) or not hasattr(xs, "__len__") or hasattr(xs, "shape"):
        raise TypeError(f"inputs must be a list of {arch.M} arrays, one per modality "
                        f"({', '.join(arch.names)}), got {type(xs).__name__}")
    if len(xs) != arch.M:
        raise ValueError(f"expected {arch.M} modalities ({', '.join(arch.names)}), got {len(xs)} input arrays")
    n = None
    for m, (x, name) in enumerate(zip(xs, arch.names)):
        label = f"input of modality {name!r} (#{m})"
        check_array(x, label, ndim=2, finite=finite)
        if x.shape[1] != arch.input_sizes[m]:
            raise ValueError(f"{label} must have {arch.input_sizes[m]} features per row, got shape {tuple(x.shape)}")
        if n is None:
            n = x.shape[0]
        elif x.shape[0] != n:
            raise ValueError(f"batch sizes differ between modalities: {arch.names[0]!r} has {n} rows, "
                             f"{name!r} has {x.shape[0]}")
    if n == 0:  # a mean over no examples is NaN: refuse it here rather than return NaN with warnings
        raise ValueError("the inputs have 0 rows: a batch needs at least one example")
    dtypes = {str(x.dtype) for x in xs}
    if len(dtypes) > 1:
        raise TypeError(f"all modalities must share one dtype, got {sorted(dtypes)}")
    return xs


def check_labels(labels, n: int, n_classes: int | None):
    """Check class labels: a 1-D integer array, one per example, each in [0, n_classes).

    Negative labels are refused explicitly: NumPy indexing would wrap -1 round to the last class
    and give a wrong loss without an error.
    """
    if n_classes is None:
        raise ValueError("this network has no classifier (n_classes=None), so it takes no labels")
    if not _is_array(labels):
        hint = "; convert it with numpy.asarray(labels)" if isinstance(labels, (list, tuple, range)) else ""
        raise TypeError(f"labels must be an integer array, got {type(labels).__name__}{hint}")
    if labels.ndim != 1:
        if labels.ndim == 2 and labels.shape[1] == n_classes and labels.shape[0] == n:
            hint = "; these look one-hot: pass labels.argmax(axis=1)"
        elif labels.ndim == 2 and labels.shape[1] == 1:
            hint = "; pass labels.ravel()"
        else:
            hint = ""
        raise ValueError(f"labels must be 1-D, shape ({n},), one class index per example, "
                         f"got shape {tuple(labels.shape)}{hint}")
    if labels.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},), one per example (row of the inputs), "
                         f"got {labels.shape[0]} labels")
    if not numpy.issubdtype(labels.dtype, numpy.integer):
        hint = "; convert them with labels.astype(int)" if numpy.issubdtype(labels.dtype, numpy.floating) else ""
        raise TypeError(f"labels must be integer class indices in [0, {n_classes}), got dtype {labels.dtype}{hint}")
    if not n:
        return labels
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= n_classes:
        xp = array_module(labels)
        first = int(xp.flatnonzero((labels < 0) | (labels >= n_classes))[0])
        raise ValueError(f"labels must lie in [0, {n_classes}) for {n_classes} classes, got range [{lo}, {hi}] "
                         f"(first out of range: labels[{first}] = {int(labels[first])})")
    return labels


def check_params(params: dict, arch):
    """Check a parameter dict against an Architecture: same keys, shapes, one floating dtype."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays keyed like Architecture.param_shapes() "
                        f"(e.g. from init_params), got {type(params).__name__}")
    shapes = arch.param_shapes()
    missing = [k for k in shapes if k not in params]
    extra = [k for k in params if k not in shapes]
    if missing or extra:
        expected = ", ".join(f"{k} {shapes[k]}" for k in missing)
        raise ValueError(f"parameters do not match the {arch.scheme.upper()} architecture: "
                         + (f"missing {expected}" if missing else "")
                         + ("; " if missing and extra else "")
                         + (f"unexpected {extra}" if extra else "")
                         + " (init_params(arch, rng) makes a complete set)")
    dtypes = {}
    for k, shape in shapes.items():
        p = params[k]
        if not _is_array(p):
            raise TypeError(f"parameter {k} must be a NumPy or CuPy array of shape {shape}, got {type(p).__name__}")
        if tuple(p.shape) != tuple(shape):
            hint = ("; it looks transposed: weights are (n_out, n_in)"
                    if len(shape) == 2 and tuple(p.shape) == tuple(shape)[::-1] else "")
            raise ValueError(f"parameter {k} must have shape {shape}, got {tuple(p.shape)}{hint}")
        if not numpy.issubdtype(p.dtype, numpy.floating):
            raise TypeError(f"parameter {k} must be a floating-point array, got dtype {p.dtype}")
        dtypes.setdefault(str(p.dtype), k)
    if len(dtypes) > 1:
        raise TypeError("all parameters must share one dtype, got "
                        + ", ".join(f"{d} (e.g. {k})" for d, k in dtypes.items())
                        + "; convert them all, e.g. {k: v.astype('float32') for k, v in params.items()}")
    return params
