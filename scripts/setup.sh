#!/bin/sh
# Installs the system packages nflow builds against, or says how to.
missing=""
[ -f /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h ] || [ -n "$BLAS_INC" ] || missing="$missing libopenblas-openmp-dev"
[ -f /usr/include/png.h ] || missing="$missing libpng-dev"
[ -f /usr/include/zlib.h ] || missing="$missing zlib1g-dev"
# libdeflate's CRC-32 (zlib's, 3x faster): a 7 MB model's check costs 0.6 ms instead of 2-4
[ -f /usr/include/libdeflate.h ] || missing="$missing libdeflate-dev"
command -v cc >/dev/null 2>&1 || missing="$missing gcc"
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkgconf"
# groff renders the manual pages in tests/cli_man.sh (man-db's `man -l` is used there when present)
command -v groff >/dev/null 2>&1 || missing="$missing groff-base"
# `make fuzz`: clang and its libFuzzer runtime
if [ "$1" = fuzz ]; then
    command -v clang >/dev/null 2>&1 || missing="$missing clang"
    ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
        missing="$missing libclang-rt-14-dev"
fi
# make MPI=1 (the tool on several processes, tests/cli_mpi.sh): Open MPI
if [ "$1" = mpi ]; then
    command -v mpicc >/dev/null 2>&1 || missing="$missing libopenmpi-dev"
    command -v mpirun >/dev/null 2>&1 || missing="$missing openmpi-bin"
fi
# the Python binding's tests (tests/cli_python.sh; skipped without it): wanted, not needed to build
optional=""
if ! /usr/bin/python3 -c 'import numpy' >/dev/null 2>&1 && ! python3 -c 'import numpy' >/dev/null 2>&1; then
    optional="python3-numpy"
fi
# make abi-check and tests/cli_abi.sh (libabigail's abidw, abidiff): wanted, not needed to build
command -v abidiff >/dev/null 2>&1 || optional="${optional:+$optional }abigail-tools"
# the Python binding's scikit-learn checks (check_estimator): wanted, not needed
/usr/bin/python3 -c 'import sklearn' >/dev/null 2>&1 || optional="${optional:+$optional }python3-sklearn"
[ -z "$missing" ] && [ -z "$optional" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    if [ -n "$missing" ]; then
        echo "setup: installing$missing"
        apt-get update -qq && apt-get install -y -qq $missing >/dev/null || {
            echo "setup: apt-get install -y$missing failed" >&2; exit 1; }
    fi
    if [ -n "$optional" ]; then
        echo "setup: installing $optional (the Python binding's tests, the ABI check)"
        { [ -n "$missing" ] || apt-get update -qq; } && apt-get install -y -qq $optional >/dev/null 2>&1 ||
            echo "setup: apt-get install -y $optional failed: the Python binding's tests or the ABI check will be skipped" >&2
    fi
elif [ -n "$missing" ]; then
    echo "setup: missing system packages; run:" >&2
    echo "  sudo apt-get install -y$missing${optional:+ $optional}" >&2
    exit 1
else
    echo "setup: $optional is not installed: the Python binding's tests are skipped (sudo apt-get install -y $optional)" >&2
fi
