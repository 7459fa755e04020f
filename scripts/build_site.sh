#!/usr/bin/env bash
# Builds the documentation site into site/ (docs/site.md): README, docs/, EQUATIONS.md linked to the
# API pages, and every tutorial executed as a notebook, its numbers and figures on the page.
#
#   pip install -e ".[docs,tutorials]"
#   scripts/build_site.sh            # tutorials in full (several minutes each for some)
#   scripts/build_site.sh --fast     # DMF_TUTORIAL_FAST=1: small data, few epochs (what CI runs)
#   scripts/build_site.sh --fast --no-cache --out DIR
#
# Executed tutorials are cached in build/site_cache/ (keyed on their sources); --no-cache reruns them.
# View offline: python -m http.server -d site, or open site/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."

fast="" cache="" out="site"
while [ $# -gt 0 ]; do
    case "$1" in
        --fast) fast="--fast" ;;
        --no-cache) cache="--no-cache" ;;
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "build_site.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

python3 - <<'EOF' || { echo "build_site.sh: the docs extra is missing: pip install -e \".[docs,tutorials]\"" >&2; exit 1; }
import importlib.util, sys
missing = [m for m in ("sphinx", "myst_nb", "furo", "sphinx-mathjax-offline", "jupytext", "nbclient", "ipykernel")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing: {', '.join(missing)}")
EOF

src=build/site_src
start=$(date +%s)
echo "executing the tutorials${fast:+ (fast mode)}:"
rm -rf build/site_nb
python3 docs/sphinx/run_tutorials.py build/site_nb $fast $cache
python3 docs/sphinx/stage.py "$src" --notebooks build/site_nb $fast
rm -rf "$out"
python3 -m sphinx -b html -q -j auto -c docs/sphinx -d build/site_doctrees "$src" "$out"
# the mode the tutorials ran in: scripts/check_site.py wants the fast-mode banner on every tutorial
# page of a fast build and on none of a full one
mode=full; [ -n "$fast" ] && mode=fast
printf '{"mode": "%s"}\n' "$mode" > "$out/build.json"
echo "site built in $out/ in $(( $(date +%s) - start )) s; view it with: python3 -m http.server -d $out"
