"""Hidden tests of tutorial 2 (the RBM and CD): a fresh RBM; CD-k judged by its statistics."""
import numpy as np

from dmf_np import rbm
from dmf_np.cd_exact import expected_cd_k_gradient
from dmf_np.gradcheck import numerical_gradient, rel_error

EXERCISES = {"2.1": ("free_energy_grad", 2), "2.2": ("my_cd_k", 3)}
KEYS = ("W", "b_h", "b_v")


def _rbm(seed, n_v=5, n_h=3):
    g = np.random.default_rng(seed)
    P = {"W": g.normal(0, 1.2, (n_h, n_v)), "b_h": g.normal(0, 0.5, n_h), "b_v": g.normal(0, 0.5, n_v)}
    data = (g.random((40, n_v)) < g.uniform(0.2, 0.8, n_v)).astype(np.float64)
    return P, data


def _flat(grads):
    return np.concatenate([np.asarray(grads[k], dtype=np.float64).ravel() for k in KEYS])


def test_2_1(fn):
    P, data = _rbm(2201)
    mine = fn(data.copy(), {k: v.copy() for k, v in P.items()})
    assert isinstance(mine, dict) and all(k in mine for k in KEYS), f"return a dict with the keys {list(KEYS)}"
    for key in KEYS:
        assert np.shape(mine[key]) == P[key].shape, f"{key}: shape {np.shape(mine[key])}, expected {P[key].shape}"
        num = numerical_gradient(lambda: float(rbm.free_energy(data, P).mean()), P[key])
        err = rel_error(np.asarray(mine[key], dtype=np.float64), num)
        assert err < 1e-6, f"d(mean F)/d{key} is off (relative error {err:.1e} against central differences)"


def test_2_2(fn, batches=8, copies=100):
    P, data = _rbm(2202)
    chains = np.tile(data, (copies, 1))
    for k in (1, 3):
        for stat in ("probs", "samples"):
            runs = []
            for b in range(batches):
                g = fn(chains, {key: v.copy() for key, v in P.items()}, np.random.default_rng(7000 + 10 * k + b), k,
                       negative_visible=stat)
                assert isinstance(g, dict) and all(key in g for key in KEYS), \
                    f"return a dict with the keys {list(KEYS)}"
                runs.append(_flat(g))
            runs = np.array(runs)
            assert np.isfinite(runs).all(), "the gradient holds NaN or inf"
            noise = float(np.sqrt((runs.var(axis=0, ddof=1) / batches).sum()))
            off = float(np.linalg.norm(runs.mean(axis=0) - _flat(expected_cd_k_gradient(data, P, k, stat))))
            off /= max(noise, 1e-12)
            assert off < 4.0, (f"k={k}, negative_visible={stat!r}: the average over {batches * len(chains)} chains "
                               f"is {off:.1f} standard errors from CD-k's exact expectation (a correct CD-k: about 1)")
