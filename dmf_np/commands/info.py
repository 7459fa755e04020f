"""``python -m dmf_np info``: backends, devices, BLAS and versions."""
from __future__ import annotations

import argparse

from .. import backend


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="python -m dmf_np info", description="backends, devices, BLAS and versions")


def main(argv=None) -> int:
    build_parser().parse_args(argv)
    print(backend.describe())
    return 0
