# Sourced by tests/cli_python.sh and tests/cli_install.sh after lib_cli.sh:
# py = the first of $PYTHON, python3, /usr/bin/python3 that imports numpy
# (Debian's python3-numpy lives under /usr/bin/python3; a pyenv python3
# first on PATH may lack it), or empty. OpenBLAS picks its kernels when it
# is loaded and the nflow tool restarts itself with better ones where it
# picked generic kernels; a Python process cannot, so OPENBLAS_CORETYPE is
# set (unless given) to the family the tool runs: Python and the tool then
# compute the same bits, and Python's tests run at the tool's speed. One
# thread (OMP_NUM_THREADS=1) unless given: the same bits at any count, and
# no OpenMP team spinning at its barriers against a busy machine's other
# processes (tenfold slower there).
py=
for c in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import numpy' >/dev/null 2>&1; then
        py=$c
        break
    fi
done
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    kernel=$("$nflow" info --system --json 2>/dev/null | sed -n 's/.*"blas_kernel": "\([A-Za-z0-9_]*\)".*/\1/p')
    [ -n "$kernel" ] && OPENBLAS_CORETYPE=$kernel && export OPENBLAS_CORETYPE
fi
if [ -z "${OMP_NUM_THREADS:-}" ]; then
    OMP_NUM_THREADS=1
    export OMP_NUM_THREADS
fi
