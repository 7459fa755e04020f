"""``python -m dmf_np params``: parameter counts of EMF, IMF and DMF for the paper's MNIST network."""
from __future__ import annotations

import argparse

from ..fusion import SCHEMES, paper_mnist_architecture


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="python -m dmf_np params",
                                   description="parameter counts of EMF, IMF and DMF for the paper's MNIST network")


def main(argv=None) -> int:
    build_parser().parse_args(argv)
    counts = {s: paper_mnist_architecture(s).n_params() for s in SCHEMES}
    print("parameters of the paper's MNIST network (each half [392, 512, 128], shared [512, 256, 64], 10 classes)")
    for s in SCHEMES:
        print(f"  {s.upper()}: {counts[s]:>9,d}  ({counts[s] / counts['emf']:.2f}x EMF, "
              f"{counts[s] / counts['imf']:.2f}x IMF)")
    return 0
