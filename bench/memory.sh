#!/bin/sh
# Peak memory while training MAF (5) x 512 on a data set given as
# train.npy, validation.npy and test.npy (float32): the .npy files are
# mapped, not copied, so the peak should stay within 1.3x of
#   data + parameters + gradients + Adam's two moments + one batch's activations.
# Activations per MADE and row (floats): inputs and their gradient (2n), the
# output and its gradient (4n), and each hidden layer's values and gradient
# (2 x 2 x hidden).
#   sh bench/memory.sh DIR [BUILD] [EPOCHS] [BATCH]
# DIR for BSDS300: /usr/bin/python3 ../shared/data/bsds300/prepare.py DIR
# (needs python3-numpy and python3-pil).
set -e
dir=${1:?usage: sh bench/memory.sh DIR [BUILD] [EPOCHS] [BATCH]}
build=${2:-build}
epochs=${3:-1}
batch=${4:-512}
layers=5; hidden=512; depth=2
for f in train validation test; do
    [ -f "$dir/$f.npy" ] || { echo "memory.sh: no $dir/$f.npy" >&2; exit 2; }
done
out=$(mktemp); trap 'rm -f "$out" "$out.nfm"' EXIT
"$build/nflow" train --data "$dir/train.npy" --val "$dir/validation.npy" --test "$dir/test.npy" --model maf \
    --layers $layers --hidden $hidden --hidden-layers $depth --batch "$batch" --epochs "$epochs" --quiet --json \
    --out "$out.nfm" > "$out"
cat "$out"
data=$(cat "$dir/train.npy" "$dir/validation.npy" "$dir/test.npy" | wc -c)
awk -v data="$data" -v layers=$layers -v hidden=$hidden -v depth=$depth -v batch="$batch" '
    { match($0, /"params": [0-9]+/); params = substr($0, RSTART + 10, RLENGTH - 10)
      match($0, /"dim": [0-9]+/); n = substr($0, RSTART + 7, RLENGTH - 7)
      match($0, /"max_rss_mib": [0-9.]+/); peak = substr($0, RSTART + 15, RLENGTH - 15) }
    END {
      mib = 1048576
      model = 4 * params * 4 / mib                      # parameters, gradients, Adam m and v
      act = layers * batch * (6 * n + 4 * depth * hidden) * 4 / mib
      budget = data / mib + model + act
      printf "{\"op\": \"peak_memory\", \"data_mib\": %.1f, \"model_mib\": %.1f, \"activations_mib\": %.1f, ", data / mib, model, act
      printf "\"budget_mib\": %.1f, \"max_rss_mib\": %.1f, \"ratio\": %.3f}\n", budget, peak, peak / budget
    }' "$out"
