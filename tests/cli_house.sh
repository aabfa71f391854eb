#!/bin/sh
# The source tree's plan (issue 15): scripts/house.py finds no circle among
# the modules or the includes, and no header declaring what its own .c does
# not define; the core library does not use the extras.
suite=cli_house
. "$(dirname "$0")/lib_cli.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
py=$(command -v python3 || command -v /usr/bin/python3)
if [ -z "$py" ]; then
    echo "cli_house: no python3; skipped"
    echo "cli_house: 0 passed, 0 failed"
    exit 0
fi
(cd "$root" && "$py" scripts/house.py "$build" --strict) >"$t/house.txt" 2>&1 && ok ||
    bad "house.py --strict: $(cat "$t/house.txt")"
grep -q "floors: [0-9]*, circles: 0$" "$t/house.txt" && ok || bad "module circles: $(grep circle "$t/house.txt")"
grep -q "^headers declaring what their own .c does not define: 0$" "$t/house.txt" && ok || bad "stray declarations"
# nothing in libnflow needs a symbol of the extras
nm -u "$build/libnflow.a" | awk '{ print $2 }' | sort -u > "$t/needed"
nm --defined-only "$build/libnflow_extras.a" | awk 'NF == 3 { print $3 }' | sort -u > "$t/extras"
[ -s "$t/extras" ] && [ -z "$(comm -12 "$t/needed" "$t/extras")" ] && ok || bad "libnflow uses the extras"
# the check itself sees a circle and a stray declaration when there is one
mkdir -p "$t/tree/src/a" "$t/tree/obj/a"
printf '#include "a/y.h"\nint x(void) { return y(); }\n' > "$t/tree/src/a/x.c"
printf 'int x(void);\nint z(void);\n' > "$t/tree/src/a/x.h"
printf '#include "a/x.h"\nint y(void) { return x(); }\n' > "$t/tree/src/a/y.c"
printf 'int y(void);\n' > "$t/tree/src/a/y.h"
cc -c -I"$t/tree/src" "$t/tree/src/a/x.c" -o "$t/tree/obj/a/x.o" && cc -c -I"$t/tree/src" "$t/tree/src/a/y.c" -o "$t/tree/obj/a/y.o"
(cd "$t/tree" && "$py" "$root/scripts/house.py" . --strict) >"$t/bad.txt" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "circle: a/x <-> a/y" "$t/bad.txt" && grep -q "a/x.h: z" "$t/bad.txt" && ok ||
    bad "house.py missed a planted circle or stray (exit $rc): $(cat "$t/bad.txt")"
# ... and an include and a call that run up a floor of folders (core below flow)
mkdir -p "$t/up/src/core" "$t/up/src/flow" "$t/up/obj/core" "$t/up/obj/flow"
printf '#include "flow/f.h"\nint c(void) { return f(); }\n' > "$t/up/src/core/c.c"
printf 'int c(void);\n' > "$t/up/src/core/c.h"
printf 'int f(void) { return 1; }\n' > "$t/up/src/flow/f.c"
printf 'int f(void);\n' > "$t/up/src/flow/f.h"
cc -c -I"$t/up/src" "$t/up/src/core/c.c" -o "$t/up/obj/core/c.o" && cc -c -I"$t/up/src" "$t/up/src/flow/f.c" -o "$t/up/obj/flow/f.o"
(cd "$t/up" && "$py" "$root/scripts/house.py" . --strict) >"$t/up.txt" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "up a floor .*: 2$" "$t/up.txt" && grep -q "core/c -> flow/f" "$t/up.txt" &&
    grep -q "core/c.c -> flow/f.h" "$t/up.txt" && ok || bad "house.py missed a planted upward use (exit $rc): $(cat "$t/up.txt")"
echo "cli_house: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
