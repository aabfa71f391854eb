#!/bin/sh
# make install / uninstall (issue 15, item 2): into a temporary prefix, then
# examples/fit_banana.c is built with `pkg-config --cflags --libs nflow` alone
# and runs; the library's SONAME is libnflow.so.0 and it exports only the
# public nf_ symbols; the manual pages go to share/man/man1 with the
# version filled in; DESTDIR stages under a root; uninstall leaves nothing.
suite=cli_install
. "$(dirname "$0")/lib_cli.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
if ldd "$nflow" | grep -q libasan; then # a sanitizer build is not what one installs
    echo "$suite: skipped under the sanitizers"; echo "$suite: 0 passed, 0 failed"; exit 0
fi
command -v pkg-config >/dev/null 2>&1 || { bad "no pkg-config (scripts/setup.sh installs pkgconf)"; }
builddir=$(cd "$build" && pwd)
run_ok "make install" make -s -C "$root" install BUILD="$builddir" PREFIX="$t/prefix"
pages=$(cd "$root/man" && ls ./*.1 | sed 's|^\./|share/man/man1/|')
for f in include/nflow.h lib/libnflow.a lib/libnflow.so lib/libnflow.so.0 lib/pkgconfig/nflow.pc bin/nflow $pages; do
    [ -e "$t/prefix/$f" ] && ok || bad "not installed: $f"
done
# the manual pages: one per command besides nflow(1), the version filled in, found by man
[ "$(echo "$pages" | wc -l)" -ge 11 ] && ok || bad "manual pages: $pages"
version=$("$t/prefix/bin/nflow" --version | sed 's/^nflow //')
grep -q "^\.TH NFLOW 1 \"\" \"nflow $version\" " "$t/prefix/share/man/man1/nflow.1" && ok ||
    bad "nflow.1 installed without the version $version: $(grep '^\.TH' "$t/prefix/share/man/man1/nflow.1")"
[ -z "$(grep -l '@VERSION@' "$t/prefix/share/man/man1/"*)" ] && ok || bad "@VERSION@ left in an installed page"
if command -v man >/dev/null 2>&1; then
    [ "$(MANPATH="$t/prefix/share/man" man -w nflow-train 2>&1)" = "$t/prefix/share/man/man1/nflow-train.1" ] && ok ||
        bad "man -w nflow-train: $(MANPATH="$t/prefix/share/man" man -w nflow-train 2>&1)"
    MANPATH="$t/prefix/share/man" MANPAGER=cat man nflow 2>&1 | grep -q "nflow $version" && ok ||
        bad "man nflow: $(MANPATH="$t/prefix/share/man" MANPAGER=cat man nflow 2>&1 | head -3)"
fi
readelf -d "$t/prefix/lib/libnflow.so.0" | grep -q 'SONAME.*\[libnflow.so.0\]' && ok || bad "SONAME"
others=$(nm -D --defined-only "$t/prefix/lib/libnflow.so.0" | awk '$2 ~ /[TDBR]/ { print $3 }' | grep -v '^nf_' | head -5)
[ -z "$others" ] && ok || bad "exported beyond nf_*: $others"
export PKG_CONFIG_PATH="$t/prefix/lib/pkgconfig"
# shellcheck disable=SC2046 # pkg-config prints a list of flags
# the core library needs neither libpng nor the toys (src/extras)
ldd "$t/prefix/lib/libnflow.so.0" | grep -q libpng && bad "libnflow.so links libpng" || ok
nm -D --defined-only "$t/prefix/lib/libnflow.so.0" | grep -q 'nf_toy_\|nf_plot_\|nf_target_' &&
    bad "libnflow.so exports the extras" || ok
run_ok "build an example with pkg-config" cc -std=c11 -o "$t/fit_banana" "$root/examples/fit_banana.c" \
    $(pkg-config --cflags --libs nflow)
run_ok "the example runs" "$t/fit_banana" 1
grep -q "test log-likelihood" "$t/out.txt" && ok || bad "example: $(cat "$t/out.txt")"
run_ok "the installed tool runs" "$t/prefix/bin/nflow" --help
run_ok "make install DESTDIR" make -s -C "$root" install BUILD="$builddir" PREFIX=/usr DESTDIR="$t/stage"
[ -e "$t/stage/usr/lib/pkgconfig/nflow.pc" ] && grep -q '^prefix=/usr$' "$t/stage/usr/lib/pkgconfig/nflow.pc" && ok ||
    bad "DESTDIR staging"
[ -e "$t/stage/usr/share/man/man1/nflow.1" ] && [ -e "$t/stage/usr/share/man/man1/nflow-train.1" ] && ok ||
    bad "DESTDIR staging: no manual pages in $t/stage/usr/share/man/man1"
run_ok "make uninstall DESTDIR" make -s -C "$root" uninstall PREFIX=/usr DESTDIR="$t/stage"
[ -z "$(find "$t/stage" -type f -o -type l)" ] && ok || bad "left after uninstall DESTDIR: $(find "$t/stage" -type f -o -type l)"
run_ok "make uninstall" make -s -C "$root" uninstall PREFIX="$t/prefix"
[ -z "$(find "$t/prefix" -type f -o -type l)" ] && ok || bad "left after uninstall: $(find "$t/prefix" -type f -o -type l)"

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
