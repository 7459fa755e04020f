"""The command line of dmf_np: ``python -m dmf_np <command> [options]``; ``--help`` lists the commands.

Each command is one module, ``dmf_np/commands/<command>.py``, with ``build_parser()`` and
``main(argv) -> int``; this file only lists them and hands each its arguments. A command's module is
imported when it runs, so that ``info`` does not load what ``reproduce`` needs.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import backend
from .commands.options import one_line

# command -> its line in --help; the code is dmf_np.commands.<command>
COMMANDS = {
    "info": "backends, devices, BLAS and versions",
    "gradcheck": "finite-difference check of every parameter gradient",
    "params": "parameter counts of EMF, IMF and DMF for the paper's MNIST network",
    "demo": "EMF, IMF and DMF side by side on generated two-modality data",
    "pretrain": "layer-wise RBM pretraining of a fusion network (no fine-tuning)",
    "reproduce": "reproduce the paper: fig4, table1 (MNIST), table2 (Wiki), halves (generative MNIST halves)",
    "study": "the pre-registered study of the paper's claims: e1-e4 and report (docs/claims.md)",
    "bench": "time dmf_np beside PyTorch and scikit-learn (from a checkout: the code is bench/bench.py)",
    "grade": "grade a folder of students' tutorial notebooks or scripts against hidden tests; writes a CSV",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: it lists the commands; each command parses its own options."""
    p = argparse.ArgumentParser(prog="python -m dmf_np", description="Dense Multimodal Fusion in NumPy/CuPy")
    sub = p.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv)  # prints the help, or names the unknown command; exits
        return 2
    command = importlib.import_module(f"dmf_np.commands.{argv[0]}")
    try:
        return int(command.main(argv[1:]) or 0)
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    except (backend.BackendError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # every other failure is still one line: what, where, what to do
        message, status = one_line(exc)
        print(f"error: {message}", file=sys.stderr)
        return status
