#!/bin/sh
# Command-line tests through the real binary: every subcommand, round
# trips, and bad input (clear message naming the file, non-zero exit, no
# output file created or overwritten).
suite=cli_basic
. "$(dirname "$0")/lib_cli.sh"

# expect_fail NAME PATTERN OUTFILE -- command...: exits non-zero, stderr
# matches PATTERN, OUTFILE (if not "-") does not exist afterwards.
expect_fail() {
    name=$1; pattern=$2; outfile=$3; shift 4
    refused "$name" nonzero "$pattern" "$outfile" -- "$@" && short_message "$name" && ok
}
# max relative difference between two CSV files of numbers
max_rel() {
    paste -d, "$1" "$2" | awk -F, '{ n = NF / 2; for (i = 1; i <= n; i++) { a = $i; b = $(i + n);
        d = a - b; if (d < 0) d = -d; s = (a < 0 ? -a : a); if (s < 1) s = 1; if (d / s > m) m = d / s } }
        END { printf "%.3g\n", m + 0 }'
}

run_ok "help" "$nflow" --help
run_ok "train help" "$nflow" train --help
grep -q -- "--hidden-layers" "$t/out.txt" && ok || bad "train --help lists no --hidden-layers"
for c in eval sample encode decode info toy plot; do run_ok "$c help" "$nflow" $c --help; done

run_ok "toy" "$nflow" toy two_moons --n 3000 --seed 3 --out "$t/moons.csv"
[ "$(wc -l <"$t/moons.csv")" -eq 3000 ] && ok || bad "toy wrote $(wc -l <"$t/moons.csv") lines"
run_ok "toy npy" "$nflow" toy rings --n 100 --out "$t/rings.npy"
run_ok "train" "$nflow" train --data "$t/moons.csv" --model realnvp --layers 4 --hidden 16 --epochs 3 \
    --out "$t/m.nfm" --json --seed 2
grep -q '"test_log_likelihood": -\?[0-9]' "$t/out.txt" && ok || bad "train --json: $(cat "$t/out.txt")"
# the resolved configuration: the options given, and the data-size choices (2,400 rows: batch 32, no dropout)
grep -q '"config": {"model": "realnvp", "layers": 4, "hidden": 16, "hidden_layers": 2, .*"seed": 2, "batch": 32, .*"dropout": 0, "epochs": 3,' \
    "$t/out.txt" && ok || bad "train --json config: $(cat "$t/out.txt")"
run_ok "train nice" "$nflow" train --data "$t/moons.csv" --model nice --layers 4 --hidden 16 --epochs 2 \
    --activation tanh --base logistic --out "$t/n.nfm" --quiet
run_ok "info" "$nflow" info "$t/m.nfm"
grep -q "affine_coupling" "$t/out.txt" && grep -q "parameters" "$t/out.txt" && ok || bad "info: $(cat "$t/out.txt")"
run_ok "eval" "$nflow" eval "$t/m.nfm" --data "$t/moons.csv" --json --out "$t/lp.csv"
grep -q '"mean_log_likelihood": -\?[0-9].*"two_stderr": [0-9].*"n": 3000' "$t/out.txt" && ok || bad "eval --json: $(cat "$t/out.txt")"
[ "$(wc -l <"$t/lp.csv")" -eq 3000 ] && ok || bad "eval --out rows"
run_ok "sample" "$nflow" sample "$t/m.nfm" --n 200 --seed 5 --out "$t/s.csv"
# a model of its data draws near it: no warning of samples far from the data
[ ! -s "$t/err.txt" ] && ok || bad "sample warned: $(cat "$t/err.txt")"
run_ok "sample again" "$nflow" sample "$t/m.nfm" --n 200 --seed 5 --out "$t/s2.csv"
cmp -s "$t/s.csv" "$t/s2.csv" && ok || bad "same seed, different samples"
run_ok "encode" "$nflow" encode "$t/m.nfm" --data "$t/moons.csv" --out "$t/z.npy"
run_ok "decode" "$nflow" decode "$t/m.nfm" --data "$t/z.npy" --out "$t/back.csv"
r=$(max_rel "$t/moons.csv" "$t/back.csv")
awk -v r="$r" 'BEGIN { exit !(r < 1e-4) }' && ok || bad "encode/decode relative error $r"
run_ok "plot" "$nflow" plot "$t/m.nfm" --data "$t/moons.csv" --out "$t/p.png" --n 500
[ -s "$t/p.png" ] && ok || bad "plot wrote nothing"
run_ok "train plot" "$nflow" train --data "$t/moons.csv" --layers 2 --hidden 8 --epochs 1 --out "$t/q.nfm" \
    --plot "$t/q.png" --quiet
[ -s "$t/q.png" ] && ok || bad "train --plot wrote nothing"
awk -F, '{ print $0 "," $1 * $2 }' "$t/moons.csv" > "$t/three.csv"
refused "train --plot of 3 columns, before training" 2 "only for 2-D data (this has 3 columns)" "$t/three.nfm" -- \
    "$nflow" train --data "$t/three.csv" --epochs 1 --out "$t/three.nfm" --plot "$t/three.png" && ok
"$nflow" train --data "$t/three.csv" --model maf --layers 1 --hidden 4 --epochs 1 --out "$t/three.nfm" --quiet \
    > /dev/null 2>&1 || bad "a 3-column model"
refused "plot of 3 columns" 1 "a model of 3 columns; pictures are for 2-D models" "$t/three.png" -- \
    "$nflow" plot "$t/three.nfm" --out "$t/three.png" && ok

run_ok "library example" "$build/fit_banana" 2
grep -q "banana: 2 epochs, test log-likelihood -[0-9.]* (true -1\.[0-9]*)" "$t/out.txt" && ok || bad "fit_banana: $(cat "$t/out.txt")"

# bad input
printf '1,2\n3,x\n5,6\n' >"$t/nonnum.csv"
expect_fail "non-numeric cell" "nonnum.csv.*line 2.*column 1" "$t/o.nfm" -- "$nflow" train --data "$t/nonnum.csv" --out "$t/o.nfm"
printf '1,2\n3,nan\n5,6\n7,8\n' >"$t/nan.csv"
expect_fail "NaN" "nan.csv.*line 2" "$t/o.nfm" -- "$nflow" train --data "$t/nan.csv" --out "$t/o.nfm"
printf '1,2\n3,inf\n5,6\n' >"$t/inf.csv"
expect_fail "Inf" "inf.csv.*line 2" "$t/lp2.csv" -- "$nflow" eval "$t/m.nfm" --data "$t/inf.csv" --out "$t/lp2.csv"
printf '1,2\n3,4,5\n' >"$t/ragged.csv"
expect_fail "ragged" "ragged.csv.*line 2" "$t/o.nfm" -- "$nflow" train --data "$t/ragged.csv" --out "$t/o.nfm"
expect_fail "missing data" "nothere.csv" "$t/o.nfm" -- "$nflow" train --data "$t/nothere.csv" --out "$t/o.nfm"
head -c 100 "$t/z.npy" >"$t/trunc.npy"
expect_fail "truncated npy" "trunc.npy" "$t/o.csv" -- "$nflow" decode "$t/m.nfm" --data "$t/trunc.npy" --out "$t/o.csv"
printf '1,2,3\n4,5,6\n' >"$t/three.csv"
expect_fail "wrong dimension" "three.csv.*3 columns.*expects 2" "$t/o.csv" -- "$nflow" eval "$t/m.nfm" --data "$t/three.csv" --out "$t/o.csv"
expect_fail "unknown option" "unknown option '--bogus'" "$t/o.nfm" -- "$nflow" train --data "$t/moons.csv" --out "$t/o.nfm" --bogus 3
expect_fail "bad number" "--lr.*'abc'" "$t/o.nfm" -- "$nflow" train --data "$t/moons.csv" --out "$t/o.nfm" --lr abc
expect_fail "unknown model" "--model.*'flowy'" "$t/o.nfm" -- "$nflow" train --data "$t/moons.csv" --out "$t/o.nfm" --model flowy
expect_fail "unknown command" "unknown command" - -- "$nflow" frobnicate
expect_fail "unknown toy" "two_moons" "$t/o.csv" -- "$nflow" toy nosuch --n 5 --out "$t/o.csv"
expect_fail "missing folder" "nodir/o.nfm" - -- "$nflow" train --data "$t/moons.csv" --out "$t/nodir/o.nfm"
head -c 300 "$t/m.nfm" >"$t/trunc.nfm"
expect_fail "truncated model" "trunc.nfm" "$t/o.csv" -- "$nflow" sample "$t/trunc.nfm" --n 5 --out "$t/o.csv"
cp "$t/m.nfm" "$t/flip.nfm"
printf '\377' | dd of="$t/flip.nfm" bs=1 seek=400 conv=notrunc 2>/dev/null
expect_fail "corrupted model" "flip.nfm" "$t/o.csv" -- "$nflow" sample "$t/flip.nfm" --n 5 --out "$t/o.csv"
expect_fail "not a model" "moons.csv" "$t/o.csv" -- "$nflow" info "$t/moons.csv"

# a failing command never overwrites a good file
cp "$t/s.csv" "$t/keep.csv"
expect_fail "keep good file" "three.csv" - -- "$nflow" encode "$t/m.nfm" --data "$t/three.csv" --out "$t/keep.csv"
cmp -s "$t/s.csv" "$t/keep.csv" && ok || bad "a failed encode changed its --out file"
cp "$t/m.nfm" "$t/keep.nfm"
expect_fail "keep good model" "nonnum.csv" - -- "$nflow" train --data "$t/nonnum.csv" --out "$t/keep.nfm"
cmp -s "$t/m.nfm" "$t/keep.nfm" && ok || bad "a failed train changed its --out model"
ls "$t" | grep -q '\.tmp\.' && bad "temporary files left behind" || ok

echo "cli_basic: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
