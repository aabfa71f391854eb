# Sourced by the tests/cli_*.sh scripts after they set $suite (the name in
# their messages): the build folder ($1, default build), $nflow, a temporary
# folder $t removed at exit, the counters and the checks they share.
build=${1:-build}
nflow="$build/nflow"
t=$(mktemp -d "/tmp/nflow_$suite.XXXXXX")
trap 'rm -rf "$t"' EXIT
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $suite: $*"; }
# run_ok NAME COMMAND...: the command succeeds (its output in $t/out.txt, $t/err.txt)
run_ok() {
    name=$1; shift
    if "$@" >"$t/out.txt" 2>"$t/err.txt"; then ok; else bad "$name: $(cat "$t/err.txt")"; fi
}
# same NAME A B: the two files are identical
same() { cmp -s "$2" "$3" && ok || bad "$1: $2 and $3 differ"; }
