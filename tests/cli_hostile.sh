#!/bin/sh
# What hostile input found (issue 26, part 3): huge finite values keep the
# documented floor and are never printed as nan; limits agree between the
# tool and the model-file reader; every command checks an option's range the
# same way (exit 2, naming the option and its range); messages count columns
# from 0, as the options do.
suite=cli_hostile
. "$(dirname "$0")/lib_cli.sh"

# a. Rows far out: 3e38 over a std of 0.01 overflows float in the
# standardisation. Every model's log-density stays at or above its floor,
# the Gaussian fit's log-density + log(1e-3) (the gaussian model is that fit:
# the same split, the same seed), and nothing prints nan or 77 digits.
"$nflow" toy banana --n 400 --seed 3 --out "$t/b.csv" || bad "toy"
awk -F, '{printf "%.6g,%.6g\n", $1 * 0.01, $2 * 0.01}' "$t/b.csv" >"$t/small.csv"
printf '1e35,1e35\n3e38,-3e38\n0.001,0.002\n' >"$t/far.csv"
for m in gaussian nice realnvp nsf made made-mog maf maf-mog iaf nsf-ar; do
    run_ok "train $m" "$nflow" train --data "$t/small.csv" --model $m --epochs 1 --layers 2 --hidden 8 --threads 1 \
        --quiet --out "$t/$m.nfm"
    run_ok "eval $m far rows" "$nflow" eval "$t/$m.nfm" --data "$t/far.csv" --out "$t/lp_$m.csv"
    if grep -qi nan "$t/out.txt" "$t/err.txt" "$t/lp_$m.csv" || grep -qi inf "$t/lp_$m.csv"; then
        bad "eval $m: not finite: $(cat "$t/out.txt" "$t/lp_$m.csv")"
    else ok; fi
    grep -qE '[0-9]{12}' "$t/out.txt" && bad "eval $m: unreadable numbers: $(cat "$t/out.txt")" || ok
    if [ $m != gaussian ]; then
        paste -d, "$t/lp_$m.csv" "$t/lp_gaussian.csv" | awk -F, -v m=$m '
            { floor = $2 - 6.9078 - 1e-9 * ($2 < 0 ? -$2 : $2); if (!($1 >= floor)) { print m ": row " NR - 1 ": " $1 " below the floor " floor; bad = 1 } }
            END { exit bad }' >"$t/floor.txt" && ok || bad "$(cat "$t/floor.txt")"
    fi
    # encode: a code the model cannot represent is refused, never written as inf or nan
    "$nflow" encode "$t/$m.nfm" --data "$t/far.csv" --out "$t/z_$m.csv" >"$t/out.txt" 2>"$t/err.txt"; rc=$?
    if [ $rc -eq 0 ]; then
        grep -qiE 'nan|inf' "$t/z_$m.csv" && bad "encode $m wrote $(cat "$t/z_$m.csv")" || ok
    else
        [ $rc -eq 1 ] && grep -q "1 of 3 rows have no finite code (row 1, counting from 0, is the first)" "$t/err.txt" &&
            [ ! -e "$t/z_$m.csv" ] && ok || bad "encode $m: exit $rc: $(cat "$t/err.txt")"
    fi
done
refused "encode maf far rows" 1 "no finite code" "$t/z.csv" -- "$nflow" encode "$t/maf.nfm" --data "$t/far.csv" --out "$t/z.csv" && ok
# no Gaussian floor: the row beyond the model's arithmetic is -inf, counted and warned about
run_ok "train maf --no-whiten" "$nflow" train --data "$t/small.csv" --model maf --no-whiten --epochs 1 --layers 2 \
    --hidden 8 --threads 1 --quiet --out "$t/nw.nfm"
run_ok "eval --no-whiten far rows" "$nflow" eval "$t/nw.nfm" --data "$t/far.csv" --out "$t/lp.csv"
grep -q "warning: 1 of 3 rows have log-density -inf (row 1, counting from 0, is the first)" "$t/err.txt" && ok ||
    bad "no warning: $(cat "$t/err.txt")"
grep -q "^mean log-likelihood: -inf nats (n = 3; 1 at -inf), median -[0-9.]*e+[0-9]*$" "$t/out.txt" && ok ||
    bad "summary: $(cat "$t/out.txt")"
[ "$(sed -n 2p "$t/lp.csv")" = -inf ] && ! grep -qi nan "$t/lp.csv" && ok || bad "lp: $(cat "$t/lp.csv")"

# b. The largest --tail-bound the tool takes gives a model the reader takes
# (it once wrote one that "coupling sizes out of range" refused), and one
# beyond it is refused with the same limit.
run_ok "train --tail-bound 1e6" "$nflow" train --data "$t/b.csv" --model nsf --tail-bound 1e6 --layers 2 --hidden 8 \
    --epochs 1 --threads 1 --quiet --out "$t/tb.nfm"
run_ok "info --tail-bound 1e6" "$nflow" info "$t/tb.nfm"
run_ok "eval --tail-bound 1e6" "$nflow" eval "$t/tb.nfm" --data "$t/b.csv"
refused "--tail-bound 1.5e6" 2 "--tail-bound: 1500000 out of range (0, 1000000\]" "$t/q.nfm" -- \
    "$nflow" train --data "$t/b.csv" --model nsf --tail-bound 1.5e6 --out "$t/q.nfm" && ok

# f. A whole number too large for the option: said so, with the limit.
refused "sample --n 3e9" 2 "--n: 3000000000 is too large (the limit is 2147483647)" "$t/s.csv" -- \
    "$nflow" sample "$t/maf.nfm" --n 3000000000 --out "$t/s.csv" && ok
refused "train --layers 1e11" 2 "--layers: 99999999999 is too large (the limit is 1000)" "$t/q.nfm" -- \
    "$nflow" train --data "$t/b.csv" --layers 99999999999 --out "$t/q.nfm" && ok
refused "sample --n 2.5" 2 "--n: '2.5' is not a valid integer" "$t/s.csv" -- \
    "$nflow" sample "$t/maf.nfm" --n 2.5 --out "$t/s.csv" && ok

# h. One rule for every command: a value out of range is a usage error (exit
# 2) naming the option and its range, the same range wherever the option is.
m="$t/maf.nfm"
# check_option NAME VALUE RANGE [COMMANDS]: every command (of COMMANDS) that takes --NAME refuses VALUE
check_option() {
    opt=$1; val=$2; rng=$3 # (refused sets $name)
    for cmd in ${4:-train distill fit eval sample encode decode plot}; do
        case $cmd in
        train) set -- train --data "$t/b.csv" --out "$t/q.nfm" ;;
        distill) set -- distill --teacher "$m" --out "$t/q.nfm" ;;
        fit) set -- fit --target u1 --out "$t/q.nfm" ;;
        eval) set -- eval "$m" --data "$t/b.csv" ;;
        sample) set -- sample "$m" --n 5 --out "$t/q.csv" ;;
        encode | decode) set -- $cmd "$m" --data "$t/b.csv" --out "$t/q.csv" ;;
        plot) set -- plot "$m" --out "$t/q.png" ;;
        esac
        "$nflow" $cmd --help | grep -q -- "^  --$opt " || continue
        refused "$cmd --$opt $val" 2 "^nflow $cmd: --$opt: $val out of range $rng\$" - -- \
            "$nflow" "$@" --"$opt" "$val" && ok
        for f in q.nfm q.csv q.png; do [ ! -e "$t/$f" ] || bad "$cmd --$opt $val wrote $f"; done
    done
}
check_option threads 0 "1..1024"
check_option threads -1 "1..1024"
check_option lr 0 "(0, 10)"
check_option clip -1 "\[0, inf)"
check_option hidden 0 "1..65536"
check_option hidden-layers 17 "0..16"
check_option layers 1001 "1..1000"
check_option batch 1 "2..1048576"
check_option steps 0 "1..2147483647" "distill fit" # reverse-KL steps
check_option steps 0 "1..1000" train                # an image model's steps per level, as --layers
# every computing command takes --threads
for cmd in eval sample encode decode plot train distill fit; do
    "$nflow" $cmd --help | grep -q -- "^  --threads N " && ok || bad "$cmd --help has no --threads"
done
run_ok "encode --threads 1" "$nflow" encode "$m" --data "$t/b.csv" --out "$t/z.csv" --threads 1
run_ok "decode --threads 2" "$nflow" decode "$m" --data "$t/z.csv" --out "$t/x.csv" --threads 2
run_ok "plot --threads 1" "$nflow" plot "$m" --out "$t/p.png" --threads 1 --n 0

# i. Columns are counted from 0 in messages as in options, naming the data
# file's column when --columns picks some ("column 2 is constant" was said
# of --columns 1).
awk -F, '{ printf "%s,5,%s,%d,7\n", $1, $2, (NR * 7) % 5 }' "$t/b.csv" >"$t/cols.csv"
refused "constant column, --columns 1,2" 1 "cols.csv: column 1 is constant (5)" "$t/q.nfm" -- \
    "$nflow" train --data "$t/cols.csv" --columns 1,2 --epochs 1 --out "$t/q.nfm" && ok
refused "constant column, --columns 0,2-4" 1 "cols.csv: column 4 is constant (7)" "$t/q.nfm" -- \
    "$nflow" train --data "$t/cols.csv" --columns 0,2-4 --epochs 1 --out "$t/q.nfm" && ok
refused "constant x column, conditional" 1 "cols.csv: column 1 is constant (5)" "$t/q.nfm" -- \
    "$nflow" train --data "$t/cols.csv" --columns 2,1,0 --context-columns 0 --epochs 1 --out "$t/q.nfm" && ok
run_ok "integer column, --columns 3,0,2" "$nflow" train --data "$t/cols.csv" --columns 3,0,2 --epochs 1 --layers 1 \
    --hidden 8 --threads 1 --quiet --out "$t/q.nfm"
grep -q "1 of 3 columns hold only whole numbers (3)" "$t/err.txt" && ok || bad "integer column: $(cat "$t/err.txt")"
printf '1,2,3\n4,5,x\n' >"$t/cell.csv"
refused "bad cell" 1 "cell.csv: line 2, column 2: not a number: 'x'" - -- "$nflow" eval "$m" --data "$t/cell.csv" && ok

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
