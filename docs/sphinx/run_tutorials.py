"""Executes every tutorial as a notebook, for the documentation site (see docs/site.md).

    python docs/sphinx/run_tutorials.py OUT [--fast] [--jobs N] [--timeout SECONDS] [--no-cache]

Each tutorials/NN_*.py (jupytext percent format, read as it is) becomes OUT/NN_*.ipynb with its
outputs: printed numbers, and figures shown by ``dmf_np.plots.show_and_save``. The kernel runs the
way a reader runs a tutorial: its working directory is the repository root; ``--fast`` sets
``DMF_TUTORIAL_FAST=1``; figures are saved to a scratch ``DMF_FIGURES_DIR`` (never into the
committed figures/). A cell that raises stops that tutorial and fails the run, naming the
tutorial and the error (the exercises' stubs do not raise: ``dmf_np.exercises.attempt`` catches
them). Tutorials run ``--jobs`` at a time.

An executed notebook is kept in build/site_cache/ under a hash of everything it depends on (the
tutorial, the package's sources, the solutions, the mode), so a rebuild re-executes only what
changed; ``--no-cache`` executes everything.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "site_cache"
TUTORIAL_GLOB = "[0-9][0-9]_*.py"


def tutorials() -> list[Path]:
    return sorted((ROOT / "tutorials").glob(TUTORIAL_GLOB))


# bumped when what this script writes into a notebook changes (2: the mode in its metadata)
FORMAT = 2


def fingerprint(path: Path, fast: bool) -> str:
    """A hash of what an executed tutorial depends on: itself, dmf_np, the solutions, the mode."""
    h = hashlib.sha256(f"fast={fast}\nformat={FORMAT}\n".encode())
    deps = [path, *sorted((ROOT / "dmf_np").rglob("*.py")), *sorted((ROOT / "tutorials" / "solutions").glob("*.py"))]
    for dep in deps:
        h.update(str(dep.relative_to(ROOT)).encode() + b"\0" + dep.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def kernel_environment(fast: bool, figures: Path) -> dict:
    env = dict(os.environ, DMF_FIGURES_DIR=str(figures))
    for name in ("DMF_TUTORIAL_FAST", "DMF_EXERCISE_SOLUTIONS", "DMF_BACKEND", "MPLBACKEND"):
        env.pop(name, None)  # the tutorials choose their backend; the kernel draws inline
    if fast:
        env["DMF_TUTORIAL_FAST"] = "1"
    return env


def execute(path: Path, fast: bool, timeout: int) -> tuple[object, float, str | None]:
    """Executes one tutorial; returns (notebook, seconds, error text or None)."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = jupytext.read(path, fmt="py:percent")
    with tempfile.TemporaryDirectory(prefix=f"dmf_np-site-{path.stem}-") as figures:
        os.environ.clear()
        os.environ.update(kernel_environment(fast, Path(figures)))  # the kernel inherits this
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                                resources={"metadata": {"path": str(ROOT)}})
        start = time.perf_counter()
        # the kernel process's own log (not the cells' output) goes to a file, shown if it dies
        log_path = ROOT / "build" / "site_logs" / f"{path.stem}.kernel.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as log:
            try:
                client.execute(stderr=log, stdout=log)
                error = None
            except (CellExecutionError, CellTimeoutError) as exc:
                error = str(exc)
            except DeadKernelError as exc:
                error = f"{exc}\n(the kernel's log: {log_path})"
        return nb, time.perf_counter() - start, error


def run_one(path: Path, out: Path, fast: bool, timeout: int, use_cache: bool) -> tuple[str, float, str | None, bool]:
    import nbformat

    key = fingerprint(path, fast)
    cached = CACHE / ("fast" if fast else "full") / f"{path.stem}-{key}.ipynb"
    target = out / f"{path.stem}.ipynb"
    if use_cache and cached.is_file():
        shutil.copy2(cached, target)
        return path.name, 0.0, None, True
    nb, seconds, error = execute(path, fast, timeout)
    # the mode it ran in, so that stage.py labels a fast run's page (and refuses a mix of modes)
    nb.metadata["dmf_np"] = {"fast": fast}
    nbformat.write(nb, target)
    if error is None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        for old in cached.parent.glob(f"{path.stem}-*.ipynb"):
            old.unlink()
        shutil.copy2(target, cached)
    return path.name, seconds, error, False


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the executed notebooks")
    parser.add_argument("--fast", action="store_true", help="DMF_TUTORIAL_FAST=1 (small data, few epochs)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds one cell may run (default 300 fast, 3600 full)")
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args(argv)
    timeout = args.timeout or (300 if args.fast else 3600)
    args.out.mkdir(parents=True, exist_ok=True)
    paths = tutorials()
    if not paths:
        print(f"no tutorials matching tutorials/{TUTORIAL_GLOB}", file=sys.stderr)
        return 1
    failed = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_one, p, args.out.resolve(), args.fast, timeout, not args.no_cache) for p in paths]
        for future in futures:
            name, seconds, error, cached = future.result()
            how = "cached" if cached else f"{seconds:.1f} s"
            print(f"  {name}: {'FAILED' if error else 'ok'} ({how})", flush=True)
            if error:
                failed.append(name)
                print(error[-4000:], file=sys.stderr)
    if failed:
        print(f"tutorials that raised an error: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
