#!/bin/sh
# Scaling with threads (issue 12), whole `nflow` processes: MAF (5), 2 x 512
# hidden, n = 63 (BSDS300's shape). For each thread count: one training
# epoch of 20,000 rows at batch 512 and at batch 4096 (validation pass and
# final evaluation included), `nflow eval` and `nflow sample` of 100,000
# rows. Medians of REPEATS runs; rows/s and the speed-up over 1 thread of
# the same binary; the serial fraction s that Amdahl's law gives from the
# 1- and 2-thread times (t2 / t1 = s + (1 - s) / 2). With a python3 that
# has torch, PyTorch's training epoch (bench/torch_reference.py train) and
# log-density at the same thread counts. Where `perf` is installed, the
# serial fraction is also read from a profile at the largest thread count:
# M = the main thread's samples outside OpenMP's waiting (libgomp), W = a
# worker's on average; with T threads M = S + P/T and W = P/T, so
# s = S / (S + P) = (M - W) / (M - W + T W). That is the share of the work
# no other thread can take, free of what the machine does to a second
# thread's speed (shared cores, memory bandwidth), which the timings mix
# in. First the machine's own ceiling:
# independent 512 x 512 x 512 sgemm products side by side on t threads
# (build/bench_nflow), against which the serial fraction is also given
# (on a VM whose vCPUs share cores, the ceiling itself is well below t).
#   sh bench/scaling.sh [BUILD] [THREADS] [REPEATS]     e.g. build 1,2,4,8,16 3
set -e
build=${1:-build}
threads=$(echo "${2:-1,2}" | tr ',' ' ')
reps=${3:-3}
nflow=$build/nflow
here=$(dirname "$0")
. "$here/find_python.sh"
. "$(dirname "$0")/blas_env.sh"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== where: $("$nflow" info --system | tr '\n' ';' | sed 's/  */ /g')"
ceiling1=""; ceiling2=""
if [ -x "$build/bench_nflow" ]; then
    "$build/bench_nflow" --filter sgemm_512x512x512 --repeats 9 --threads "$(echo $threads | tr ' ' ',')" 2>/dev/null |
        sed -n 's/.*"threads": \([0-9]*\), "median_ms": \([0-9.]*\).*/\1 \2/p' > "$work/ceiling"
    one=$(awk '$1 == 1 { print $2 }' "$work/ceiling")
    [ -n "$one" ] && echo "== ceiling (sgemm 512^3 side by side): $(awk -v one="$one" '{ printf "%s threads %.2fx; ", $1, one * $1 / $2 }' "$work/ceiling")"
    ceiling2=$(awk -v one="$one" '$1 == 2 { printf "%.3f", one * 2 / $2 }' "$work/ceiling")
fi

# data: samples of a small MAF fitted to correlated noise (shapes matter, not values)
awk -v n=4000 -v d=63 'BEGIN { srand(1); for (r = 0; r < n; r++) { s = 0; line = "";
    for (c = 0; c < d; c++) { s = 0.7 * s + rand() - 0.5; line = line (c ? "," : "") s }
    print line } }' > "$work/seed.csv"
"$nflow" train --data "$work/seed.csv" --model maf --layers 2 --hidden 64 --epochs 3 --quiet --out "$work/gen.nfm" > /dev/null
"$nflow" sample "$work/gen.nfm" --n 20000 --seed 1 --out "$work/train.npy"
"$nflow" sample "$work/gen.nfm" --n 2000 --seed 2 --out "$work/val.npy"
"$nflow" sample "$work/gen.nfm" --n 2000 --seed 3 --out "$work/test.npy"
"$nflow" sample "$work/gen.nfm" --n 100000 --seed 4 --out "$work/big.npy"
"$nflow" train --data "$work/train.npy" --val "$work/val.npy" --test "$work/test.npy" --model maf --layers 5 \
    --hidden 512 --hidden-layers 2 --epochs 1 --quiet --out "$work/maf.nfm" > /dev/null

# time NAME ROWS COMMAND...: median seconds of REPEATS runs into $work/NAME
time_it() {
    name=$1; shift; : > "$work/$name.t"
    for i in $(seq "$reps"); do
        t0=$(now); "$@" > /dev/null 2>&1 || { echo "scaling: $name failed: $*" >&2; exit 1; }; t1=$(now)
        awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' >> "$work/$name.t"
    done
    median < "$work/$name.t"
}

printf '| threads | train b512 rows/s | x | train b4096 rows/s | x | eval 100k rows/s | x | sample 100k rows/s | x |'
[ -n "$py" ] && printf ' torch train b512 | torch train b4096 | torch log-density 100k |'
printf '\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
[ -n "$py" ] && printf -- '---:|---:|---:|'
printf '\n'
for t in $threads; do
    line="| $t"
    for b in 512 4096; do
        s=$(time_it "train$b.$t" "$nflow" train --data "$work/train.npy" --val "$work/val.npy" --test "$work/test.npy" \
            --model maf --layers 5 --hidden 512 --hidden-layers 2 --batch $b --epochs 1 --threads "$t" --quiet \
            --out "$work/m.nfm")
        echo "$s" > "$work/train$b.$t"
        line="$line | $(awk -v s="$s" 'BEGIN { printf "%.0f", 20000 / s }') | $(awk -v a="$(cat "$work/train$b.1" 2>/dev/null || echo "$s")" -v s="$s" 'BEGIN { printf "%.2f", a / s }')"
    done
    s=$(time_it "eval.$t" "$nflow" eval "$work/maf.nfm" --data "$work/big.npy" --threads "$t"); echo "$s" > "$work/eval.$t"
    line="$line | $(awk -v s="$s" 'BEGIN { printf "%.0f", 100000 / s }') | $(awk -v a="$(cat "$work/eval.1" 2>/dev/null || echo "$s")" -v s="$s" 'BEGIN { printf "%.2f", a / s }')"
    s=$(time_it "sample.$t" "$nflow" sample "$work/maf.nfm" --n 100000 --threads "$t" --out "$work/s.npy"); echo "$s" > "$work/sample.$t"
    line="$line | $(awk -v s="$s" 'BEGIN { printf "%.0f", 100000 / s }') | $(awk -v a="$(cat "$work/sample.1" 2>/dev/null || echo "$s")" -v s="$s" 'BEGIN { printf "%.2f", a / s }')"
    if [ -n "$py" ]; then
        for b in 512 4096; do
            s=$(time_it "torch$b.$t" "$py" "$here/torch_reference.py" train --kind maf --data "$work/train.npy" \
                --val "$work/val.npy" --test "$work/test.npy" --batch $b --epochs 1 --threads "$t" --out "$work/p.npy")
            line="$line | $(awk -v s="$s" 'BEGIN { printf "%.0f", 20000 / s }')"
        done
        s=$(time_it "torchlp.$t" "$py" "$here/torch_reference.py" logprob --model "$work/maf.nfm" --data "$work/big.npy" \
            --dtype float32 --threads "$t" --out "$work/lp.npy")
        line="$line | $(awk -v s="$s" 'BEGIN { printf "%.0f", 100000 / s }')"
    fi
    echo "$line |"
done
if [ -f "$work/train512.1" ] && [ -f "$work/train512.2" ]; then
    echo
    for name in train512 train4096 eval sample; do
        a=$(cat "$work/$name.1"); b=$(cat "$work/$name.2")
        line="serial fraction ($name, from 1 and 2 threads): $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", 2 * b / a - 1 }')"
        [ -n "$ceiling2" ] && line="$line; against the 2-thread ceiling of ${ceiling2}x: $(awk -v a="$a" -v b="$b" -v c="$ceiling2" 'BEGIN { if (c > 1.05) printf "%.3f", (b / a - 1 / c) / (1 - 1 / c); else printf "n/a (no second core)" }')"
        echo "$line"
    done
fi

# serial fraction from a profile: NAME COMMAND... at the largest thread count
serial_by_profile() {
    name=$1; shift
    perf record -q -s -F 2000 -o "$work/p.data" "$@" > /dev/null 2>&1 || return 0
    perf report -i "$work/p.data" --no-children --stdio --sort pid,dso -F sample,pid,dso 2>/dev/null |
        awk -v t="$tmax" -v name="$name" '$1 ~ /^[0-9]+$/ && $3 !~ /libgomp/ {
                split($2, a, ":"); n[a[1]] += $1; if (main == "" || a[1] < main) main = a[1] }
            END { m = n[main]; w = 0; k = 0; for (p in n) if (p != main) { w += n[p]; k++ }
                if (k == 0) { print "serial fraction (" name "): no worker thread sampled"; exit }
                w /= k; printf "serial fraction (%s, profile at %d threads): %.3f (main %d samples, workers %.0f each)\n",
                    name, t, (m - w) / (m - w + t * w), m, w }'
}
tmax=$(echo $threads | tr ' ' '\n' | sort -n | tail -n 1)
if command -v perf > /dev/null 2>&1 && [ "$tmax" -gt 1 ]; then
    echo
    for b in 512 4096; do
        serial_by_profile "train$b" "$nflow" train --data "$work/train.npy" --val "$work/val.npy" --test "$work/test.npy" \
            --model maf --layers 5 --hidden 512 --hidden-layers 2 --batch $b --epochs 1 --threads "$tmax" --quiet \
            --out "$work/m.nfm"
    done
    serial_by_profile eval "$nflow" eval "$work/maf.nfm" --data "$work/big.npy" --threads "$tmax"
    serial_by_profile sample "$nflow" sample "$work/maf.nfm" --n 100000 --threads "$tmax" --out "$work/s.npy"
fi
