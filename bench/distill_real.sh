#!/bin/sh
# Distillation on real data (issue 27; bench/RESULTS.md, "Distillation on
# real data"): for each set, a teacher trained by `nflow train` with its
# defaults, then `nflow distill` with its defaults; the teacher's and the
# student's test log-likelihood (nats, +- 2 s.e.), the student's KL to the
# teacher on fresh samples, the sampling speeds and both times. One thread
# each, DISTILL_JOBS sets side by side.
#
# usage: sh bench/distill_real.sh [build] [datadir]
#   DISTILL_SETS   the sets (default: htru2 magic breast_cancer bsds300_small digits bsds300_20k fashion16)
#   DISTILL_JOBS   sets side by side (default 1: the times compare)
#   DISTILL_OPTS   extra options for nflow distill (default none)
build=${1:-build}
data=${2:-/tmp/nflow-quality}
nflow="$(cd "$(dirname "$build/nflow")" && pwd)/nflow"
here=$(cd "$(dirname "$0")" && pwd)
sets=${DISTILL_SETS:-"htru2 magic breast_cancer bsds300_small digits bsds300_20k fashion16"}
jobs=${DISTILL_JOBS:-1}
[ -x "$nflow" ] || { echo "distill_real.sh: no $nflow (run make)" >&2; exit 1; }
mkdir -p "$data"
for s in $sets; do
    [ -f "$data/$s.npy" ] || { /usr/bin/python3 "$here/quality/prepare.py" "$data" --shared "$here/../../shared" >&2; break; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# the split: a seeded shuffle, the last 10% test; integer columns dequantised
# (uniform noise in [0, 1)) so that both models score densities
split() {
    /usr/bin/python3 - "$data/$1.npy" "$out/$1" <<'PY'
import sys, numpy as np
a = np.load(sys.argv[1]).astype(np.float64)
r = np.random.default_rng(1)
a = a[r.permutation(len(a))]
ints = (a == np.round(a)).all(axis=0)
a[:, ints] += r.uniform(size=(len(a), int(ints.sum())))
n = len(a) - len(a) // 10
np.save(sys.argv[2] + "_train.npy", a[:n].astype(np.float32))
np.save(sys.argv[2] + "_test.npy", a[n:].astype(np.float32))
PY
}

field() { sed -n "s/.*\"$2\": \([-0-9.eE+]*\).*/\1/p" "$1"; }

one() {
    s=$1
    [ -f "$data/$s.npy" ] || { echo "| $s | missing |" >"$out/$s.row"; return; }
    split "$s"
    "$nflow" train --data "$out/${s}_train.npy" --test "$out/${s}_test.npy" --threads 1 --seed 1 --json --quiet \
        --out "$out/$s.t.nfm" >"$out/$s.t.json" 2>"$out/$s.t.err" || { echo "| $s | teacher failed |" >"$out/$s.row"; return; }
    # shellcheck disable=SC2086
    "$nflow" distill --teacher "$out/$s.t.nfm" --data "$out/${s}_test.npy" --threads 1 --json $DISTILL_OPTS \
        --out "$out/$s.s.nfm" >"$out/$s.s.json" 2>"$out/$s.s.err" || { echo "| $s | distill failed: $(tail -1 "$out/$s.s.err") |" >"$out/$s.row"; return; }
    t=$out/$s.t.json d=$out/$s.s.json
    awk -v s="$s" -v dim="$(field "$t" dim)" -v n="$(field "$t" n_train)" \
        -v model="$(sed -n 's/.*"model": "\([a-z-]*\)".*/\1/p' "$t")" -v tt="$(field "$t" seconds)" \
        -v tl="$(field "$d" teacher_log_likelihood)" -v t2="$(field "$d" teacher_two_stderr)" \
        -v sl="$(field "$d" student_log_likelihood)" -v s2="$(field "$d" student_two_stderr)" \
        -v kl="$(field "$d" kl)" -v k2="$(field "$d" kl_two_stderr)" -v ds="$(field "$d" train_seconds)" \
        -v sr="$(field "$d" student_samples_per_s)" -v tr="$(field "$d" teacher_samples_per_s)" \
        -v warn="$(grep -c warning "$out/$s.s.err")" \
        'BEGIN { printf "| %s | %d x %d | %s | %.2f +- %.2f | %.1f | %.2f +- %.2f | %+.2f | %.3f +- %.3f | %.1f | %.0fk / %.0fk (%.2fx) |%s\n",
                 s, n, dim, model, tl, t2, tt, sl, s2, sl - tl, kl, k2, ds, sr / 1000, tr / 1000, sr / tr,
                 (warn > 0 ? " warned" : "") }' >"$out/$s.row"
}

echo "| set | train rows x cols | teacher | teacher test LL | teacher s | student test LL | student - teacher | KL(s \|\| t) | distill s | samples/s student / teacher |"
echo "|---|---|---|---|---|---|---|---|---|---|"
running=0
for s in $sets; do
    one "$s" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait; running=0; fi
done
wait
for s in $sets; do cat "$out/$s.row"; done
