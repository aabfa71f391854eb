#!/bin/sh
# Ctrl-C during training (issue 14, item 12): the first SIGINT stops after
# the current step, saves the best model so far and the checkpoint, and
# exits 130 saying so; the checkpoint resumes. A second SIGINT ends the
# process at once without writing the model.
suite=cli_interrupt
. "$(dirname "$0")/lib_cli.sh"

"$nflow" toy banana --n 150000 --seed 1 --out "$t/d.csv" || bad "toy"
# validation rows enough that scoring them after the first SIGINT lasts well
# past the 0.1 s before the second (the training rows' final figure is a
# sample of as many rows as validation has, no longer a pass over all)
"$nflow" toy banana --n 400000 --seed 2 --out "$t/v.npy" || bad "toy"
start() { # model checkpoint [options]
    m=$1 c=$2
    shift 2
    "$nflow" train --data "$t/d.csv" --threads 1 --quiet --epochs 1000 --out "$m" --checkpoint "$c" "$@" \
        >"$t/out.txt" 2>"$t/err.txt" &
    pid=$!
    sleep 1 # well into training (an epoch here takes about 1.5 s)
}

start "$t/m.nfm" "$t/m.nfc"
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 130 ] && ok || bad "first Ctrl-C: exit $rc, not 130 ($(cat "$t/err.txt"))"
grep -q "interrupted in epoch [0-9]*: saved the best model so far (epoch [0-9]*) to $t/m.nfm and the checkpoint to $t/m.nfc" \
    "$t/err.txt" && ok || bad "message: $(cat "$t/err.txt")"
run_ok "the saved model loads" "$nflow" info "$t/m.nfm"
run_ok "the checkpoint resumes" "$nflow" train --data "$t/d.csv" --threads 1 --quiet --epochs 1 --resume "$t/m.nfc" \
    --out "$t/r.nfm"

start "$t/m2.nfm" "$t/m2.nfc" --val "$t/v.npy"
kill -INT $pid
sleep 0.1 # the first stops training; the second comes while the result is evaluated
kill -INT $pid
wait $pid
rc=$?
[ $rc -ne 0 ] && [ ! -e "$t/m2.nfm" ] && ok || bad "second Ctrl-C: exit $rc, model $(ls "$t/m2.nfm" 2>&1)"

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
