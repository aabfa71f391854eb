#!/bin/sh
# End to end (issue 7): `nflow train` for one epoch and `nflow sample` of
# 1,000 rows, timed as whole processes (start, loading, writing included),
# against bench/torch_reference.py doing the same work (`train`: the same
# architecture, standardisation, Adam with nflow's defaults, the validation
# pass of the epoch, the final train/validation/test log-likelihoods, the
# parameters saved; `sample`: reads the nflow model, draws, writes).
# Medians of REPEATS runs, nflow and PyTorch alternating; one thread.
# PyTorch's in-process seconds too (issue 28: its epoch, its warm draw,
# without the interpreter's start and `import torch`), against which
# nflow's whole process is measured.
# Prints a JSON line per measurement, then a markdown table.
#   sh bench/cli_vs_torch.sh [BUILD] [REPEATS] [FILTER]
# FILTER (a grep pattern on "kind layers hidden dim batch") picks configs.
set -e
build=${1:-build}
reps=${2:-3}
filter=${3:-.}
nflow=$build/nflow
here=$(dirname "$0")
. "$here/find_python.sh"
. "$(dirname "$0")/blas_env.sh"
if [ -z "$py" ]; then
    echo "cli_vs_torch: no python3 with torch and numpy (Debian: python3-torch); skipped" >&2
    exit 0
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
# the seconds torch_reference.py timed inside its process (its JSON line)
in_process() { sed -E 's/.*"in_process_s": ([0-9.e-]+).*/\1/' "$1" | awk '{ printf "%.3f\n", $1 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }

# data: correlated noise with a non-linear twist, train / validation / test.
# The twist is strong enough that one epoch of a MAF beats the Gaussian fit
# it starts from (at 0.3 the data were so nearly Gaussian that no epoch did:
# the model saved, and sampled, was its start, whose untrained layers cost
# nothing to evaluate or sample since nflow skips them).
"$py" - "$work" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(7)
for dim, n in ((6, 50000), (63, 20000)):
    for name, rows in (("train", n), ("val", n // 10), ("test", n // 10)):
        z = rng.standard_normal((rows, dim))
        x = np.cumsum(0.7 * z, axis=1)
        x[:, 1:] += 2.0 * np.tanh(x[:, :-1]) ** 2
        np.save("%s/d%d_%s.npy" % (sys.argv[1], dim, name), x.astype(np.float32))
PY

# CONFIG: kind layers hidden dim batch
configs="maf 5 100 6 100
maf 5 512 63 100
realnvp 10 512 63 100
nsf 5 256 63 100
nsf-ar 5 256 63 100"

echo "$configs" | grep -e "$filter" | while read -r kind layers hidden dim batch; do
    tag="${kind}_n${dim}_h${hidden}"
    d="$work/d$dim"
    : > "$work/$tag.nt"; : > "$work/$tag.tt"; : > "$work/$tag.ns"; : > "$work/$tag.ts"
    : > "$work/$tag.ti"; : > "$work/$tag.tj"
    for i in $(seq "$reps"); do
        t0=$(now)
        "$nflow" train --data "${d}_train.npy" --val "${d}_val.npy" --test "${d}_test.npy" --model "$kind" \
            --layers "$layers" --hidden "$hidden" --hidden-layers 2 --batch "$batch" --epochs 1 --seed "$i" \
            --threads 1 --quiet --out "$work/$tag.nfm" > /dev/null
        t1=$(now)
        "$py" "$here/torch_reference.py" train --kind "$kind" --data "${d}_train.npy" --val "${d}_val.npy" \
            --test "${d}_test.npy" --layers "$layers" --hidden "$hidden" --hidden-layers 2 --batch "$batch" \
            --epochs 1 --seed "$i" --threads 1 --out "$work/$tag.torch.npy" > "$work/out.json"
        in_process "$work/out.json" >> "$work/$tag.ti"
        t2=$(now)
        "$nflow" sample "$work/$tag.nfm" --n 1000 --seed "$i" --threads 1 --out "$work/s.npy"
        t3=$(now)
        "$py" "$here/torch_reference.py" sample --model "$work/$tag.nfm" --n 1000 --seed "$i" --threads 1 \
            --out "$work/s.torch.npy" > "$work/out.json"
        t4=$(now)
        in_process "$work/out.json" >> "$work/$tag.tj"
        secs "$t0" "$t1" >> "$work/$tag.nt"; secs "$t1" "$t2" >> "$work/$tag.tt"
        secs "$t2" "$t3" >> "$work/$tag.ns"; secs "$t3" "$t4" >> "$work/$tag.ts"
    done
    for op in train sample; do
        o=$(echo $op | cut -c1)
        ip=$([ "$op" = train ] && echo i || echo j)
        n=$(median < "$work/$tag.n$o"); t=$(median < "$work/$tag.t$o"); ti=$(median < "$work/$tag.t$ip")
        echo "{\"bench\": \"cli\", \"model\": \"$kind\", \"layers\": $layers, \"hidden\": $hidden, \"dim\": $dim, \"op\": \"$op\", \"batch\": $batch, \"nflow_s\": $n, \"torch_s\": $t, \"ratio\": $(awk -v a="$t" -v b="$n" 'BEGIN { printf "%.2f", a / b }'), \"torch_in_process_s\": $ti, \"ratio_in_process\": $(awk -v a="$ti" -v b="$n" 'BEGIN { printf "%.2f", a / b }'), \"repeats\": $reps}"
    done
done | tee "$work/lines"
echo
echo "| model | dim | hidden | command | nflow s (whole process) | torch s (whole process) | torch/nflow | torch s (in process) | torch in process/nflow |"
echo "|---|---:|---:|---|---:|---:|---:|---:|---:|"
sed -E 's/.*"model": "([a-z]+)".*"hidden": ([0-9]+), "dim": ([0-9]+), "op": "([a-z]+)".*"nflow_s": ([0-9.]+), "torch_s": ([0-9.]+), "ratio": ([0-9.]+), "torch_in_process_s": ([0-9.]+), "ratio_in_process": ([0-9.]+).*/| \1 | \3 | \2 | \4 | \5 | \6 | \7 | \8 | \9 |/' "$work/lines" |
    sed -E 's/\| train \|/| train, 1 epoch |/; s/\| sample \|/| sample 1,000 |/'
