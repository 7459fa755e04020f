"""One optimizer for pretraining and fine-tuning: SGD with momentum and L2 weight decay.

Convention (the same everywhere in dmf_np): ``grads[k]`` is dE/dtheta_k for a loss E to *minimise*.
The RBM's contrastive-divergence statistic, which is an estimate of +d(log-likelihood)/dtheta, is
turned into this form once, in :mod:`dmf_np.rbm`, so this optimizer never needs to know which one
it is serving.

    v <- momentum * v - lr * (g + weight_decay * theta)      (weight decay on weights 'W...' only)
    theta <- theta + v
"""
from __future__ import annotations

from .backend import array_module, to_device, to_host


class SGD:
    """Minibatch SGD with classical momentum; updates parameters in place."""

    def __init__(self, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 0.0):
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError(f"need lr > 0, 0 <= momentum < 1, weight_decay >= 0; got {lr}, {momentum}, {weight_decay}")
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.velocity: dict = {}
        self._scratch: dict = {}  # one reused buffer per weight for weight_decay * theta

    def step(self, params: dict, grads: dict, lr: float | None = None) -> None:
        """One update of every parameter that has a gradient (``lr`` overrides the default once):

            v     <- momentum * v - lr * (g + weight_decay * theta)   (weight decay on weights 'W...' only)
            theta <- theta + v

        It is computed as v <- lr * ((momentum / lr) * v - g - weight_decay * theta): the same update
        as in-place passes over v, which is still in cache. Forming lr * g first needs a scratch
        array, and writing it cost a third more time per step (docs/perf.md). The two forms round
        differently; tests/test_perf_paths.py checks this one against the formula as written.
        """
        lr = self.lr if lr is None else float(lr)
        if not lr > 0:
            raise ValueError(f"SGD.step needs lr > 0, got {lr}")
        for key, g in grads.items():
            p = params[key]
            xp = array_module(p)
            v = self.velocity.get(key)
            if v is None:
                v = self.velocity[key] = xp.zeros_like(p)
            v *= self.momentum / lr
            v -= g
            if self.weight_decay and key.startswith("W"):
                v -= xp.multiply(p, self.weight_decay, out=self._scratch_like(key, p))
            v *= lr
            p += v

    def _scratch_like(self, key, p):
        """A reused buffer shaped like parameter ``key`` (no allocation per step)."""
        buf = self._scratch.get(key)
        if buf is None or buf.shape != p.shape or buf.dtype != p.dtype or array_module(buf) is not array_module(p):
            buf = self._scratch[key] = array_module(p).empty_like(p)
        return buf

    def state_dict(self) -> dict:
        """Host copies of the velocities, for checkpoints."""
        return {k: to_host(v) for k, v in self.velocity.items()}

    def load_state_dict(self, state: dict, xp) -> None:
        self.velocity = {k: to_device(v, xp) for k, v in state.items()}
