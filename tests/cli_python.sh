#!/bin/sh
# The Python binding (python/nflow, issue 15 item 3): tests/python/test_binding.py
# against this build's library and tool (the same model files and data give
# the same densities, samples, codes and trained models; the C structures'
# layouts; errors, conversions, callbacks, Ctrl-C, the GIL, the README's
# example), then `pip install` of ./python without network where pip and
# setuptools exist: the installed package carries the library and runs from
# another folder. Without a python3 that imports numpy (Debian:
# python3-numpy) it says so and counts nothing.
suite=cli_python
. "$(dirname "$0")/lib_cli.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "$build" && pwd)
if ldd "$nflow" | grep -q libasan; then # a sanitizer library cannot be loaded into python3
    echo "$suite: skipped under the sanitizers"; echo "$suite: 0 passed, 0 failed"; exit 0
fi
. "$root/tests/python/env.sh"
if [ -z "$py" ]; then
    echo "$suite: no python3 with numpy (apt-get install python3-numpy): the binding is not tested"
    echo "$suite: 0 passed, 0 failed"; exit 0
fi

NFLOW_CLI="$builddir/nflow" NFLOW_LIBRARY="$builddir/libnflow.so" "$py" "$root/tests/python/test_binding.py" \
    "$builddir" >"$t/py.txt" 2>&1
cat "$t/py.txt"
line=$(grep -E '^test_binding: [0-9]+ passed, [0-9]+ failed$' "$t/py.txt" | tail -n 1)
if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
    failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')))
else
    bad "test_binding.py ended without its summary"
fi

# pip install ./python, offline: a copy of the package folder (the build
# leaves its folders beside it), the library bundled from NFLOW_LIBRARY
if "$py" -m pip --version >/dev/null 2>&1 && "$py" -c 'import setuptools' >/dev/null 2>&1; then
    mkdir -p "$t/src" "$t/elsewhere"
    cp -r "$root/python/nflow" "$root/python/pyproject.toml" "$root/python/setup.py" "$root/python/README.md" "$t/src/"
    rm -rf "$t/src/nflow/__pycache__"
    run_ok "pip install ./python" env NFLOW_LIBRARY="$builddir/libnflow.so" PIP_ROOT_USER_ACTION=ignore \
        "$py" -m pip install -q --no-build-isolation --no-index --no-deps --target "$t/pip" "$t/src"
    (cd "$t/elsewhere" && env -u NFLOW_LIBRARY PYTHONPATH="$t/pip" "$py" -W ignore::UserWarning - "$t/pip" \
        >"$t/out.txt" 2>"$t/err.txt" <<'PY'
import sys
import numpy as np
import nflow
assert nflow.library_path == sys.argv[1] + "/nflow/libnflow.so.1", nflow.library_path
X = np.random.default_rng(0).normal(size=(300, 2))
f = nflow.Flow(model="realnvp", layers=2, hidden=8).fit(X, epochs=2, verbose=False)
assert np.isfinite(f.log_prob(X)).all() and f.sample(5).shape == (5, 2)
print("ok")
PY
    ) && grep -q '^ok$' "$t/out.txt" && ok || bad "the pip-installed package: $(cat "$t/err.txt")"
else
    echo "$suite: note: no pip or setuptools for $py: pip install ./python not checked"
fi

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
