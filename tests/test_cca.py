"""CCA: known canonical correlations, whitened projections, clear errors."""
import numpy as np
import pytest

from dmf_np import backend
from dmf_np.cca import cca_transform_x, cca_transform_y, fit_cca


def _data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    noise = rng.standard_normal((n, 2))
    # corr(x_0, y_0) = 0.8 by construction; the other directions are independent
    x = np.c_[z[:, 0], rng.standard_normal(n), rng.standard_normal(n)] @ rng.standard_normal((3, 3))
    y = np.c_[0.8 * z[:, 0] + 0.6 * noise[:, 0], noise[:, 1]] @ rng.standard_normal((2, 2))
    return x, y


def test_recovers_the_canonical_correlation(xp):
    x, y = _data()
    m = fit_cca(backend.to_device(x, xp), backend.to_device(y, xp), reg=0.0)
    rho = backend.to_host(m.rho)
    assert rho[0] == pytest.approx(0.8, abs=0.02)
    assert rho[1] < 0.1
    u = backend.to_host(cca_transform_x(m, backend.to_device(x, xp)))
    v = backend.to_host(cca_transform_y(m, backend.to_device(y, xp)))
    np.testing.assert_allclose(np.cov(u.T), np.eye(2), atol=1e-6)  # whitened, uncorrelated
    assert np.corrcoef(u[:, 0], v[:, 0])[0, 1] == pytest.approx(rho[0], abs=1e-6)


def test_regularisation_shrinks_correlations_and_components():
    x, y = _data(500)
    r0 = fit_cca(x, y, reg=0.0).rho
    r1 = fit_cca(x, y, reg=1.0).rho
    assert (r1 < r0).all()
    assert fit_cca(x, y, n_components=1).A.shape == (3, 1)


def test_errors():
    with pytest.raises(ValueError, match="paired"):
        fit_cca(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="n_components"):
        fit_cca(np.random.default_rng(0).standard_normal((9, 2)), np.random.default_rng(1).standard_normal((9, 2)), 3)
    with pytest.raises(ValueError, match="no variance"):
        fit_cca(np.ones((6, 2)), np.random.default_rng(0).standard_normal((6, 2)), reg=0.0)
