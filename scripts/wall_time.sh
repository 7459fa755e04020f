#!/bin/bash
# docs/cluster.md's wall-time measurement: the paper preset cut to 1 seed, clean data, 5 epochs, 2 rates
cd "$(dirname "$0")/.."
rm -rf /tmp/wall-serial /tmp/wall-jobs2 /tmp/wall-dask2 /tmp/wall-times.txt
ARGS="table1 --preset paper --seeds 1 --levels 0 --epochs 5 --lr-grid 0.3,1 --no-progress"
/usr/bin/time -a -o /tmp/wall-times.txt -f "serial: %e s wall, %U s user" env OPENBLAS_NUM_THREADS=1 python -m dmf_np reproduce $ARGS --out /tmp/wall-serial > /tmp/wall-serial.log 2>&1
/usr/bin/time -a -o /tmp/wall-times.txt -f "jobs2: %e s wall, %U s user" python -m dmf_np reproduce $ARGS --jobs 2 --out /tmp/wall-jobs2 > /tmp/wall-jobs2.log 2>&1
/usr/bin/time -a -o /tmp/wall-times.txt -f "dask2: %e s wall, %U s user" python -m dmf_np reproduce $ARGS --scheduler local --jobs 2 --out /tmp/wall-dask2 > /tmp/wall-dask2.log 2>&1
for d in jobs2 dask2; do
  python -c "import json,sys; a=json.load(open('/tmp/wall-serial/metrics.json')); b=json.load(open('/tmp/wall-$d/metrics.json')); print('$d identical readings:', json.dumps(a['readings'], sort_keys=True) == json.dumps(b['readings'], sort_keys=True))"
done
cat /tmp/wall-times.txt
