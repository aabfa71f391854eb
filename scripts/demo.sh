#!/bin/sh
# make demo: train RealNVP on a built-in 2-D density whose true density is
# known, report the test log-likelihood beside the true one, and draw it.
set -e
build=${1:-build}
nflow="$build/nflow"
out=demo
mkdir -p "$out"
toy=eight_gaussians
"$nflow" toy $toy --n 10000 --seed 1 --out "$out/train.csv"
"$nflow" toy $toy --n 10000 --seed 2 --out "$out/test.csv"
echo "training RealNVP on $toy (10,000 points; default settings, at most 60 epochs)..."
"$nflow" train --data "$out/train.csv" --test "$out/test.csv" --model realnvp --epochs 60 --out "$out/realnvp.nfm" \
    --plot "$out/realnvp.png" --quiet
"$nflow" eval "$out/realnvp.nfm" --data "$out/test.csv"
"$nflow" toy $toy --eval "$out/test.csv"
"$nflow" sample "$out/realnvp.nfm" --n 5 --seed 1 --out "$out/samples.csv"
echo "pictures: $out/realnvp.png (density, data, samples); model: $out/realnvp.nfm"
