"""Canonical correlation analysis (Hotelling 1936), regularised: the linear baseline of Table 2.

Find projections a_k, b_k maximising corr(X a_k, Y b_k), uncorrelated with the earlier ones.
With centred data, covariances C_xx, C_yy, C_xy and ridge terms:

    C_xx' = C_xx + r_x I,   C_yy' = C_yy + r_y I          (r = reg * trace(C) / d: scale-free)
    T = C_xx'^{-1/2} C_xy C_yy'^{-1/2} = U diag(rho) V^T   (SVD)
    A = C_xx'^{-1/2} U,   B = C_yy'^{-1/2} V                (columns: the canonical directions)

rho are the (regularised) canonical correlations. Both modalities are mapped into one space of
``n_components`` dimensions, where cross-modal retrieval ranks by distance (Rasiwasia et al. 2010
used CCA this way on Wiki). Only the backend's linear algebra (``xp.linalg.eigh``, ``xp.linalg.svd``).
"""
from __future__ import annotations

from dataclasses import dataclass

from .backend import array_module


@dataclass
class CCA:
    """A fitted CCA: means (d_x,), (d_y,); projections A (d_x, k), B (d_y, k); correlations rho (k,)."""

    mean_x: object
    mean_y: object
    A: object
    B: object
    rho: object


def inverse_sqrt(C):
    """C^{-1/2} of a symmetric positive-definite matrix by its eigendecomposition. (d, d) -> (d, d)."""
    xp = array_module(C)
    w, V = xp.linalg.eigh(C)
    if float(w.min()) <= 0:
        raise ValueError(f"covariance is not positive definite (smallest eigenvalue {float(w.min()):.3g});"
                         " increase the regularisation")
    return (V / xp.sqrt(w)) @ V.T


def fit_cca(x, y, n_components: int | None = None, reg: float = 1e-3) -> CCA:
    """Fit CCA to paired rows x (N, d_x), y (N, d_y); ``reg`` is the ridge as a fraction of the mean variance."""
    xp = array_module(x)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must be paired 2-D arrays, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] < 2:
        raise ValueError("CCA needs at least 2 pairs")
    if reg < 0:
        raise ValueError(f"reg must be >= 0, got {reg}")
    k_max = min(x.shape[1], y.shape[1])
    k = k_max if n_components is None else int(n_components)
    if not 1 <= k <= k_max:
        raise ValueError(f"n_components must lie in [1, {k_max}], got {n_components}")
    x = x.astype(xp.float64)
    y = y.astype(xp.float64)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    n = x.shape[0]
    Cxx, Cyy, Cxy = xc.T @ xc / (n - 1), yc.T @ yc / (n - 1), xc.T @ yc / (n - 1)
    for name, C in (("x", Cxx), ("y", Cyy)):
        if float(xp.trace(C)) <= 0:
            raise ValueError(f"{name} has no variance (every row the same): CCA needs varying data")
    Cxx += (reg * float(xp.trace(Cxx)) / Cxx.shape[0] + 1e-12) * xp.eye(Cxx.shape[0])
    Cyy += (reg * float(xp.trace(Cyy)) / Cyy.shape[0] + 1e-12) * xp.eye(Cyy.shape[0])
    Kx, Ky = inverse_sqrt(Cxx), inverse_sqrt(Cyy)
    U, rho, Vt = xp.linalg.svd(Kx @ Cxy @ Ky, full_matrices=False)
    return CCA(mx, my, (Kx @ U)[:, :k], (Ky @ Vt.T)[:, :k], rho[:k])


def cca_transform_x(model: CCA, x, scale_power: float = 0.0):
    """Project x (N, d_x) into the canonical space: (x - mean_x) A diag(rho^p) -> (N, k)."""
    return ((x - model.mean_x) @ model.A) * model.rho ** scale_power


def cca_transform_y(model: CCA, y, scale_power: float = 0.0):
    """Project y (N, d_y) into the canonical space: (y - mean_y) B diag(rho^p) -> (N, k)."""
    return ((y - model.mean_y) @ model.B) * model.rho ** scale_power
