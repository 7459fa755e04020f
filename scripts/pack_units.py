"""Pack a run directory's finished results (every .json and run.log, no checkpoints) into a tarball.

What results/study-*-units.tar.gz hold: enough for ``python -m dmf_np study report`` to recompute every
number and verdict, without the weights (which a rerun of the same command reproduces bit for bit).
Written atomically, members sorted, so packing the same files twice gives the same member list.

    python scripts/pack_units.py runs/study-r2 results/study-r2-units.tar.gz
"""
from __future__ import annotations

import argparse
import io
import tarfile
from pathlib import Path

from dmf_np.io import atomic_write_bytes


def pack(run: Path, tarball: Path) -> int:
    """Pack ``run``'s JSON files and run.log under its own name; returns how many files."""
    run = Path(run)
    files = sorted(p for p in run.rglob("*") if p.is_file() and (p.suffix == ".json" or p.name == "run.log")
                   and "stale" not in p.relative_to(run).parts and not p.name.startswith("."))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in files:
            tar.add(p, arcname=str(Path(run.name) / p.relative_to(run)), recursive=False)
    atomic_write_bytes(tarball, buf.getvalue())
    return len(files)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("tarball", type=Path)
    args = p.parse_args(argv)
    print(f"{args.tarball}: {pack(args.run, args.tarball)} files from {args.run}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
