#!/bin/sh
# The ABI check (make abi-check, scripts/abi_check.sh, issue 29): the
# library keeps the committed baseline's ABI; and the check itself fails on
# a public struct that grew or a changed signature under the same SONAME,
# and passes an added function or a break that raises the SONAME.
suite=cli_abi
. "$(dirname "$0")/lib_cli.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
check="$root/scripts/abi_check.sh"
if ! command -v abidw > /dev/null 2>&1 || ! command -v abidiff > /dev/null 2>&1; then
    echo "cli_abi: no abigail-tools (Debian: apt-get install abigail-tools); skipped"
    echo "cli_abi: 0 passed, 0 failed"
    exit 0
fi
# the library as built (a sanitized build carries other symbols: not the release ABI)
if ! nm -D "$build/libnflow.so" 2>/dev/null | grep -q __asan_init; then
    sh "$check" "$root/abi/libnflow.abi" "$build/libnflow.so" > "$t/out.txt" 2>&1 && ok ||
        bad "libnflow.so breaks abi/libnflow.abi: $(tail -n 20 "$t/out.txt")"
fi
# a small library in versions: the options struct grows, a function is added,
# a signature changes, the SONAME is raised
lib() { # DIR SONAME HEADER-EXTRA SOURCE-EXTRA [FIELD]
    mkdir -p "$t/$1"
    printf 'typedef struct t_opts { int a; double b;%s } t_opts;\n%s\n%s\n' "${5:-}" \
        '__attribute__((visibility("default"))) int t_run(const t_opts *o);' "$3" > "$t/$1/t.h"
    printf '#include "t.h"\nint t_run(const t_opts *o) { return o->a + (int)o->b; }\n%s\n' "$4" > "$t/$1/t.c"
    cc -g -O1 -shared -fPIC -fvisibility=hidden -Wl,-soname,"$2" -o "$t/$1/libt.so" "$t/$1/t.c"
}
lib v1 libt.so.0 "" ""
lib grown libt.so.0 "" "" " int c;"
lib added libt.so.0 '__attribute__((visibility("default"))) int t_more(void);' 'int t_more(void) { return 1; }'
lib changed libt.so.0 '__attribute__((visibility("default"))) int t_more(int k);' 'int t_more(int k) { return k; }'
lib bumped libt.so.1 "" "" " int c;"
lib added0 libt.so.0 '__attribute__((visibility("default"))) int t_more(void);' 'int t_more(void) { return 1; }'
sh "$check" --update "$t/base.abi" "$t/v1/libt.so" > /dev/null && [ -s "$t/base.abi" ] && ok || bad "no baseline recorded"
sh "$check" "$t/base.abi" "$t/v1/libt.so" > "$t/out.txt" 2>&1 && ok || bad "the same library fails: $(cat "$t/out.txt")"
sh "$check" "$t/base.abi" "$t/grown/libt.so" > "$t/out.txt" 2>&1
[ $? -eq 1 ] && grep -q "type size changed" "$t/out.txt" && grep -q "SONAME stays libt.so.0" "$t/out.txt" && ok ||
    bad "a grown struct passes: $(cat "$t/out.txt")"
sh "$check" "$t/base.abi" "$t/added/libt.so" > "$t/out.txt" 2>&1 && ok || bad "an added function fails: $(cat "$t/out.txt")"
sh "$check" "$t/base.abi" "$t/bumped/libt.so" > "$t/out.txt" 2>&1 && grep -q "libt.so.0 -> libt.so.1" "$t/out.txt" &&
    ok || bad "a break with a new SONAME fails: $(cat "$t/out.txt")"
# a changed signature, against a baseline that has the function
sh "$check" --update "$t/base2.abi" "$t/added0/libt.so" > /dev/null
sh "$check" "$t/base2.abi" "$t/changed/libt.so" > "$t/out.txt" 2>&1
[ $? -eq 1 ] && grep -q "t_more" "$t/out.txt" && ok || bad "a changed signature passes: $(cat "$t/out.txt")"
# a type the header only points to (opaque) may change, named in BASE.abignore
opaque() { # DIR MEMBERS
    mkdir -p "$t/$1"
    printf 'typedef struct t_ctx t_ctx;\n%s\n' '__attribute__((visibility("default"))) int t_get(const t_ctx *c);' > "$t/$1/t.h"
    printf '#include "t.h"\nstruct t_ctx { %s };\nint t_get(const t_ctx *c) { return c->a; }\n' "$2" > "$t/$1/t.c"
    cc -g -O1 -shared -fPIC -fvisibility=hidden -Wl,-soname,libt.so.0 -o "$t/$1/libt.so" "$t/$1/t.c"
}
opaque o1 "int a;"
opaque o2 "double before; int a; char more[40];"
sh "$check" --update "$t/opq.abi" "$t/o1/libt.so" > /dev/null
sh "$check" "$t/opq.abi" "$t/o2/libt.so" > "$t/out.txt" 2>&1
[ $? -eq 1 ] && ok || bad "without a suppression an opaque type's change passes: $(cat "$t/out.txt")"
printf '[suppress_type]\n  name = t_ctx\n' > "$t/opq.abignore"
sh "$check" "$t/opq.abi" "$t/o2/libt.so" > "$t/out.txt" 2>&1 && ok ||
    bad "an opaque type named in .abignore fails: $(cat "$t/out.txt")"
# a missing library or baseline: status 2, said
sh "$check" "$t/none.abi" "$t/v1/libt.so" > "$t/out.txt" 2>&1
[ $? -eq 2 ] && grep -q "no baseline" "$t/out.txt" && ok || bad "a missing baseline: $(cat "$t/out.txt")"
echo "cli_abi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
