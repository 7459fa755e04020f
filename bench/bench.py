"""``python bench/bench.py`` (also ``python -m dmf_np bench`` from a checkout): dmf_np timed beside PyTorch
and scikit-learn. Not part of the installed package: it is a measurement of it.

Two workloads, on the same generated MNIST-like data (60,000 rows of uniform [0, 1) pixels, float32):

(a) one fine-tuning epoch of the paper's DMF MNIST network (section 4.1: halves [392, 512, 128], shared
    [512, 256, 64], 10 classes), minibatch SGD with momentum, batch 100, through
    :func:`dmf_np.train.fit_classifier`;
(b) one CD-1 epoch of a 392 -> 512 RBM on the left halves, through :mod:`dmf_np.rbm`.

Beside each: the same network and update written in PyTorch eager (autograd for (a), the CD-1 formulas
for (b)); scikit-learn's ``BernoulliRBM`` for (b) (its ``fit`` with n_iter=1 runs one epoch of PCD-1,
the same matrix products); and the *GEMM-only bound*, the matrix products of the epoch alone, with
preallocated outputs, timed with the same array module on the same machine. Every engine runs in this
one process with the same thread count, round-robin (``--repeats`` rounds): the table gives each
engine's median and best time, and each ratio is the median over rounds of the two engines' times in
the same round, so that a slow spell of a shared machine, which hits both, largely cancels.

The figures are timings, not tests: they depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc

import numpy as np

from dmf_np import backend
from dmf_np.fusion import Architecture, init_params, paper_mnist_architecture
from dmf_np.io import atomic_write_json
from dmf_np.optim import SGD
from dmf_np.pretrain import CDConfig, train_rbm
from dmf_np.train import fit_classifier

BATCH = 100
LR, MOMENTUM = 0.1, 0.9
N_HIDDEN_RBM = 512


# --- the workloads ---------------------------------------------------------------------------

def make_data(n: int, seed: int = 0):
    """MNIST-like host data: images (n, 784) uniform in [0, 1), their halves, labels (n,) in [0, 10)."""
    rng = np.random.default_rng(seed)
    images = rng.random((n, 784), dtype=np.float32)
    halves = [np.ascontiguousarray(images[:, :392]), np.ascontiguousarray(images[:, 392:])]
    labels = rng.integers(0, 10, n)
    return halves, labels


def gemm_shapes_finetune(arch: Architecture, batch: int) -> list:
    """The matrix products of one minibatch of back-propagation: (m, k, n) for an (m, k) @ (k, n).

    Per weight W (n_out, n_in): the forward product (B, n_in) @ (n_in, n_out), the weight gradient
    (n_out, B) @ (B, n_in), and, unless W reads an input layer, the error (B, n_out) @ (n_out, n_in).
    """
    inputs = {arch.W_mod(m, 1) for m in range(arch.M)} | {arch.W_fuse(m, 1) for m in range(arch.M)}
    shapes = []
    for key, shape in arch.param_shapes().items():
        if not key.startswith("W"):
            continue
        n_out, n_in = shape
        shapes += [(batch, n_in, n_out), (n_out, batch, n_in)]
        if key not in inputs:
            shapes.append((batch, n_out, n_in))
    return shapes


def gemm_shapes_cd1(n_visible: int, n_hidden: int, batch: int) -> list:
    """CD-1's products per minibatch: p(h|v0), E[v|h0], p(h|v1), and the two <h v^T> statistics."""
    return [(batch, n_visible, n_hidden), (batch, n_hidden, n_visible), (batch, n_visible, n_hidden),
            (n_hidden, batch, n_visible), (n_hidden, batch, n_visible)]


def gflop(shapes, n_batches: int) -> float:
    return 2.0 * sum(m * k * n for m, k, n in shapes) * n_batches / 1e9


def gemm_epoch(xp, shapes, n_batches: int, seed: int = 0):
    """A callable that runs the products ``shapes`` n_batches times into preallocated outputs."""
    rng = np.random.default_rng(seed)
    ops = []
    for m, k, n in shapes:
        a = backend.to_device(rng.random((m, k), dtype=np.float32), xp)
        b = backend.to_device(rng.random((k, n), dtype=np.float32), xp)
        ops.append((a, b, xp.empty((m, n), dtype=np.float32)))

    def run():
        for _ in range(n_batches):
            for a, b, c in ops:
                xp.matmul(a, b, out=c)
    return run


def dmf_finetune(xp, arch, p0, halves, labels):
    """One epoch of :func:`dmf_np.train.fit_classifier` from the initial parameters p0 (host)."""
    xs = [backend.to_device(x, xp) for x in halves]
    y = backend.to_device(labels, xp)

    def run():
        params = {k: backend.to_device(v, xp) for k, v in p0.items()}
        fit_classifier(params, arch, xs, y, epochs=1, batch_size=BATCH, optimizer=SGD(LR, MOMENTUM),
                       seed=1, show_progress=False)
        return params
    return run


def dmf_cd1(xp, v_host, rbm0):
    """One CD-1 epoch of :func:`dmf_np.pretrain.train_rbm` from the RBM rbm0 (host arrays).

    The settings match the references: lr 0.1, momentum 0.9 from the start, no weight decay, CD-1
    with dmf_np's default statistics; its per-epoch monitors run on 100 rows (negligible).
    Returns (callable, description).
    """
    v = backend.to_device(v_host, xp)
    config = CDConfig(epochs=1, batch_size=BATCH, lr=LR, momentum=MOMENTUM, initial_momentum=MOMENTUM,
                      weight_decay=0.0, k=1, monitor_size=100)

    def run():
        params = {k: backend.to_device(a, xp) for k, a in rbm0.items()}
        train_rbm(params, v, config, seed=1, show_progress=False)
        return params
    return run, "dmf_np.pretrain.train_rbm (CD-1, through dmf_np.rbm.contrastive_divergence)"


# --- PyTorch and scikit-learn references ------------------------------------------------------

def torch_forward(torch, P, xs, arch):
    """fusion.forward written in PyTorch: Eqs. 4 and 3 level by level, then the logits."""
    F = torch.nn.functional
    h = {(m, 1): x for m, x in enumerate(xs)}
    s = {}
    for l in range(1, arch.L + 1):
        if l >= 2 and l in arch.modality_levels():
            for m in range(arch.M):
                h[(m, l)] = torch.sigmoid(F.linear(h[(m, l - 1)], P[arch.W_mod(m, l - 1)], P[arch.b_mod(m, l)]))
        if l in arch.shared_levels():
            terms = []
            if l in arch.fusion_levels():
                terms += [(h[(m, l)], P[arch.W_fuse(m, l)]) for m in range(arch.M)]
            if arch.has_shared_chain(l):
                terms.append((s[l - 1], P[arch.W_sh(l - 1)]))
            a = F.linear(terms[0][0], terms[0][1], P[arch.b_sh(l)])
            for x, W in terms[1:]:
                a = a + F.linear(x, W)
            s[l] = torch.sigmoid(a)
    return F.linear(s[arch.L], P["W^out"], P["b^out"])


def torch_finetune(torch, device, arch, p0, halves, labels):
    """The same epoch in PyTorch eager: autograd, cross-entropy, torch.optim.SGD with momentum.

    torch's momentum form (v = mu v + g; p -= lr v) equals dmf_np's (v = mu v - lr g; p += v) at a fixed lr.
    """
    xs = [torch.from_numpy(x).to(device) for x in halves]
    y = torch.from_numpy(labels).to(device)
    n = len(labels)

    def run():
        P = {k: torch.tensor(v, device=device, requires_grad=True) for k, v in p0.items()}
        opt = torch.optim.SGD(list(P.values()), lr=LR, momentum=MOMENTUM)
        order = torch.from_numpy(np.random.default_rng(1).permutation(n)).to(device)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            loss = torch.nn.functional.cross_entropy(torch_forward(torch, P, [x[idx] for x in xs], arch), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return P
    return run


def torch_cd1(torch, device, v_host, rbm0):
    """The CD-1 epoch in PyTorch: probabilities for every statistic, one sampled hidden layer
    (dmf_np.rbm's defaults), gradients by hand, torch.optim.SGD with momentum."""
    v = torch.from_numpy(v_host).to(device)
    n = v.shape[0]

    def run():
        P = {k: torch.tensor(a, device=device) for k, a in rbm0.items()}
        W, b_h, b_v = P["W"], P["b_h"], P["b_v"]
        opt = torch.optim.SGD([W, b_h, b_v], lr=LR, momentum=MOMENTUM)
        gen = torch.Generator(device=device).manual_seed(1)
        order = torch.from_numpy(np.random.default_rng(1).permutation(n)).to(device)
        with torch.no_grad():
            for i in range(0, n, BATCH):
                v0 = v[order[i:i + BATCH]]
                ph0 = torch.sigmoid(torch.addmm(b_h, v0, W.T))
                h0 = (torch.rand(ph0.shape, generator=gen, device=device) < ph0).to(v0.dtype)
                v1 = torch.sigmoid(torch.addmm(b_v, h0, W))
                ph1 = torch.sigmoid(torch.addmm(b_h, v1, W.T))
                m = v0.shape[0]
                W.grad = (ph1.T @ v1 - ph0.T @ v0) / m
                b_h.grad = (ph1.sum(0) - ph0.sum(0)) / m
                b_v.grad = (v1.sum(0) - v0.sum(0)) / m
                opt.step()
        return P
    return run


def sklearn_cd1(v_host, seed: int = 1):
    """scikit-learn's BernoulliRBM: one epoch (n_iter=1) of its PCD-1, batch 100, 512 hidden units."""
    from sklearn.neural_network import BernoulliRBM  # optional reference

    def run():
        return BernoulliRBM(n_components=N_HIDDEN_RBM, learning_rate=LR, batch_size=BATCH, n_iter=1,
                            random_state=seed).fit(v_host)
    return run


# --- timing ------------------------------------------------------------------------------------

def _sync_for(name, xp, torch):
    if name.startswith("torch") and torch is not None and torch.cuda.is_available():
        return torch.cuda.synchronize
    return lambda: backend.synchronize(xp)


def time_interleaved(runs: dict, repeats: int, sync: dict) -> dict:
    """Each callable ``repeats`` times, round-robin: wall-clock seconds, CPU seconds of this process
    (all its threads; less disturbed than wall-clock by other programs when single-threaded) and
    minor page faults, per run."""
    out = {name: {"seconds": [], "cpu_seconds": [], "page_faults": []} for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            sync[name]()
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t, c = time.perf_counter(), time.process_time()
            fn()
            sync[name]()
            out[name]["seconds"].append(time.perf_counter() - t)
            out[name]["cpu_seconds"].append(time.process_time() - c)
            out[name]["page_faults"].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
    for rec in out.values():
        rec["median_s"] = statistics.median(rec["seconds"])
        rec["median_cpu_s"] = statistics.median(rec["cpu_seconds"])
        rec["spread"] = (max(rec["seconds"]) - min(rec["seconds"])) / rec["median_s"] if rec["median_s"] else 0.0
    return out


def traced_peak_mib(fn) -> float:
    """Peak NumPy/Python memory allocated during one untimed run (tracemalloc), in MiB."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


# --- reporting -------------------------------------------------------------------------------

def machine_info(xp, torch, threads: int) -> dict:
    info = {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(), "blas": backend.blas_info(), "threads": threads,
            "backend": backend.backend_name(xp)}
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_blas"] = "MKL" if torch.backends.mkl.is_available() else "other"
    if xp is not np:
        props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
        name = props["name"]
        info["gpu"] = name.decode() if isinstance(name, bytes) else name
    return info


def _load_average():
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_table(title, rows, ref_name):
    print(f"\n{title}")
    print(f"  {'engine':<34}{'median s':>9}{'min s':>8}{'spread':>8}{'cpu s':>8}{'faults':>8}{'MiB':>6}"
          f"  vs {ref_name} (median, range)")
    for name, rec in rows.items():
        r = paired_ratios(rows, name, ref_name)
        ratio = f"{statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f})" if r and name != ref_name else ""
        mem = f"{rec['traced_peak_mib']:.0f}" if "traced_peak_mib" in rec else "-"
        print(f"  {name:<34}{rec['median_s']:>9.3f}{min(rec['seconds']):>8.3f}{100 * rec['spread']:>7.0f}%"
              f"{rec['median_cpu_s']:>8.2f}{int(statistics.median(rec['page_faults'])):>8}{mem:>6}  {ratio}")


def paired_ratios(rows, a, b) -> list:
    """a's time over b's in each round of the round-robin. The two ran seconds apart, so a slow spell
    of the machine (another program, the hypervisor) slows both and largely cancels in the ratio,
    which a ratio of medians taken over the whole run does not do."""
    if a not in rows or b not in rows:
        return []
    return [ta / tb for ta, tb in zip(rows[a]["seconds"], rows[b]["seconds"]) if tb > 0]


def _ratio(result: dict, rows, key: str, a, b) -> None:
    """Store the median paired ratio of a over b under ``key`` and every round's under key_rounds."""
    r = paired_ratios(rows, a, b)
    result[key] = statistics.median(r) if r else None
    result[key + "_rounds"] = r


def build_parser():
    p = argparse.ArgumentParser(prog="python bench/bench.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS/OpenMP threads for NumPy and PyTorch (default: all CPUs)")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds of the round-robin (medians reported)")
    p.add_argument("--samples", type=int, default=60000, help="rows of data (one epoch)")
    p.add_argument("--quick", action="store_true", help="10,000 rows, 2 repeats: a smoke run")
    p.add_argument("--only", choices=["finetune", "cd1"], default=None, help="run one workload")
    p.add_argument("--no-memory", action="store_true", help="skip the untimed tracemalloc passes")
    p.add_argument("--json", default=None, help="write the figures to this path")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.samples, args.repeats = min(args.samples, 10000), min(args.repeats, 2)
    if args.samples < BATCH or args.samples % BATCH or args.repeats < 1:
        raise ValueError(f"--samples must be a positive multiple of {BATCH} and --repeats >= 1")
    threads = args.threads or os.cpu_count() or 1
    try:
        xp = backend.get_xp(args.backend)
    except backend.BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        import torch  # optional reference
    except ImportError:
        torch = None
    torch_threads_before = None
    if torch is not None:
        torch_threads_before = torch.get_num_threads()
        torch.set_num_threads(threads)
    limiter = None
    try:
        from threadpoolctl import threadpool_limits  # optional

        limiter = threadpool_limits(limits=threads)  # every BLAS and OpenMP pool loaded so far
    except ImportError:
        if args.threads:
            print("note: threadpoolctl is not installed; NumPy's BLAS threads are not limited", file=sys.stderr)
    try:
        return _run(args, xp, torch, threads)
    finally:  # leave the caller's thread settings as they were (the tests call main())
        if limiter is not None:
            limiter.restore_original_limits()
        if torch_threads_before is not None:
            torch.set_num_threads(torch_threads_before)


def _run(args, xp, torch, threads) -> int:
    device = "cpu"
    if torch is not None and xp is not np:
        if torch.cuda.is_available():
            device = "cuda"
        else:
            print("note: PyTorch has no CUDA here; the PyTorch reference is skipped", file=sys.stderr)
            torch = None

    info = machine_info(xp, torch, threads)
    print(f"dmf_np bench: backend {info['backend']}, {threads} thread(s), {args.samples} samples, "
          f"batch {BATCH}, float32, {args.repeats} round-robin rounds")
    print(f"  CPU: {info['cpu_model']} ({info['cpus']} CPUs); NumPy {info['numpy']}, BLAS: {info['blas']}")
    if torch is not None:
        print(f"  PyTorch {info['torch']} on {device} ({info['torch_threads']} threads)")
    if "gpu" in info:
        print(f"  GPU: {info['gpu']}")
    halves, labels = make_data(args.samples)
    n_batches = args.samples // BATCH
    result = {"machine": info, "samples": args.samples, "batch": BATCH, "repeats": args.repeats,
              "load_average_before": _load_average()}
    if result["load_average_before"] is not None:
        print(f"  load average (1 min) before: {result['load_average_before']:.2f}; other programs running "
              f"on these cores slow every engine (the ratios are fairer than the times)")

    if args.only in (None, "finetune"):
        arch = paper_mnist_architecture("dmf")
        p0 = {k: backend.to_host(v) for k, v in init_params(arch, np.random.default_rng(0), np).items()}
        shapes = gemm_shapes_finetune(arch, BATCH)
        runs = {"dmf_np fit_classifier": dmf_finetune(xp, arch, p0, halves, labels),
                "GEMM-only bound": gemm_epoch(xp, shapes, n_batches)}
        if torch is not None:
            runs["PyTorch eager"] = torch_finetune(torch, device, arch, p0, halves, labels)
        rows = _measure(runs, args, xp, torch)
        print_table(f"(a) fine-tuning epoch, DMF MNIST network, {gflop(shapes, n_batches):.0f} GFLOP of GEMMs",
                    rows, "PyTorch eager" if torch is not None else "GEMM-only bound")
        result["finetune"] = {"gflop": gflop(shapes, n_batches), "engines": rows}
        _ratio(result, rows, "ratio_finetune_vs_torch", "dmf_np fit_classifier", "PyTorch eager")
        _ratio(result, rows, "ratio_finetune_vs_gemm", "dmf_np fit_classifier", "GEMM-only bound")

    if args.only in (None, "cd1"):
        v_host = halves[0]
        rbm0 = {"W": np.random.default_rng(0).normal(0, 0.01, (N_HIDDEN_RBM, v_host.shape[1])).astype(np.float32),
                "b_h": np.zeros(N_HIDDEN_RBM, np.float32), "b_v": np.zeros(v_host.shape[1], np.float32)}
        shapes = gemm_shapes_cd1(v_host.shape[1], N_HIDDEN_RBM, BATCH)
        fn, how = dmf_cd1(xp, v_host, rbm0)
        runs = {"dmf_np CD-1": fn}
        print(f"\n  dmf_np CD-1: {how}")
        runs["GEMM-only bound"] = gemm_epoch(xp, shapes, n_batches)
        if torch is not None:
            runs["PyTorch eager"] = torch_cd1(torch, device, v_host, rbm0)
        try:
            runs["scikit-learn BernoulliRBM (CPU)"] = sklearn_cd1(v_host)
        except ImportError:
            print("note: scikit-learn is not installed; its reference is skipped", file=sys.stderr)
        rows = _measure(runs, args, xp, torch)
        print_table(f"(b) CD-1 epoch, RBM {v_host.shape[1]} -> {N_HIDDEN_RBM}, {gflop(shapes, n_batches):.0f} GFLOP "
                    f"of GEMMs", rows, "PyTorch eager" if torch is not None else "GEMM-only bound")
        result["cd1"] = {"gflop": gflop(shapes, n_batches), "engines": rows, "dmf_np_function": how}
        _ratio(result, rows, "ratio_cd1_vs_torch", "dmf_np CD-1", "PyTorch eager")
        _ratio(result, rows, "ratio_cd1_vs_sklearn", "dmf_np CD-1", "scikit-learn BernoulliRBM (CPU)")
        _ratio(result, rows, "ratio_cd1_vs_gemm", "dmf_np CD-1", "GEMM-only bound")

    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["load_average_after"] = _load_average()
    print(f"\npeak resident memory of the whole run: {result['peak_rss_mib']:.0f} MiB")
    print("ratios: " + ", ".join(f"{k}={v:.2f}" for k, v in result.items()
                                 if k.startswith("ratio_") and not k.endswith("_rounds") and v is not None))
    if args.json:
        atomic_write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


def _measure(runs, args, xp, torch) -> dict:
    for fn in runs.values():  # warm-up: first-touch allocation, thread pools, lazy imports
        fn()
    sync = {name: _sync_for(name, xp, torch) for name in runs}
    rows = time_interleaved(runs, args.repeats, sync)
    if args.no_memory:
        return rows
    for name, fn in runs.items():
        if xp is np and (name.startswith("dmf_np") or name.startswith("GEMM")):
            rows[name]["traced_peak_mib"] = traced_peak_mib(fn)
        elif xp is not np and name.startswith("dmf_np"):  # CuPy's pool holds what the run needed
            pool = xp.get_default_memory_pool()
            pool.free_all_blocks()
            fn()
            rows[name]["traced_peak_mib"] = pool.total_bytes() / 2 ** 20
        elif xp is not np and name.startswith("PyTorch") and torch is not None:
            torch.cuda.reset_peak_memory_stats()
            fn()
            rows[name]["traced_peak_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return rows


if __name__ == "__main__":
    sys.exit(main())
