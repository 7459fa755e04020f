"""Hidden tests of tutorial 1 (a sigmoid layer by hand): fresh layers, central differences."""
import numpy as np

from dmf_np.gradcheck import numerical_gradient, rel_error

EXERCISES = {"1.1": ("sigmoid_layer_backward", 2), "1.2": ("two_consumer_input_grad", 2)}


def _f(a):
    return 1.0 / (1.0 + np.exp(-a))


def _check_layer(fn, g, n, n_in, n_out):
    """fn's (dx, dW, db) for one fresh layer against central differences."""
    x, W, b, R = g.uniform(0, 1, (n, n_in)), g.normal(0, 1, (n_out, n_in)), g.normal(0, 0.5, n_out), \
        g.normal(0, 1, (n, n_out))
    out = fn(R / n, x.copy(), W.copy(), _f(x @ W.T + b))
    assert isinstance(out, (tuple, list)) and len(out) == 3, "return the tuple (dx, dW, db)"

    def loss():
        return float((_f(x @ W.T + b) * R).sum() / n)

    for name, mine, param in zip(("dx", "dW", "db"), out, (x, W, b)):
        assert np.shape(mine) == param.shape, f"{name}: shape {np.shape(mine)}, expected {param.shape}"
        err = rel_error(np.asarray(mine, dtype=np.float64), numerical_gradient(loss, param))
        assert err < 1e-6, f"{name} is off (relative error {err:.1e} against central differences)"


def test_1_1(fn):
    g = np.random.default_rng(2101)
    # a square W catches a transposed product that the shapes alone would let through
    for n, n_in, n_out in ((7, 3, 5), (4, 6, 6)):
        _check_layer(fn, g, n, n_in, n_out)


def test_1_2(fn):
    g = np.random.default_rng(2102)
    n, n_in, n_u, n_s = 6, 3, 4, 5
    x = g.uniform(0, 1, (n, n_in))
    Wu, bu, Ru = g.normal(0, 1, (n_u, n_in)), g.normal(0, 0.5, n_u), g.normal(0, 1, (n, n_u))
    Ws, bs, Rs = g.normal(0, 1, (n_s, n_in)), g.normal(0, 0.5, n_s), g.normal(0, 1, (n, n_s))

    def loss():
        return float((_f(x @ Wu.T + bu) * Ru).sum() / n + (_f(x @ Ws.T + bs) * Rs).sum() / n)

    mine = np.asarray(fn(x.copy(), Wu, bu, Ws, bs, Ru, Rs), dtype=np.float64)
    assert mine.shape == x.shape, f"dε/dx has shape {mine.shape}, expected {x.shape}"
    err = rel_error(mine, numerical_gradient(loss, x))
    assert err < 1e-6, (f"dε/dx is off (relative error {err:.1e} against central differences): x has two "
                        "consumers, and the chain rule adds one term per path")
