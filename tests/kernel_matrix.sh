#!/bin/sh
# Every test under every OpenBLAS kernel family this CPU can execute
# (issue 12): Prescott (SSE3), Haswell and Zen (AVX2), and SkylakeX and
# Cooperlake (AVX-512) where /proc/cpuinfo shows avx512f. Results must not
# depend on a kernel's tile sizes or small-matrix paths.
build=${1:-build}
families="Prescott Haswell Zen"
grep -qw avx512f /proc/cpuinfo 2>/dev/null && families="$families SkylakeX Cooperlake"
passed=0; failed=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
for family in $families; do
    if OPENBLAS_CORETYPE=$family sh tests/run.sh "$build" >"$log" 2>&1; then
        passed=$((passed + 1)); echo "kernels $family: $(tail -n 1 "$log")"
    else
        failed=$((failed + 1)); grep -E '^FAIL' "$log"; echo "kernels $family: FAILED: $(tail -n 1 "$log")"
    fi
done
echo "kernel_matrix: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
