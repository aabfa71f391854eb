#!/bin/sh
# What an output path may be (issue 14, items 1 and 8): a symbolic link is
# followed (its target replaced, the link kept), a FIFO is written in place
# (no rename over it), a folder or a dangling link is refused; an output
# that is the same file as an input or as another output is refused with
# exit 2 and nothing is touched.
suite=cli_paths
. "$(dirname "$0")/lib_cli.sh"

"$nflow" toy banana --n 300 --seed 1 --out "$t/d.csv" || bad "toy"
cp "$t/d.csv" "$t/d.keep"
run_ok "train" "$nflow" train --data "$t/d.csv" --epochs 1 --threads 1 --quiet --out "$t/m.nfm"
cp "$t/m.nfm" "$t/m.keep"

# a symbolic link: followed
"$nflow" toy banana --n 10 --seed 2 --out "$t/target.csv" || bad "toy target"
ln -s target.csv "$t/link.csv"
run_ok "sample to a link" "$nflow" sample "$t/m.nfm" --n 7 --out "$t/link.csv"
[ -L "$t/link.csv" ] && [ "$(wc -l <"$t/target.csv")" -eq 7 ] && ok || bad "the link was replaced or its target not written"
ln -s nowhere/x.csv "$t/dangling.csv"
refused "dangling link" 1 "symbolic link to nothing" - -- "$nflow" sample "$t/m.nfm" --n 3 --out "$t/dangling.csv" && ok
[ -L "$t/dangling.csv" ] && ok || bad "the dangling link was replaced"

# a FIFO: written in place, still a FIFO afterwards
mkfifo "$t/pipe.csv"
cat "$t/pipe.csv" >"$t/from_pipe.csv" &
reader=$!
run_ok "sample to a FIFO" "$nflow" sample "$t/m.nfm" --n 5 --out "$t/pipe.csv"
wait $reader
[ -p "$t/pipe.csv" ] && [ "$(wc -l <"$t/from_pipe.csv")" -eq 5 ] && ok || bad "FIFO: $(ls -l "$t/pipe.csv")"
ls "$t"/pipe.csv.tmp.* >/dev/null 2>&1 && bad "a temporary file was left" || ok

# a folder
refused "folder" 1 "is a folder" - -- "$nflow" sample "$t/m.nfm" --n 3 --out "$t/" && ok

# the same file twice
refused "out = data" 2 "same file as --data" - -- "$nflow" train --data "$t/d.csv" --out "$t/d.csv" --epochs 1 && ok
refused "out = data by a link" 2 "same file as --data" - -- \
    "$nflow" eval "$t/m.nfm" --data "$t/link.csv" --out "$t/target.csv" && ok
refused "out = plot" 2 "are the same file" - -- \
    "$nflow" train --data "$t/d.csv" --out "$t/new.nfm" --plot "$t/./new.nfm" --epochs 1 && ok
[ -e "$t/new.nfm" ] && bad "new.nfm written" || ok
refused "out = log-prob" 2 "are the same file" - -- \
    "$nflow" sample "$t/m.nfm" --n 3 --out "$t/s.csv" --log-prob "$t/s.csv" && ok
refused "out = model" 2 "same file as --model" - -- "$nflow" encode "$t/m.nfm" --data "$t/d.csv" --out "$t/m.nfm" && ok
refused "checkpoint = data" 2 "same file as --data" - -- \
    "$nflow" train --data "$t/d.csv" --out "$t/x.nfm" --checkpoint "$t/d.csv" --epochs 1 && ok
cmp -s "$t/d.csv" "$t/d.keep" && cmp -s "$t/m.nfm" "$t/m.keep" && ok || bad "an input changed"

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
