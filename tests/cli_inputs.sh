#!/bin/sh
# What an input may be (issue 14, items 6 and 11): a device such as
# /dev/zero is refused at once, never read until memory runs out; a pipe
# of NUL bytes is refused as a binary file; a .npy file is read as .npy
# whatever its name (its magic bytes decide).
suite=cli_inputs
. "$(dirname "$0")/lib_cli.sh"

"$nflow" toy banana --n 300 --seed 1 --out "$t/d.csv" || bad "toy"
run_ok "train" "$nflow" train --data "$t/d.csv" --epochs 1 --threads 1 --quiet --out "$t/m.nfm"
refused "info /dev/zero" 1 "not a model file" - -- timeout 20 "$nflow" info /dev/zero && ok
refused "eval --data /dev/zero" 1 "not a data file" - -- timeout 20 "$nflow" eval "$t/m.nfm" --data /dev/zero && ok
refused "a folder without images as data" 1 "no PNG files in the folder" - -- "$nflow" eval "$t/m.nfm" --data "$t" && ok
mkfifo "$t/zeros.csv"
head -c 1000000 /dev/zero >"$t/zeros.csv" &
refused "NUL bytes through a pipe" 1 "NUL byte: a binary file" - -- timeout 20 "$nflow" eval "$t/m.nfm" --data "$t/zeros.csv" && ok
wait
mkfifo "$t/rows.csv"
cat "$t/d.csv" >"$t/rows.csv" &
run_ok "CSV through a pipe" "$nflow" eval "$t/m.nfm" --data "$t/rows.csv" --json
wait
grep -q '"n": 300' "$t/out.txt" && ok || bad "pipe: $(cat "$t/out.txt")"
run_ok "sample .npy" "$nflow" sample "$t/m.nfm" --n 40 --out "$t/s.npy"
cp "$t/s.npy" "$t/misnamed.csv"
run_ok "an .npy named .csv" "$nflow" eval "$t/m.nfm" --data "$t/misnamed.csv" --json
grep -q '"n": 40' "$t/out.txt" && ok || bad "misnamed .npy: $(cat "$t/out.txt")"

# IDX, MNIST's format, gzipped: 40 images of 1 x 2 pixels (uint8), read as 40 rows of 2 values
{ printf '\0\0\10\3\0\0\0\50\0\0\0\1\0\0\0\2'; i=0; while [ $i -lt 40 ]; do
    printf "\\$(printf %o $((i * 3 % 200 + 20)))\\$(printf %o $((i * 7 % 150 + 40)))"; i=$((i + 1)); done; } |
    gzip -c >"$t/px-idx3-ubyte.gz"
run_ok "IDX, gzipped" "$nflow" eval "$t/m.nfm" --data "$t/px-idx3-ubyte.gz" --json
grep -q '"n": 40' "$t/out.txt" && ok || bad "IDX: $(cat "$t/out.txt")"
# images: a model of them tells bits per dimension (train, eval, info)
run_ok "train on images" "$nflow" train --data "$t/px-idx3-ubyte.gz" --model gaussian --out "$t/img.nfm" --json
grep -q '"test_bits_per_dim": [0-9]' "$t/out.txt" && ok || bad "train on images: $(cat "$t/out.txt")"
run_ok "eval images" "$nflow" eval "$t/img.nfm" --data "$t/px-idx3-ubyte.gz" --json
grep -q '"bits_per_dim": [0-9.]*, "bits_per_dim_two_stderr": [0-9]' "$t/out.txt" && ok || bad "eval: $(cat "$t/out.txt")"
run_ok "eval images, text" "$nflow" eval "$t/img.nfm" --data "$t/px-idx3-ubyte.gz"
grep -q "bits per dimension: [0-9.]* +- [0-9.]* (8-bit images of 1 x 2 x 1)" "$t/out.txt" && ok || bad "eval: $(cat "$t/out.txt")"
run_ok "info images" "$nflow" info "$t/img.nfm"
grep -q "images: 1 x 2 x 1 of 8-bit values" "$t/out.txt" && ok || bad "info: $(cat "$t/out.txt")"
head -c 30 "$t/px-idx3-ubyte.gz" >"$t/cut-idx3-ubyte.gz"
refused "a cut IDX file" 1 "cut-idx3-ubyte.gz" - -- "$nflow" eval "$t/m.nfm" --data "$t/cut-idx3-ubyte.gz" && ok

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
