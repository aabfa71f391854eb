#!/bin/sh
# The autoregressive models through the command line: every --model trains,
# saves, describes itself, samples and evaluates; a sample's density from
# `nflow sample` (sequential direction) equals `nflow eval` of that sample
# (parallel direction); bad option values are usage errors.
suite=cli_autoregressive
. "$(dirname "$0")/lib_cli.sh"
# expect_usage NAME PATTERN -- command...: exit 2 and PATTERN in stderr
expect_usage() {
    name=$1; pattern=$2; shift 3
    refused "$name" 2 "$pattern" - -- "$@" && ok
}

run_ok "toy" "$nflow" toy banana --n 1500 --seed 4 --out "$t/b.csv"
for m in made made-mog maf maf-mog iaf; do
    run_ok "train $m" "$nflow" train --data "$t/b.csv" --model $m --layers 2 --hidden 16 --components 3 \
        --order reversed --degrees random --batch-norm --epochs 3 --threads 1 --quiet --out "$t/$m.nfm"
    run_ok "info $m" "$nflow" info "$t/$m.nfm"
    grep -q "model: $m," "$t/out.txt" && ok || bad "info $m: no 'model: $m' line"
    run_ok "sample $m" "$nflow" sample "$t/$m.nfm" --n 200 --seed 2 --threads 1 --out "$t/s_$m.csv" --log-prob "$t/lp_$m.csv"
    run_ok "eval $m" "$nflow" eval "$t/$m.nfm" --data "$t/s_$m.csv" --threads 1 --out "$t/ev_$m.csv"
    worst=$(paste -d, "$t/lp_$m.csv" "$t/ev_$m.csv" | awk -F, '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d }
        END { printf "%.6f\n", m + 0 }')
    awk -v w="$worst" 'BEGIN { exit !(w < 2e-3) }' && ok || bad "$m: sample log-density and eval differ by $worst"
done
run_ok "info maf" "$nflow" info "$t/maf.nfm"
grep -q "batch_norm" "$t/out.txt" && ok || bad "maf --batch-norm: no batch_norm layer in info"
grep -q "order=reversed" "$t/out.txt" && ok || bad "maf --order reversed: first MADE not reversed"

expect_usage "bad order" "--order" -- "$nflow" train --data "$t/b.csv" --model maf --order sideways --out "$t/x.nfm"
expect_usage "bad degrees" "--degrees" -- "$nflow" train --data "$t/b.csv" --model maf --degrees many --out "$t/x.nfm"
expect_usage "bad components" "--components" -- "$nflow" train --data "$t/b.csv" --model maf-mog --components 0 --out "$t/x.nfm"
expect_usage "bad model" "--model" -- "$nflow" train --data "$t/b.csv" --model maff --out "$t/x.nfm"
[ -e "$t/x.nfm" ] && bad "a usage error wrote a model" || ok

echo "cli_autoregressive: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
