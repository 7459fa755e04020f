"""``python -m dmf_np bench [options]``: the benchmark of ``bench/bench.py``, from a checkout.

The benchmark (and its PyTorch re-implementation of DMF) is not part of the installed package: it
measures it. This command finds ``bench/bench.py`` beside the ``dmf_np`` directory and runs its
``main``; ``python bench/bench.py`` does the same.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench.py"


def load_bench():
    """The module bench/bench.py of the checkout this package lives in (FileNotFoundError if absent)."""
    if not BENCH_SCRIPT.is_file():
        raise FileNotFoundError(f"the benchmark is not installed with dmf_np: {BENCH_SCRIPT} does not exist; "
                                f"run `python -m dmf_np bench` (or `python bench/bench.py`) from a clone of "
                                f"the repository")
    if "dmf_np_bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location("dmf_np_bench", BENCH_SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["dmf_np_bench"] = module
        spec.loader.exec_module(module)
    return sys.modules["dmf_np_bench"]


def build_parser():
    return load_bench().build_parser()


def main(argv=None) -> int:
    return int(load_bench().main(argv) or 0)
