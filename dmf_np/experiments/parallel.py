"""Independent units of work on several processes or a Dask cluster, through ``concurrent.futures``.

An experiment's units (for MNIST: one (condition, model, seed, learning rate) each) depend only on
their own arguments and on files in the run directory, so they can run anywhere, in any order. This
module builds the executor that runs them; the experiment submits functions to it and waits on the
returned :class:`concurrent.futures.Future` objects. There is one interface for every backend:

* ``jobs=N`` (no scheduler): a :class:`concurrent.futures.ProcessPoolExecutor` of N local worker
  processes (standard library; no Dask needed);
* ``scheduler="local"``: a :class:`dask.distributed.LocalCluster` of N single-threaded workers;
* ``scheduler="tcp://host:8786"``: a running Dask cluster (``dask scheduler`` and ``dask worker``,
  docs/cluster.md). The run directory must then be a path that every worker sees, at the same name.

Dask's :meth:`distributed.Client.get_executor` offers the ``concurrent.futures.Executor`` interface,
so the experiment's code is the same for all three.

**One BLAS thread per unit.** Floating-point results depend on the number of BLAS threads (blocked
sums are split differently), and CD sampling amplifies the difference; two multi-threaded workers on
the same cores are also slower than one thread each. Every submitted call therefore runs under
``threadpoolctl.threadpool_limits(1)`` (:func:`single_threaded`), and local workers also start with
``OPENBLAS_NUM_THREADS=1`` and friends in their environment. A unit then gives the same bits as the
serial run with ``OPENBLAS_NUM_THREADS=1``, wherever and in whatever order it ran.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
from dataclasses import dataclass, field

from threadpoolctl import threadpool_limits

BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


CONNECT_TIMEOUT = 10  # seconds to wait for a Dask scheduler to answer


class DaskMissing(ImportError):
    """--scheduler was given but dask.distributed is not installed."""


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answered at the address given."""


def one_blas_thread_env() -> None:
    """Worker initialiser: one thread for every BLAS/OpenMP library loaded from now on."""
    for name in BLAS_ENV:
        os.environ[name] = "1"


def single_threaded(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with every loaded BLAS/OpenMP pool limited to one thread (see the module
    docstring); what every submitted unit runs through."""
    one_blas_thread_env()
    with threadpool_limits(limits=1):
        return fn(*args, **kwargs)


def _import_distributed():
    try:
        import distributed  # optional (the 'parallel' extra): imported only when asked for
    except ImportError as exc:
        raise DaskMissing("--scheduler needs Dask: python -m pip install 'dask[distributed]' "
                          "(or the project's extra: python -m pip install -e '.[parallel]'); "
                          "--jobs N alone runs on local processes without Dask") from exc
    return distributed


@dataclass
class UnitExecutor:
    """A ``concurrent.futures.Executor`` for units, plus what it needs to be shut down.

    ``submit(fn, *args)`` runs ``fn(*args)`` on a worker with one BLAS thread and returns a
    :class:`concurrent.futures.Future`. ``share(obj)`` prepares a large read-only argument (the data)
    to be passed to many calls: on Dask it is sent to every worker once (``Client.scatter``) and the
    returned handle stands for it in ``submit``; on local processes it is the object itself (pickled
    with each call).
    """

    executor: cf.Executor
    workers: int
    description: str
    client: object = None
    _closers: list = field(default_factory=list)

    def submit(self, fn, *args, **kwargs) -> cf.Future:
        return self.executor.submit(single_threaded, fn, *args, **kwargs)

    def share(self, obj):
        if self.client is None:
            return obj
        return self.client.scatter(obj, broadcast=True)

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class InlineExecutor(cf.Executor):
    """Runs each submitted call at once, in this process: the ``jobs=1`` case of the same interface."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future, as a pool would
            future.set_exception(exc)
        return future


def make_executor(jobs: int = 1, scheduler: str | None = None, inline: bool = False) -> UnitExecutor:
    """The executor for ``--jobs N`` / ``--scheduler ADDRESS|local`` (see the module docstring).

    ``inline=True`` with jobs=1 and no scheduler: every call runs in this process when submitted
    (still under one BLAS thread). Raises ValueError for jobs < 1 and :class:`DaskMissing` (an
    ImportError) when a scheduler is asked for without dask.distributed installed.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer (worker processes), got {jobs!r}")
    if inline and jobs == 1 and scheduler is None:
        return UnitExecutor(InlineExecutor(), 1, "this process")
    if scheduler is None:
        pool = cf.ProcessPoolExecutor(max_workers=jobs, initializer=one_blas_thread_env)
        return UnitExecutor(pool, jobs, f"{jobs} local processes", _closers=[pool.shutdown])
    if not isinstance(scheduler, str) or not scheduler:
        raise ValueError(f"scheduler must be 'local' or a Dask scheduler address, got {scheduler!r}")
    distributed = _import_distributed()
    closers = []
    if scheduler == "local":
        # processes, not threads: NumPy holds the GIL between BLAS calls; one thread per worker
        cluster = distributed.LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
        closers += [cluster.close, client.close]  # closed in reverse: the client first
        description = f"Dask LocalCluster of {jobs} workers"
    else:
        try:  # a wrong address would otherwise hang for distributed's default 30 s, then raise OSError
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise SchedulerUnreachable(f"--scheduler {scheduler}: no Dask scheduler answered within "
                                       f"{CONNECT_TIMEOUT} s ({type(exc).__name__}); start one (`dask scheduler`, "
                                       f"docs/cluster.md), fix the address, or use --jobs N alone") from None
        closers.append(client.close)
        description = f"Dask cluster at {scheduler}"
    client.run(one_blas_thread_env)  # the workers connected now; single_threaded covers later ones
    workers = max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))
    return UnitExecutor(client.get_executor(pure=False), workers, f"{description} ({workers} threads)",
                        client=client, _closers=closers)


def wait_all(futures) -> list:
    """The results of ``futures`` in submission order; on the first failure, cancel what has not started
    and raise that failure (the run directory keeps every unit that finished)."""
    futures = list(futures)
    done, _ = cf.wait(futures, return_when=cf.FIRST_EXCEPTION)
    failed = [f for f in futures if f in done and f.exception() is not None]
    if failed:
        for f in futures:
            f.cancel()
        raise failed[0].exception()
    return [f.result() for f in futures]


__all__ = ["SchedulerUnreachable",
           "UnitExecutor", "InlineExecutor", "make_executor", "wait_all", "single_threaded", "one_blas_thread_env",
           "DaskMissing"]
