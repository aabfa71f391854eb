#!/bin/sh
# Checkpoints through the real binary: a run stopped early, or killed at a
# random moment, and resumed with --resume ends with the same model file as
# the uninterrupted run; mismatched options and data are refused clearly.
suite=cli_checkpoint
. "$(dirname "$0")/lib_cli.sh"

# expect_fail NAME CODE PATTERN -- command...: exits with CODE, stderr
# matches PATTERN, a short message.
expect_fail() {
    name=$1; code=$2; pattern=$3; shift 4
    refused "$name" "$code" "$pattern" - -- "$@" && short_message "$name" && ok
}

run_ok "toy" "$nflow" toy two_moons --n 2000 --seed 3 --out "$t/d.csv"
run_ok "other toy" "$nflow" toy two_moons --n 2000 --seed 4 --out "$t/other.csv"
# 1600 training rows in batches of 64: 25 steps per epoch
train() { "$nflow" train --data "$t/d.csv" --layers 2 --hidden 8 --batch 64 --lr 0.01 --seed 2 --threads 1 --quiet "$@"; }

run_ok "reference" train --epochs 4 --out "$t/ref.nfm"
run_ok "reference 12" train --epochs 12 --out "$t/ref12.nfm"
run_ok "with checkpoints" train --epochs 4 --out "$t/ck.nfm" --checkpoint "$t/every.nfc" --checkpoint-every 0
same "checkpoints change nothing" "$t/ref.nfm" "$t/ck.nfm"

# stopped after 2 epochs, resumed to 4 (the saved options, seed included)
run_ok "first half" train --epochs 2 --out "$t/half.nfm" --checkpoint "$t/a.nfc"
run_ok "resume" "$nflow" train --data "$t/d.csv" --threads 1 --epochs 4 --resume "$t/a.nfc" --out "$t/res.nfm" --json
same "stopped and resumed" "$t/ref.nfm" "$t/res.nfm"
grep -q '"model": "maf-mog".*"epochs": 4' "$t/out.txt" && ok || bad "resume --json: $(cat "$t/out.txt")"
# resuming the finished run changes nothing
run_ok "resume finished" "$nflow" train --data "$t/d.csv" --threads 1 --resume "$t/every.nfc" --out "$t/again.nfm" \
    --batch 64 --lr 0.01 --seed 2
grep -q "resuming .*every.nfc.*batch 64, lr 0.01.*seed 2; epochs 4" "$t/err.txt" && ok || bad "no resume note: $(cat "$t/err.txt")"
same "resumed a finished run" "$t/ref.nfm" "$t/again.nfm"

# with dropout: stopped and resumed ends as the whole run (the draws follow
# the step), the rate comes from the checkpoint and may not change
run_ok "dropout reference" train --epochs 4 --dropout 0.2 --out "$t/drop.nfm"
run_ok "dropout first half" train --epochs 2 --dropout 0.2 --out "$t/drop_half.nfm" --checkpoint "$t/drop.nfc"
run_ok "dropout resume" "$nflow" train --data "$t/d.csv" --threads 1 --epochs 4 --resume "$t/drop.nfc" \
    --out "$t/drop_res.nfm"
same "dropout stopped and resumed" "$t/drop.nfm" "$t/drop_res.nfm"
grep -q "resuming .*drop.nfc.*dropout 0.2," "$t/err.txt" && ok || bad "no dropout in the resume note: $(cat "$t/err.txt")"
cmp -s "$t/drop.nfm" "$t/ref.nfm" && bad "dropout changed nothing" || ok
expect_fail "dropout changed on resume" 2 "dropout 0.5 differs from the 0.2 saved" -- "$nflow" train --data "$t/d.csv" \
    --resume "$t/drop.nfc" --dropout 0.5 --out "$t/x.nfm"
expect_fail "dropout 1" 2 "dropout: 1 out of range 0..0.99" -- train --dropout 1 --out "$t/x.nfm"

# killed (SIGKILL) at some moment after its first checkpoint, then resumed;
# the whole run takes about 0.4 s here, so the kill comes 0.05-0.15 s after
# the first checkpoint, and the attempt is repeated (up to 5 times) if the
# run still finished first
attempt=0; landed=0
while [ $landed -eq 0 ] && [ $attempt -lt 5 ]; do
    attempt=$((attempt + 1))
    rm -f "$t/k.nfc" "$t/k.nfm"
    "$nflow" train --data "$t/d.csv" --layers 2 --hidden 8 --batch 64 --lr 0.01 --seed 2 --threads 1 --quiet \
        --epochs 12 --out "$t/k.nfm" --checkpoint "$t/k.nfc" --checkpoint-every 0 >/dev/null 2>&1 &
    pid=$!
    n=0
    while [ ! -e "$t/k.nfc" ] && [ $n -lt 600 ]; do sleep 0.01; n=$((n + 1)); done
    sleep "$(printf "0.%02d" $(( 5 + $(od -An -N1 -tu1 /dev/urandom) % 11 )))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    [ -e "$t/k.nfc" ] && [ ! -e "$t/k.nfm" ] && landed=1
done
[ $landed -eq 1 ] && ok || bad "no kill landed before the run ended (5 tries)"
# more kills at random moments of a run that writes a checkpoint after
# every step: the unnamed temporary file (O_TMPFILE) leaves nothing behind
for k in 1 2 3 4 5 6; do
    "$nflow" train --data "$t/d.csv" --layers 2 --hidden 8 --batch 64 --seed 2 --threads 1 --quiet \
        --epochs 12 --out "$t/kk.nfm" --checkpoint "$t/kk.nfc" --checkpoint-every 0 >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf "0.%02d" $(( 2 + $(od -An -N1 -tu1 /dev/urandom) % 20 )))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
done
# (the one name a write has, for the microseconds between link and rename,
# is removed by the next write of the same output: write it once more)
"$nflow" train --data "$t/d.csv" --layers 2 --hidden 8 --batch 64 --seed 2 --threads 1 --quiet \
    --epochs 1 --out "$t/kk.nfm" --checkpoint "$t/kk.nfc" >/dev/null 2>&1 || bad "a last complete run"
# (kk's alone: a kill of the first loop above can land in k.nfc's window,
# and k.nfc is not written again before the resume below reads it)
left=$(ls "$t" | grep -c '^kk\..*\.tmp\.')
[ "$left" -eq 0 ] && ok || bad "killed writes left $left temporary files: $(ls "$t" | grep '^kk\..*\.tmp\.')"
run_ok "resume after kill" "$nflow" train --data "$t/d.csv" --threads 1 --quiet --resume "$t/k.nfc" --out "$t/k.nfm"
same "killed and resumed" "$t/ref12.nfm" "$t/k.nfm"

# the checkpoint is a model
run_ok "eval a checkpoint" "$nflow" eval "$t/a.nfc" --data "$t/d.csv" --json
grep -q '"mean_log_likelihood": -\?[0-9]' "$t/out.txt" && ok || bad "eval of a checkpoint: $(cat "$t/out.txt")"
run_ok "info a checkpoint" "$nflow" info "$t/a.nfc"
grep -q "model: maf" "$t/out.txt" && ok || bad "info of a checkpoint: $(cat "$t/out.txt")"

# refusals
expect_fail "architecture with resume" 2 "--layers cannot be set for a resumed run" -- \
    "$nflow" train --data "$t/d.csv" --layers 4 --resume "$t/a.nfc" --out "$t/x.nfm"
expect_fail "model with resume" 2 "--model cannot be set for a resumed run.*a.nfc" -- \
    "$nflow" train --data "$t/d.csv" --model nice --resume "$t/a.nfc" --out "$t/x.nfm"
expect_fail "other lr with resume" 2 "--lr 0.02 differs from the 0.01 saved in .*a.nfc" -- \
    "$nflow" train --data "$t/d.csv" --lr 0.02 --resume "$t/a.nfc" --out "$t/x.nfm"
expect_fail "other seed with resume" 2 "--seed 5 differs" -- \
    "$nflow" train --data "$t/d.csv" --seed 5 --resume "$t/a.nfc" --out "$t/x.nfm"
expect_fail "other data" 1 "a.nfc: the checkpoint was made with other training data" -- \
    "$nflow" train --data "$t/other.csv" --resume "$t/a.nfc" --out "$t/x.nfm" --quiet
head -n 1990 "$t/d.csv" >"$t/fewer.csv"
expect_fail "fewer rows" 1 "a.nfc: the checkpoint was made with other training data (1600 rows, now 1592)" -- \
    "$nflow" train --data "$t/fewer.csv" --resume "$t/a.nfc" --out "$t/x.nfm" --quiet
awk -F, '{ print $0 "," NR }' "$t/d.csv" >"$t/three.csv"
expect_fail "other columns" 1 "the model in .*a.nfc: .*three.csv: 3 columns, the model expects 2" -- \
    "$nflow" train --data "$t/three.csv" --resume "$t/a.nfc" --out "$t/x.nfm" --quiet
expect_fail "a model is not a checkpoint" 1 "ref.nfm: not a training checkpoint" -- \
    "$nflow" train --data "$t/d.csv" --resume "$t/ref.nfm" --out "$t/x.nfm"
head -c 2000 "$t/a.nfc" >"$t/trunc.nfc"
expect_fail "truncated checkpoint" 1 "trunc.nfc" -- \
    "$nflow" train --data "$t/d.csv" --resume "$t/trunc.nfc" --out "$t/x.nfm"
cp "$t/a.nfc" "$t/flip.nfc"
printf '\377' | dd of="$t/flip.nfc" bs=1 seek=3000 conv=notrunc 2>/dev/null
expect_fail "corrupted checkpoint" 1 "flip.nfc.*checksum" -- \
    "$nflow" train --data "$t/d.csv" --resume "$t/flip.nfc" --out "$t/x.nfm"
expect_fail "bad interval" 2 "--checkpoint-every" -- \
    "$nflow" train --data "$t/d.csv" --checkpoint "$t/c.nfc" --checkpoint-every -1 --out "$t/x.nfm"
expect_fail "interval without a checkpoint" 2 "--checkpoint-every needs --checkpoint" -- \
    "$nflow" train --data "$t/d.csv" --checkpoint-every 5 --out "$t/x.nfm"
expect_fail "checkpoint folder" 1 "nodir/c.nfc" -- \
    "$nflow" train --data "$t/d.csv" --checkpoint "$t/nodir/c.nfc" --out "$t/x.nfm"
[ -e "$t/x.nfm" ] && bad "a refused run wrote its --out model" || ok

echo "cli_checkpoint: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
