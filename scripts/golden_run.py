"""A fixed short training run, hashed: the check that a refactor changed no arithmetic.

Runs the tiny MNIST preset (one CD epoch of layer-wise pretraining, then 2 fine-tuning epochs, EMF,
IMF and DMF, its learning-rate grid and 2 seeds) on generated MNIST-shaped images, with one BLAS
thread, and prints one SHA-256 over every array of every checkpoint the run wrote (pretrained
weights, fine-tuned weights, optimizer velocities) and every per-epoch loss and error.

    OPENBLAS_NUM_THREADS=1 python scripts/golden_run.py

Bit-identical output before and after a change means the change reordered no float operation. The
hash depends on the machine's BLAS kernels, so compare hashes from one machine, not across machines.
"""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from dmf_np.data.damage import DamageSpec
from dmf_np.data.synthetic import fake_digits
from dmf_np.experiments import mnist as E


def run_hash(out: Path) -> tuple[str, dict]:
    """(SHA-256 over the run's checkpoints and histories, per-file digests) of the tiny preset in ``out``."""
    opts = E.Options(E.PRESETS["tiny"], DamageSpec(), seed=3, show_progress=False)
    E.run_experiment(fake_digits(), out, opts, log=lambda _msg: None)
    total, parts = hashlib.sha256(), {}
    for path in sorted(out.rglob("*.npz")):
        with np.load(path) as z:
            h = hashlib.sha256()
            for key in sorted(k for k in z.files if k != "meta.json"):
                h.update(key.encode())
                h.update(np.ascontiguousarray(z[key]).tobytes())
        parts[str(path.relative_to(out))] = h.hexdigest()[:16]
        total.update(h.digest())
    for path in sorted(out.rglob("result.json")):
        history = json.loads(path.read_text()).get("history", {})
        blob = json.dumps({k: history[k] for k in sorted(history)}).encode()
        parts[str(path.relative_to(out))] = hashlib.sha256(blob).hexdigest()[:16]
        total.update(blob)
    return total.hexdigest(), parts


def main(argv=None) -> int:
    verbose = "-v" in (argv if argv is not None else sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        digest, parts = run_hash(Path(tmp) / "run")
    if verbose:
        for name, d in parts.items():
            print(f"{d}  {name}")
    print(f"golden sha256 {digest}  ({len(parts)} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
