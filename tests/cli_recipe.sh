#!/bin/sh
# The training recipe keeps its bits: the models of tests/golden/recipe.args
# (a conditional model with dequantised and bounded columns; a column list
# and a spline model; validation and test files given apart), trained
# again, equal the golden files written before the recipe moved into the
# library (tests/golden/make.sh). Haswell's kernels, as they were written
# with; skipped on a CPU without AVX2.
suite=cli_recipe
. "$(dirname "$0")/lib_cli.sh"
g=$(cd "$(dirname "$0")/golden" && pwd)
nflow=$(cd "$build" && pwd)/nflow
if grep -q avx2 /proc/cpuinfo; then
    while read -r name args; do
        (cd "$g" && OPENBLAS_CORETYPE=Haswell "$nflow" train $args --threads 1 --quiet --out "$t/$name.nfm") \
            >"$t/out.txt" 2>&1 || bad "$name: $(cat "$t/out.txt")"
        same "$name: the recipe's bits" "$g/$name.nfm" "$t/$name.nfm"
    done <"$g/recipe.args"
fi
echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
