#!/bin/sh
# MAF, nsf and nsf-ar on BSDS300 under the same wall-clock cap each (issue
# 16; bench/RESULTS.md, "Neural spline flows"). Every run: the models'
# defaults (hidden units and batch from the data size), --threads 1 --seed 1
# --max-time SECONDS, validation on the official 50,000 validation rows, test
# log-likelihood (nats, +- 2 standard errors) on the official 250,000 test
# rows; one run at a time. --max-time stops after the epoch that passes the
# cap, so a run overshoots it by up to one epoch. "seconds" is the training
# loop (the JSON's "seconds", wall clock); the final evaluations over the
# training, validation and test rows come after it. "CPU seconds" (user +
# system of the whole process, /usr/bin/time) includes them, and says how
# much of a core the run got on a shared machine.
#
# usage: sh bench/spline_bsds300.sh [build] [datadir]
#   datadir           where prepare.py's train/validation/test.npy are, or go
#                     (default /tmp/nflow-bsds300; written if missing)
#   BSDS_SECONDS      wall-clock cap per training run (default 1200)
#   BSDS_MODELS       models (default "maf nsf nsf-ar")
#   BSDS_ROWS         train on the first N training rows only (default: all 1,000,000)
#   BSDS_SEED         seed (default 1)
# Each run leaves DATADIR/spline_MODEL.{log,json,time,nfm}: its progress
# lines, its JSON line, its CPU times and its model.
build=${1:-build}
data=${2:-/tmp/nflow-bsds300}
nflow="$(cd "$(dirname "$build/nflow")" && pwd)/nflow"
here=$(cd "$(dirname "$0")" && pwd)
seconds=${BSDS_SECONDS:-1200}
models=${BSDS_MODELS:-"maf nsf nsf-ar"}
seed=${BSDS_SEED:-1}
[ -x "$nflow" ] || { echo "spline_bsds300.sh: no $nflow (run make)" >&2; exit 1; }
if [ ! -f "$data/test.npy" ]; then
    /usr/bin/python3 "$here/../../shared/data/bsds300/prepare.py" "$data" >&2 || exit 1
fi
train="$data/train.npy"
if [ -n "${BSDS_ROWS:-}" ]; then
    train="$data/train_$BSDS_ROWS.npy"
    [ -f "$train" ] || /usr/bin/python3 -c "import numpy as np, sys
a = np.load(sys.argv[1], mmap_mode='r'); np.save(sys.argv[2], np.ascontiguousarray(a[:int(sys.argv[3])]))" \
        "$data/train.npy" "$train" "$BSDS_ROWS" || exit 1
fi

echo "cap ${seconds} s per run, training rows: ${BSDS_ROWS:-all}, $("$nflow" --version 2>/dev/null | head -1)"
printf '| model | architecture | params | training rows | epochs (best) | seconds | CPU seconds | test LL ± 2 s.e. |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for model in $models; do
    log="$data/spline_$model.log"
    json=$(/usr/bin/time -f '%U %S' -o "$data/spline_$model.time" "$nflow" train --data "$train" --val "$data/validation.npy" --test "$data/test.npy" --model "$model" \
        --threads 1 --seed "$seed" --max-time "$seconds" --out "$data/spline_$model.nfm" --json 2>"$log")
    if [ -z "$json" ]; then
        printf '| %s | failed: %s | | | | | | |\n' "$model" "$(tail -1 "$log")"
        continue
    fi
    echo "$json" >"$data/spline_$model.json"
    arch=$("$nflow" info "$data/spline_$model.nfm" | sed -n 's/^model: //p')
    echo "$json" | sed -E 's/.*"params": ([0-9]+), "epochs": ([0-9]+), "best_epoch": ([0-9]+), "n_train": ([0-9]+).*"seconds": ([0-9.]+).*"test_log_likelihood": ([-0-9.e]+|null), "test_two_stderr": ([-0-9.e]+|null).*/\1 \2 \3 \4 \5 \6 \7/' |
        awk -v m="$model" -v a="$arch" -v c="$(awk '{ printf "%.0f", $1 + $2 }' "$data/spline_$model.time")" \
            '{ printf "| %s | %s | %d | %d | %d (%d) | %.0f | %s | %.2f ± %.2f |\n", m, a, $1, $4, $2, $3, $5, c, $6, $7 }'
done
