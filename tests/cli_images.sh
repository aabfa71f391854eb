#!/bin/sh
# Image flows from the tool (issue 31): glow by default on images, with
# --levels, --steps and --channels; realnvp-ms; bits per dimension; a
# sample grid as PNG at a temperature; a model of columns refuses a .png,
# an image model refuses data that are not its images' size.
suite=cli_images
. "$(dirname "$0")/lib_cli.sh"

# 96 images of 8 x 8 pixels in IDX (MNIST's format): a bright square whose place varies
{ printf '\0\0\10\3\0\0\0\140\0\0\0\10\0\0\0\10'; i=0; while [ $i -lt 96 ]; do
    y=0; while [ $y -lt 8 ]; do x=0; while [ $x -lt 8 ]; do
        dy=$((y - 2 - i % 4)); dx=$((x - 2 - i / 4 % 4))
        v=$(( (dy * dy + dx * dx < 4) * 200 + (i * 7 + y * 3 + x) % 40 ))
        printf "\\$(printf %o $v)"; x=$((x + 1)); done; y=$((y + 1)); done; i=$((i + 1)); done; } >"$t/sq-idx3-ubyte"
run_ok "glow by default" "$nflow" train --data "$t/sq-idx3-ubyte" --steps 2 --channels 8 --epochs 2 --threads 1 \
    --out "$t/g.nfm" --json
grep -q '"model": "glow"' "$t/out.txt" && grep -q '"levels": 2, "image_shape": \[8, 8, 1\]' "$t/out.txt" &&
    grep -q '"test_bits_per_dim": [0-9]' "$t/out.txt" && ok || bad "glow: $(cat "$t/out.txt")"
run_ok "info glow" "$nflow" info "$t/g.nfm"
grep -q "model: glow, 2 levels of 2 steps on 8 x 8 x 1 images" "$t/out.txt" &&
    grep -q "conv_coupling 4x4x4" "$t/out.txt" && grep -q "1x1 convolution" "$t/out.txt" && ok ||
    bad "info: $(cat "$t/out.txt")"
run_ok "realnvp-ms" "$nflow" train --data "$t/sq-idx3-ubyte" --model realnvp-ms --levels 2 --steps 2 --channels 8 \
    --epochs 1 --threads 1 --out "$t/r.nfm" --quiet
run_ok "eval realnvp-ms" "$nflow" eval "$t/r.nfm" --data "$t/sq-idx3-ubyte"
grep -q "bits per dimension: [0-9.]* +- [0-9.]* (8-bit images of 8 x 8 x 1)" "$t/out.txt" && ok ||
    bad "eval: $(cat "$t/out.txt")"
run_ok "a grid" "$nflow" sample "$t/g.nfm" --n 6 --temperature 0.7 --out "$t/grid.png"
[ "$(head -c 4 "$t/grid.png" | od -An -c | tr -d ' ')" = "211PNG" ] && ok || bad "grid: not a PNG"
run_ok "samples .npy at a temperature" "$nflow" sample "$t/g.nfm" --n 6 --temperature 0.5 --out "$t/s.npy"
refused "temperature 0" 1 "temperature" "$t/s0.npy" -- "$nflow" sample "$t/g.nfm" --n 2 --temperature 0 \
    --out "$t/s0.npy" && ok
refused "too many levels" nonzero "fewer levels" "$t/x.nfm" -- "$nflow" train --data "$t/sq-idx3-ubyte" \
    --model realnvp-ms --levels 4 --out "$t/x.nfm" && ok
# class labels (an IDX labels file): the square in the top rows is class 0, lower down class 1
{ printf '\0\0\10\1\0\0\0\140'; i=0; while [ $i -lt 96 ]; do printf "\\$(printf %o $((i % 4 / 2)))"; i=$((i + 1));
    done; } >"$t/sq-labels-idx1-ubyte"
{ printf '\0\0\10\1\0\0\0\137'; head -c 103 "$t/sq-labels-idx1-ubyte" | tail -c 95; } >"$t/short-labels"
run_ok "class-conditional glow" "$nflow" train --data "$t/sq-idx3-ubyte" --labels "$t/sq-labels-idx1-ubyte" --steps 2 \
    --channels 8 --epochs 2 --threads 1 --out "$t/c.nfm" --json
grep -q '"context_dim": 2' "$t/out.txt" && grep -q '"label_classes": 2' "$t/out.txt" && ok || bad "labels: $(cat "$t/out.txt")"
run_ok "info of labels" "$nflow" info "$t/c.nfm"
grep -q "context: a class label of 2 classes" "$t/out.txt" && ok || bad "info: $(cat "$t/out.txt")"
refused "eval without labels" 2 "give a label per row" - -- "$nflow" eval "$t/c.nfm" --data "$t/sq-idx3-ubyte" && ok
run_ok "eval with labels" "$nflow" eval "$t/c.nfm" --data "$t/sq-idx3-ubyte" --labels "$t/sq-labels-idx1-ubyte"
grep -q "bits per dimension" "$t/out.txt" && ok || bad "eval labels: $(cat "$t/out.txt")"
refused "labels of a model without" 2 "not trained on class labels" - -- "$nflow" eval "$t/g.nfm" \
    --data "$t/sq-idx3-ubyte" --labels "$t/sq-labels-idx1-ubyte" && ok
run_ok "a grid of classes" "$nflow" sample "$t/c.nfm" --classes 1,0 --n 3 --out "$t/c.png"
run_ok "samples of classes" "$nflow" sample "$t/c.nfm" --classes 0-1 --n 2 --out "$t/c.csv"
[ "$(awk -F, '{printf "%s%s", (NR > 1 ? " " : ""), $NF}' "$t/c.csv")" = "0 0 1 1" ] && [ "$(head -1 "$t/c.csv" |
    awk -F, '{print NF}')" = 65 ] && ok || bad "class samples: $(cut -c 1-40 "$t/c.csv")"
refused "a class the model lacks" 2 "classes from 0 to 1" "$t/c2.csv" -- "$nflow" sample "$t/c.nfm" --classes 2 \
    --out "$t/c2.csv" && ok
refused "no classes" 2 "give --classes" "$t/c2.csv" -- "$nflow" sample "$t/c.nfm" --n 2 --out "$t/c2.csv" && ok
refused "labels one short" 1 "95 labels for the 96 rows" "$t/x.nfm" -- "$nflow" train --data "$t/sq-idx3-ubyte" \
    --labels "$t/short-labels" --out "$t/x.nfm" && ok
refused "validation rows without labels" 2 "need their labels too" "$t/x.nfm" -- "$nflow" train \
    --data "$t/sq-idx3-ubyte" --labels "$t/sq-labels-idx1-ubyte" --val "$t/sq-idx3-ubyte" --out "$t/x.nfm" && ok
# a folder of class subfolders of PNG files (torchvision's ImageFolder layout): images and labels
python3 - "$t/pngs" <<'PY' || bad "writing PNG files"
import os, struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
for i in range(24):
    folder = os.path.join(sys.argv[1], "ab"[i % 2])
    os.makedirs(folder, exist_ok=True)
    rows = b"".join(b"\0" + bytes((i * 7 + y * 8 + x + 100 * (i % 2)) % 256 for x in range(8)) for y in range(8))
    with open(os.path.join(folder, "%02d.png" % i), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
run_ok "a folder of class folders" "$nflow" train --data "$t/pngs" --labels "$t/pngs" --steps 2 --channels 8 \
    --epochs 1 --threads 1 --out "$t/p.nfm" --json
grep -q '"image_shape": \[8, 8, 1\]' "$t/out.txt" && grep -q '"label_classes": 2' "$t/out.txt" && ok ||
    bad "folder: $(cat "$t/out.txt")"
run_ok "eval a folder" "$nflow" eval "$t/p.nfm" --data "$t/pngs" --labels "$t/pngs"
grep -q "(n = 24)" "$t/out.txt" && ok || bad "eval folder: $(cat "$t/out.txt")"
run_ok "a flat folder" "$nflow" train --data "$t/pngs/a" --val "$t/pngs/b" --test "$t/pngs/b" --steps 2 \
    --channels 8 --epochs 1 --threads 1 --quiet --out "$t/pa.nfm"
refused "labels of a flat folder" nonzero "a subfolder per class" "$t/x.nfm" -- "$nflow" train \
    --data "$t/pngs/a" --labels "$t/pngs/a" --out "$t/x.nfm" && ok
"$nflow" toy banana --n 200 --seed 1 --out "$t/b.csv" >/dev/null || bad "toy"
run_ok "a model of columns" "$nflow" train --data "$t/b.csv" --model maf --epochs 1 --threads 1 --quiet \
    --out "$t/b.nfm"
refused "a grid of columns" 2 "image model" "$t/b.png" -- "$nflow" sample "$t/b.nfm" --n 4 --out "$t/b.png" && ok
refused "glow on columns" nonzero "image" "$t/x.nfm" -- "$nflow" train --data "$t/b.csv" --model glow \
    --out "$t/x.nfm" && ok
echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
