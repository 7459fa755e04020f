"""CuPy against NumPy on the same inputs: float64 within 1e-10, float32 within 1e-4 (relative).

The real CuPy case skips, with the reason, where CuPy or a GPU is missing. The CuPy stand-in case
(tests/cupy_standin.py) runs everywhere: it computes with NumPy, so there it checks the device code
path (transfers, 0-d results, no host arrays in device calls), not CuPy's numerics.
"""
import numpy as np
import pytest

from dmf_np import backend
from dmf_np.backprop import loss_and_grads
from dmf_np.fusion import SCHEMES, init_params
from dmf_np.gradcheck import rel_error, small_architecture
from dmf_np.learning_paths import loss_and_learning_paths


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_cupy_matches_numpy(scheme, dtype, tol, device_xp):
    cupy = device_xp
    arch = small_architecture(scheme, 3, 3)
    rng = np.random.default_rng(0)
    params = init_params(arch, rng, xp=np, dtype=dtype)
    xs = [rng.uniform(0, 1, (16, n)).astype(dtype) for n in arch.input_sizes]
    labels = rng.integers(0, arch.n_classes, 16)
    loss_np, lp_np = loss_and_learning_paths(params, xs, labels, arch)
    gpu = {k: backend.to_device(v, cupy) for k, v in params.items()}
    loss_cp, lp_cp = loss_and_learning_paths(gpu, [backend.to_device(x, cupy) for x in xs],
                                             backend.to_device(labels, cupy), arch)
    assert abs(float(loss_np) - float(loss_cp)) <= tol * abs(float(loss_np))
    for k in params:
        assert rel_error(lp_np.total.grads[k], lp_cp.total.grads[k]) <= tol, k
        assert rel_error(lp_np.grads["shared"][k], lp_cp.grads["shared"][k]) <= tol, k
    _, bw_cp = loss_and_grads(gpu, [backend.to_device(x, cupy) for x in xs], backend.to_device(labels, cupy), arch)
    for k in params:
        assert rel_error(lp_np.total.grads[k], bw_cp.grads[k]) <= tol, k


def test_fine_tuning_trajectory_matches_numpy(device_xp):
    """Three epochs of SGD in float64 on both backends: the same data order (a host generator), the
    same updates, so the losses and weights agree to far below anything training could notice."""
    from dmf_np.data.synthetic import two_modality_classes
    from dmf_np.fusion import Architecture
    from dmf_np.optim import SGD
    from dmf_np.train import fit_classifier

    xs, y = two_modality_classes(n=200, sizes=(8, 10), n_classes=3, seed=0)
    arch = Architecture("dmf", ((8, 12, 6), (10, 12, 6)), (12, 8, 6), n_classes=3)
    runs = []
    for xp in (np, device_xp):
        params = init_params(arch, np.random.default_rng(4), xp=xp, dtype=np.float64)
        hist = fit_classifier(params, arch, [backend.to_device(x, xp, np.float64) for x in xs],
                              backend.to_device(y, xp), epochs=3, batch_size=32,
                              optimizer=SGD(lr=0.2, momentum=0.9, weight_decay=1e-4), seed=9, lr_decay=0.9)
        runs.append((hist["train_loss"], {k: backend.to_host(v) for k, v in params.items()}))
    (loss_np, p_np), (loss_dev, p_dev) = runs
    np.testing.assert_allclose(loss_dev, loss_np, rtol=1e-9)
    for k in p_np:
        assert rel_error(p_np[k], p_dev[k]) <= 1e-9, k
