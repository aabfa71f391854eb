#!/bin/sh
# --model auto against the models it races, each at its own defaults
# (bench/RESULTS.md, "The race"): for each set, the test log-likelihood
# (nats, +- 2 standard errors), the model the race chose, and the seconds
# of each training; the race's seconds over those of the data's default
# model (maf-mog below 2,000,000 values) and of the slowest single model.
# Same seeded 80/10/10 split and --dequantize as bench/quality.sh.
#
# usage: sh bench/race.sh [build] [datadir]
#   RACE_SECONDS  wall-clock cap per training run (default 600)
#   RACE_SETS     the sets (default: those below; .npy or .csv, with SET_test.npy or .csv as the test rows)
#   RACE_JOBS     runs side by side, 1 thread each (default 2)
#   RACE_OUT      a folder that keeps the runs; those already there are not run again
build=${1:-build}
data=${2:-/tmp/nflow-quality}
nflow="$(cd "$(dirname "$build/nflow")" && pwd)/nflow"
seconds=${RACE_SECONDS:-600}
jobs=${RACE_JOBS:-2}
sets=${RACE_SETS:-"htru2 magic breast_cancer bsds300_small digits ar8 wine diabetes fashion16 bsds300_20k fashion49 fashion196 banana eight_gaussians"}
[ -x "$nflow" ] || { echo "race.sh: no $nflow (run make)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$data"
[ -f "$data/ar8.npy" ] || /usr/bin/python3 "$here/quality/prepare.py" "$data" --shared "$here/../../shared" >&2 || exit 1
for toy in banana eight_gaussians; do # as bench/quality.sh makes them
    [ -f "$data/$toy.csv" ] || "$nflow" toy "$toy" --n 20000 --seed 1 --out "$data/$toy.csv"
    [ -f "$data/${toy}_test.csv" ] || "$nflow" toy "$toy" --n 10000 --seed 2 --out "$data/${toy}_test.csv"
done
# scikit-learn's wine (178 x 13) and diabetes (442 x 10): few rows, nobody tuned on them
[ -f "$data/wine.npy" ] || /usr/bin/python3 -c 'import sys, numpy as np; from sklearn import datasets as d
np.save(sys.argv[1] + "/wine.npy", d.load_wine().data.astype(np.float32))
np.save(sys.argv[1] + "/diabetes.npy", d.load_diabetes(scaled=False).data.astype(np.float32))' "$data"
out=${RACE_OUT:-$(mktemp -d)} # RACE_OUT: keep the runs (and reuse those already there)
[ -n "$RACE_OUT" ] || trap 'rm -rf "$out"' EXIT
mkdir -p "$out"

# One run: set, model. Writes $out/SET.MODEL: "mean two_stderr seconds chosen".
run() {
    file="$data/$1.npy"
    [ -f "$file" ] || file="$data/$1.csv"
    test_opt=
    [ -f "$data/${1}_test.npy" ] && test_opt="--test $data/${1}_test.npy"
    [ -f "$data/${1}_test.csv" ] && test_opt="--test $data/${1}_test.csv"
    # shellcheck disable=SC2086
    json=$("$nflow" train --data "$file" $test_opt --model "$2" --out "$out/$1.$2.nfm" --json --quiet --threads 1 \
        --seed 1 --max-time "$seconds" --dequantize 2>"$out/$1.$2.err")
    echo "$json" | /usr/bin/python3 -c 'import json, sys
j = json.load(sys.stdin)
print(j["test_log_likelihood"], j["test_two_stderr"], j["seconds"], j["model"])' >"$out/$1.$2" 2>/dev/null
    [ -n "$json" ] || echo "failed - - $(tail -1 "$out/$1.$2.err")" >"$out/$1.$2"
}

models="auto maf-mog maf nsf-ar"
running=0
for s in $sets; do
    for m in $models; do
        [ -s "$out/$s.$m" ] && continue
        run "$s" "$m" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
            wait
            running=0
        fi
    done
done
wait

echo "| set | auto (chosen) | maf-mog | maf | nsf-ar | auto s | maf-mog s | maf s | nsf-ar s | auto / maf-mog time | auto / slowest |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for s in $sets; do
    line="| $s"
    times=""
    for m in $models; do
        read -r mean se secs chosen <"$out/$s.$m"
        if [ "$m" = auto ]; then line="$line | $mean ± $se ($chosen)"; else line="$line | $mean ± $se"; fi
        times="$times $secs"
    done
    # shellcheck disable=SC2086
    set -- $times
    ratio=$(awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN { m = b; if (c > m) m = c; if (d > m) m = d;
        printf "%.2f | %.2f", a / b, a / m }')
    echo "$line | $1 | $2 | $3 | $4 | $ratio |"
done
