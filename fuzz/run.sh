#!/bin/sh
# Runs every fuzz target for SECONDS each (default 60) from its seed corpus
# in fuzz/corpus/, new inputs kept in a temporary folder; fails on any
# finding (a crash, a sanitizer report, a leak, a time-out), whose input is
# copied to fuzz/findings/. Needs `make fuzz`.
# usage: sh fuzz/run.sh [SECONDS] [targets...]
#   FUZZ_RUNS=N: stop after N executions instead (SECONDS then bounds it)
seconds=${1:-60}
shift 2>/dev/null
targets=${*:-"model checkpoint npy idx csv columns bounds recipe"}
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../build-fuzz"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
passed=0
for t in $targets; do
    [ -x "$bin/fuzz_$t" ] || { echo "fuzz: no $bin/fuzz_$t (make fuzz)"; fail=$((fail + 1)); continue; }
    mkdir -p "$work/$t" "$work/$t.artifacts"
    runs=${FUZZ_RUNS:+-runs=$FUZZ_RUNS}
    # shellcheck disable=SC2086
    if "$bin/fuzz_$t" "$work/$t" "$here/corpus/$t" $runs -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/$t.artifacts/" >"$work/$t.log" 2>&1; then
        echo "fuzz_$t: $(grep -E '^stat::number_of_executed_units' "$work/$t.log" | awk '{print $2}') runs in $(grep -E '^Done' "$work/$t.log" | awk '{print $5}') s, no finding"
        passed=$((passed + 1))
    else
        fail=$((fail + 1))
        mkdir -p "$here/findings"
        cp "$work/$t.artifacts/"* "$here/findings/" 2>/dev/null
        echo "fuzz_$t: FINDING ($(ls "$work/$t.artifacts" | tr '\n' ' ')); its input is in fuzz/findings/:"
        grep -E "ERROR|SUMMARY|runtime error" "$work/$t.log" | head -5
    fi
done
echo "fuzz: $passed passed, $fail failed"
[ $fail -eq 0 ]
