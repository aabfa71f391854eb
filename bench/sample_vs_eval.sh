#!/bin/sh
# MAF sampling (the sequential direction, one pass of work) against density
# evaluation (the parallel direction) of the same number of 63-D points with
# the same model, as whole `nflow` processes. Prints one JSON line per
# measurement and the ratio of the medians. The issue's target: <= 3.
#   sh bench/sample_vs_eval.sh [BUILD] [ROWS] [REPEATS]
set -e
build=${1:-build}
rows=${2:-10000}
reps=${3:-5}
nflow=$build/nflow
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# 63-D training data: correlated noise, 4000 rows (the values do not matter
# for timing, only the shapes)
awk -v n=4000 -v d=63 'BEGIN { srand(1); for (r = 0; r < n; r++) { s = 0; line = "";
    for (c = 0; c < d; c++) { s = 0.7 * s + rand() - 0.5; line = line (c ? "," : "") s }
    print line } }' > "$work/train.csv"
"$nflow" train --data "$work/train.csv" --model maf --layers 5 --hidden 512 --hidden-layers 1 \
    --epochs 1 --threads 1 --quiet --out "$work/maf.nfm" > /dev/null
"$nflow" sample "$work/maf.nfm" --n "$rows" --seed 1 --threads 1 --out "$work/points.npy"

now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: > "$work/sample.t"; : > "$work/eval.t"
for i in $(seq "$reps"); do
    t0=$(now); "$nflow" sample "$work/maf.nfm" --n "$rows" --seed "$i" --threads 1 --out "$work/s.npy"; t1=$(now)
    "$nflow" eval "$work/maf.nfm" --data "$work/points.npy" --threads 1 > /dev/null; t2=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' >> "$work/sample.t"
    awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }' >> "$work/eval.t"
done
s=$(median < "$work/sample.t"); e=$(median < "$work/eval.t")
echo "{\"bench\": \"maf_sample\", \"dim\": 63, \"layers\": 5, \"hidden\": 512, \"rows\": $rows, \"threads\": 1, \"median_s\": $s}"
echo "{\"bench\": \"maf_eval\", \"dim\": 63, \"layers\": 5, \"hidden\": 512, \"rows\": $rows, \"threads\": 1, \"median_s\": $e}"
echo "{\"bench\": \"maf_sample_over_eval\", \"ratio\": $(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", s / e }'), \"target_at_most\": 3}"
