#!/bin/sh
# The progress bar of nflow train (issue 15): on a terminal, an epoch that
# runs long shows "epoch N [###...] P%  R rows/s  M:SS left" on one redrawn
# line, erased before the epoch's own line, which keeps its figures;
# NFLOW_PROGRESS=always draws it anywhere, =never nowhere. Without a
# terminal, and with --quiet or --json, the output is byte for byte that of
# a run with the bar off (times masked). A real terminal comes from
# script(1) where it is there.
suite=cli_progress
. "$(dirname "$0")/lib_cli.sh"

esc=$(printf '\033')
cr=$(printf '\r')
# mask: the times, which differ from run to run
mask() { sed -E 's/ *[0-9]+\.[0-9]+( ?s)/ T\1/g; s/"(seconds|max_rss_mib)": [0-9.]+/"\1": T/g' "$@"; }
# bars FILE: the bar's drawings, one a line
bars() { tr '\r' '\n' <"$1" | grep -a "rows/s" | tr -d "$esc" | sed 's/\[K$//'; }
# unbar FILE: the output with every drawing and erasure of the bar taken out
unbar() { perl -0777 -pe 's/\r[^\r\n]*\e\[K//g' "$1"; }
# epochs FILE: the epoch lines (a terminal's are separated by \r), times masked
epochs() { tr '\r' '\n' <"$1" | grep -a '^epoch .* train ' | mask; }
bar_re='^epoch +[0-9]+ \[[#.]{10,30}\] +[0-9]+%  [0-9]+ rows/s  [0-9]+:[0-9][0-9] left'

# 6000 rows, batch 8: 600 steps an epoch, a tenth of a second or more (2000
# rows took 0.04 s once one-thread steps paid no OpenMP barriers: 6 epochs
# ended before a bar); the bar is drawn every 0.2 s (its time runs on across
# epochs), so a few times in 6 epochs
"$nflow" toy banana --n 6000 --seed 3 --out "$t/d.csv" || bad "toy"
nflow=$(cd "$(dirname "$nflow")" && pwd)/nflow
# train NAME ENV-ASSIGNMENTS [options]: in the folder $t/NAME (so that the
# output names agree), the model m.nfm, stdout in out, stderr in err
train() {
    name=$1; setting=$2; shift 2
    mkdir -p "$t/$name"
    # shellcheck disable=SC2086 # the assignments are words
    (cd "$t/$name" && env $setting "$nflow" train --data ../d.csv --model maf-mog --threads 1 --batch 8 --seed 5 --out m.nfm "$@" \
        >out 2>err) || bad "$name: exit $? ($(cat "$t/$name/err"))"
}
# same_masked NAME A B: the files agree once the times are masked
same_masked() {
    mask "$2" >"$t/a.masked"; mask "$3" >"$t/b.masked"
    cmp -s "$t/a.masked" "$t/b.masked" && ok || bad "$1: $(diff "$t/a.masked" "$t/b.masked" | head -5)"
}

# not a terminal: NFLOW_PROGRESS unset or auto is the bar off, byte for byte
train auto "-u NFLOW_PROGRESS" --epochs 10
train never NFLOW_PROGRESS=never --epochs 10
grep -q '^epoch   10  train ' "$t/never/err" && ok || bad "no plain epoch line: $(cat "$t/never/err")"
same_masked "no terminal: stderr" "$t/auto/err" "$t/never/err"
same_masked "no terminal: stdout" "$t/auto/out" "$t/never/out"
grep -q "[$cr$esc]" "$t/auto/err" "$t/auto/out" && bad "no terminal: a carriage return or an escape in the output" || ok
for v in auto ""; do
    train auto1 NFLOW_PROGRESS=$v --epochs 1
    grep -q "[$cr$esc]" "$t/auto1/err" && bad "NFLOW_PROGRESS=$v: a bar off a terminal" || ok
    grep -q "warning" "$t/auto1/err" && bad "NFLOW_PROGRESS=$v: $(cat "$t/auto1/err")" || ok
done

# forced: the bar is drawn, and taken out it leaves the same lines
train always NFLOW_PROGRESS=always --epochs 10
bars "$t/always/err" >"$t/bars.txt"
[ -s "$t/bars.txt" ] && ok || bad "NFLOW_PROGRESS=always: no bar in $(cat -A "$t/always/err" | head -5)"
grep -Eq "$bar_re" "$t/bars.txt" && ok || bad "the bar's form: $(head -3 "$t/bars.txt")"
awk 'length($0) > 79 { print; exit 1 }' "$t/bars.txt" >/dev/null && ok || bad "a bar wider than 79 columns"
unbar "$t/always/err" >"$t/always.unbarred"
same_masked "NFLOW_PROGRESS=always, the bar taken out: stderr" "$t/always.unbarred" "$t/never/err"
same_masked "NFLOW_PROGRESS=always: stdout" "$t/always/out" "$t/never/out"
same "the same model with and without the bar" "$t/always/m.nfm" "$t/never/m.nfm"

# a narrow terminal: the bar narrows, then goes; the line fits
train narrow "NFLOW_PROGRESS=always COLUMNS=44" --epochs 6
bars "$t/narrow/err" >"$t/bars.txt"
[ -s "$t/bars.txt" ] && awk 'length($0) > 43 { exit 1 }' "$t/bars.txt" && ok ||
    bad "COLUMNS=44: $(cat "$t/bars.txt")"
grep -q 'rows/s' "$t/bars.txt" && ok || bad "COLUMNS=44: the rate was cut: $(cat "$t/bars.txt")"

# --max-time: the run's time left too
train timed NFLOW_PROGRESS=always --epochs 6 --max-time 1000
bars "$t/timed/err" | grep -Eq "$bar_re \\(run [0-9]+:[0-9][0-9]\\)" && ok ||
    bad "--max-time: no run time left in $(bars "$t/timed/err" | head -3)"

# --quiet and --json: as with the bar off
for opt in quiet json; do
    train "$opt-always" NFLOW_PROGRESS=always --epochs 2 --$opt
    train "$opt-never" NFLOW_PROGRESS=never --epochs 2 --$opt
    same_masked "--$opt: stderr" "$t/$opt-always/err" "$t/$opt-never/err"
    same_masked "--$opt: stdout" "$t/$opt-always/out" "$t/$opt-never/out"
    grep -q "[$cr$esc]" "$t/$opt-always/err" && bad "--$opt: a bar was drawn" || ok
done
grep -q '^{"model": ' "$t/json-always/out" && ok || bad "--json: $(cat "$t/json-always/out")"

# a value it does not know: a warning, then as auto
train odd NFLOW_PROGRESS=sometimes --epochs 1
grep -q "^nflow train: warning: NFLOW_PROGRESS=sometimes: not always, never or auto; taken as auto$" "$t/odd/err" &&
    ok || bad "NFLOW_PROGRESS=sometimes: $(cat "$t/odd/err")"
grep -q "[$cr$esc]" "$t/odd/err" && bad "NFLOW_PROGRESS=sometimes off a terminal drew a bar" || ok

# a real terminal (script(1), util-linux): the terminal's epoch lines
# ("\r...", one overwriting the other) keep their figures; above a bar the
# last one stays (a newline after it); NFLOW_PROGRESS=never draws none; by
# default the bar comes once an epoch has run a second
if command -v script >/dev/null 2>&1 && script -qec true /dev/null </dev/null >/dev/null 2>&1; then
    on_tty() { # NAME SETTING DATA EPOCHS: in the folder $t/NAME, the terminal's output in tty, stdout in out
        mkdir -p "$t/$1"
        (cd "$t/$1" && script -qec "env $2 $nflow train --data ../$3 --model maf-mog --threads 1 --batch 8 --epochs $4 \
            --seed 5 --out m.nfm >out" /dev/null </dev/null >tty 2>&1) || bad "$1 on a terminal: exit $?"
    }
    on_tty tty_always NFLOW_PROGRESS=always d.csv 6
    on_tty tty_never NFLOW_PROGRESS=never d.csv 6
    bars "$t/tty_always/tty" | grep -Eq "$bar_re" && ok ||
        bad "a terminal: no bar in $(cat -A "$t/tty_always/tty" | head -5)"
    grep -q "$esc" "$t/tty_never/tty" && bad "NFLOW_PROGRESS=never on a terminal drew a bar" || ok
    epochs "$t/tty_always/tty" >"$t/a.epochs"; epochs "$t/tty_never/tty" >"$t/b.epochs"
    [ "$(wc -l <"$t/a.epochs")" -eq 6 ] && cmp -s "$t/a.epochs" "$t/b.epochs" && ok ||
        bad "the epoch lines on a terminal: $(cat "$t/a.epochs" "$t/b.epochs")"
    same_masked "a terminal: stdout" "$t/tty_always/out" "$t/tty_never/out"
    # a bar after an epoch line starts a line of its own (the terminal turns \n into \r\n)
    kept=$(perl -0777 -ne '$n++ while /bad\) +[0-9.]+s   \r\n\repoch +[0-9]+ \[/g; print $n + 0' "$t/tty_always/tty")
    lost=$(perl -0777 -ne '$n++ while /bad\) +[0-9.]+s   \repoch +[0-9]+ \[/g; print $n + 0' "$t/tty_always/tty")
    [ "$kept" -ge 1 ] && [ "$lost" -eq 0 ] && ok ||
        bad "epoch lines kept above the bar: $kept, overwritten: $lost ($(cat -A "$t/tty_always/tty" | head -4))"
    # the race (the default model): a line per candidate's epoch, rewritten; its table on lines of their own
    mkdir -p "$t/tty_race"
    (cd "$t/tty_race" && script -qec "$nflow train --data ../d.csv --threads 1 --batch 64 --epochs 3 --seed 5 \
        --out m.nfm >out" /dev/null </dev/null >tty 2>&1) || bad "the race on a terminal: exit $?"
    tr '\r' '\n' <"$t/tty_race/tty" | grep -aq '^race: maf-mog *epoch    1  val ' && ok ||
        bad "the race on a terminal: no candidate's line in $(cat -A "$t/tty_race/tty" | head -5)"
    [ "$(tr '\r' '\n' <"$t/tty_race/tty" | grep -ac '^  [a-z-]* *dropout .*\(out after round [1-2]\|the winner\)$')" -eq 4 ] &&
        ok || bad "the race's table on a terminal: $(cat -A "$t/tty_race/tty" | tail -9)"
    # by default: 200,000 rows, an epoch of 2 s or more here (checked where it took 2 s; 16000 rows took 0.5 s once
    # one-thread steps paid no OpenMP barriers)
    "$nflow" toy banana --n 250000 --seed 4 --out "$t/big.csv" || bad "toy"
    on_tty tty_auto "-u NFLOW_PROGRESS" big.csv 1
    took=$(tr '\r' '\n' <"$t/tty_auto/tty" | sed -nE 's/^epoch +1  train .* ([0-9]+)\.[0-9]s +$/\1/p' | head -n 1)
    if [ "${took:-0}" -ge 2 ]; then
        bars "$t/tty_auto/tty" | grep -Eq "$bar_re" && ok ||
            bad "a terminal by default: no bar in $(cat -A "$t/tty_auto/tty" | head -5)"
    else
        echo "$suite: an epoch of ${took:-?} s: too short to expect the bar by default"
    fi
else
    echo "$suite: no script(1) with a terminal here: the terminal checks skipped"
fi

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
