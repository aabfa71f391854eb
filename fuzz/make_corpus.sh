#!/bin/sh
# Writes the seed corpora of fuzz/corpus/ with build/nflow (run once; the
# results are committed): small models of every kind and a checkpoint,
# framed as fuzz_common.h expects (the payload after a 2-byte section
# count: header and trailer are rebuilt by the harness), .npy and CSV
# files, column lists.
# usage: sh fuzz/make_corpus.sh [build]
set -e
build=${1:-build}
nflow="$build/nflow"
here=$(cd "$(dirname "$0")" && pwd)
c="$here/corpus"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$c/model" "$c/checkpoint" "$c/npy" "$c/idx" "$c/csv" "$c/columns" "$c/bounds" "$c/recipe"
# a model file -> its sections with a 2-byte count in front
frame() {
    /usr/bin/python3 -c "
import struct, sys
b = open(sys.argv[1], 'rb').read()
s, p = struct.unpack_from('<QQ', b, 32)
open(sys.argv[2], 'wb').write(struct.pack('<H', s) + b[48:48 + p])" "$1" "$2"
}
"$nflow" toy banana --n 64 --seed 1 --out "$t/d.csv"
small="--epochs 1 --hidden 3 --layers 1 --threads 1 --quiet --val $t/d.csv --test $t/d.csv"
for kind in maf maf-mog realnvp nice iaf made gaussian nsf nsf-ar; do
    # shellcheck disable=SC2086
    "$nflow" train --data "$t/d.csv" --model "$kind" $small --components 2 --out "$t/$kind.nfm" 2>/dev/null ||
        "$nflow" train --data "$t/d.csv" --model "$kind" $small --out "$t/$kind.nfm"
    frame "$t/$kind.nfm" "$c/model/$kind"
done
# shellcheck disable=SC2086
"$nflow" train --data "$t/d.csv" --model maf --batch-norm --actnorm $small --out "$t/bn.nfm"
frame "$t/bn.nfm" "$c/model/maf-bn-actnorm"
# shellcheck disable=SC2086
"$nflow" train --data "$t/d.csv" --model maf --no-whiten $small --out "$t/plain.nfm"
frame "$t/plain.nfm" "$c/model/maf-plain"
# conditional models: a context column (the header's context keys, MADE and
# coupling inputs of degree 0 / beside x)
awk 'BEGIN { srand(3); for (i = 0; i < 64; i++) { c = rand() * 4 - 2;
    printf "%f,%f,%f\n", sin(c) + 0.1 * rand(), c, c * 0.5 + 0.1 * rand() } }' > "$t/c.csv"
for kind in maf realnvp; do
    # shellcheck disable=SC2086
    "$nflow" train --data "$t/c.csv" --context-columns 1 --model "$kind" --epochs 1 --hidden 3 --layers 1 \
        --threads 1 --quiet --val "$t/c.csv" --test "$t/c.csv" --out "$t/$kind-c.nfm"
    frame "$t/$kind-c.nfm" "$c/model/$kind-conditional"
done
# bounded columns: the bounds section first, an interval and a half-line
# shellcheck disable=SC2086
"$nflow" train --data "$t/d.csv" --bounds 0=-100:100,1=-100: --model maf $small --out "$t/bounds.nfm"
frame "$t/bounds.nfm" "$c/model/maf-bounds"
# an image model (glow: squeeze, per-channel actnorm, 1x1 convolution, image couplings, split), 32 images of 4 x 4
{ printf '\0\0\10\3\0\0\0\40\0\0\0\4\0\0\0\4'; i=0; while [ $i -lt 512 ]; do
    printf "\\$(printf %o $((i * 37 % 251)))"; i=$((i + 1)); done; } > "$t/img-idx3-ubyte"
# (the second level's 1 x 1 x 8 image: actnorm and the 1x1 convolution keep their block of 8; no floor)
"$nflow" train --data "$t/img-idx3-ubyte" --model glow --steps 1 --channels 2 --epochs 1 --threads 1 --quiet \
    --tail-weight 0 --out "$t/glow.nfm"
frame "$t/glow.nfm" "$c/model/glow"
# the same with the floor (since revision 9: gaussian_fit's identity key)
"$nflow" train --data "$t/img-idx3-ubyte" --model glow --steps 1 --channels 2 --epochs 1 --threads 1 --quiet \
    --tail-weight 0.01 --out "$t/glow-floor.nfm"
frame "$t/glow-floor.nfm" "$c/model/glow-floor"
# checkpoints of training on exactly the harness's data (64 banana rows, seed 1)
# shellcheck disable=SC2086
"$nflow" train --data "$t/d.csv" --model maf $small --checkpoint "$t/ck.nfc" --out "$t/ck.nfm"
frame "$t/ck.nfc" "$c/checkpoint/maf"
# shellcheck disable=SC2086
"$nflow" train --data "$t/d.csv" --model realnvp --batch-norm $small --checkpoint "$t/ck2.nfc" --out "$t/ck2.nfm"
frame "$t/ck2.nfc" "$c/checkpoint/realnvp-bn"
# data files
"$nflow" sample "$t/maf.nfm" --n 5 --out "$c/npy/f32.npy" --log-prob "$c/npy/f64.npy"
# IDX: 2 images of 2 x 2 uint8, 3 labels, 1 x 2 float32 (big-endian), the images gzipped
printf '\0\0\10\3\0\0\0\2\0\0\0\2\0\0\0\2\1\2\3\4\5\6\7\10' >"$c/idx/images"
printf '\0\0\10\1\0\0\0\3\7\0\11' >"$c/idx/labels"
printf '\0\0\15\2\0\0\0\1\0\0\0\2\300\40\0\0\77\300\0\0' >"$c/idx/float32"
gzip -c "$c/idx/images" >"$c/idx/images.gz"
head -4 "$t/d.csv" >"$c/csv/plain.csv"
{ echo "x,y"; head -3 "$t/d.csv"; } >"$c/csv/header.csv"
printf '1,2,3\r\n4,5e-3,-6\r\n' >"$c/csv/crlf.csv"
printf ' 1 , 2\n\n3,4\n' >"$c/csv/spaces.csv"
for s in "0-9" "1,3,5-7" "2" "0-0,1" "3-1"; do printf '%s' "$s" >"$c/columns/$(echo "$s" | tr ',-' '_x')"; done
# bounds as text: an interval and half-lines, a list with commas, an open side
i=0
for s in "0=0:1" "1,3=0:" "0-2=:5,4=-1:1" "6=1e-3:1e30" "7=:"; do i=$((i + 1)); printf '%s' "$s" >"$c/bounds/b$i"; done
# recipe options as lines of NAME=VALUE: a model named, every kind of option, auto with a shape option
printf 'model=maf\nhidden=8\nlr=0.002\nbatch-norm=1\n' >"$c/recipe/maf"
printf 'model=nsf\nbins=4\ntail-bound=2.5\nactivation=tanh\npartition=even-odd\nepochs=3\n' >"$c/recipe/nsf"
printf 'model=auto\nlayers=2\n' >"$c/recipe/auto"
printf 'steps=2\nchannels=4\nlevels=1\nno-whiten=1\ndropout=0.5\npatience-steps=0\n' >"$c/recipe/shape"
ls -R "$c" | head -40
