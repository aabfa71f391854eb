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
# With BSDS_CPU_SECONDS the runs go side by side instead, with no
# wall-clock cap: each is stopped (SIGTERM: it keeps its best epoch, then
# evaluates) once its own CPU time passes the budget, so that runs sharing
# fewer cores than there are runs still get the same budget; the machine's
# other load then only stretches the wall clock.
#
# usage: sh bench/spline_bsds300.sh [build] [datadir]
#   datadir           where prepare.py's train/validation/test.npy are, or go
#                     (default /tmp/nflow-bsds300; written if missing)
#   BSDS_SECONDS      wall-clock cap per training run (default 1200)
#   BSDS_CPU_SECONDS  side by side, a CPU-time budget per run instead
#   BSDS_MODELS       models (default "maf nsf nsf-ar")
#   BSDS_ROWS         train on the first N training rows only (default: all 1,000,000)
#   BSDS_VAL_ROWS     validate on the first N validation rows only (default: all 50,000)
#   BSDS_SEED         seed (default 1)
#   BSDS_CHECKPOINT   1: each run keeps its training state in DATADIR/spline_MODEL.ckpt
#   BSDS_RESUME       1: side by side, continue from those checkpoints up to a
#                     larger BSDS_CPU_SECONDS (the budget counts the CPU time
#                     the earlier runs used, the last line of their .cpu files)
# Each run leaves DATADIR/spline_MODEL.{log,json,time,nfm}: its progress
# lines, its JSON line, its CPU times and its model; side by side also
# spline_MODEL.cpu, "wall-seconds CPU-seconds" every 5 s, to put its epochs
# (whose times in the log are wall clock) on the CPU-time axis.
build=${1:-build}
data=${2:-/tmp/nflow-bsds300}
nflow="$(cd "$(dirname "$build/nflow")" && pwd)/nflow"
here=$(cd "$(dirname "$0")" && pwd)
seconds=${BSDS_SECONDS:-1200}
models=${BSDS_MODELS:-"maf nsf nsf-ar"}
seed=${BSDS_SEED:-1}
resume=${BSDS_RESUME:-}
[ -x "$nflow" ] || { echo "spline_bsds300.sh: no $nflow (run make)" >&2; exit 1; }
if [ ! -f "$data/test.npy" ]; then
    /usr/bin/python3 "$here/../../shared/data/bsds300/prepare.py" "$data" >&2 || exit 1
fi
# the first N rows of split NAME (train, validation): its file's path
first_rows() {
    out="$data/$1_$2.npy"
    [ -f "$out" ] || /usr/bin/python3 -c "import numpy as np, sys
a = np.load(sys.argv[1], mmap_mode='r'); np.save(sys.argv[2], np.ascontiguousarray(a[:int(sys.argv[3])]))" \
        "$data/$1.npy" "$out" "$2" || exit 1
    echo "$out"
}
train="$data/train.npy"
val="$data/validation.npy"
[ -z "${BSDS_ROWS:-}" ] || train=$(first_rows train "$BSDS_ROWS") || exit 1
[ -z "${BSDS_VAL_ROWS:-}" ] || val=$(first_rows validation "$BSDS_VAL_ROWS") || exit 1
cpu=${BSDS_CPU_SECONDS:-}

# one training run (in the background when side by side)
train_model() {
    cap="--max-time $seconds"
    [ -z "$cpu" ] || cap=""
    if [ -n "$resume" ]; then
        # the model and training options come from the checkpoint
        # shellcheck disable=SC2086
        /usr/bin/time -f '%U %S' -a -o "$data/spline_$1.time" "$nflow" train --data "$train" --val "$val" \
            --test "$data/test.npy" --resume "$data/spline_$1.ckpt" --threads 1 --out "$data/spline_$1.nfm" --json \
            >"$data/spline_$1.json" 2>>"$data/spline_$1.log"
        return
    fi
    ckpt=""
    [ -z "${BSDS_CHECKPOINT:-}" ] || ckpt="--checkpoint $data/spline_$1.ckpt"
    # shellcheck disable=SC2086
    /usr/bin/time -f '%U %S' -o "$data/spline_$1.time" "$nflow" train --data "$train" --val "$val" \
        --test "$data/test.npy" --model "$1" --threads 1 --seed "$seed" $cap $ckpt --out "$data/spline_$1.nfm" --json \
        >"$data/spline_$1.json" 2>"$data/spline_$1.log"
}

# side by side: SIGTERM each run when its own CPU time passes the budget
race() {
    pids=""
    if [ -n "$resume" ]; then
        for model in $models; do
            last=$(tail -1 "$data/spline_$model.cpu" 2>/dev/null)
            [ -n "$last" ] || { echo "spline_bsds300.sh: BSDS_RESUME: no $data/spline_$model.cpu" >&2; exit 1; }
            eval "before_$(echo "$model" | tr -c 'a-z0-9\n' _)=\"\$last\""
        done
    fi
    for model in $models; do
        [ -n "$resume" ] || rm -f "$data/spline_$model.cpu"
        train_model "$model" &
        pids="$pids $model:$!"
    done
    tck=$(getconf CLK_TCK)
    start=$(date +%s)
    while :; do
        alive=0
        for entry in $pids; do
            model=${entry%%:*}
            child=${entry#*:} # the subshell; nflow is its grandchild, under /usr/bin/time
            for _ in 1 2; do [ -z "$child" ] || child=$(pgrep -P "$child" | head -1); done
            if [ -z "$child" ] || [ ! -r "/proc/$child/stat" ]; then continue; fi
            alive=1
            # a resumed run adds to the CPU time and wall clock its first run used
            before="0 0"
            [ -z "$resume" ] || eval "before=\$before_$(echo "$model" | tr -c 'a-z0-9\n' _)"
            used=$(awk -v t="$tck" -v b="${before#* }" '{ print ($14 + $15) / t + b }' "/proc/$child/stat" 2>/dev/null) || continue
            echo "$(($(date +%s) - start + ${before%% *})) $used" >>"$data/spline_$model.cpu"
            if awk -v c="$used" -v b="$cpu" 'BEGIN { exit !(c >= b) }' && [ ! -f "$data/spline_$model.stopped" ]; then
                kill -TERM "$child" && touch "$data/spline_$model.stopped"
            fi
        done
        [ "$alive" = 1 ] || break
        sleep 5
    done
    wait
    for model in $models; do rm -f "$data/spline_$model.stopped"; done
}

if [ -n "$cpu" ]; then
    echo "side by side, ${cpu} CPU seconds per run, training rows: ${BSDS_ROWS:-all}, validation rows: ${BSDS_VAL_ROWS:-all}, $("$nflow" --version 2>/dev/null | head -1)"
    race
else
    echo "cap ${seconds} s per run, training rows: ${BSDS_ROWS:-all}, validation rows: ${BSDS_VAL_ROWS:-all}, $("$nflow" --version 2>/dev/null | head -1)"
fi
printf '| model | architecture | params | training rows | epochs (best) | seconds | CPU seconds | test LL ± 2 s.e. |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for model in $models; do
    [ -n "$cpu" ] || train_model "$model"
    json=$(cat "$data/spline_$model.json")
    if [ -z "$json" ]; then
        printf '| %s | failed: %s | | | | | | |\n' "$model" "$(tail -1 "$data/spline_$model.log")"
        continue
    fi
    arch=$("$nflow" info "$data/spline_$model.nfm" | sed -n 's/^model: //p')
    echo "$json" | sed -E 's/.*"params": ([0-9]+), "epochs": ([0-9]+), "best_epoch": ([0-9]+), "n_train": ([0-9]+).*"seconds": ([0-9.]+).*"test_log_likelihood": ([-0-9.e]+|null), "test_two_stderr": ([-0-9.e]+|null).*/\1 \2 \3 \4 \5 \6 \7/' |
        awk -v m="$model" -v a="$arch" -v c="$(awk 'NF == 2 && $1 + 0 == $1 { s += $1 + $2 } END { printf "%.0f", s }' "$data/spline_$model.time")" \
            '{ printf "| %s | %s | %d | %d | %d (%d) | %.0f | %s | %.2f ± %.2f |\n", m, a, $1, $4, $2, $3, $5, c, $6, $7 }'
done
