#!/bin/sh
# Installs the system packages nflow builds against, or says how to.
missing=""
[ -f /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h ] || [ -n "$BLAS_INC" ] || missing="$missing libopenblas-openmp-dev"
[ -f /usr/include/png.h ] || missing="$missing libpng-dev"
[ -f /usr/include/zlib.h ] || missing="$missing zlib1g-dev"
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
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "setup: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $missing >/dev/null || {
        echo "setup: apt-get install -y$missing failed" >&2; exit 1; }
else
    echo "setup: missing system packages; run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi
