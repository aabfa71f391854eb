#!/bin/sh
# What each change of issue 13 contributed (bench/RESULTS.md): the test
# log-likelihood of MAF (5) x 100 on a set as the recipe is rebuilt step
# by step, from the old defaults to the new ones.
#
#   old        --batch 512 --no-whiten --patience-steps 0 (the issue's runs)
#   old-plain  old with plain Adam: --lr-decay 1 --clip 0 --weight-decay 0
#   +whiten    old, but starting from the Gaussian fit (whitening layer, the
#              untrained model an early-stopping candidate, the tail floor)
#   +steps     +whiten with patience and lr decays counted in steps too
#   +batch     +steps with the batch from the data size (the new MAF default)
#   defaults   nflow train with no options (maf-mog for < 50,000 rows)
#
# usage: sh bench/quality_ablation.sh [build] [datadir] [sets...]
#   QUALITY_SECONDS (default 240) per run; two runs side by side, 1 thread each.
build=${1:-build}
data=${2:-/tmp/nflow-quality}
shift 2 2>/dev/null
sets=${*:-"fashion128 bsds300_small digits"}
nflow="$(cd "$(dirname "$build/nflow")" && pwd)/nflow"
seconds=${QUALITY_SECONDS:-240}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# fashion128: the first 128 columns of fashion196's first 2,600 rows (2,080
# training rows in 128 heavy-tailed columns, like the issue's set).
if [ ! -f "$data/fashion128.npy" ] && [ -f "$data/fashion196.npy" ]; then
    /usr/bin/python3 -c "import numpy as np, sys; a = np.load(sys.argv[1]); np.save(sys.argv[2], np.ascontiguousarray(a[:2600, :128]))" \
        "$data/fashion196.npy" "$data/fashion128.npy" || exit 1
fi

run() { # set label options...
    s=$1 label=$2
    shift 2
    # shellcheck disable=SC2086
    "$nflow" train --data "$data/$s.npy" --out "$out/$s.$label.nfm" --json --quiet --threads 1 --seed 1 \
        --max-time "$seconds" --dequantize "$@" 2>/dev/null |
        sed -E 's/.*"epochs": ([0-9]+).*"test_log_likelihood": ([-0-9.e]+|null).*"test_two_stderr": ([-0-9.e]+|null).*/\2 \3 \1/' \
            >"$out/$s.$label"
}
maf="--model maf --hidden 100"
old="$maf --batch 512 --no-whiten --patience-steps 0"
labels="old old-plain +whiten +steps +batch defaults"
for s in $sets; do
    [ -f "$data/$s.npy" ] || { echo "no $data/$s.npy (run bench/quality.sh first)" >&2; continue; }
    # shellcheck disable=SC2086
    {
        run "$s" old $old &
        run "$s" old-plain $old --lr-decay 1 --clip 0 --weight-decay 0 &
        wait
        run "$s" +whiten $maf --batch 512 --patience-steps 0 &
        run "$s" +steps $maf --batch 512 &
        wait
        run "$s" +batch $maf &
        run "$s" defaults &
        wait
    }
done
printf '| set |'; for l in $labels; do printf ' %s |' "$l"; done; printf '\n|---|'
for l in $labels; do printf -- '---|'; done; printf '\n'
for s in $sets; do
    [ -f "$out/$s.old" ] || continue
    printf '| %s |' "$s"
    for l in $labels; do
        awk '{ printf " %.2f ± %.2f (%d ep) |", $1, $2, $3 }' "$out/$s.$l"
    done
    printf '\n'
done
