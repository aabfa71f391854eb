#!/bin/sh
# nflow fit through the command line: a short reverse-KL fit to u1 saves a
# model that loads and a PNG, reports a finite KL consistent with its
# split and with log Z of u1, repeats bit for bit; bad options are usage
# errors naming the option; an unwritable output fails before training.
suite=cli_fit
. "$(dirname "$0")/lib_cli.sh"
# expect_rc NAME CODE PATTERN OUTFILE -- command...: exits CODE, stderr
# matches PATTERN, OUTFILE (if not "-") does not exist, no training started
expect_rc() {
    refused "$@" || return
    if grep -q "^step" "$t/err.txt"; then bad "$1: training started"; return; fi
    ok
}
# json_num KEY: the number after "KEY": in out.txt
json_num() { sed -n "s/.*\"$1\": \(-\{0,1\}[0-9][0-9.eE+-]*\).*/\1/p" "$t/out.txt"; }

run_ok "fit help" "$nflow" fit --help
grep -q -- "--target" "$t/out.txt" && grep -q "0.5 ((|x1| - 4) / 0.1)^2" "$t/out.txt" && ok ||
    bad "fit --help lacks --target or the wall"
"$nflow" --help | grep -q "^  fit " && ok || bad "nflow --help does not list fit"

run_ok "fit u1" "$nflow" fit --target u1 --steps 300 --batch 256 --threads 1 --out "$t/m.nfm" --plot "$t/p.png" \
    --json --quiet
[ "$(wc -l <"$t/out.txt")" -eq 1 ] && ok || bad "--json printed $(wc -l <"$t/out.txt") lines"
grep -q '^{"target": "u1", "model": "iaf",.*"steps": 300,.*"seconds": [0-9.]*}$' "$t/out.txt" && ok ||
    bad "--json: $(cat "$t/out.txt")"
kl=$(json_num kl); ce=$(json_num cross_entropy); en=$(json_num entropy)
# finite; kl = cross-entropy - entropy; the true KL, kl + log Z (1.8775),
# is >= 0 up to noise and well below the untrained student's (~1.0)
awk -v k="$kl" -v c="$ce" -v e="$en" 'BEGIN { d = c - e - k; if (d < 0) d = -d;
    exit !(k != "" && k + 0 == k && d < 1e-5 && k + 1.8775 > -0.05 && k + 1.8775 < 0.8) }' && ok ||
    bad "kl '$kl', cross-entropy '$ce', entropy '$en'"
[ "$(head -c 4 "$t/p.png" | tail -c 3)" = PNG ] && ok || bad "--plot did not write a PNG"
run_ok "info" "$nflow" info "$t/m.nfm"
grep -q "model: iaf" "$t/out.txt" && ok || bad "info: $(cat "$t/out.txt")"
run_ok "fit again" "$nflow" fit --target u1 --steps 300 --batch 256 --threads 1 --out "$t/m2.nfm" --quiet
cmp -s "$t/m.nfm" "$t/m2.nfm" && ok || bad "same seed and threads, different model"

# progress lines (stderr) and the text summary (stdout)
run_ok "fit realnvp" "$nflow" fit --target u3 --model realnvp --layers 2 --hidden 8 --steps 20 --batch 64 \
    --progress-every 10 --threads 1 --out "$t/r.nfm"
[ "$(grep -c '^step .* KL .* cross-entropy .* entropy' "$t/err.txt")" -eq 2 ] && ok ||
    bad "progress lines: $(cat "$t/err.txt")"
grep -q "realnvp on u3" "$t/out.txt" && grep -q "saved" "$t/out.txt" && ok || bad "summary: $(cat "$t/out.txt")"

# usage errors: exit 2, the option named, nothing written
expect_rc "bad target" 2 "--target.*'u7'" "$t/o.nfm" -- "$nflow" fit --target u7 --out "$t/o.nfm"
expect_rc "no target" 2 "--target" "$t/o.nfm" -- "$nflow" fit --out "$t/o.nfm"
expect_rc "no out" 2 "--out" - -- "$nflow" fit --target u1
expect_rc "bad model" 2 "--model.*'glow'" "$t/o.nfm" -- "$nflow" fit --target u1 --model glow --out "$t/o.nfm"
expect_rc "bad steps" 2 "--steps" "$t/o.nfm" -- "$nflow" fit --target u1 --steps 0 --out "$t/o.nfm"
expect_rc "bad lr" 2 "--lr.*'x'" "$t/o.nfm" -- "$nflow" fit --target u1 --lr x --out "$t/o.nfm"
# an unwritable output fails at once (exit 1), before the 3000 default steps
expect_rc "unwritable out" 1 "nodir/o.nfm" - -- "$nflow" fit --target u1 --out "$t/nodir/o.nfm"
expect_rc "unwritable plot" 1 "nodir/p.png" "$t/o.nfm" -- "$nflow" fit --target u1 --out "$t/o.nfm" \
    --plot "$t/nodir/p.png"
ls "$t" | grep -q '\.tmp\.' && bad "temporary files left behind" || ok

echo "cli_fit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
