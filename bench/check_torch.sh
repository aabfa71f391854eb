#!/bin/sh
# Value check of nflow against the plain PyTorch reference
# (bench/torch_reference.py, issue 7): small MAF / MADE / IAF / RealNVP /
# NICE / NSF / autoregressive NSF models trained with the real command
# line on data of dimension 2, 6
# and 21; for each, nflow's per-row log-densities (`nflow eval --out`) and
# its samples from given base noise (`nflow decode`) must agree with the
# reference's to 1e-4 relative. Prints the reference's JSON lines and
# "torch_check: N passed, M failed"; exits 1 if any check failed, and 0 with
# "torch_check: skipped (...)" where no python3 can import torch and numpy.
#   sh bench/check_torch.sh [BUILD]
# PYTHON=/path/to/python3 picks the interpreter (default: the first of
# python3, /usr/bin/python3 that imports torch and numpy).
set -e
build=${1:-build}
nflow=$build/nflow
here=$(dirname "$0")

. "$(dirname "$0")/find_python.sh"
if [ -z "$py" ]; then
    echo "torch_check: skipped (python3-torch not installed)"
    exit 0
fi
if [ ! -x "$nflow" ]; then
    echo "check_torch.sh: $nflow not built (make first)" >&2
    exit 2
fi

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# one thread everywhere: nflow (OpenMP, OpenBLAS) and torch
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

# Data: a built-in 2-D toy, and correlated, non-Gaussian 6-D and 21-D data.
# The rows to evaluate are the training rows plus 100 rows spread 3x wider
# around the mean (the tails, where log-scales are largest); the base noise
# is 200 standard normal rows plus 50 rows of 2.5x that.
"$nflow" toy two_moons --n 400 --seed 1 --out "$work/x2.npy" > /dev/null
"$py" - "$work" << 'EOF'
import sys
import numpy as np
work = sys.argv[1]
rng = np.random.default_rng(7)
for d in (6, 21):
    x = np.zeros((400, d))
    s = np.zeros(400)
    for c in range(d):
        s = 0.7 * s + rng.uniform(-0.5, 0.5, 400) + 0.3 * np.sin(3 * s)
        x[:, c] = s * (1 + c % 3) + c
    np.save("%s/x%d.npy" % (work, d), x.astype(np.float32))
for d in (2, 6, 21):
    x = np.load("%s/x%d.npy" % (work, d)).astype(np.float64)
    m = x.mean(0)
    wide = m + 3 * (x[:100] - m)
    np.save("%s/eval%d.npy" % (work, d), np.concatenate([x, wide]).astype(np.float32))
    u = rng.standard_normal((250, d))
    u[200:] *= 2.5
    np.save("%s/noise%d.npy" % (work, d), u.astype(np.float32))
EOF

# Enough optimiser steps (batch 16, lr 1e-2) that the networks are far from
# the identity they start as; the reference reports max_abs_log_scale.
common="--epochs 2 --batch 16 --lr 1e-2 --hidden 32 --seed 1 --threads 1 --quiet"
fail=0
: > "$work/list"
run() { # name dim train-options...
    name=$1 d=$2
    shift 2
    m="$work/$name-$d.nfm"
    # shellcheck disable=SC2086 # $common is a list of options
    if "$nflow" train --data "$work/x$d.npy" $common "$@" --out "$m" > "$work/log" 2>&1 &&
        "$nflow" eval "$m" --data "$work/eval$d.npy" --out "$work/$name-$d.lp.npy" --threads 1 > /dev/null 2>&1 &&
        "$nflow" decode "$m" --data "$work/noise$d.npy" --out "$work/$name-$d.s.npy" > /dev/null 2>&1; then
        echo "$m $work/eval$d.npy $work/$name-$d.lp.npy $work/noise$d.npy $work/$name-$d.s.npy" >> "$work/list"
    else
        echo "{\"check\": \"nflow\", \"model\": \"$name-$d\", \"pass\": false, \"why\": \"nflow train/eval/decode failed\"}"
        tail -n 3 "$work/log" >&2
        fail=$((fail + 1))
    fi
}
for d in 2 6 21; do
    run maf_bn "$d" --model maf --layers 5 --batch-norm
    run made "$d" --model made
    run iaf "$d" --model iaf --layers 3
    run realnvp "$d" --model realnvp --layers 4
    run nice "$d" --model nice --layers 4
done
for d in 6 21; do
    run maf_random "$d" --model maf --layers 3 --order random --degrees random --activation tanh
done
run realnvp_bn_halves 6 --model realnvp --layers 4 --batch-norm --partition halves --activation tanh --base logistic
run maf_mog 6 --model maf-mog --layers 2 --components 3
# neural spline flows (issue 30): the reference's spline is written from the paper's equations
for d in 2 6 21; do
    run nsf "$d" --model nsf --layers 3 --bins 6
    run nsf_ar "$d" --model nsf-ar --layers 2 --bins 5
done
run nsf_tanh 6 --model nsf --layers 2 --bins 4 --tail-bound 2 --activation tanh --partition halves

"$py" "$here/torch_reference.py" batch "$work/list" | sed "s|$work/||g" > "$work/out" || true
cat "$work/out"
pass=$(grep -c '"pass": true' "$work/out" || true)
bad=$(grep -c '"pass": false' "$work/out" || true)
fail=$((fail + bad))
expect=$(($(wc -l < "$work/list") * 2))
if [ "$((pass + bad))" -ne "$expect" ]; then # the reference died part-way
    fail=$((fail + expect - pass - bad))
fi
# image flows (issue 31): glow and realnvp-ms on 16 x 8 images of two channels, read back by
# bench/glow_reference.py (conv2d, the logit, the 1x1 convolution's matrix, ...)
"$py" - "$work" << 'EOF'
import sys
import numpy as np
rng = np.random.default_rng(3)
yy, xx = np.mgrid[:16, :8]
imgs = np.stack([np.stack([200 * np.exp(-((yy - rng.uniform(3, 12)) ** 2 + (xx - rng.uniform(2, 6)) ** 2) / 6.0),
                           120 + 100 * np.sin(xx / 2.0 + k)], -1) + rng.uniform(0, 20, (16, 8, 2))
                 for k in range(300)])
np.save(sys.argv[1] + "/img.npy", np.clip(imgs, 0, 255).astype(np.uint8))
np.save(sys.argv[1] + "/img_eval.npy", (np.clip(imgs[:60], 0, 255) + rng.uniform(0, 0.99, (60, 16, 8, 2)))
        .reshape(60, -1).astype(np.float32))
EOF
for spec in "glow --levels 2" "glow --levels 3 --hidden-layers 2" "realnvp-ms --levels 2 --hidden-layers 0" \
    "glow --levels 2 --tail-weight 0.5" "realnvp-ms --levels 2 --tail-weight 0"; do
    name=$(echo "$spec" | tr ' ' '_' | tr -d -)
    m="$work/$name.nfm"
    # shellcheck disable=SC2086 # $spec: the model and its options
    if "$nflow" train --data "$work/img.npy" --model $spec --steps 2 --channels 8 --epochs 3 --batch 16 --lr 5e-3 \
        --threads 1 --quiet --out "$m" > "$work/log" 2>&1 &&
        "$nflow" eval "$m" --data "$work/img_eval.npy" --out "$work/$name.lp.npy" --threads 1 > /dev/null 2>&1 &&
        "$py" "$here/glow_reference.py" check --model "$m" --data "$work/img_eval.npy" --logp "$work/$name.lp.npy" \
            > "$work/img_out"; then
        sed "s|$work/||g" "$work/img_out"
        pass=$((pass + 1))
    else
        sed "s|$work/||g" "$work/img_out" 2> /dev/null
        echo "{\"check\": \"image_log_prob\", \"model\": \"$name\", \"pass\": false}"
        tail -n 3 "$work/log" >&2
        fail=$((fail + 1))
    fi
done
echo "torch_check: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
