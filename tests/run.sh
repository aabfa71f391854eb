#!/bin/sh
# Runs every test program of a build and the command-line tests, then prints
# the total as the last line: "tests: N passed, M failed".
build=${1:-build}
passed=0; failed=0
log=$(mktemp); trap 'rm -f "$log"' EXIT

# run_one NAME COMMAND...: runs it, shows its output, adds its summary line
# ("prog: P passed, F failed") to the totals; no summary or a non-zero exit
# with 0 failures counts as a failure.
run_one() {
    name=$1; shift
    "$@" >"$log" 2>&1; rc=$?
    cat "$log"
    line=$(grep -E '^[a-z_]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $name exited $rc without a summary"; failed=$((failed + 1)); return
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    passed=$((passed + p)); failed=$((failed + f))
}

for t in "$build"/tests/test_* "$build"/tests/dtest_*; do
    [ -x "$t" ] && run_one "$t" "$t"
done
for s in tests/cli_*.sh; do
    [ -f "$s" ] && run_one "$s" sh "$s" "$build"
done
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
