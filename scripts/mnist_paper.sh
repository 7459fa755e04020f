#!/usr/bin/env bash
# The committed MNIST results (docs/mnist.md): the paper preset with 5 seeds (default damage reading,
# which also gives both test-only readings), then the region/train+test reading and the
# no-pretraining check at the quick preset. About 100 minutes on one CPU core (one BLAS thread); the
# seed-by-seed reading: python scripts/mnist_paired.py runs/mnist-paper5. Run it in the background, e.g.
#   nohup scripts/mnist_paper.sh > runs/mnist_paper.log 2>&1 &
# Every step resumes from its run directory, so rerunning this script after an interruption continues.
# One BLAS thread per process: on a shared machine two-threaded OpenBLAS was up to 28x slower.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python3 -m dmf_np reproduce table1 --preset paper --seeds 5 --out runs/mnist-paper5 --figures figures --no-progress "$@"
python3 scripts/mnist_paired.py runs/mnist-paper5 --json figures/table1_paired.json
# the committed region run used the paper preset's five-rate grid (the quick preset's default has three)
python3 -m dmf_np reproduce table1 --preset quick --damage-kind region --lr-grid 0.03,0.1,0.3,1,3 \
    --out runs/mnist-quick-region --no-progress "$@"
cp runs/mnist-quick-region/figures/table1_region_traintest_quick.{md,json} \
   runs/mnist-quick-region/figures/fig4_region_traintest_quick.{png,json} figures/
python3 -m dmf_np reproduce fig4 --preset quick --pretrain-epochs 0 --levels 0 --out runs/mnist-quick-nopretrain \
    --no-progress "$@"
cp runs/mnist-quick-nopretrain/figures/fig4_pixels_traintest_quick.png figures/fig4_nopretrain_quick.png
cp runs/mnist-quick-nopretrain/figures/fig4_pixels_traintest_quick.json figures/fig4_nopretrain_quick.json
cp runs/mnist-quick-nopretrain/figures/table1_pixels_traintest_quick.md figures/table1_nopretrain_quick.md
