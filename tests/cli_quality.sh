#!/bin/sh
# The defaults' safety from the command line: nflow train prints the sizes
# it chose for the data; integer-valued columns are warned about and
# --dequantize spreads them; eval reports the median and the rows below
# the Gaussian fit; a point far outside the data scores near the Gaussian
# (the tail floor), not orders of magnitude below it; --model gaussian.
suite=cli_quality
. "$(dirname "$0")/lib_cli.sh"
json_num() { sed -n "s/.*\"$1\": \(-\{0,1\}[0-9][0-9.eE+-]*\).*/\1/p" "$t/out.txt"; }

"$nflow" toy banana --n 1500 --seed 3 --out "$t/b.csv" || bad "toy"
# a third column of whole numbers 0..4
awk -F, '{ printf "%s,%s,%d\n", $1, $2, (NR * 7) % 5 }' "$t/b.csv" >"$t/int.csv"

run_ok "train with an integer column" "$nflow" train --data "$t/int.csv" --model maf-mog --epochs 2 --threads 1 --out "$t/i.nfm"
grep -q "warning: 1 of 3 columns hold only whole numbers (2)" "$t/err.txt" && ok || bad "no integer warning: $(cat "$t/err.txt")"
grep -q "chosen for 1200 rows x 3 columns" "$t/err.txt" && grep -q "batch 32, dropout 0," "$t/err.txt" && ok ||
    bad "the chosen sizes not printed: $(cat "$t/err.txt")"
# 8 columns below 5,000 rows: the defaults drop 0.2 of the hidden units
awk -F, 'BEGIN { srand(8) } { printf "%s,%s,%g,%g,%g,%g,%g,%g\n", $1, $2, $1 + rand(), $2 - rand(), $1 * rand(),
    rand(), $2 + rand() / 2, rand() - $1 }' "$t/b.csv" >"$t/w8.csv"
run_ok "train 8 columns" "$nflow" train --data "$t/w8.csv" --model maf-mog --epochs 1 --threads 1 --out "$t/w8.nfm"
grep -q "batch 32, dropout 0.2, .*chosen for 1200 rows x 8 columns" "$t/err.txt" && ok ||
    bad "no dropout for 8 columns: $(cat "$t/err.txt")"
run_ok "train 8 columns --dropout 0" "$nflow" train --data "$t/w8.csv" --model maf-mog --epochs 1 --threads 1 --dropout 0 \
    --out "$t/w8.nfm"
grep -q "batch 32, dropout 0, " "$t/err.txt" && ok || bad "--dropout 0 did not override: $(cat "$t/err.txt")"
run_ok "train --dequantize" "$nflow" train --data "$t/int.csv" --epochs 2 --threads 1 --dequantize --out "$t/d.nfm"
grep -q "dequantised 1 integer-valued column of 3" "$t/err.txt" && ! grep -q warning "$t/err.txt" && ok ||
    bad "--dequantize: $(cat "$t/err.txt")"

run_ok "train" "$nflow" train --data "$t/b.csv" --epochs 5 --threads 1 --out "$t/m.nfm" --quiet
run_ok "eval --json" "$nflow" eval "$t/m.nfm" --data "$t/b.csv" --json
median=$(json_num median_log_likelihood); below=$(json_num below_gaussian)
[ -n "$median" ] && [ -n "$below" ] && [ "$below" -lt 1500 ] && ok || bad "eval --json: $(cat "$t/out.txt")"
run_ok "eval text" "$nflow" eval "$t/m.nfm" --data "$t/b.csv"
grep -q "median" "$t/out.txt" && grep -q "rows below the model's Gaussian fit: [0-9]* of 1500" "$t/out.txt" && ok ||
    bad "eval text: $(cat "$t/out.txt")"

# far out: 60 and 200 standard deviations (banana's x1 ~ N(0, 1))
printf '60,0\n-200,5\n' >"$t/far.csv"
run_ok "gaussian" "$nflow" train --data "$t/b.csv" --model gaussian --threads 1 --out "$t/g.nfm" --quiet
run_ok "eval far, model" "$nflow" eval "$t/m.nfm" --data "$t/far.csv" --out "$t/far_m.csv"
run_ok "eval far, gaussian" "$nflow" eval "$t/g.nfm" --data "$t/far.csv" --out "$t/far_g.csv"
# the model >= the Gaussian + log(1e-3) - 0.5 (its fit is of its own split)
paste -d, "$t/far_m.csv" "$t/far_g.csv" | awk -F, '{ if ($1 < $2 - 6.91 - 0.5 || $1 > 0) bad = 1 } END { exit bad }' &&
    ok || bad "far-out rows: model $(tr '\n' ' ' <"$t/far_m.csv") gaussian $(tr '\n' ' ' <"$t/far_g.csv")"

# --actnorm: a layer after every MADE, initialised by the first batch, saved
run_ok "train --actnorm" "$nflow" train --data "$t/b.csv" --model maf --actnorm --epochs 2 --threads 1 --out "$t/a.nfm" --quiet
run_ok "info" "$nflow" info "$t/a.nfm"
[ "$(grep -c "actnorm (initialised from data)" "$t/out.txt")" -eq 5 ] && ok || bad "info --actnorm: $(cat "$t/out.txt")"
run_ok "eval actnorm" "$nflow" eval "$t/a.nfm" --data "$t/b.csv" --json
m=$(json_num mean_log_likelihood)
awk -v m="$m" 'BEGIN { exit !(m > -4 && m < 0) }' && ok || bad "actnorm model: $(cat "$t/out.txt")"

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
