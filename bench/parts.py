"""Where the time of a training step goes beyond the matrix products (the figures in docs/perf.md).

    python bench/parts.py [--threads N] [--rounds R]

Times, round-robin in one process, per epoch of 60,000 rows (run on 30,000 and scaled):
  * the DMF fine-tuning loop (loss_and_grads) without any update, with dmf_np's SGD update, and with
    the textbook order of the same update (``v *= mu; v -= lr * g`` through a scratch array;
    ``p += v``), which dmf_np used before;
  * the epoch's fine-tuning GEMMs alone (the bench's GEMM-only bound);
and, per CD-1 minibatch (100 x 392 -> 512), the elementwise pieces: the uniforms for the hidden
sample, one sigmoid of a (100, 512) array, one bias addition, and one of the products.
It is a measurement, not a test: run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

import bench  # bench/bench.py, beside this script
from dmf_np import fusion
from dmf_np.backprop import loss_and_grads
from dmf_np.layers import Workspace, sigmoid
from dmf_np.optim import SGD


def textbook_sgd(velocity: dict, scratch: dict, lr: float, momentum: float):
    """The same update in the textbook order, with a scratch array for lr * g."""
    def step(params, grads):
        for k, g in grads.items():
            v = velocity.setdefault(k, np.zeros_like(g))
            s = scratch.setdefault(k, np.empty_like(g))
            v *= momentum
            v -= np.multiply(g, lr, out=s)
            params[k] += v
    return step


def finetune_parts(rounds: int, n: int = 30000) -> dict:
    arch = fusion.paper_mnist_architecture("dmf")
    halves, labels = bench.make_data(n)
    params = fusion.init_params(arch, np.random.default_rng(0), np)
    ws, opt = Workspace(), SGD(0.01, 0.9)
    updates = {"no update": lambda p, g: None, "dmf_np SGD": lambda p, g: opt.step(p, g),
               "textbook-order SGD": textbook_sgd({}, {}, 0.01, 0.9)}

    def loop(update):
        def run():
            for i in range(0, n, 100):
                _, bw = loss_and_grads(params, [h[i:i + 100] for h in halves], labels[i:i + 100], arch, workspace=ws)
                update(params, bw.grads)
        return run
    runs = {name: loop(u) for name, u in updates.items()}
    runs["GEMM-only bound"] = bench.gemm_epoch(np, bench.gemm_shapes_finetune(arch, 100), n // 100)
    return time_rounds(runs, rounds, scale=60000 / n)


def cd1_parts(rounds: int, steps: int = 600) -> dict:
    rng = np.random.default_rng(0)
    v = rng.random((100, 392), dtype=np.float32)
    W = rng.normal(0, 0.01, (512, 392)).astype(np.float32)
    b = np.zeros(512, np.float32)
    a, u = np.empty((100, 512), np.float32), np.empty((100, 512), np.float32)
    pieces = {"uniforms (100, 512)": lambda: rng.random(u.shape, dtype=np.float32, out=u),
              "sigmoid (100, 512)": lambda: sigmoid(a, out=a),
              "bias addition (100, 512)": lambda: np.add(a, b, out=a),
              "product (100, 392) @ (392, 512)": lambda: np.matmul(v, W.T, out=a)}

    def repeat(fn):
        def run():
            for _ in range(steps):
                fn()
        return run
    return time_rounds({k: repeat(f) for k, f in pieces.items()}, rounds, scale=1e6 / steps)


def time_rounds(runs: dict, rounds: int, scale: float) -> dict:
    """After one warm-up call each, the bench's round-robin timing; seconds per round times ``scale``."""
    for fn in runs.values():
        fn()
    rows = bench.time_interleaved(runs, rounds, {k: lambda: None for k in runs})
    return {k: [t * scale for t in rec["seconds"]] for k, rec in rows.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all CPUs)")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits
        if args.threads:
            threadpool_limits(args.threads)
    except ImportError:
        print("note: threadpoolctl is not installed; BLAS threads are not limited", file=sys.stderr)
    print(f"BLAS: {bench.backend.blas_info()}, threads {args.threads or 'all'}, {args.rounds} rounds (medians)")
    ft = finetune_parts(args.rounds)
    base = ft["no update"]
    print("fine-tuning epoch (60,000 rows), seconds; extra over the loop without update (paired median)")
    for k, ts in ft.items():
        extra = "" if k.startswith("GEMM") else f"{statistics.median(t - b0 for t, b0 in zip(ts, base)):+.3f}"
        print(f"  {k:<22}{statistics.median(ts):8.3f}   {extra}")
    print("CD-1 minibatch pieces, microseconds per call")
    for k, ts in cd1_parts(args.rounds).items():
        print(f"  {k:<34}{statistics.median(ts):8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
