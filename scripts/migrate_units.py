"""Migrate first-round study run directories (or their committed tarballs) to today's config keys.

The first round's config.json named each experiment after the issue that asked for it
("issue13-e1"); today's code names it "study-e1". Nothing else in a unit changes: its result.json,
checkpoints and numbers stay byte for byte, so ``python -m dmf_np study report`` reports the same
numbers before and after. A migrated directory resumes under today's code (``python -m dmf_np study e1
--out DIR``) instead of being refused as another protocol.

    python scripts/migrate_units.py runs/study-e1 runs/study-e2         # run directories, in place
    python scripts/migrate_units.py --tarballs results                    # rewrite results/study-e*-units.tar.gz
"""
from __future__ import annotations

import argparse
import json
import tarfile
import tempfile
from pathlib import Path

from dmf_np.io import atomic_write_json

RENAMED = {f"issue13-e{n}": f"study-e{n}" for n in (1, 2, 3)}


def migrate_run(run: Path) -> bool:
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


def migrate_tarball(tarball: Path) -> bool:
    """Extract, migrate and re-pack one results/study-e*-units.tar.gz (members in their stored order)."""
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(tarball) as tar:
        members = tar.getmembers()
        tar.extractall(tmp, filter="data")
        runs = {Path(m.name).parts[0] for m in members}
        changed = [migrate_run(Path(tmp) / r) for r in sorted(runs) if (Path(tmp) / r / "config.json").is_file()]
        if not any(changed):
            return False
        packed = tarball.with_suffix(".tmp")
        with tarfile.open(packed, "w:gz") as out:
            for m in members:
                out.add(Path(tmp) / m.name, arcname=m.name, recursive=False)
        packed.replace(tarball)
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", type=Path, help="run directories to migrate in place")
    p.add_argument("--tarballs", type=Path, default=None, help="a directory of study-e*-units.tar.gz to rewrite")
    args = p.parse_args(argv)
    for run in args.runs:
        print(f"{run}: {'migrated' if migrate_run(run) else 'already current'}")
    if args.tarballs:
        for tarball in sorted(args.tarballs.glob("study-e*-units.tar.gz")):
            print(f"{tarball}: {'migrated' if migrate_tarball(tarball) else 'already current'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
