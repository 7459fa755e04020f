"""A small demonstration: EMF, IMF and DMF trained side by side on generated two-modality data."""
from __future__ import annotations

from . import backend
from .data.synthetic import two_modality_classes
from .fusion import Architecture, init_params
from .optim import SGD
from .train import error_rate, fit_classifier


def run_demo(backend_name=None, epochs: int = 15, seed: int = 0, out=print) -> dict:
    """Train the three schemes on the same data and seed; print and return their histories."""
    import numpy as np  # noqa: PLC0415  (host-side data generation only)

    if int(epochs) < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    xp = backend.get_xp(backend_name)
    xs, y = two_modality_classes(n=3000, sizes=(40, 40), n_classes=6, seed=seed)
    xs_tr = [backend.to_device(x[:2000], xp) for x in xs]
    xs_te = [backend.to_device(x[2000:], xp) for x in xs]
    y_tr, y_te = backend.to_device(y[:2000], xp), backend.to_device(y[2000:], xp)
    base = Architecture("dmf", ((40, 64, 32), (40, 64, 32)), (64, 32, 16), 6)
    results = {}
    out(f"generated data: 2 modalities x 40 features, 6 classes, 2000 train / 1000 test; "
        f"backend {backend.backend_name(xp)}")
    for scheme in ("emf", "imf", "dmf"):
        arch = base.with_scheme(scheme)
        params = init_params(arch, np.random.default_rng(seed), xp=xp)
        hist = fit_classifier(params, arch, xs_tr, y_tr, epochs=epochs, batch_size=50,
                              optimizer=SGD(lr=0.1, momentum=0.9), seed=seed, show_progress=False)
        err = error_rate(params, xs_te, y_te, arch)
        results[scheme] = {"train_loss": hist["train_loss"], "test_error": err, "n_params": arch.n_params()}
        losses = " ".join(f"{v:.3f}" for v in hist["train_loss"][:: max(1, epochs // 5)])
        out(f"{scheme.upper()}: {arch.n_params():6d} params; training loss by epoch: {losses} ... "
            f"{hist['train_loss'][-1]:.3f}; test error {err:.1f}%")
    return results
