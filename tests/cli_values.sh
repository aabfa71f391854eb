#!/bin/sh
# Bad option values and too little data (issue 14, items 7 and 9): a value
# out of range is a usage error naming the option (exit 2), never replaced
# by a default or ignored; data too small to split are refused with the
# reason; a result that does not exist is printed as null or n/a, never
# as nan, and one row has no standard error (not 0).
suite=cli_values
. "$(dirname "$0")/lib_cli.sh"

"$nflow" toy banana --n 300 --seed 1 --out "$t/d.csv" || bad "toy"
run_ok "train" "$nflow" train --data "$t/d.csv" --epochs 1 --threads 1 --quiet --out "$t/m.nfm"
for bad_value in "layers 0" "hidden 0" "max-time nan" "max-time -1" "tail-weight 1" "scale-bound nan" "bins 1" "bins 129" "tail-bound 0"; do
    set -- $bad_value
    refused "--$1 $2" 2 "--$1: $2 out of range" "$t/q.nfm" -- \
        "$nflow" train --data "$t/d.csv" --out "$t/q.nfm" --epochs 1 --"$1" "$2" && ok
done
# a spline model trains, and names its splines
run_ok "train nsf" "$nflow" train --data "$t/d.csv" --model nsf --bins 5 --tail-bound 2.5 --layers 2 --epochs 1 \
    --threads 1 --quiet --out "$t/s.nfm"
run_ok "info nsf" "$nflow" info "$t/s.nfm"
grep -q "nsf, 2 spline coupling layers of 5 bins on \[-2.5, 2.5\] (shifted and scaled per row)" "$t/out.txt" && ok || bad "info nsf: $(cat "$t/out.txt")"
run_ok "train nsf-ar" "$nflow" train --data "$t/d.csv" --model nsf-ar --bins 4 --layers 2 --epochs 1 --threads 1 \
    --quiet --out "$t/a.nfm"
run_ok "sample nsf-ar" "$nflow" sample "$t/a.nfm" --n 50 --out "$t/a.csv"
run_ok "info nsf-ar" "$nflow" info "$t/a.nfm"
grep -q "nsf-ar, 2 spline MAFs of 4 bins on \[-3, 3\] (shifted and scaled per row)" "$t/out.txt" && ok || bad "info nsf-ar: $(cat "$t/out.txt")"
refused "fit --hidden 0" 2 "--hidden: 0 out of range" "$t/f.nfm" -- "$nflow" fit --target u1 --hidden 0 --out "$t/f.nfm" && ok
refused "plot --lo nan" 2 "--lo: nan out of range" "$t/p.png" -- \
    "$nflow" plot "$t/m.nfm" --out "$t/p.png" --lo nan --hi 3 && ok
refused "plot --lo alone" 2 "go together" "$t/p.png" -- "$nflow" plot "$t/m.nfm" --out "$t/p.png" --lo 1 && ok

head -3 "$t/d.csv" >"$t/three.csv"
refused "3 rows" 1 "3 rows are too few to split" "$t/q.nfm" -- "$nflow" train --data "$t/three.csv" --out "$t/q.nfm" && ok
head -1 "$t/d.csv" >"$t/one.csv"
run_ok "eval one row --json" "$nflow" eval "$t/m.nfm" --data "$t/one.csv" --json
grep -q '"two_stderr": null' "$t/out.txt" && ok || bad "one row: $(cat "$t/out.txt")"
run_ok "eval one row" "$nflow" eval "$t/m.nfm" --data "$t/one.csv"
grep -q "no standard error" "$t/out.txt" && ! grep -qi nan "$t/out.txt" && ok || bad "one row: $(cat "$t/out.txt")"
run_ok "train, a one-row test" "$nflow" train --data "$t/d.csv" --val "$t/three.csv" --test "$t/one.csv" --epochs 1 \
    --threads 1 --quiet --out "$t/q.nfm"
grep -q "one row: no standard error" "$t/out.txt" && ! grep -qi nan "$t/out.txt" && ok || bad "train: $(cat "$t/out.txt")"

# --threads beyond any machine: refused with its range (issue 26, 3h), and
# OMP_NUM_THREADS so: bounded (1024), not a crash in the OpenMP runtime
refused "--threads 100000" 2 "--threads: 100000 out of range 1..1024" - -- \
    "$nflow" eval "$t/m.nfm" --data "$t/d.csv" --threads 100000 --json && ok
OMP_NUM_THREADS=100000 "$nflow" eval "$t/m.nfm" --data "$t/d.csv" --json >"$t/out.txt" 2>"$t/err.txt" && ok ||
    bad "OMP_NUM_THREADS=100000: $(cat "$t/err.txt")"
# training that never beats its start says so (and saves the start)
run_ok "no gain" "$nflow" train --data "$t/d.csv" --model maf-mog --epochs 3 --lr 0.1 --threads 1 --quiet --out "$t/nogain.nfm"
grep -q "no epoch validated above the untrained model (the Gaussian fit)" "$t/err.txt" && ok ||
    bad "no warning: $(cat "$t/err.txt")"

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
