"""The one experiment runner: units of work as frozen specs, each result tied to its protocol.

Every experiment (Table 1 / Fig. 4, the study's E1-E5, ...) is a set of **units**: a frozen
dataclass :class:`Unit` says what to train, on what, with which seed and settings. A unit lists the
units whose outputs it reads (``needs``: its pretraining, say) and does its work in ``run``. An
experiment's **plan** is a function ``plan(done) -> units``: given the results finished so far, every
unit it can name now (the final seeds of a model appear once that model's rate grid has finished).
:func:`run_plan` runs a plan serially, on N local processes or on a Dask cluster, and starts each
unit as soon as its inputs exist: no wave waits for its slowest member.

**Fingerprints.** A unit's fingerprint is a hash of its spec, the settings of the code that affect
numbers (backend, dtype), the data's checksum and :data:`SCHEMA`. It is written into the unit's
``unit.json`` (before anything else), its ``result.json`` and its checkpoints. A finished unit is
reused only when its fingerprint matches; otherwise the runner says which unit it recomputes and why,
moves the old files to ``stale/`` (nothing is lost) and computes it again.

**Results** come back as :class:`Result`: the unit's path, fingerprint, the experiment's values and,
for a run that blew up, the divergence record (``diverged``) instead of values.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

import numpy as np

from ..errors import DivergenceError
from ..io import CorruptFile, atomic_write_json, read_json
from .parallel import make_executor

SCHEMA = 2  # bump when a unit's files change meaning; every unit of an older schema is recomputed


# --- fingerprints ---------------------------------------------------------------------------------

def canonical(obj):
    """A JSON-ready copy of ``obj`` (dataclasses as dicts, tuples as lists, numpy scalars as numbers)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {"type": type(obj).__name__, **{f.name: canonical(getattr(obj, f.name)) for f in fields(obj)}}
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def fingerprint(unit, context: dict) -> str:
    """SHA-256 (first 16 hex digits) of the unit's spec, the code-relevant ``context`` and the schema."""
    text = json.dumps({"schema": SCHEMA, "spec": canonical(unit), "context": canonical(context)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def array_checksum(*arrays) -> str:
    """SHA-256 (first 16 hex digits) over arrays' shapes, dtypes and bytes: a data set's identity."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def spec_differences(old: dict, new: dict, prefix: str = "") -> list:
    """The fields where two canonical specs differ, as 'name: old -> new' (nested names dotted)."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += spec_differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {json.dumps(a)} -> {json.dumps(b)}")
    return out


# --- units and results ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """One unit of work. Subclasses are frozen dataclasses whose fields are everything the unit's
    numbers depend on; they define ``path`` (its directory under ``units/``) and ``run``."""

    RESULT = "result.json"  # the file that marks the unit done (a class attribute, not a field)

    @property
    def path(self) -> tuple:
        raise NotImplementedError

    def needs(self) -> tuple:
        """The units whose outputs this one reads (run first; their results are passed to ``run``)."""
        return ()

    def cost(self) -> float:
        """A rough relative cost (any unit): of the units ready at once, the costliest start first, so
        that a long unit does not start last and leave the other workers idle at the end."""
        return 0.0

    def run(self, ctx: "Context", unit_dir: Path, inputs: dict) -> dict:
        """Do the work; return the values to store (JSON-ready). ``inputs``: {needed unit: Result}."""
        raise NotImplementedError


@dataclass(frozen=True)
class Result:
    """A finished unit read back: its path, fingerprint, values, and the divergence record if any."""

    path: tuple
    fingerprint: str
    values: dict
    diverged: str | None = None

    def __getitem__(self, key):
        return self.values[key]

    def get(self, key, default=None):
        return self.values.get(key, default)

    def to_json(self, spec: dict) -> dict:
        return {"schema": SCHEMA, "fingerprint": self.fingerprint, "spec": spec, "path": list(self.path),
                "diverged": self.diverged, **self.values}

    @classmethod
    def from_json(cls, obj, source) -> "Result":
        if not isinstance(obj, dict) or not isinstance(obj.get("fingerprint"), str):
            raise CorruptFile(f"{source} is not a unit result (no fingerprint); it is recomputed")
        values = {k: v for k, v in obj.items() if k not in ("schema", "fingerprint", "spec", "path", "diverged")}
        return cls(tuple(obj.get("path", ())), obj["fingerprint"], values, obj.get("diverged"))


@dataclass
class Context:
    """What every unit of a run shares: the run directory, the data, and the code-relevant settings
    that enter every fingerprint (backend, dtype, data checksum)."""

    out: str
    data: object
    settings: dict = field(default_factory=dict)
    show_progress: bool | None = False

    def fingerprint(self, unit: Unit) -> str:
        return fingerprint(unit, self.settings)


def diverged_values(exc: DivergenceError) -> dict:
    """The divergence record a unit stores instead of values (one place for every experiment)."""
    return {"diverged": str(exc)}


# --- one unit, wherever it runs ------------------------------------------------------------------

def unit_dir(out, unit: Unit) -> Path:
    return Path(out).joinpath("units", *(str(p) for p in unit.path))


def read_result(out, unit: Unit, ctx: Context) -> tuple:
    """(Result or None, why it is not reusable or None): a finished unit whose fingerprint matches."""
    path = unit_dir(out, unit) / unit.RESULT
    if not path.is_file():
        return None, None
    try:
        stored = read_json(path, "it is recomputed")
        result = Result.from_json(stored, path)
    except CorruptFile as exc:
        return None, str(exc)
    want = ctx.fingerprint(unit)
    if result.fingerprint == want:
        return result, None
    diff = spec_differences(stored.get("spec") or {}, canonical(unit)) if isinstance(stored, dict) else []
    why = "; ".join(diff[:4]) or "code settings, data or schema differ"
    return None, f"made under another protocol ({why})"


def stamp(out, unit: Unit, ctx: Context) -> Path:
    """The unit's directory, claimed for this fingerprint: files left by another protocol (a copied or
    stale unit) are moved to ``stale/`` first, so no checkpoint of theirs is resumed from."""
    d = unit_dir(out, unit)
    want = ctx.fingerprint(unit)
    stamp_path = d / "unit.json"
    if d.is_dir() and any(not (e.is_dir() and (e / "unit.json").exists()) for e in d.iterdir()):
        try:
            ok = read_json(stamp_path, "").get("fingerprint") == want
        except (CorruptFile, OSError, AttributeError):
            ok = False
        ok = ok and not (d / unit.RESULT).exists()  # a result here was not reusable (unreadable): keep it aside
        if not ok:
            move_stale(out, d)
    atomic_write_json(stamp_path, {"schema": SCHEMA, "fingerprint": want, "spec": canonical(unit)})
    return d


def move_stale(out, d: Path) -> Path:
    """Move a unit's files aside to ``stale/<time>/<its path>`` (kept, not deleted). Directories of
    other units nested inside it (a pretraining unit holds its learning rates' units) stay."""
    rel = d.relative_to(Path(out) / "units")
    dest = Path(out) / "stale" / time.strftime("%Y%m%d-%H%M%S") / rel
    n = 1
    while dest.exists():
        dest = dest.with_name(f"{rel.name}.{n}")
        n += 1
    dest.mkdir(parents=True)
    for entry in d.iterdir():
        if not (entry.is_dir() and (entry / "unit.json").exists()):
            shutil.move(str(entry), str(dest / entry.name))
    return dest


def execute(unit: Unit, ctx: Context, inputs: dict) -> Result:
    """Run one unit (on a worker or here) and write its result; a divergence is recorded, not raised."""
    d = stamp(ctx.out, unit, ctx)
    fp = ctx.fingerprint(unit)
    try:
        values, diverged = unit.run(ctx, d, inputs), None
    except DivergenceError as exc:
        values, diverged = {}, str(exc)
    result = Result(tuple(str(p) for p in unit.path), fp, values, diverged)
    atomic_write_json(d / unit.RESULT, result.to_json(canonical(unit)))
    return result


# --- a plan, run as a dependency graph ----------------------------------------------------------

def _closure(units) -> list:
    """``units`` and everything they need, each once, needs first."""
    seen, out = set(), []

    def visit(u):
        if u in seen:
            return
        seen.add(u)
        for n in u.needs():
            visit(n)
        out.append(u)

    for u in units:
        visit(u)
    return out


def run_plan(plan, ctx: Context, *, jobs: int = 1, scheduler: str | None = None, log=print) -> dict:
    """Run every unit ``plan`` names (``plan(done) -> iterable of Unit``) and return {Unit: Result}.

    A unit is submitted as soon as every unit it needs has finished; after each finished unit the
    plan is asked again, so units that depend on a choice (a tuned rate) start the moment the choice
    is made. Finished units with a matching fingerprint are read back, not rerun; mismatched ones are
    named in the log and recomputed. ``jobs``/``scheduler``: see :func:`.parallel.make_executor`
    (jobs=1 and no scheduler: in this process, in order). On the first failure (other than a
    divergence, which is recorded) the units not yet started are cancelled and the error is raised;
    every finished unit stays on disk.
    """
    done, running, checked = {}, {}, set()
    with make_executor(jobs, scheduler, inline=True) as ex:
        if ex.workers > 1 or scheduler is not None:
            log(f"units on {ex.description}")
        wctx = ex.share(ctx)  # on Dask the data travels to every worker once, not with every unit
        while True:
            ready = [u for u in _closure(plan(done)) if u not in done and u not in running.values()
                     and all(n in done for n in u.needs())]
            fresh = _read_back([u for u in ready if u not in checked], ctx, done, log)
            checked.update(ready)
            if fresh:
                continue  # reading back may have made new units ready
            # one unit per free worker, the costliest first: a unit that becomes ready later is not
            # queued behind units that were merely submitted earlier
            for u in sorted(ready, key=lambda u: -u.cost())[:max(0, ex.workers - len(running))]:
                running[ex.submit(execute, u, wctx, {n: done[n] for n in u.needs()})] = u
            if not running:
                return done
            finished, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for f in finished:
                u = running.pop(f)
                failure = _failure(f, u)
                if failure is not None:
                    for other in running:
                        other.cancel()
                    raise failure
                done[u] = f.result()
                log(_finished_line(u, done[u]))


class UnitsLost(RuntimeError):
    """A unit's future was cancelled under us: every worker that could run it is gone."""


def _failure(future, unit: Unit):
    """The exception a finished future holds (None if it succeeded). A cancelled future (Dask's
    cancellation error is not always an ``Exception``) becomes :class:`UnitsLost`."""
    try:
        return future.exception()
    except BaseException as exc:  # concurrent.futures / asyncio / distributed cancellations
        if "Cancelled" not in type(exc).__name__:
            raise
        return UnitsLost(f"{'/'.join(map(str, unit.path))} was cancelled: the workers running the units were "
                         f"lost; start workers again (docs/cluster.md) or use --jobs N, and rerun the same "
                         f"command to resume (finished units are kept)")


def _read_back(units, ctx: Context, done: dict, log) -> set:
    """Units among ``units`` already finished under this protocol: put in ``done``; others explained."""
    fresh = set()
    for u in units:
        result, why = read_result(ctx.out, u, ctx)
        if result is not None:
            done[u] = result
            fresh.add(u)
        elif why:
            log(f"recomputing {'/'.join(map(str, u.path))}: {why}")
    return fresh


def _finished_line(unit: Unit, result: Result) -> str:
    name = "/".join(map(str, unit.path))
    return f"{name}: diverged ({result.diverged})" if result.diverged else f"{name}: done"


def read_plan(units_of, ctx: Context, log=print) -> dict:
    """Every finished unit of a plan whose fingerprint matches, read back without running anything;
    each unit whose files cannot be reused is named, with why (the next run recomputes it)."""
    done, seen, changed = {}, set(), True
    while changed:
        changed = False
        for u in units_of(done):
            if u in seen:
                continue
            seen.add(u)
            result, why = read_result(ctx.out, u, ctx)
            if result is not None:
                done[u] = result
                changed = True
            elif why:
                log(f"{'/'.join(map(str, u.path))} is not reused ({why}); a run without --report-only recomputes it")
    return done


# --- one of each shared reading -------------------------------------------------------------------

def choose_rate(scores: dict):
    """The rate with the lowest validation error; ties go to the smaller rate. ``scores``: {rate:
    error or None (diverged)}. Raises DivergenceError when every rate diverged."""
    ok = [(err, float(lr)) for lr, err in scores.items() if err is not None]
    if not ok:
        raise DivergenceError(f"every learning rate of the grid {sorted(float(r) for r in scores)} diverged")
    return min(ok)[1]


def cell(values, n_key: str = "seeds") -> dict:
    """mean, sample standard deviation (ddof=1; 0 for one value), n, and the values themselves."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            n_key: int(v.size), "values": v.tolist()}


def as_dict(unit: Unit) -> dict:
    return asdict(unit)


__all__ = ["SCHEMA", "Unit", "Result", "Context", "run_plan", "execute", "fingerprint", "array_checksum",
           "read_result", "read_plan", "choose_rate", "cell", "diverged_values", "canonical", "spec_differences"]
