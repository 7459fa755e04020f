#!/usr/bin/env bash
# Everything that needs a GPU, in one call (not yet run on a GPU; its step time limits add up to 9
# minutes, under the device tool's 10-minute limit per call; a session is lent about 15):
#   1. the whole test suite, whose CuPy cases (parity with NumPy: float64 within 1e-10, float32 within
#      1e-4) run only here;
#   2. bench/bench.py --backend cupy: dmf_np on CuPy beside PyTorch CUDA (issue 7's GPU table);
#   3. tutorial 8 (the backend switch and the parity check, step by step);
#   4. the Fig. 4 paper preset on the GPU, one seed, timed (stopped at a time limit if it runs long;
#      the run directory then holds the finished units and their times).
# Results go to $OUT (default out-gpu/): logs, JSON, junit XML. Each step has its own time limit, and a
# step that fails does not stop the next one; the script's last lines summarise the exit codes.
#
# MNIST for step 4 is read from $DMF_CACHE/mnist-uint8.npz (made by any earlier MNIST run here). The
# GPU machine reaches no network, so copy that file into the git-ignored .cache/ of the checkout and
# carry it, e.g. with the session's device tool:
#   cp ~/.cache/dmf_np/mnist-uint8.npz .cache/   # 11 MB
#   run(command="OUT=$OUT DMF_CACHE=.cache scripts/gpu_check.sh", carry=[".cache"], timeout_s=590)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-out-gpu}"
mkdir -p "$OUT"
export DMF_CACHE="${DMF_CACHE:-$HOME/.cache/dmf_np}"
FIG4_LIMIT="${FIG4_LIMIT:-150}"
declare -A rc

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.log, keep the exit code
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    echo "== $name: $*"
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc[$name]=$?
    echo "   exit ${rc[$name]} after $((SECONDS - t0)) s (log: $OUT/$name.log)"
    tail -n 3 "$OUT/$name.log" | sed 's/^/   | /'
}

{ nvidia-smi; python3 -m dmf_np info; } > "$OUT/machine.txt" 2>&1
step tests 180 python3 -m pytest -q -rs tests --junitxml="$OUT/tests.xml"
step bench_cupy 150 python3 -m dmf_np bench --backend cupy --json "$OUT/bench_cupy.json"
step tutorial8 60 python3 tutorials/08_gpu_cupy.py
if [ -f "$DMF_CACHE/mnist-uint8.npz" ]; then
    step fig4_paper_1seed "$FIG4_LIMIT" python3 -m dmf_np reproduce fig4 --preset paper --backend cupy --seeds 1 \
        --cache "$DMF_CACHE" --out "$OUT/fig4-paper-gpu" --no-progress
else
    echo "== fig4_paper_1seed: skipped, no $DMF_CACHE/mnist-uint8.npz (see the header of this script)"
fi
echo "== exit codes: $(for k in "${!rc[@]}"; do printf '%s=%s ' "$k" "${rc[$k]}"; done)"
