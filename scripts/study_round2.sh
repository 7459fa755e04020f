#!/usr/bin/env bash
# The second round of the study in its registered priority order (docs/protocol_round2.md, "Compute"),
# every part resuming by unit in one run directory; after each part the finished units are packed into
# results/study-r2-units.tar.gz (commit it), so a stopped run loses nothing that finished.
#
#   OPENBLAS_NUM_THREADS=1 scripts/study_round2.sh [--jobs 2] [--out runs/study-r2] [--wiki-dir DIR]
#
# E10 (Wiki) runs first when --wiki-dir (or $DMF_WIKI_DIR) is given. A part that fails stops the queue.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2 out=runs/study-r2 wiki="${DMF_WIKI_DIR:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --jobs) jobs="$2"; shift ;;
        --out) out="$2"; shift ;;
        --wiki-dir) wiki="$2"; shift ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "study_round2.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
export OPENBLAS_NUM_THREADS=1
parts=("e5 --part pretrained" "e8 --part c2" "e9" "e8 --part c3" "e7 --part lsuv" "e6 --part e1"
       "e5 --part scratch" "e6 --part e2" "e7 --part gains")
if [ -n "$wiki" ] && python3 -m dmf_np study --help | grep -q e10; then
    parts=("e10 --wiki-dir $wiki" "${parts[@]}")
fi
for part in "${parts[@]}"; do
    echo "[$(date '+%F %T')] study $part"
    # shellcheck disable=SC2086  # $part is several words on purpose
    python3 -m dmf_np study $part --jobs "$jobs" --out "$out"
    python3 scripts/pack_units.py "$out" results/study-r2-units.tar.gz
done
