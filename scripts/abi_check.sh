#!/bin/sh
# The library's ABI against the committed baseline (libabigail, Debian's
# abigail-tools): a program built against an older nflow.h must keep
# working with the new libnflow.so of the same SONAME. Added functions are
# fine; a public struct that grew, a changed signature or a removed symbol
# fails the check unless the SONAME (Makefile: NF_SOVERSION) changed with it.
# Types a program only points to (opaque in the header) are listed in
# BASELINE's .abignore beside it.
#   sh scripts/abi_check.sh BASELINE LIB           check (make abi-check)
#   sh scripts/abi_check.sh --update BASELINE LIB  record LIB's ABI (make abi-baseline)
# Exit status: 0 compatible, 1 an incompatible change, 2 the check could not run.
set -u
update=0
[ "${1:-}" = --update ] && { update=1; shift; }
[ $# -eq 2 ] || { echo "usage: sh scripts/abi_check.sh [--update] BASELINE LIB" >&2; exit 2; }
baseline=$1 lib=$2
for tool in abidw abidiff; do
    command -v $tool > /dev/null 2>&1 ||
        { echo "abi-check: $tool not found (Debian: apt-get install abigail-tools)" >&2; exit 2; }
done
[ -f "$lib" ] || { echo "abi-check: $lib: no such library (make first)" >&2; exit 2; }
# the types reachable from the exported (NF_API) symbols are the public ones
dump() { abidw --no-show-locs --no-corpus-path --no-comp-dir-path --out-file "$1" "$lib"; }
if [ $update -eq 1 ]; then
    mkdir -p "$(dirname "$baseline")" && dump "$baseline.tmp" && mv "$baseline.tmp" "$baseline" ||
        { echo "abi-check: cannot write $baseline" >&2; rm -f "$baseline.tmp"; exit 2; }
    echo "abi-check: recorded the ABI of $lib in $baseline"
    exit 0
fi
[ -f "$baseline" ] || { echo "abi-check: $baseline: no baseline (make abi-baseline records one)" >&2; exit 2; }
soname_of() { sed -n "s/.*<abi-corpus [^>]*soname='\([^']*\)'.*/\1/p" "$1" | head -n 1; }
report=$(mktemp) current=$(mktemp)
trap 'rm -f "$report" "$current"' EXIT
dump "$current" || { echo "abi-check: abidw could not read $lib" >&2; exit 2; }
old=$(soname_of "$baseline") new=$(soname_of "$current")
# BASE.abignore beside BASE.abi: the suppressions (types opaque in nflow.h)
suppress=${baseline%.abi}.abignore
if [ -f "$suppress" ]; then
    abidiff --no-added-syms --suppressions "$suppress" "$baseline" "$current" > "$report" 2>&1
else
    abidiff --no-added-syms "$baseline" "$current" > "$report" 2>&1
fi
rc=$?
# abidiff's status is a bit mask: 1 error, 2 usage, 4 an ABI change, 8 an incompatible one
if [ $((rc & 3)) -ne 0 ]; then
    cat "$report" >&2
    echo "abi-check: abidiff failed (status $rc)" >&2
    exit 2
fi
if [ $((rc & 12)) -eq 0 ]; then
    echo "abi-check: $lib ($new) keeps the ABI of $baseline"
    exit 0
fi
if [ "$old" != "$new" ]; then
    echo "abi-check: the ABI changed with the SONAME ($old -> $new); record it: make abi-baseline"
    exit 0
fi
cat "$report" >&2
echo "abi-check: $lib changes the ABI of $baseline while its SONAME stays $new: programs built" \
    "against the old header would break. Grow public structs only in ways old programs survive," \
    "or raise NF_SOVERSION in the Makefile and run make abi-baseline." >&2
exit 1
