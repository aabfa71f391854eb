#!/bin/sh
# Test log-likelihood of NICE and RealNVP (default settings) on 2-D toys
# with an exact density, beside the true value: bench/RESULTS.md.
# usage: sh bench/toy_accuracy.sh [build] [toys...]   (a few minutes per model)
build=${1:-build}; shift 2>/dev/null
toys=${*:-"banana eight_gaussians"}
nflow="$build/nflow"
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
for toy in $toys; do
    "$nflow" toy "$toy" --n 20000 --seed 1 --out "$t/train.csv"
    "$nflow" toy "$toy" --n 10000 --seed 2 --out "$t/test.csv"
    truth=$("$nflow" toy "$toy" --eval "$t/test.csv" --json | sed -E 's/.*"mean_log_likelihood": ([-0-9.e]+).*/\1/')
    for model in realnvp nice; do
        "$nflow" train --data "$t/train.csv" --test "$t/test.csv" --model "$model" --epochs 150 --threads 1 \
            --out "$t/m.nfm" --quiet >/dev/null || exit 1
        got=$("$nflow" eval "$t/m.nfm" --data "$t/test.csv" --json | sed -E 's/.*"mean_log_likelihood": ([-0-9.e]+).*/\1/')
        echo "$toy $model test $got true $truth gap $(awk -v a="$truth" -v b="$got" 'BEGIN { printf "%.4f", a - b }')"
    done
done
