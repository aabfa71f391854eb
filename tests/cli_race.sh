#!/bin/sh
# --model auto through the real binary: the race's winner is named, its
# table printed, in --json and in info; options that shape one model are
# refused; a checkpoint of the winner resumes as any run does.
suite=cli_race
. "$(dirname "$0")/lib_cli.sh"

run_ok "toy" "$nflow" toy two_moons --n 1500 --seed 3 --out "$t/d.csv"
# 1200 training rows in batches of 32: 38 steps an epoch, 14 epochs the first round
train() { "$nflow" train --data "$t/d.csv" --model auto --batch 32 --patience 3 --patience-steps 0 --seed 2 \
    --threads 1 "$@"; }

run_ok "race" train --epochs 30 --out "$t/a.nfm"
grep -q "auto: a race among maf-mog, maf, nsf-ar, made-mog and gmm for 1200 rows x 2 columns, batch 32, dropout 0;" \
    "$t/err.txt" && ok || bad "no race announced: $(cat "$t/err.txt")"
[ "$(grep -c "out after round" "$t/err.txt")" -eq 4 ] && [ "$(grep -c "the winner" "$t/err.txt")" -eq 1 ] && ok ||
    bad "the race's table: $(cat "$t/err.txt")"
winner=$(sed -n 's/^\([a-z-]*\): \(EM,\|[0-9]* parameters\).*/\1/p' "$t/out.txt")
grep -q "  $winner .*the winner" "$t/err.txt" && ok || bad "the summary names $winner, not the table's winner"
run_ok "race --json" train --epochs 30 --out "$t/b.nfm" --json --quiet
same "the race is deterministic" "$t/a.nfm" "$t/b.nfm"
# the race first: the top-level fields are the last of their names
grep -q "^{\"race\": \[{\"model\": \"maf-mog\", \"dropout\": 0, .*\"round\": [0-3],.*\"val_log_likelihood\": -.*}\], \"model\": \"$winner\", " \
    "$t/out.txt" && ok || bad "--json: $(cat "$t/out.txt")"
[ "$(grep -o '"round": ' "$t/out.txt" | wc -l)" -eq 5 ] && ok || bad "--json: not 5 candidates: $(cat "$t/out.txt")"
run_ok "info" "$nflow" info "$t/a.nfm"
grep -q "chosen by a race" "$t/out.txt" && grep -q "$winner .*the winner" "$t/out.txt" && ok ||
    bad "info: $(cat "$t/out.txt")"

# options that shape one model
for opt in "--hidden 8" "--layers 2" "--components 3" "--no-whiten"; do
    # shellcheck disable=SC2086
    refused "auto with $opt" 2 "shapes one model: name it" "$t/x.nfm" -- train $opt --out "$t/x.nfm" && ok
done
# the training options are every candidate's, dropout too
run_ok "race with dropout" train --epochs 2 --dropout 0.1 --out "$t/d.nfm" --json --quiet
[ "$(grep -o '"dropout": 0.1, "layers"' "$t/out.txt" | wc -l)" -eq 4 ] && ok || bad "--dropout 0.1: $(cat "$t/out.txt")"
refused "a wrong model" 2 "unknown value 'autom' (one of auto, nice, " "$t/x.nfm" -- "$nflow" train --data "$t/d.csv" --model autom --out "$t/x.nfm" && ok

# the checkpoint holds the winner: a resume trains it on
run_ok "race with a checkpoint" train --epochs 30 --out "$t/c.nfm" --checkpoint "$t/c.nfc" --quiet
same "a checkpoint changes nothing" "$t/a.nfm" "$t/c.nfm"
run_ok "resume the winner" "$nflow" train --data "$t/d.csv" --resume "$t/c.nfc" --epochs 40 --patience 50 \
    --threads 1 --out "$t/r.nfm" --json --quiet
grep -q "\"race\": \[.*\], \"model\": \"$winner\"" "$t/out.txt" && ok || bad "resumed: $(cat "$t/out.txt")"
[ "$winner" = gmm ] && same "the gmm resumed is the gmm" "$t/a.nfm" "$t/r.nfm"
# a conditional race has no gmm (four candidates); its winning flow resumes from the checkpoint
run_ok "conditional race" train --context-columns 1 --epochs 20 --out "$t/e.nfm" --checkpoint "$t/e.nfc" --json --quiet
[ "$(grep -o '"round": ' "$t/out.txt" | wc -l)" -eq 4 ] && ! grep -q '"model": "gmm"' "$t/out.txt" && ok ||
    bad "conditional: $(cat "$t/out.txt")"
cwinner=$(sed -n 's/.*\], "model": "\([a-z-]*\)".*/\1/p' "$t/out.txt")
run_ok "resume the flow" "$nflow" train --data "$t/d.csv" --resume "$t/e.nfc" --epochs 24 --patience 50 \
    --threads 1 --out "$t/f.nfm" --json --quiet
grep -q "\"race\": \[.*\], \"model\": \"$cwinner\", .*\"epochs\": 24," "$t/out.txt" && ok ||
    bad "resumed $cwinner: $(cat "$t/out.txt")"

echo "$suite: $passed passed, $failed failed"
[ $failed -eq 0 ]
