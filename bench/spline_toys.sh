#!/bin/sh
# Neural spline flows (nsf, nsf-ar) beside MAF on 2-D toys with an exact
# density, under the same wall-clock cap per run (issue 16; bench/RESULTS.md,
# "Neural spline flows"). Every run: 100,000 training points (seed 1; nflow
# splits 10% off for validation), 10,000 test points (seed 2), the model's
# defaults, --threads 1 --seed 1 --max-time SECONDS, one run at a time.
# (With 20,000 points the splines fit rings' training points to the truth
# and stayed 0.034 away on the test points: the estimate's own error.)
# Prints a markdown table: test log-likelihood +- 2 standard errors, the true
# value on the same points (`nflow toy NAME --eval`), and the gap (truth -
# model) +- 2 standard errors of the paired per-point differences (the true
# log-density of each test point is computed once and cached in DATA).
#
# usage: sh bench/spline_toys.sh [build] [toys...]   (default toys: banana eight_gaussians two_moons rings)
#   SPLINE_SECONDS  wall-clock cap per training run (default 300)
#   SPLINE_ROWS     training points (default 100000)
#   SPLINE_MODELS   models to run (default "maf nsf nsf-ar")
#   SPLINE_SEED     training seed (default 1)
#   SPLINE_DATA     toy files and per-point truths (default /tmp/nflow-spline-toys)
build=${1:-build}; shift 2>/dev/null
toys=${*:-"banana eight_gaussians two_moons rings"}
nflow="$(cd "$(dirname "$build/nflow")" && pwd)/nflow"
seconds=${SPLINE_SECONDS:-300}
rows=${SPLINE_ROWS:-100000}
models=${SPLINE_MODELS:-"maf nsf nsf-ar"}
seed=${SPLINE_SEED:-1}
data=${SPLINE_DATA:-/tmp/nflow-spline-toys}
[ -x "$nflow" ] || { echo "spline_toys.sh: no $nflow (run make)" >&2; exit 1; }
mkdir -p "$data" || exit 1
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
mean_of() { sed -E 's/.*"mean_log_likelihood": ([-0-9.e]+).*/\1/'; }
se_of() { sed -E 's/.*"two_stderr": ([-0-9.e]+).*/\1/'; }

for toy in $toys; do
    [ -f "$data/${toy}_$rows.csv" ] || "$nflow" toy "$toy" --n "$rows" --seed 1 --out "$data/${toy}_$rows.csv" || exit 1
    [ -f "$data/${toy}_test.csv" ] || "$nflow" toy "$toy" --n 10000 --seed 2 --out "$data/${toy}_test.csv" || exit 1
    [ -f "$data/${toy}_truth.json" ] || "$nflow" toy "$toy" --eval "$data/${toy}_test.csv" --json >"$data/${toy}_truth.json" || exit 1
    if [ ! -f "$data/${toy}_truth_rows.txt" ]; then
        # the true log-density of every test point: `toy --eval` on one point at a time
        mkdir "$t/rows" && split -l 1 -a 6 -d "$data/${toy}_test.csv" "$t/rows/r" || exit 1
        for f in "$t"/rows/r*; do
            "$nflow" toy "$toy" --eval "$f" --json | mean_of
        done >"$t/truth_rows.txt"
        rm -rf "$t/rows"
        # they must average to the whole file's value
        awk -v m="$(mean_of <"$data/${toy}_truth.json")" '{ s += $1; n++ }
            END { d = s / n - m; if (n != 10000 || d > 1e-9 || d < -1e-9) { print "spline_toys.sh: per-point truths do not match (" n " points, mean off by " d ")" > "/dev/stderr"; exit 1 } }' \
            "$t/truth_rows.txt" || exit 1
        mv "$t/truth_rows.txt" "$data/${toy}_truth_rows.txt"
    fi
done

echo "cap ${seconds} s per run, ${rows} training points, $("$nflow" --version 2>/dev/null | head -1)"
printf '| toy | model | epochs (best) | seconds | test LL ± 2 s.e. | truth ± 2 s.e. | gap ± 2 s.e. (paired) |\n'
printf '|---|---|---|---|---|---|---|\n'
for toy in $toys; do
    truth=$(mean_of <"$data/${toy}_truth.json")
    truth_se=$(se_of <"$data/${toy}_truth.json")
    for model in $models; do
        json=$("$nflow" train --data "$data/${toy}_$rows.csv" --test "$data/${toy}_test.csv" --model "$model" --threads 1 \
            --seed "$seed" --max-time "$seconds" --out "$t/m.nfm" --json --quiet 2>"$t/err")
        if [ -z "$json" ]; then
            printf '| %s | %s | failed: %s | | | | |\n' "$toy" "$model" "$(tail -1 "$t/err")"
            continue
        fi
        ev=$("$nflow" eval "$t/m.nfm" --data "$data/${toy}_test.csv" --threads 1 --json --out "$t/rows.csv") || {
            printf '| %s | %s | eval failed | | | | |\n' "$toy" "$model"; continue; }
        ep=$(echo "$json" | sed -E 's/.*"epochs": ([0-9]+), "best_epoch": ([0-9]+).*"seconds": ([0-9.]+).*/\1 \2 \3/' |
            awk '{ printf "%d (%d) | %.0f", $1, $2, $3 }')
        gap=$(paste -d ' ' "$data/${toy}_truth_rows.txt" "$t/rows.csv" | awk '{ d = $1 - $2; s += d; q += d * d; n++ }
            END { m = s / n; v = (q - n * m * m) / (n - 1); printf "%.4f ± %.4f", m, 2 * sqrt(v / n) }')
        printf '| %s | %s | %s | %.4f ± %.4f | %.4f ± %.4f | %s |\n' "$toy" "$model" "$ep" \
            "$(echo "$ev" | mean_of)" "$(echo "$ev" | se_of)" "$truth" "$truth_se" "$gap"
    done
done
