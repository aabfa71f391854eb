#!/bin/sh
# Density quality on data nobody tuned for (bench/RESULTS.md, "Quality").
# For each set of bench/quality/README.md: the test log-likelihood (nats,
# +- 2 standard errors) of a full-covariance Gaussian (`--model gaussian`),
# of nflow's defaults (the race among models, `--model auto`), of MAF
# (`--model maf`) and of MAF MoG (`--model maf-mog`), each
# trained on the same seeded 80/10/10 split with --dequantize (a no-op
# on sets without integer columns). For sets with a known density (ar8 and
# the 2-D toys) the true test log-likelihood and the defaults' gap to it.
#
# usage: sh bench/quality.sh [build] [datadir]
#   QUALITY_SECONDS  wall-clock cap per training run (default 240)
#   QUALITY_SETS     the sets to run (default: all)
#   QUALITY_JOBS     runs side by side, 1 thread each (default 2)
#   QUALITY_DEFAULTS extra options for the "defaults" column (default none:
#                    for trying a change of defaults without rebuilding)
#   QUALITY_SEED     split and training seed (default 1)
build=${1:-build}
data=${2:-/tmp/nflow-quality}
nflow="$(cd "$(dirname "$build/nflow")" && pwd)/nflow"
here=$(cd "$(dirname "$0")" && pwd)
seconds=${QUALITY_SECONDS:-240}
jobs=${QUALITY_JOBS:-2}
seed=${QUALITY_SEED:-1}
sets=${QUALITY_SETS:-"ar8 banana eight_gaussians magic htru2 bsds300_small digits breast_cancer fashion196"}

[ -x "$nflow" ] || { echo "quality.sh: no $nflow (run make)" >&2; exit 1; }
mkdir -p "$data"
if [ ! -f "$data/ar8.npy" ]; then
    /usr/bin/python3 "$here/quality/prepare.py" "$data" --shared "$here/../../shared" >&2 || exit 1
fi
for toy in banana eight_gaussians; do
    [ -f "$data/$toy.csv" ] || "$nflow" toy "$toy" --n 20000 --seed 1 --out "$data/$toy.csv"
    [ -f "$data/${toy}_test.csv" ] || "$nflow" toy "$toy" --n 10000 --seed 2 --out "$data/${toy}_test.csv"
    [ -f "$data/${toy}_truth.txt" ] || "$nflow" toy "$toy" --eval "$data/${toy}_test.csv" --json |
        sed -E 's/.*"mean_log_likelihood": ([-0-9.e]+).*/\1/' >"$data/${toy}_truth.txt"
done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# One run: set, label, options. Writes $out/SET.LABEL: "mean two_stderr epochs seconds".
run() {
    set_name=$1 label=$2
    shift 2
    file="$data/$set_name.npy"
    [ -f "$file" ] || file="$data/$set_name.csv"
    [ -f "$file" ] || { echo "quality.sh: no data for $set_name" >&2; return; }
    test_opt=
    [ -f "$data/${set_name}_test.npy" ] && test_opt="--test $data/${set_name}_test.npy"
    [ -f "$data/${set_name}_test.csv" ] && test_opt="--test $data/${set_name}_test.csv"
    # shellcheck disable=SC2086
    json=$("$nflow" train --data "$file" $test_opt --out "$out/$set_name.$label.nfm" --json --quiet --threads 1 \
        --seed "$seed" --max-time "$seconds" --dequantize "$@" 2>"$out/$set_name.$label.err")
    echo "$json" | sed -E 's/.*"model": "([a-z-]+)".*/\1/' >"$out/$set_name.$label.model"
    echo "$json" | sed -E 's/.*"epochs": ([0-9]+).*"seconds": ([0-9.]+).*"test_log_likelihood": ([-0-9.e]+|null).*"test_two_stderr": ([-0-9.e]+|null).*/\3 \4 \1 \2/' \
        >"$out/$set_name.$label"
    [ -n "$json" ] || echo "failed: $(tail -1 "$out/$set_name.$label.err")" >"$out/$set_name.$label"
}

for s in $sets; do
    echo "$s gaussian --model gaussian"
    # shellcheck disable=SC2086
    echo "$s defaults ${QUALITY_DEFAULTS:-}"
    echo "$s maf --model maf"
done >"$out/jobs"
# The runs listed in $out/jobs, QUALITY_JOBS side by side.
run_jobs() {
    i=0
    while read -r s label opts; do
        # shellcheck disable=SC2086
        run "$s" "$label" $opts &
        i=$((i + 1))
        if [ $((i % jobs)) -eq 0 ]; then wait; fi
    done <"$out/jobs"
    wait
}
run_jobs
# maf-mog: where the defaults were maf-mog already, their run stands for it
for s in $sets; do
    if [ "$(cat "$out/$s.defaults.model" 2>/dev/null)" = maf-mog ]; then
        cp "$out/$s.defaults" "$out/$s.best"
    else
        echo "$s best --model maf-mog"
    fi
done >"$out/jobs"
run_jobs

truth_of() { [ -f "$data/$1_truth.txt" ] && awk '{print $1; exit}' "$data/$1_truth.txt"; }
printf '| set | rows x dims | Gaussian | defaults | maf | maf-mog | defaults - Gaussian | truth (gap of defaults) |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for s in $sets; do
    shape=$(/usr/bin/python3 -c "import numpy as np,sys; a=np.load(sys.argv[1],mmap_mode='r'); print('%d x %d' % a.shape)" "$data/$s.npy" 2>/dev/null ||
        awk -F, 'END { printf "%d x %d", NR, NF }' "$data/$s.csv")
    cell() { awk '{ if ($1 == "failed:") print $0; else printf "%.2f ± %.2f (%d ep, %.0f s)", $1, $2, $3, $4 }' "$out/$s.$1"; }
    diff=$(awk 'NR == FNR { g = $1; next } { printf "%+.2f", $1 - g }' "$out/$s.gaussian" "$out/$s.defaults")
    t=$(truth_of "$s")
    gap=
    [ -n "$t" ] && gap=$(awk -v t="$t" '{ printf "%.3f (%.3f)", t, t - $1 }' "$out/$s.defaults")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" "$shape" "$(cell gaussian)" "$(cell defaults)" "$(cell maf)" \
        "$(cell best)" "$diff" "$gap"
done
