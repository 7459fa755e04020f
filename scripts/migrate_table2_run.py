"""Convert a Table 2 run directory written before the (items, ranking) readings to today's layout.

    python scripts/migrate_table2_run.py runs/table2-paper

Older runs of the default reading (single-modality items, centred cosine) kept one final unit per
method and split (``final``) and scored only that reading. Today every run records the readings it
scored: each tuning unit's scores under ``variants``, the final unit named after its configuration
(``final<j>``) with ``test_variants``, and ``criteria`` in the protocol. This script rewrites an old
directory in place (each file atomically), after which ``python -m dmf_np reproduce table2`` with the
same options resumes it, recomputing nothing. Directories already in today's layout are left alone.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from dmf_np.experiments.wiki import DEFAULT_CRITERION, criterion_key
from dmf_np.io import atomic_write_json



def _default_reading(scores: dict) -> dict:
    """{items: {ranking: scores}} holding only the default reading, the one an old run scored."""
    return {DEFAULT_CRITERION[0]: {DEFAULT_CRITERION[1]: scores}}


def migrate(run_dir) -> list:
    """Rewrite ``run_dir`` to today's layout; returns the paths changed ([] when nothing was old)."""
    run = Path(run_dir)
    config_path = run / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run} holds no config.json: not a run directory")
    config = json.loads(config_path.read_text())
    protocol = config["protocol"]
    if protocol.get("experiment") != "table2":
        raise ValueError(f"{run} is not a Table 2 run (experiment {protocol.get('experiment')!r})")
    if "criteria" in protocol:
        return []
    changed = []
    for split in sorted((run / "units").glob("split*")):
        for method_dir in sorted(p for p in split.iterdir() if p.is_dir()):
            for tune in sorted(method_dir.glob("tune*/result.json")):
                res = json.loads(tune.read_text())
                res.setdefault("variants", _default_reading(res["validation"]))
                changed.append(atomic_write_json(tune, res))
            final = method_dir / "final" / "result.json"
            if final.is_file():
                res = json.loads(final.read_text())
                res["test_variants"] = _default_reading(res.pop("test"))
                target = method_dir / f"final{res['chosen_index']}"
                (method_dir / "final").rename(target)
                changed.append(atomic_write_json(target / "result.json", res))
    protocol["criteria"] = [criterion_key(DEFAULT_CRITERION)]
    protocol["distance"] = "per (items, ranking) criterion"
    changed.append(atomic_write_json(config_path, config))  # last: an interrupted migration reruns
    return changed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="a Table 2 run directory (e.g. runs/table2-paper)")
    args = p.parse_args(argv)
    changed = migrate(args.run_dir)
    print(f"{args.run_dir}: " + (f"migrated, {len(changed)} files rewritten" if changed else "already current"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
