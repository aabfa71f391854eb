#!/bin/sh
# make install / uninstall (issue 15, item 2): into a temporary prefix, then
# examples/fit_banana.c and examples/train.c are built with `pkg-config
# --cflags --libs nflow` alone and run (train.c writes the model file
# `nflow train` writes); the library's SONAME is libnflow.so.1 and it exports only the
# public nf_ symbols; the manual pages go to share/man/man1 with the
# version filled in; the Python package (python/nflow) finds the installed
# library: from another folder it trains, evaluates, samples and saves a
# model that the installed tool evaluates to the same figures, and it loads
# a model the tool trained (where a python3 imports numpy); DESTDIR stages
# under a root; uninstall leaves nothing.
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
for f in include/nflow.h lib/libnflow.a lib/libnflow.so lib/libnflow.so.1 lib/pkgconfig/nflow.pc bin/nflow $pages; do
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
readelf -d "$t/prefix/lib/libnflow.so.1" | grep -q 'SONAME.*\[libnflow.so.1\]' && ok || bad "SONAME"
others=$(nm -D --defined-only "$t/prefix/lib/libnflow.so.1" | awk '$2 ~ /[TDBR]/ { print $3 }' | grep -v '^nf_' | head -5)
[ -z "$others" ] && ok || bad "exported beyond nf_*: $others"
export PKG_CONFIG_PATH="$t/prefix/lib/pkgconfig"
# shellcheck disable=SC2046 # pkg-config prints a list of flags
# the core library reads folders of PNG images (libpng); the toys and plots (src/extras) stay out of it
nm -D --defined-only "$t/prefix/lib/libnflow.so.1" | grep -q 'nf_toy_\|nf_plot_\|nf_target_' &&
    bad "libnflow.so exports the extras" || ok
run_ok "build an example with pkg-config" cc -std=c11 -o "$t/fit_banana" "$root/examples/fit_banana.c" \
    $(pkg-config --cflags --libs nflow)
run_ok "the example runs" "$t/fit_banana" 1
grep -q "test log-likelihood" "$t/out.txt" && ok || bad "example: $(cat "$t/out.txt")"
run_ok "the installed tool runs" "$t/prefix/bin/nflow" --help
# examples/train.c: nflow train --data F --out M in library calls, the same model file
run_ok "build examples/train.c with pkg-config" cc -std=c11 -o "$t/train" "$root/examples/train.c" \
    $(pkg-config --cflags --libs nflow)
"$t/prefix/bin/nflow" toy banana --n 400 --seed 2 --out "$t/banana.csv" >/dev/null || bad "toy"
run_ok "examples/train.c runs" env OMP_NUM_THREADS=1 "$t/train" "$t/banana.csv" "$t/example.nfm"
grep -q "^epoch  *[0-9]*0  train  *-*[0-9.]*  val " "$t/err.txt" && ok || bad "examples/train.c: no progress lines: $(cat "$t/err.txt")"
grep -v "s$" "$t/out.txt" | sed "s|$t/example.nfm|M|" >"$t/example.txt" # the lines but the first's time
run_ok "nflow train, the same data" "$t/prefix/bin/nflow" train --data "$t/banana.csv" --out "$t/tool.nfm" --threads 1 \
    --quiet
same "examples/train.c and nflow train: one model file" "$t/example.nfm" "$t/tool.nfm"
grep -v "s$" "$t/out.txt" | sed "s|$t/tool.nfm|M|" >"$t/tool.txt"
grep -q "^mean log-likelihood (nats): train" "$t/example.txt" && same "examples/train.c: nflow train's report" \
    "$t/example.txt" "$t/tool.txt" || bad "examples/train.c: $(cat "$t/example.txt")"

# the Python package, PREFIX/lib/python3/dist-packages/nflow for a prefix python3 does not search
pydir="$t/prefix/lib/python3/dist-packages"
[ -f "$pydir/nflow/__init__.py" ] && [ -f "$pydir/nflow/_install.py" ] && ok || bad "python package not installed in $pydir"
. "$root/tests/python/env.sh"
if [ -z "$py" ]; then
    echo "$suite: note: no python3 with numpy: the installed Python package is not run"
else
    mkdir -p "$t/elsewhere"
    # from another folder, no hint where the library is: Python trains, saves, evaluates and samples
    (cd "$t/elsewhere" && env -u NFLOW_LIBRARY PYTHONPATH="$pydir" "$py" - "$t/prefix" >"$t/out.txt" 2>"$t/err.txt" <<'PY'
import os, sys
import numpy as np
import nflow
prefix = sys.argv[1]
assert os.path.samefile(nflow.library_path, prefix + "/lib/libnflow.so.1"), nflow.library_path
rng = np.random.default_rng(1)
x = rng.normal(size=500)
X = np.stack([x, 0.5 * x ** 2 + 0.3 * rng.normal(size=500)], axis=1).astype(np.float32)
np.save("data.npy", X)
f = nflow.Flow(model="maf", layers=2, hidden=16).fit(X, epochs=3, verbose=False)
f.save("py.nfm")
np.save("py_lp.npy", f.log_prob(X))
np.save("py_s.npy", f.sample(200, seed=5))
print("%.17g" % f.score(X))
PY
    ) && ok || bad "Python from the installed package: $(cat "$t/err.txt")"
    py_mean=$(cat "$t/out.txt")
    inst="$t/prefix/bin/nflow"
    run_ok "the tool evaluates Python's model" "$inst" eval "$t/elsewhere/py.nfm" --data "$t/elsewhere/data.npy" \
        --out "$t/tool_lp.npy" --json
    tool_mean=$(sed -n 's/.*"mean_log_likelihood": \([^,]*\),.*/\1/p' "$t/out.txt")
    run_ok "the tool samples Python's model" "$inst" sample "$t/elsewhere/py.nfm" --n 200 --seed 5 --out "$t/tool_s.npy"
    run_ok "the tool trains a model" "$inst" train --data "$t/elsewhere/data.npy" --model realnvp --layers 2 \
        --hidden 16 --epochs 3 --quiet --out "$t/tool.nfm"
    run_ok "... and evaluates it" "$inst" eval "$t/tool.nfm" --data "$t/elsewhere/data.npy" --out "$t/tool2_lp.npy"
    # the same figures: bit for bit when both run the same OpenBLAS kernels (env.sh), else to float32 rounding
    (cd "$t/elsewhere" && env -u NFLOW_LIBRARY PYTHONPATH="$pydir" "$py" - "$t" "$py_mean" "$tool_mean" \
        >"$t/out.txt" 2>"$t/err.txt" <<'PY'
import sys
import numpy as np
import nflow
t, py_mean, tool_mean = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
exact = nflow.system_info()["blas_kernel"] == __import__("os").environ.get("OPENBLAS_CORETYPE")
def same(a, b, what):
    ok = np.array_equal(a, b) if exact else np.allclose(a, b, rtol=1e-5, atol=1e-5)
    assert ok, "%s differ (max %g)" % (what, np.abs(np.asarray(a, float) - np.asarray(b, float)).max())
same(np.load("py_lp.npy"), np.load(t + "/tool_lp.npy").reshape(-1), "log-densities of Python's model")
assert abs(py_mean - tool_mean) <= (1e-12 if exact else 1e-5) * abs(tool_mean), (py_mean, tool_mean)
same(np.load("py_s.npy"), np.load(t + "/tool_s.npy"), "samples of Python's model")
g = nflow.Flow.load(t + "/tool.nfm")
same(g.log_prob(np.load("data.npy")), np.load(t + "/tool2_lp.npy").reshape(-1), "log-densities of the tool's model")
assert g.model_ == "realnvp", g.model_
print("ok")
PY
    ) && grep -q '^ok$' "$t/out.txt" && ok || bad "Python and the installed tool: $(cat "$t/err.txt")"
fi
run_ok "make install DESTDIR" make -s -C "$root" install BUILD="$builddir" PREFIX=/usr DESTDIR="$t/stage"
[ -e "$t/stage/usr/lib/pkgconfig/nflow.pc" ] && grep -q '^prefix=/usr$' "$t/stage/usr/lib/pkgconfig/nflow.pc" && ok ||
    bad "DESTDIR staging"
staged=$(find "$t/stage/usr/lib" -path '*/nflow/_install.py')
[ -n "$staged" ] && grep -q '^LIBRARY = "\.\./\.\./\.\./libnflow\.so\.1"$' "$staged" && ok ||
    bad "DESTDIR staging of the Python package: ${staged:-none}"
[ -e "$t/stage/usr/share/man/man1/nflow.1" ] && [ -e "$t/stage/usr/share/man/man1/nflow-train.1" ] && ok ||
    bad "DESTDIR staging: no manual pages in $t/stage/usr/share/man/man1"
run_ok "make uninstall DESTDIR" make -s -C "$root" uninstall PREFIX=/usr DESTDIR="$t/stage"
[ -z "$(find "$t/stage" -type f -o -type l)" ] && ok || bad "left after uninstall DESTDIR: $(find "$t/stage" -type f -o -type l)"
run_ok "make uninstall" make -s -C "$root" uninstall PREFIX="$t/prefix"
[ -z "$(find "$t/prefix" -type f -o -type l)" ] && ok || bad "left after uninstall: $(find "$t/prefix" -type f -o -type l)"
[ ! -e "$pydir/nflow" ] && ok || bad "left after uninstall: $pydir/nflow"

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
