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
# refused NAME RC PATTERN OUTFILE -- command...: the command exits with RC
# ("nonzero": any status but 0), its stderr matches PATTERN, and OUTFILE
# (unless "-") does not exist afterwards. Returns 0 without counting, so a
# script can check more ($t/out.txt, $t/err.txt) before calling ok; on a
# failure it calls bad and returns 1.
refused() {
    name=$1; want=$2; pattern=$3; outfile=$4; shift 5
    "$@" >"$t/out.txt" 2>"$t/err.txt"; rc=$?
    if [ "$want" = nonzero ]; then wrong=$((rc == 0)); else wrong=$((rc != want)); fi
    if [ $wrong -eq 1 ]; then bad "$name: exit $rc, not $want ($(cat "$t/err.txt"))"; return 1; fi
    if ! grep -q -- "$pattern" "$t/err.txt"; then bad "$name: message '$(cat "$t/err.txt")' lacks '$pattern'"; return 1; fi
    if [ "$outfile" != - ] && [ -e "$outfile" ]; then bad "$name: $outfile was created"; return 1; fi
    return 0
}
# short_message NAME: the last refusal's stderr is at most 3 lines
short_message() {
    [ "$(wc -l <"$t/err.txt")" -le 3 ] && return 0
    bad "$1: more than a short message"; return 1
}
