"""Give the units of Wiki run directories written before the runner their fingerprints.

Table 2 run directories (``python -m dmf_np reproduce table2``) and study E4's (its protocols P0, P1,
P3 are Table 2 runs) written before units carried fingerprints: each unit's result.json gains the
fingerprint, spec, path and schema of :mod:`dmf_np.experiments.runner` (and a ``unit.json`` beside it),
so that a rerun with the same options reads every finished unit back instead of recomputing it.

* Its values stay as they are; a tuning unit that diverged (recorded then as -inf scores) becomes the
  runner's divergence record.
* The spec is rebuilt from the run's config.json (preset, seed, split, the readings scored) and the
  unit's own files (split, method and grid index from its path), and checked against both (its
  configuration and split seed). Its rankings are those today's run scores for the same readings
  (:func:`dmf_np.experiments.wiki.rankings_for`); early units scored every ranking, and their extra
  scores, kept in the values, do not change the ones the spec names (each ranking is computed on its
  own). A unit that lacks one of them is left alone, and recomputed by the next run.
* The data's checksum is that of the Wiki files given here, checked against the published sha256
  sums (the command line always checked them, so the old runs saw the same arrays).

Reports do not need this: they read each protocol's metrics.json, which is left alone. Directories of
before the (items, ranking) readings need ``scripts/migrate_table2_run.py`` first.

    python scripts/migrate_wiki_units.py --wiki-dir /path/to/wiki runs/table2-paper runs/study-e4
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from dmf_np import backend
from dmf_np.data.wiki import load_wiki
from dmf_np.experiments import wiki as W
from dmf_np.experiments.runner import SCHEMA, Context, Result, canonical
from dmf_np.io import atomic_write_json


def wiki_spec(run: Path, protocol: dict, unit_dir: Path, result: dict):
    """The :class:`~dmf_np.experiments.wiki.Tune` or ``Final`` unit an old result was made as."""
    split, method, name = unit_dir.relative_to(run / "units").parts
    k, final = int(split.removeprefix("split")), name.startswith("final")
    j = int(name.removeprefix("final" if final else "tune"))
    preset = W.preset_from_settings(protocol["preset"], protocol["settings"])
    pairs = W.Pairs(protocol.get("split", "random"), k, protocol["seed"],
                    backend.spawn_seeds(protocol["seed"], preset.splits)[k])
    config = preset.grid(method)[j]
    seed_ok = not final or result["split_seed"] == pairs.split_seed
    if result["chosen" if final else "config"] != config.as_dict() or not seed_ok:
        raise ValueError(f"{unit_dir}: its configuration or seed is not the one {run / 'config.json'} gives it")
    rankings = W.rankings_for([c.split("/", 1) for c in protocol["criteria"]])
    scored = result["test_variants" if final else "variants"][W.ITEMS[0]]
    if not set(rankings) <= set(scored):
        return None
    part = None if method == "cca" else preset.unit_part()
    return (W.Final if final else W.Tune)(pairs, method, j, config, part, rankings)


def migrate_table2_units(run: Path, data) -> int:
    """Add fingerprints to the units of one Table 2 run directory; returns how many changed."""
    config = json.loads((run / "config.json").read_text())
    protocol = config["protocol"]
    if protocol.get("experiment") != "table2" or "criteria" not in protocol:
        raise ValueError(f"{run} is not a Table 2 run of today's layout (run scripts/migrate_table2_run.py first)")
    settings = {"backend": config.get("environment", {}).get("backend") or "numpy", "dtype": "float32",
                "data": W.data_checksum(data)}
    ctx, n = Context(str(run.resolve()), data, settings), 0
    for path in sorted((run / "units").glob("split*/*/*/result.json")):
        stored = json.loads(path.read_text())
        unit = None if "fingerprint" in stored else wiki_spec(run, protocol, path.parent, stored)
        if unit is None:
            continue
        lost = isinstance(unit, W.Tune) and stored["validation"][W.DEFAULT_PROTOCOL]["i2t"] == float("-inf")
        result = Result(unit.path, ctx.fingerprint(unit), {} if lost else stored,
                        "diverged (recorded as -inf validation scores before the runner)" if lost else None)
        atomic_write_json(path.parent / "unit.json", {"schema": SCHEMA, "fingerprint": result.fingerprint,
                                                      "spec": canonical(unit)})
        atomic_write_json(path, result.to_json(canonical(unit)))
        n += 1
    return n


def migrate(run, data) -> int:
    """A Table 2 run directory, or an E4 directory's protocols; returns how many units changed."""
    run = Path(run)
    experiment = json.loads((run / "config.json").read_text()).get("protocol", {}).get("experiment")
    if experiment == "table2":
        return migrate_table2_units(run, data)
    if experiment == "e4":
        return sum(migrate_table2_units(run / p, data) for p in ("P0", "P1", "P3")
                   if (run / p / "config.json").is_file())
    raise ValueError(f"{run} is neither a Table 2 nor an E4 run directory (experiment {experiment!r})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="Table 2 or E4 run directories, migrated in place")
    p.add_argument("--wiki-dir", required=True, help="the Wiki features the units were trained on")
    args = p.parse_args(argv)
    data = load_wiki(args.wiki_dir)
    for run in args.runs:
        n = migrate(run, data)
        print(f"{run}: " + (f"{n} units given fingerprints" if n else "already current"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
