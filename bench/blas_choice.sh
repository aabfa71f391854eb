#!/bin/sh
# How nflow's matrix library was chosen (issue 12): bench/blas_choice.c
# against OpenBLAS under every kernel family this CPU executes, and against
# BLIS (Debian's libblis-openmp-dev, when installed) as it picks its kernels
# itself and forced to each of its x86 families. One thread; the medians of
# 11 timings per shape. Run it on each new kind of machine.
#   sh bench/blas_choice.sh
set -e
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
here=$(dirname "$0")
ob=/usr/lib/x86_64-linux-gnu/openblas-openmp
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L "$here/blas_choice.c" -o "$work/ob" -I/usr/include/x86_64-linux-gnu/openblas-openmp \
    -L$ob -Wl,-rpath,$ob -lopenblas -fopenmp
families="Prescott Haswell Zen"
grep -qw avx512f /proc/cpuinfo && families="$families SkylakeX Cooperlake"
echo "== OpenBLAS as it picks itself"
OMP_NUM_THREADS=1 "$work/ob"
for f in $families; do
    echo "== OPENBLAS_CORETYPE=$f"
    OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=$f "$work/ob"
done
bl=/usr/lib/x86_64-linux-gnu/blis-openmp
if [ -f /usr/include/x86_64-linux-gnu/blis-openmp/blis.h ]; then
    cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -DBLAS_IS_BLIS "$here/blas_choice.c" -o "$work/blis" \
        -I/usr/include/x86_64-linux-gnu/blis-openmp -L$bl -Wl,-rpath,$bl -lblis -fopenmp -lm
    echo "== BLIS as it picks itself"
    OMP_NUM_THREADS=1 "$work/blis"
    # BLIS 0.9 reads BLIS_ARCH_TYPE as the number of its arch_t (blis.h): 0 skx, 3 haswell, 6 zen3
    for a in 3 6 $(grep -qw avx512f /proc/cpuinfo && echo 0); do
        echo "== BLIS_ARCH_TYPE=$a"
        OMP_NUM_THREADS=1 BLIS_ARCH_TYPE=$a "$work/blis"
    done
else
    echo "== BLIS: not installed (apt-get install libblis-openmp-dev to compare)"
fi
