#!/bin/sh
# Writes the golden models that tests/cli_recipe.sh trains again and
# compares, with the nflow of build folder $1 (default build) under
# OPENBLAS_CORETYPE=Haswell (a BLAS's bits depend on its kernels). Run it
# only when a change is meant to alter what a seed trains.
set -e
nflow=$(cd "${1:-build}" && pwd)/nflow
cd "$(dirname "$0")"
export OPENBLAS_CORETYPE=Haswell
head -240 recipe.csv >recipe_train.csv
sed -n 241,270p recipe.csv >recipe_val.csv
sed -n 271,300p recipe.csv >recipe_test.csv
while read -r name args; do
    "$nflow" train $args --threads 1 --quiet --out "$name.nfm" >/dev/null
done <recipe.args
