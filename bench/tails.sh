#!/bin/sh
# Far-out rows (bench/RESULTS.md, "Tails"): 200 rows of a set with one
# column moved 50 training standard deviations from its mean, scored by
# the Gaussian fit, by the defaults, and by MAF (5) x 100 with and without
# batch norm under the old start (--no-whiten: no Gaussian fit, no floor).
# Prints the mean and median log-density of the moved rows and of the rows
# as they were.
# usage: sh bench/tails.sh [build] [datadir] [set] [column]
build=${1:-build}
data=${2:-/tmp/nflow-quality}
set_name=${3:-fashion196}
column=${4:-100}
nflow="$build/nflow"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
[ -f "$data/$set_name.npy" ] || { echo "no $data/$set_name.npy (run bench/quality.sh first)" >&2; exit 1; }
/usr/bin/python3 - "$data/$set_name.npy" "$t" "$column" <<'EOF' || exit 1
import sys
import numpy as np
x = np.load(sys.argv[1]).astype(np.float64)
rng = np.random.default_rng(1)
x = x + rng.uniform(size=x.shape) * (x == np.round(x)).all(axis=0)  # the dequantised values
c = int(sys.argv[3])
rows = x[-200:].copy()  # rows of the set itself (mostly training rows)
np.save(sys.argv[2] + "/near.npy", rows.astype(np.float32))
rows[:, c] = x[:, c].mean() + 50 * x[:, c].std()
np.save(sys.argv[2] + "/far.npy", rows.astype(np.float32))
EOF
train() { # name options...
    name=$1
    shift
    "$nflow" train --data "$data/$set_name.npy" --dequantize --threads 1 --quiet --out "$t/$name.nfm" "$@" >/dev/null ||
        exit 1
}
train gaussian --model gaussian
train defaults
train maf-old --model maf --hidden 100 --no-whiten
train maf-bn-old --model maf --hidden 100 --no-whiten --batch-norm
printf '| model | rows as they were: mean, median | one column 50 sd out: mean, median | far rows below the Gaussian fit |\n|---|---|---|---|\n'
for m in gaussian defaults maf-old maf-bn-old; do
    near=$("$nflow" eval "$t/$m.nfm" --data "$t/near.npy" --json)
    far=$("$nflow" eval "$t/$m.nfm" --data "$t/far.npy" --json)
    num() { echo "$1" | sed -E "s/.*\"$2\": ([-0-9.e+]+|null).*/\1/"; }
    printf '| %s | %.1f, %.1f | %.4g, %.4g | %s |\n' "$m" "$(num "$near" mean_log_likelihood)" \
        "$(num "$near" median_log_likelihood)" "$(num "$far" mean_log_likelihood)" \
        "$(num "$far" median_log_likelihood)" "$(num "$far" below_gaussian)"
done
