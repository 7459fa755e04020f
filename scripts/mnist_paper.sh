#!/usr/bin/env bash
# The committed MNIST results (docs/mnist.md): the paper preset (default damage reading, which also
# gives both test-only readings), then the region/train+test reading at the quick preset.
# Long on a CPU (about an hour on 2 cores): run it in the background, e.g.
#   nohup scripts/mnist_paper.sh > runs/mnist_paper.log 2>&1 &
# Every step resumes from its run directory, so rerunning this script after an interruption continues.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m dmf_np reproduce table1 --preset paper --out runs/mnist-paper --figures figures --no-progress "$@"
python3 -m dmf_np reproduce table1 --preset quick --damage-kind region --out runs/mnist-quick-region \
    --no-progress "$@"
cp runs/mnist-quick-region/figures/table1_region_traintest_quick.{md,json} \
   runs/mnist-quick-region/figures/fig4_region_traintest_quick.{png,json} figures/
