#!/bin/sh
# make demo-images: Glow trained on Fashion-MNIST (Debian's
# dataset-fashion-mnist, read as IDX) for DEMO_SECONDS (default 180), its
# bits per dimension on the test images, and grids of its samples.
set -e
build=${1:-build}
nflow="$build/nflow"
F=/usr/share/datasets/fashion-mnist
out=demo
seconds=${DEMO_SECONDS:-180}
if [ ! -f $F/train-images-idx3-ubyte.gz ]; then
    echo "demo-images: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)" >&2
    exit 1
fi
mkdir -p "$out"
echo "training Glow (the defaults: 2 levels of 8 steps, 32-channel networks) on 60,000 Fashion-MNIST images for ${seconds} s..."
"$nflow" train --data $F/train-images-idx3-ubyte.gz --test $F/t10k-images-idx3-ubyte.gz --model glow \
    --max-time "$seconds" --out "$out/glow.nfm" --quiet
"$nflow" sample "$out/glow.nfm" --n 64 --temperature 0.7 --out "$out/glow_samples.png"
"$nflow" sample "$out/glow.nfm" --n 64 --temperature 1 --out "$out/glow_samples_t1.png"
echo "samples: $out/glow_samples.png (temperature 0.7), $out/glow_samples_t1.png (1); model: $out/glow.nfm"
