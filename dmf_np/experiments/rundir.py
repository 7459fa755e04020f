"""Run directories: everything one experiment run writes, laid out so an interrupted run resumes.

A run directory holds::

    config.json        the protocol (presets, seeds, options) plus versions; fixed at the first start
    run.log            one line per finished step, appended
    units/<a>/<b>/...  one directory per unit of work (e.g. damage level / model / seed):
                       checkpoints while it runs, result.json once it is done
    metrics.json       everything aggregated from the units' results
    figures/           figures and tables drawn from metrics.json

Resuming is by unit: a unit whose ``result.json`` exists is done and is read back, not recomputed;
a unit without one restarts from its own checkpoints (see :func:`dmf_np.train.fit_classifier`).
A run directory belongs to one protocol: starting it again with a different protocol raises
:class:`ConfigMismatch` instead of mixing results, and each unit's files carry a fingerprint of the
protocol that made them (:mod:`.runner`), so units copied in or left by another protocol are recomputed,
never reused. A run directory has **one owner at a time**: ``run.lock`` names the process (pid, host,
start time) that holds it, through an advisory ``flock`` that the kernel releases when that process
dies. A second process is refused with the holder named (:class:`RunDirLocked`); a lock file left by
a dead process is taken over with a warning. The config check and write happen under the lock, and
the temporary files of writes cut short by a kill are removed when the lock is taken.
The environment (versions, BLAS library and thread
count) is recorded at the start and at every restart; a restart under another BLAS thread count warns
(:class:`ReproducibilityWarning`, and a line in run.log), since it can change the last float32 digits
of the units computed afterwards. Experiment-agnostic (MNIST, Wiki, ...).
"""
from __future__ import annotations

import fcntl
import json
import os
import platform
import socket
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

from ..io import TMP_SUFFIX, CorruptFile, atomic_write_json, read_json


class ConfigMismatch(ValueError):
    """A run directory was started again with a protocol different from the one it holds."""


class NotARunDir(ValueError):
    """The path given as a run directory is something else (an existing file)."""


class RunDirLocked(RuntimeError):
    """Another live process holds the run directory."""


_HELD = {}  # resolved run directory -> open lock file, for the locks this process holds


def acquire_lock(path: Path, log=None) -> None:
    """Take ``path``/run.lock for this process (re-entrant within it); refuse a live holder."""
    key = str(path.resolve())
    if key in _HELD:
        return
    lock = path / "run.lock"
    f = open(lock, "a+", encoding="utf-8")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise RunDirLocked(f"{path} is in use by {holder}; wait for it to finish, or choose another --out "
                           f"directory") from None
    f.seek(0)
    previous = f.read().strip()
    if previous and log is not None:
        log(f"warning: taking over the lock left by {previous}, which is no longer running")
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()} since {_now()}\n")
    f.flush()
    _HELD[key] = f


def release_lock(path: Path) -> None:
    """Give up this process's lock on a run directory (the file stays, empty: nobody holds it)."""
    f = _HELD.pop(str(Path(path).resolve()), None)
    if f is not None:
        f.seek(0)
        f.truncate()
        f.flush()
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()


def remove_tmp_litter(path: Path) -> int:
    """Delete the temporary files of atomic writes cut short by a kill; returns how many."""
    n = 0
    for tmp in path.rglob(f".*{TMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink()
            n += 1
    return n


def git_commit(repo=None) -> str | None:
    """The current git commit of the source tree (with '+dirty' when it has changes), or None."""
    repo = Path(repo) if repo else Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("+dirty" if dirty else "")) if sha else None


def environment(backend_name: str | None = None) -> dict:
    """Versions and machine facts worth keeping beside results."""
    import numpy  # noqa: PLC0415

    from .. import backend  # noqa: PLC0415

    env = {"python": platform.python_version(), "numpy": numpy.__version__, "platform": platform.platform(),
           "cpus": os.cpu_count(), "blas": backend.blas_info(), "blas_pools": backend.blas_pools(),
           "git_commit": git_commit(), "backend": backend_name, "argv": sys.argv}
    try:
        from importlib.metadata import version  # noqa: PLC0415

        env["dmf_np"] = version("dmf_np")
    except Exception:
        env["dmf_np"] = "source tree"
    if backend_name == "cupy":  # get_xp raises BackendError, naming why, where CuPy is unusable
        env["cupy"] = backend.get_xp("cupy").__version__
    return env


class ReproducibilityWarning(UserWarning):
    """A run resumes under conditions that can change the last float digits of its results."""


def blas_threads(env: dict) -> tuple | None:
    """The BLAS thread count(s) an environment record was taken under, or None where unknown
    (records older than ``blas_pools`` give it only inside the ``blas`` text: '(2 threads)').
    ``units_blas_threads``, where recorded, wins: the units ran in workers limited to that count."""
    if env.get("units_blas_threads") is not None:
        return (int(env["units_blas_threads"]),)
    pools = env.get("blas_pools")
    if pools:
        return tuple(p.get("threads") for p in pools)
    found = re.findall(r"\((\d+) threads\)", str(env.get("blas", "")))
    return tuple(int(n) for n in found) or None


def _counts(threads: tuple) -> str:
    """'2' for one count (over every BLAS library loaded), '2/1' where the libraries differ."""
    return str(threads[0]) if len(set(threads)) == 1 else "/".join(str(t) for t in threads)


def check_blas_threads(config: dict, now: dict) -> str | None:
    """A warning text when ``now`` (an environment record) has another BLAS thread count than the
    start or a restart recorded in ``config``; None when they agree or a count is unknown."""
    current, first = blas_threads(now), blas_threads(config.get("environment", {}))
    before = [first] + [blas_threads(r.get("environment", {})) for r in config.get("restarts", [])]
    before = sorted({b for b in before if b is not None})
    if current is None or not before or before == [current]:
        return None
    match = f" Set OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) to {_counts(first)} to match the start." if first else ""
    return (f"this run resumes with {_counts(current)} BLAS thread(s); earlier parts of it ran with "
            f"{', '.join(_counts(b) for b in before)}. The thread count changes the order of float32 "
            f"sums, so units computed now may differ from those computed before in the last digits; "
            f"the run stays valid (see docs/reproducibility.md).{match}")


class RunDir:
    """One run's directory. ``RunDir(path).start(protocol)`` begins or resumes it."""

    def __init__(self, path):
        self.path = Path(path)

    # --- config ---------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    def start(self, protocol: dict, backend_name: str | None = None, units_blas_threads: int | None = None) -> dict:
        """Write config.json (protocol + versions) on the first start; on later starts check that
        ``protocol`` is the stored one (raising :class:`ConfigMismatch` naming the differences) and
        record the restart, warning when the BLAS thread count differs from before. Returns the
        stored config. ``units_blas_threads``: the BLAS thread count the units will run under when it
        is not this process's (parallel workers run with 1)."""
        protocol = json.loads(json.dumps(protocol))  # normalise tuples -> lists, as stored
        if self.path.exists() and not self.path.is_dir():
            raise NotARunDir(f"{self.path} is a file, not a run directory; choose another --out "
                             f"(a new or existing directory)")
        self.path.mkdir(parents=True, exist_ok=True)
        acquire_lock(self.path, log=lambda m: self.log(m))
        litter = remove_tmp_litter(self.path)
        if litter:
            self.log(f"removed {litter} temporary file(s) left by an interrupted write")
        env = environment(backend_name)
        if units_blas_threads is not None:
            env["units_blas_threads"] = int(units_blas_threads)
        if self.config_path.is_file():
            config = read_json(self.config_path, "the run directory cannot be resumed; use another "
                                                 "--out directory, or delete this one to start over")
            if not isinstance(config, dict) or not isinstance(config.get("protocol"), dict):
                raise CorruptFile(f"{self.config_path} is not a run configuration (it holds "
                                  f"{type(config).__name__}); use another --out directory, or delete "
                                  f"this one to start over")
            old = config.get("protocol", {})
            if old != protocol:
                diff = sorted(k for k in set(old) | set(protocol) if old.get(k) != protocol.get(k))
                raise ConfigMismatch(f"{self.path} holds a run with a different protocol (differences in: "
                                     f"{', '.join(diff)}); use another --out directory, or delete this one")
            warning = check_blas_threads(config, env)
            if warning:
                self.log(f"warning: {warning}", echo=False)
                warnings.warn(f"{self.path}: {warning}", ReproducibilityWarning, stacklevel=2)
            config.setdefault("restarts", []).append({"time": _now(), "environment": env})
        else:
            config = {"protocol": protocol, "created": _now(), "environment": env}
        atomic_write_json(self.config_path, config)
        return config

    # --- units ----------------------------------------------------------------------------
    def release(self) -> None:
        """Give the run directory up (also done by the kernel when this process ends)."""
        release_lock(self.path)

    def unit(self, *parts) -> Path:
        """The directory of one unit of work (created), e.g. unit('d30', 'dmf', 'seed1')."""
        path = self.path.joinpath("units", *(str(p) for p in parts))
        path.mkdir(parents=True, exist_ok=True)
        return path

    def result(self, *parts) -> dict | None:
        """A finished unit's result, or None when it has not finished."""
        path = self.path.joinpath("units", *(str(p) for p in parts), "result.json")
        if not path.is_file():
            return None
        return read_json(path, "delete it and rerun the same command: that unit is then recomputed")

    def save_result(self, parts, result: dict) -> Path:
        """Mark a unit done by writing its result (atomically: it is the unit's 'done' flag)."""
        return atomic_write_json(self.unit(*parts) / "result.json", result)

    # --- metrics, figures, log ------------------------------------------------------------
    def write_metrics(self, metrics: dict, name: str = "metrics.json") -> Path:
        return atomic_write_json(self.path / name, metrics)

    def read_metrics(self, name: str = "metrics.json") -> dict:
        path = self.path / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: run the experiment first")
        return read_json(path, "delete it and rerun the same command: it is rebuilt from the units' results")

    @property
    def figures(self) -> Path:
        path = self.path / "figures"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, message: str, echo=True) -> None:
        """Append a time-stamped line to run.log (and echo it)."""
        line = f"[{_now()}] {message}"
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / "run.log", "a", encoding="utf-8") as f:
            f.write(line + "\n")
        if echo:
            print(line, flush=True)


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
