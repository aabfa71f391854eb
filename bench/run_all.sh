#!/bin/sh
# The speed comparison of issue 7: bench_nflow (bench/bench.c), then the
# PyTorch peer (bench/torch_reference.py bench) on the same configurations,
# one after the other on this machine; then pairs their JSON lines and
# prints a markdown table (bench/README.md explains the columns).
#   sh bench/run_all.sh [--build DIR] [--quick] [--filter S] [--repeats N] [--threads 1,2]
# The options after --build go to both programs. The JSON lines are kept in
# DIR/bench/nflow.jsonl and DIR/bench/torch.jsonl (DIR: build). The torch
# half is skipped, with a note, where no python3 imports torch and numpy;
# PYTHON=/path/to/python3 picks the interpreter (default: the first of
# python3, /usr/bin/python3 that imports both).
# Exit status: 0, or 1 when a program failed (the table shows what ran).
set -e
here=$(dirname "$0")
build=build
if [ "${1:-}" = "--build" ]; then
    [ $# -ge 2 ] || { echo "run_all.sh: --build needs a directory" >&2; exit 2; }
    build=$2
    shift 2
fi
bench=$build/bench_nflow
if [ ! -x "$bench" ]; then
    echo "run_all.sh: $bench not built (make $bench)" >&2
    exit 2
fi

. "$(dirname "$0")/find_python.sh"

out=$build/bench
mkdir -p "$out"
: > "$out/torch.jsonl"
status=0
echo "run_all.sh: timing nflow ($bench $*)" >&2
"$bench" "$@" > "$out/nflow.jsonl" || status=1
if [ -n "$py" ]; then
    echo "run_all.sh: timing torch ($py $here/torch_reference.py bench $*)" >&2
    "$py" "$here/torch_reference.py" bench "$@" > "$out/torch.jsonl" || status=1
else
    echo "run_all.sh: torch skipped (no python3 imports torch and numpy)" >&2
fi

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
        info[impl] = field($0, "version") " (BLAS: " field($0, "blas") ", " field($0, "repeats") " repeats)"
        next
    }
    if (op == "peak_memory") { mem[impl] = field($0, "max_rss_mib"); next }
    if (op == "") next
    key = field($0, "model") "|" field($0, "dim") "|" field($0, "hidden") "|" op "|" field($0, "batch") "|" \
          field($0, "threads")
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    t[impl, key] = field($0, "median_ms")
    g[impl, key] = field($0, "gflops")
}
END {
    print "| model | dim | hidden | op | batch | threads | nflow ms | torch ms | torch/nflow | nflow GFLOP/s |"
    print "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= n; i++) {
        key = order[i]
        split(key, k, "|")
        a = t["nflow", key]; b = t["torch", key]
        ratio = (a != "" && b != "" && a > 0) ? sprintf("%.2f", b / a) : "-"
        gf = g["nflow", key] == "" ? "-" : sprintf("%.1f", g["nflow", key])
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
