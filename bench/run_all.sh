#!/bin/sh
# The speed comparison of issue 7: bench_nflow (bench/bench.c) and the
# PyTorch peer (bench/torch_reference.py bench) on the same configurations
# on this machine; then pairs their JSON lines and prints a markdown table
# (bench/README.md explains the columns).
#   sh bench/run_all.sh [--build DIR] [--rounds R] [--quick] [--filter S] [--repeats N] [--threads 1,2]
# The options after --build and --rounds go to both programs. The two are
# interleaved, configuration by configuration (sgemm, then each model
# shape), for R rounds (default 3), nflow first in odd rounds and PyTorch
# first in even ones: a shared machine's speed drifts by tens of percent
# over seconds, and both sides of a ratio should see the same drift. A
# row's time is the median of its rounds' medians. With --filter S the
# configuration is S alone. The JSON lines are kept in DIR/bench/nflow.jsonl
# and DIR/bench/torch.jsonl (DIR: build). The torch half is skipped, with a
# note, where no python3 imports torch and numpy; PYTHON=/path/to/python3
# picks the interpreter (default: the first of python3, /usr/bin/python3
# that imports both).
# Exit status: 0, or 1 when a program failed (the table shows what ran).
set -e
here=$(dirname "$0")
build=build
if [ "${1:-}" = "--build" ]; then
    [ $# -ge 2 ] || { echo "run_all.sh: --build needs a directory" >&2; exit 2; }
    build=$2
    shift 2
fi
rounds=3
if [ "${1:-}" = "--rounds" ]; then
    [ $# -ge 2 ] || { echo "run_all.sh: --rounds needs a count" >&2; exit 2; }
    rounds=$2
    shift 2
fi
groups="sgemm maf_n6_h100 maf_n8_h100 maf_n21_h512 maf_n43_h512 maf_n63_h512 realnvp_n6_h100 realnvp_n8_h100
realnvp_n21_h512 realnvp_n43_h512 realnvp_n63_h512"
prev=
for a in "$@"; do
    [ "$prev" = "--filter" ] && groups=$a
    prev=$a
done
bench=$build/bench_nflow
if [ ! -x "$bench" ]; then
    echo "run_all.sh: $bench not built (make $bench)" >&2
    exit 2
fi

. "$(dirname "$0")/find_python.sh"
. "$(dirname "$0")/blas_env.sh"

out=$build/bench
mkdir -p "$out"
: > "$out/torch.jsonl"
: > "$out/nflow.jsonl"
status=0
[ -n "$py" ] || echo "run_all.sh: torch skipped (no python3 imports torch and numpy)" >&2
run_nflow() { "$bench" "$@" --filter "$g" >> "$out/nflow.jsonl" || status=1; }
run_torch() { [ -z "$py" ] || "$py" "$here/torch_reference.py" bench "$@" --filter "$g" >> "$out/torch.jsonl" || status=1; }
r=1
while [ "$r" -le "$rounds" ]; do
    echo "run_all.sh: round $r of $rounds ($bench and torch_reference.py bench $*)" >&2
    for g in $groups; do
        if [ $((r % 2)) -eq 1 ]; then run_nflow "$@"; run_torch "$@"; else run_torch "$@"; run_nflow "$@"; fi
    done
    r=$((r + 1))
done

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2> /dev/null | head -n 1)
echo
echo "Machine: ${cpu:-unknown CPU}, $(getconf _NPROCESSORS_ONLN 2> /dev/null || echo '?') processors," \
    "$(uname -sm); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
awk '
function field(s, k,    v) {
    if (!match(s, "\"" k "\": *(\"[^\"]*\"|[^,}]*)"))
        return ""
    v = substr(s, RSTART, RLENGTH)
    sub("^\"" k "\": *", "", v)
    gsub(/"/, "", v)
    return v
}
function ms(v) { return v == "" ? "-" : sprintf("%.3f", v) }
{
    impl = field($0, "impl"); op = field($0, "op")
    if (op == "info") {
        info[impl] = field($0, "version") " (BLAS: " field($0, "blas") ", " field($0, "repeats") " repeats a round)"
        next
    }
    if (op == "peak_memory") { mem[impl] = field($0, "max_rss_mib"); next }
    if (op == "") next
    key = field($0, "model") "|" field($0, "dim") "|" field($0, "hidden") "|" op "|" field($0, "batch") "|" \
          field($0, "threads")
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    c = ++cnt[impl, key]
    v[impl, key, c] = field($0, "median_ms") + 0
    flops[key] = field($0, "flops") + 0
}
function median_of(impl, key,    n, i, j, x, a) {
    n = cnt[impl, key]
    if (!n) return ""
    for (i = 1; i <= n; i++) a[i] = v[impl, key, i]
    for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
    print "| model | dim | hidden | op | batch | threads | nflow ms | torch ms | torch/nflow | nflow GFLOP/s |"
    print "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= n; i++) {
        key = order[i]
        split(key, k, "|")
        a = median_of("nflow", key); b = median_of("torch", key)
        ratio = (a != "" && b != "" && a > 0) ? sprintf("%.2f", b / a) : "-"
        gf = (a == "" || a <= 0) ? "-" : sprintf("%.1f", flops[key] / (a * 1e6))
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", k[1], k[2], k[3], k[4], k[5], k[6],
               ms(a), ms(b), ratio, gf
    }
    print ""
    print "nflow " (("nflow" in info) ? info["nflow"] : "-") "; peak memory " \
          (("nflow" in mem) ? mem["nflow"] " MiB" : "-")
    print "torch " (("torch" in info) ? info["torch"] : "not run") "; peak memory " \
          (("torch" in mem) ? mem["torch"] " MiB" : "-")
    print "(sgemm rows: batch x hidden = batch x dim times dim x hidden, the BLAS ceiling; ratio > 1: nflow faster)"
}' "$out/nflow.jsonl" "$out/torch.jsonl"
[ "$status" -eq 0 ] || echo "run_all.sh: a benchmark program failed (see above)" >&2
exit "$status"
