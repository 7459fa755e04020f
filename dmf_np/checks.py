"""Input validation at the edges of the library: clear messages instead of silent garbage.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong kind of object) whose message names
the argument, what was expected and what was found.
"""
from __future__ import annotations

import numpy  # dtype logic only: CuPy arrays carry NumPy dtypes

from .backend import array_module


def check_array(x, name: str, ndim: int | None = None, finite: bool = True, floating: bool = True):
    """Check one array's kind, rank, dtype and values; returns it unchanged."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be a NumPy or CuPy array, got {type(x).__name__}")
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
    """Check a list of per-modality batches against an Architecture: count, shapes, dtypes, values."""
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
    dtypes = {str(x.dtype) for x in xs}
    if len(dtypes) > 1:
        raise TypeError(f"all modalities must share one dtype, got {sorted(dtypes)}")
    return xs


def check_labels(labels, n: int, n_classes: int):
    """Check class labels: 1-D integers in [0, n_classes), one per example."""
    if not hasattr(labels, "dtype"):
        raise TypeError(f"labels must be an integer array, got {type(labels).__name__}")
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},), one per example, got {tuple(labels.shape)}")
    if not numpy.issubdtype(labels.dtype, numpy.integer):
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got range [{int(labels.min())}, {int(labels.max())}]")
    return labels


def check_params(params: dict, arch):
    """Check a parameter dict against an Architecture: same keys, shapes, one floating dtype."""
    shapes = arch.param_shapes()
    missing = [k for k in shapes if k not in params]
    extra = [k for k in params if k not in shapes]
    if missing or extra:
        raise ValueError(f"parameters do not match the {arch.scheme.upper()} architecture: "
                         f"missing {missing}, unexpected {extra}")
    for k, shape in shapes.items():
        if tuple(params[k].shape) != tuple(shape):
            raise ValueError(f"parameter {k} must have shape {shape}, got {tuple(params[k].shape)}")
    return params
