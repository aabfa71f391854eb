#!/bin/sh
# nflow never runs generic kernels on a CPU with AVX2 without saying so:
# `nflow info --system` reports the CPU's vector features and the BLAS
# kernels; with OPENBLAS_CORETYPE unset the tool runs kernels as wide as
# the CPU's AVX2 (it restarts itself with the right family where OpenBLAS
# does not know the CPU); a family the user forces is kept, with a warning.
suite=cli_system
. "$(dirname "$0")/lib_cli.sh"

# field NAME: a value of the last JSON in $t/out.txt
field() { sed -n "s/^ *\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$t/out.txt"; }

(unset OPENBLAS_CORETYPE; "$nflow" info --system --json >"$t/out.txt" 2>"$t/err.txt") && ok || bad "info --system --json failed: $(cat "$t/err.txt")"
features=$(field cpu_features); kernel=$(field blas_kernel); bits=$(field blas_kernel_bits)
generic=$(field blas_kernel_generic); threads=$(field threads)
echo "cli_system: cpu '$(field cpu)', features '$features', kernels $kernel ($bits-bit), threads $threads"
[ -n "$kernel" ] && [ -n "$bits" ] && [ -n "$threads" ] && ok || bad "missing fields: $(cat "$t/out.txt")"
case " $features " in
*" avx2 "*" fma "*)
    [ "$generic" = false ] && [ "$bits" -ge 256 ] && ok ||
        bad "CPU with AVX2 and FMA runs $kernel ($bits-bit) kernels: $(cat "$t/out.txt")" ;;
*) ok ;;
esac
case " $features " in
*" avx512f "*" avx512dq "*" avx512bw "*" avx512vl "*)
    [ "$bits" -ge 512 ] && ok || echo "cli_system: note: AVX-512 CPU, OpenBLAS chose $kernel" ;;
*) ok ;;
esac

# --threads reaches the report; the user's own kernel family is kept
run_ok "info --system text" "$nflow" info --system
grep -q '^kernels:' "$t/out.txt" && grep -q '^threads:' "$t/out.txt" && ok || bad "text report: $(cat "$t/out.txt")"
OMP_NUM_THREADS=3 "$nflow" info --system --json >"$t/out.txt" 2>&1
[ "$(field threads)" = 3 ] && ok || bad "OMP_NUM_THREADS=3 gave $(field threads) threads"
OPENBLAS_CORETYPE=Prescott "$nflow" info --system >"$t/out.txt" 2>&1
grep -q '^kernels: *Prescott' "$t/out.txt" && ok || bad "a forced Prescott was not kept: $(cat "$t/out.txt")"
case " $features " in
*" avx2 "*" fma "*) grep -q '^warning: *generic kernels' "$t/out.txt" && ok || bad "forced Prescott on AVX2 without a warning" ;;
*) ok ;;
esac
# the library's limits, in the text and the JSON report
run_ok "info --system limits" "$nflow" info --system
grep -q '^limits: .* hidden 1\.\.65536, hidden_layers 0\.\.16,.* batch 1\.\.1048576, threads 1\.\.1024$' "$t/out.txt" && ok ||
    bad "limits line: $(grep limits "$t/out.txt")"
"$nflow" info --system --json >"$t/out.txt" 2>&1
grep -q '"limits": {"dim": \[1, 100000\], .*"hidden": \[1, 65536\]' "$t/out.txt" && ok ||
    bad "limits in JSON: $(grep limits "$t/out.txt")"
refused "info --system with a model" 1 "no model file" - -- "$nflow" info --system "$t/x.nfm" && ok
echo "cli_system: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
