"""Options every experiment command shares, checked before anything is created, and the one place
where a failure becomes one line (``error: ...``, naming the option or file and what to do).

``Parser`` is an ``argparse.ArgumentParser`` whose errors raise :class:`UsageError` instead of
printing the usage block and exiting, so ``dmf_np.cli.main`` prints them as one line like any other.
The ``type=`` functions below name what is wrong with a value; argparse adds the option's name.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import errno
import math
import os
import re
from pathlib import Path

from .. import backend
from ..errors import DivergenceError
from ..experiments.parallel import DaskMissing, SchedulerUnreachable
from ..experiments.rundir import RunDirLocked
from ..io import CorruptFile, NotADirectory


class UsageError(ValueError):
    """A bad option or option value: reported as one line, exit status 2, nothing created."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give 0 or more")
    return value


def positive_int(text: str) -> int:
    value = nonneg_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def rate_grid(text: str) -> tuple:
    """Comma-separated learning rates: finite and positive ('nan' and '-1' are refused)."""
    rates = []
    for part in text.split(","):
        try:
            r = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not a number") from None
        if not math.isfinite(r) or r <= 0:
            raise argparse.ArgumentTypeError(f"{part.strip()} is not a finite positive learning rate")
        rates.append(r)
    return tuple(rates)


def damage_levels(text: str) -> tuple:
    """Comma-separated damage levels in percent, in [0, 100), including 0 (the clean condition)."""
    levels = []
    for part in text.split(","):
        try:
            levels.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not an integer percentage") from None
    if 0 not in levels or any(not 0 <= d < 100 for d in levels):
        raise argparse.ArgumentTypeError(f"{text}: levels must include 0 and lie in [0, 100)")
    return tuple(levels)


ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx)://[^\s:/]+(:\d{1,5})?$|^[A-Za-z0-9.\-]+:\d{1,5}$")


def scheduler_address(text: str) -> str:
    """'local' or a Dask scheduler address (tcp://host:port or host:port)."""
    if text == "local" or ADDRESS.match(text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is neither 'local' nor a Dask scheduler address such as "
                                     f"tcp://host:8786")


def backend_name(text: str | None) -> str:
    """The backend to use: the option, else $DMF_BACKEND, else numpy; checked now (a missing GPU is
    named before any data is read or directory made)."""
    name = text or os.environ.get(backend.ENV_VAR) or "numpy"
    backend.get_xp(name)
    return "cupy" if name.strip().lower() in ("cupy", "cuda", "gpu") else "numpy"


def check_writable_dir(path, option: str) -> Path:
    """Refuse an output directory that cannot be made or written, before anything is created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a directory; choose another {option}")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: {existing} is a file, not a directory; choose another {option}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: {existing} is not writable; choose a directory you can write to")
    return path


def one_line(exc: BaseException) -> tuple:
    """(message, exit status) for an error that ends a command: what happened, where, what to do."""
    if isinstance(exc, (UsageError, CorruptFile, NotADirectory, RunDirLocked)):
        return str(exc), 2
    if isinstance(exc, DivergenceError):
        return (f"{exc} (the run directory keeps every finished unit and the last good checkpoint; rerun the "
                f"same command to resume)"), 1
    if isinstance(exc, cf.CancelledError):
        return ("the units were cancelled: the Dask workers were lost; start workers again (docs/cluster.md) "
                "and rerun the same command to resume (finished units are kept)"), 1
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        where = f" {exc.filename}" if exc.filename else ""
        return (f"cannot write{where}: {exc.strerror} (the disk is full or a file-size limit is set); free space "
                f"and rerun the same command: finished units are kept"), 1
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return f"cannot write {exc.filename or ''}: {exc.strerror}; choose a directory you can write to", 2
    if isinstance(exc, (SchedulerUnreachable, DaskMissing)):
        return str(exc), 2
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror}", 1
    return str(exc) or type(exc).__name__, 1
