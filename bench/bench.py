"""Time dmf_np beside PyTorch and scikit-learn: ``python bench/bench.py [--threads 1] [--json out.json]``.

A thin script; the benchmark lives in :mod:`dmf_np.bench_cli` (also ``python -m dmf_np bench``).
``python bench/bench.py --help`` lists the options.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from dmf_np.bench_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
