#!/bin/sh
# Bounded columns through the command line (issue 26, part 2): `train
# --bounds` learns known densities on an interval and half-lines (a Beta
# and a Gamma-like conditional chain, a mirrored half-line) to within 0.05
# nats of their truth on the original support; a million samples all
# strictly inside; rows outside scored -inf, counted and warned about by
# eval, refused by encode and by training; the bounds kept in the model
# file and shown by info; conditional models; bad specs refused.
suite=cli_bounds
. "$(dirname "$0")/lib_cli.sh"
OMP_NUM_THREADS=1; export OMP_NUM_THREADS
expect_usage() {
    name=$1; pattern=$2; outfile=$3; shift 4
    refused "$name" 2 "$pattern" "$outfile" -- "$@" && short_message "$name" && ok
}
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
json_field() { sed -n "s/.*\"$2\": \\([-0-9.e+]*\\).*/\\1/p" "$1"; }
# close NAME A B TOL: |A - B| < TOL
close() {
    below "$(awk -v a="$2" -v b="$3" 'BEGIN { d = a - b; print d < 0 ? -d : d }')" "$4" && ok ||
        bad "$1: $2 against $3 (tolerance $4)"
}
train() { "$nflow" train --threads 1 --seed 3 --quiet "$@"; }

# x0 ~ Beta(2, 5) (the 2nd smallest of 6 uniforms), x1 | x0 ~ Gamma(3, scale
# 1 + x0) (a sum of 3 exponentials); column 3: the true log-density
chain() { # chain SEED ROWS
    awk -v s="$1" -v n="$2" 'BEGIN { srand(s); for (r = 0; r < n; r++) {
        a = rand(); b = rand(); if (b < a) { u = a; a = b; b = u }
        for (i = 0; i < 4; i++) { u = rand(); if (u < a) { b = a; a = u } else if (u < b) b = u }
        x = b; s1 = 1 + x; g = -s1 * (log(1 - rand()) + log(1 - rand()) + log(1 - rand()))
        lp = log(30) + log(x) + 4 * log(1 - x) - log(2) + 2 * log(g) - g / s1 - 3 * log(s1)
        printf "%.9g,%.9g,%.9g\n", x, g, lp } }'
}
chain 1 6000 | cut -d, -f1,2 >"$t/d.csv"
chain 2 3000 >"$t/truth.csv"
cut -d, -f1,2 "$t/truth.csv" >"$t/te.csv"
truth=$(awk -F, '{ s += $3 } END { printf "%.6f", s / NR }' "$t/truth.csv")

run_ok "train chain" train --data "$t/d.csv" --bounds 0=0:1,1=0: --model maf --layers 3 --hidden 32 --epochs 20 \
    --out "$t/m.nfm"
run_ok "eval chain" "$nflow" eval "$t/m.nfm" --data "$t/te.csv" --json
close "chain: test mean log-likelihood against the true log-density" "$(json_field "$t/out.txt" mean_log_likelihood)" \
    "$truth" 0.05
[ "$(json_field "$t/out.txt" outside_bounds)" = 0 ] && ok || bad "eval --json: outside_bounds 0 expected: $(cat "$t/out.txt")"

# a mirrored half-line: x = 5 - y, y ~ Gamma(2, 1): log p = log y - y
awk 'BEGIN { srand(4); for (i = 0; i < 6000; i++) { y = -log(1 - rand()) - log(1 - rand());
    printf "%.9g,%.9g\n", 5 - y, log(y) - y } }' >"$t/h_all.csv"
head -n 4000 "$t/h_all.csv" | cut -d, -f1 >"$t/h.csv"
tail -n 2000 "$t/h_all.csv" | cut -d, -f1 >"$t/h_te.csv"
h_truth=$(tail -n 2000 "$t/h_all.csv" | awk -F, '{ s += $2 } END { printf "%.6f", s / NR }')
run_ok "train (-inf, 5]" train --data "$t/h.csv" --bounds 0=:5 --model maf --layers 2 --hidden 16 --epochs 20 \
    --out "$t/h.nfm"
run_ok "eval (-inf, 5]" "$nflow" eval "$t/h.nfm" --data "$t/h_te.csv" --json
close "(-inf, 5]: test mean log-likelihood against the true log-density" \
    "$(json_field "$t/out.txt" mean_log_likelihood)" "$h_truth" 0.05

# a million samples, every one strictly inside
run_ok "sample 10^6" "$nflow" sample "$t/m.nfm" --n 1000000 --out "$t/s.csv"
n_out=$(awk -F, '!($1 > 0 && $1 < 1 && $2 > 0 && $2 < 3.5e38) { n++ } END { print n + 0 " of " NR }' "$t/s.csv")
[ "$n_out" = "0 of 1000000" ] && ok || bad "samples outside (0, 1) x (0, inf): $n_out"
run_ok "sample (-inf, 5]" "$nflow" sample "$t/h.nfm" --n 100000 --out "$t/hs.csv"
n_out=$(awk '!($1 < 5 && $1 > -3.5e38) { n++ } END { print n + 0 }' "$t/hs.csv")
[ "$n_out" = 0 ] && ok || bad "$n_out samples outside (-inf, 5)"
# decode never leaves the support either, even from latent values far out
printf '1e30,1e30\n-1e30,-1e30\n40,-40\n0,0\n' >"$t/z.csv"
run_ok "decode far" "$nflow" decode "$t/m.nfm" --data "$t/z.csv" --out "$t/zx.csv"
n_out=$(awk -F, '!($1 > 0 && $1 < 1 && $2 > 0 && $2 < 3.5e38) { n++ } END { print n + 0 }' "$t/zx.csv")
[ "$n_out" = 0 ] && ok || bad "decode: $n_out rows outside: $(cat "$t/zx.csv")"

# rows outside (and on a bound): -inf, counted, a warning; never a crash or a nan
printf '0.3,1\n1.5,2\n0.2,-1\n0,3\n0.3,2\n' >"$t/out.csv"
run_ok "eval outside" "$nflow" eval "$t/m.nfm" --data "$t/out.csv" --out "$t/lp.csv"
grep -q "rows outside the model's bounds: 3 of 5" "$t/out.txt" && ok || bad "eval: no count of rows outside: $(cat "$t/out.txt")"
grep -q "warning: 3 of 5 rows lie on or outside the model's bounds (the first: row 1 (0-based), column 0 = 1.5" \
    "$t/err.txt" && ok || bad "eval: no warning naming the first row outside: $(cat "$t/err.txt")"
grep -qi nan "$t/out.txt" "$t/lp.csv" && bad "eval: nan in $(cat "$t/out.txt" "$t/lp.csv")" || ok
[ "$(sed -n 2,4p "$t/lp.csv" | tr '\n' ' ')" = "-inf -inf -inf " ] && ok || bad "eval --out: $(cat "$t/lp.csv")"
run_ok "eval outside --json" "$nflow" eval "$t/m.nfm" --data "$t/out.csv" --json
[ "$(json_field "$t/out.txt" outside_bounds)" = 3 ] && grep -q '"mean_log_likelihood": null' "$t/out.txt" && ok ||
    bad "eval --json: $(cat "$t/out.txt")"
refused "encode outside" 1 "row 1 (0-based), column 0: 1.5 is not strictly inside" "$t/zo.csv" -- \
    "$nflow" encode "$t/m.nfm" --data "$t/out.csv" --out "$t/zo.csv" && short_message "encode outside" && ok

# a distilled student takes the teacher's bounds (and its standardisation of the mapped columns)
run_ok "distill" "$nflow" distill --teacher "$t/m.nfm" --out "$t/st.nfm" --steps 60 --layers 2 --hidden 16 --quiet
"$nflow" info "$t/st.nfm" | grep -q "column 0 in (0, 1) by logit, column 1 in (0, inf) by log" && ok ||
    bad "distill: the student lacks the teacher's bounds"
run_ok "sample student" "$nflow" sample "$t/st.nfm" --n 20000 --out "$t/sts.csv"
n_out=$(awk -F, '!($1 > 0 && $1 < 1 && $2 > 0 && $2 < 3.5e38) { n++ } END { print n + 0 }' "$t/sts.csv")
[ "$n_out" = 0 ] && ok || bad "$n_out student samples outside"

# the model file keeps the bounds; info shows them
run_ok "info" "$nflow" info "$t/m.nfm"
grep -q "bounds to the real line: column 0 in (0, 1) by logit, column 1 in (0, inf) by log" "$t/out.txt" && ok ||
    bad "info: no bounds: $(cat "$t/out.txt")"
run_ok "encode" "$nflow" encode "$t/m.nfm" --data "$t/te.csv" --out "$t/code.csv"
run_ok "decode" "$nflow" decode "$t/m.nfm" --data "$t/code.csv" --out "$t/back.csv"
d=$(paste -d, "$t/te.csv" "$t/back.csv" | awk -F, '{ for (i = 1; i <= 2; i++) { d = ($i - $(i + 2)) / (1e-3 + ($i < 0 ? -$i : $i));
    if (d < 0) d = -d; if (d > m) m = d } } END { printf "%.9f", m + 0 }')
below "$d" 1e-4 && ok || bad "decode(encode(x)) differs from x by $d (relative)"

# a conditional model: bounds on x, the context column named in the data's numbering
awk 'BEGIN { srand(7); for (i = 0; i < 3000; i++) { c = rand(); r = sqrt(-2 * log(1 - rand())) * cos(6.2831853 * rand());
    printf "%.6f,%.9g\n", c, 1 / (1 + exp(-(3 * c - 1.5 + 0.5 * r))) } }' >"$t/c.csv"
run_ok "train conditional" train --data "$t/c.csv" --context-columns 0 --bounds 1=0:1 --model maf --layers 2 \
    --hidden 16 --epochs 5 --out "$t/c.nfm"
printf '0.1\n0.9\n' >"$t/ctx.csv"
run_ok "sample conditional" "$nflow" sample "$t/c.nfm" --context "$t/ctx.csv" --n 20000 --out "$t/cs.csv"
n_out=$(awk -F, '!($2 > 0 && $2 < 1) { n++ } END { print n + 0 }' "$t/cs.csv")
[ "$n_out" = 0 ] && ok || bad "conditional samples outside (0, 1): $n_out"
expect_usage "bound on a context column" "column 0 is a context column" "$t/x.nfm" -- \
    train --data "$t/c.csv" --context-columns 0 --bounds 0-1=0:1 --epochs 1 --out "$t/x.nfm"

# refusals: the spec, the columns, the data
expect_usage "lo above hi" "'0=1:0': the lower bound 1 is not below the upper bound 0" "$t/x.nfm" -- \
    train --data "$t/d.csv" --bounds 0=1:0 --epochs 1 --out "$t/x.nfm"
expect_usage "past the last column" "'9=...': .*column 9 is out of range: the file has 2 columns (0-1)" "$t/x.nfm" -- \
    train --data "$t/d.csv" --bounds 9=0:1 --epochs 1 --out "$t/x.nfm"
expect_usage "no =" "the last item has no '=LO:HI'" "$t/x.nfm" -- \
    train --data "$t/d.csv" --bounds x --epochs 1 --out "$t/x.nfm"
expect_usage "not a number" "bound 'a' is not a number" "$t/x.nfm" -- \
    train --data "$t/d.csv" --bounds 0=a:1 --epochs 1 --out "$t/x.nfm"
expect_usage "both open" "no bound on either side" "$t/x.nfm" -- \
    train --data "$t/d.csv" --bounds 0=: --epochs 1 --out "$t/x.nfm"
expect_usage "infinite" "not a finite number" "$t/x.nfm" -- \
    train --data "$t/d.csv" --bounds 0=0:inf --epochs 1 --out "$t/x.nfm"
expect_usage "twice" "column 0 is bounded twice" "$t/x.nfm" -- \
    train --data "$t/d.csv" --bounds 0=0:1,0-1=0: --epochs 1 --out "$t/x.nfm"
expect_usage "no colon" "the bounds are LO:HI" "$t/x.nfm" -- \
    train --data "$t/d.csv" --bounds 0=1 --epochs 1 --out "$t/x.nfm"
# a list with commas of its own: 0,1=0: bounds both columns
run_ok "column list with commas" train --data "$t/d.csv" --bounds 0,1=0: --model gaussian --out "$t/g.nfm"
"$nflow" info "$t/g.nfm" | grep -q "column 0 in (0, inf) by log, column 1 in (0, inf) by log" && ok ||
    bad "--bounds 0,1=0: did not bound both columns"
# a training row on its bound (line 5 is data row 4) or outside it
awk 'NR == 5 { print "1," $0 ; next } { print "0.5," $0 }' "$t/h.csv" >"$t/edge.csv"
refused "row on a bound" 1 "edge.csv: row 4 (0-based, a header not counted), column 0: 1 is not strictly inside its bounds (0, 1)" \
    "$t/x.nfm" -- train --data "$t/edge.csv" --bounds 0=0:1 --epochs 1 --out "$t/x.nfm" && short_message "row on a bound" && ok
printf '0.5,1\n' >"$t/v1.csv"
printf '0.5,-1\n' >"$t/v2.csv"
refused "validation row outside" 1 "v2.csv: row 0 (0-based, a header not counted), column 1: -1 is not strictly inside" \
    "$t/x.nfm" -- train --data "$t/d.csv" --val "$t/v2.csv" --test "$t/v1.csv" --bounds 0=0:1,1=0: --epochs 1 \
    --out "$t/x.nfm" && ok
expect_usage "with --resume" "--bounds cannot be used with --resume" "$t/x.nfm" -- \
    train --data "$t/d.csv" --resume "$t/m.nfm" --bounds 0=0:1 --out "$t/x.nfm"

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
