#!/bin/sh
# The training recipe keeps its bits: the models of tests/golden/recipe.args
# (a conditional model with dequantised and bounded columns; a column list
# and a spline model; validation and test files given apart), trained
# again, equal the golden files written before the recipe moved into the
# library (tests/golden/make.sh; conditional.nfm written again when the
# forward pass's panels of a MADE wider than 24 units moved from the BLAS
# to the narrow product, 2026-12-07: a change of rounding, meant).
# OpenBLAS's Haswell kernels and nflow's AVX-512 ones, as they were
# written with: skipped on a CPU without AVX-512 (nflow's narrow products
# sum in another order there) and in a sanitizer build.
suite=cli_recipe
. "$(dirname "$0")/lib_cli.sh"
g=$(cd "$(dirname "$0")/golden" && pwd)
nflow=$(cd "$build" && pwd)/nflow
# a sanitizer build computes other float roundings: its bits are not the golden ones
if ldd "$nflow" | grep -q libasan; then
    echo "$suite: skipped under the sanitizers"
elif ! grep -q avx512f /proc/cpuinfo; then
    # written where nflow's narrow products (k_narrow) take their AVX-512 path
    echo "$suite: skipped: the golden models were written on an AVX-512 CPU; this one rounds its narrow products otherwise"
else
    while read -r name args; do
        (cd "$g" && OPENBLAS_CORETYPE=Haswell "$nflow" train $args --threads 1 --quiet --out "$t/$name.nfm") \
            >"$t/out.txt" 2>&1 || bad "$name: $(cat "$t/out.txt")"
        same "$name: the recipe's bits" "$g/$name.nfm" "$t/$name.nfm"
    done <"$g/recipe.args"
fi
echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
