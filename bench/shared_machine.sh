#!/bin/sh
# Speed on a machine shared with other work (issue 28; bench/README.md,
# "A shared machine"): whole `nflow train` processes, MAF 2 x 256 on
# 20,000 x 63 rows, 2 epochs of batch 256.
#   - k = 1, 2, 4 trainings at once, default threads against --threads 1
#     each (the slowest job's wall time);
#   - one training beside a busy loop on every processor, default threads
#     against --threads 1;
#   - --threads 64 against --threads 2;
#   - the README's Python example (fit of a RealNVP, 20 epochs) alone and
#     beside the busy loops, default threads against nflow.set_threads(1).
# Each figure is the median of RUNS runs (default 3).
#
# usage: sh bench/shared_machine.sh [build]
build=${1:-build}
nflow="$(cd "$(dirname "$build/nflow")" && pwd)/nflow"
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-3}
py=/usr/bin/python3
[ -x "$nflow" ] || { echo "shared_machine.sh: no $nflow (run make)" >&2; exit 1; }
t=$(mktemp -d)
busy_pids=""
cleanup() { [ -n "$busy_pids" ] && kill $busy_pids 2>/dev/null; rm -rf "$t"; }
trap cleanup EXIT INT TERM

"$py" -c "
import numpy as np
r = np.random.default_rng(0)
a = r.normal(size=(20000, 63)).astype(np.float32)
a[:, 1:] += 0.5 * np.tanh(a[:, :-1])  # a little structure
np.save('$t/d.npy', a)" || exit 1

# one training's wall seconds
train() {
    s=$(date +%s.%N)
    "$nflow" train --data "$t/d.npy" --model maf --hidden 256 --epochs 2 --batch 256 --quiet \
        --out "$t/m$$.$1.nfm" $2 >/dev/null 2>&1
    e=$(date +%s.%N)
    echo "$s $e" | awk '{ printf "%.3f\n", $2 - $1 }'
}
# the slowest of k trainings at once
together() {
    k=$1 opts=$2 j=0
    while [ $j -lt "$k" ]; do train "$j" "$opts" >"$t/w.$j" & j=$((j + 1)); done
    wait
    cat "$t"/w.* | sort -n | tail -1
    rm -f "$t"/w.*
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
repeat() { r=0; while [ $r -lt "$runs" ]; do "$@"; r=$((r + 1)); done | median; }
busy_on() {
    n=$(nproc) b=0
    while [ $b -lt "$n" ]; do sh -c 'while :; do :; done' >/dev/null 2>&1 & busy_pids="$busy_pids $!"; b=$((b + 1)); done
    sleep 0.5
}
busy_off() { kill $busy_pids 2>/dev/null; wait 2>/dev/null; busy_pids=""; }
python_example() {
    PYTHONPATH="$here/../python" NFLOW_LIBRARY="$(dirname "$nflow")/libnflow.so" "$py" -c "
import time, numpy as np, nflow
if $1: nflow.set_threads(1)
rng = np.random.default_rng(0)
x = rng.normal(size=3000)
X = np.stack([x, 0.5 * x**2 + 0.3 * rng.normal(size=3000)], axis=1)
t = time.time()
nflow.Flow(model='realnvp').fit(X, epochs=20, verbose=False)
print('%.3f' % (time.time() - t))"
}

"$nflow" info --system | sed -n '1p;5,6p'
echo "| run | default threads (s) | one thread each (s) | ratio |"
echo "|---|---|---|---|"
row() { echo "$1 $2 $3" | awk '{ printf "| %s | %.2f | %.2f | %.2fx |\n", $1, $2, $3, $2 / $3 }' | sed 's/_/ /g'; }
for k in 1 2 4; do
    row "${k}_at_once" "$(repeat together "$k" "")" "$(repeat together "$k" "--threads 1")"
done
busy_on
row "beside_a_busy_loop_per_processor" "$(repeat together 1 "")" "$(repeat together 1 "--threads 1")"
row "Python_README_example,_beside_the_loops" "$(repeat python_example 0)" "$(repeat python_example 1)"
busy_off
row "Python_README_example,_alone" "$(repeat python_example 0)" "$(repeat python_example 1)"
t64=$(repeat together 1 "--threads 64") t2=$(repeat together 1 "--threads 2")
echo "$t64 $t2" | awk '{ printf "| --threads 64 against --threads 2 | %.2f | %.2f (--threads 2) | %.2fx |\n", $1, $2, $1 / $2 }'
