# Sourced by the benchmark scripts after they set $build: where OpenBLAS
# would run its generic kernels on this CPU (the nflow tool then restarts
# itself with a better family), export that family for every program of
# the run, so that bench_nflow and the PyTorch peer (which uses the
# system's OpenBLAS in Debian) run the same kernels as the tool.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -x "$build/nflow" ]; then
    blas_json=$("$build/nflow" info --system --json 2>/dev/null || true)
    case "$blas_json" in
    *'"blas_kernel_chosen_by": "nflow"'*)
        OPENBLAS_CORETYPE=$(echo "$blas_json" | sed -n 's/.*"blas_kernel": "\([A-Za-z0-9]*\)".*/\1/p')
        export OPENBLAS_CORETYPE
        echo "bench: OpenBLAS does not know this CPU; OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE for every program" >&2 ;;
    esac
fi
