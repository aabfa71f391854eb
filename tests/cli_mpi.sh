#!/bin/sh
# nflow train on several processes (issue 17; a `make MPI=1` build, in
# build-mpi): mpirun -np 2 and -np 3 (uneven shares of each batch) end within
# 1e-5 relative of the single process's validation log-likelihood; the same
# N twice gives the same model file; with dropout too, -np 3 ends where one
# process does; only rank 0 writes and reports; a rank
# killed mid-run ends the job without a hang, its last checkpoint intact,
# and --resume continues it at another N. Skipped (0 passed, 0 failed) when
# the build has no MPI or mpirun is missing.
suite=cli_mpi
. "$(dirname "$0")/lib_cli.sh"
if ! command -v mpirun >/dev/null 2>&1 || ! ldd "$nflow" 2>/dev/null | grep -q libmpi; then
    echo "cli_mpi: $nflow is not an MPI build (make MPI=1) or mpirun is missing; skipped"
    echo "cli_mpi: 0 passed, 0 failed"
    exit 0
fi
export OMP_NUM_THREADS=1
mpi() { n=$1; shift; timeout 120 mpirun --allow-run-as-root --oversubscribe -np "$n" "$@"; }
"$nflow" toy banana --n 3000 --seed 1 --out "$t/d.npy" >/dev/null
"$nflow" toy banana --n 600 --seed 2 --out "$t/v.npy" >/dev/null
"$nflow" toy banana --n 600 --seed 3 --out "$t/e.npy" >/dev/null
common="--data $t/d.npy --val $t/v.npy --test $t/e.npy --model maf --layers 2 --hidden 32 --epochs 4 --batch 100
        --patience-steps 0 --threads 1 --json"
val_of() { sed -E 's/.*"val_log_likelihood": ([-0-9.e]+).*/\1/' "$1"; }
# shellcheck disable=SC2086
run_ok "one process" "$nflow" train $common --out "$t/m1.nfm"
cp "$t/out.txt" "$t/one.json"
for n in 2 3; do
    # shellcheck disable=SC2086
    run_ok "-np $n" mpi "$n" "$nflow" train $common --out "$t/m$n.nfm"
    [ "$(grep -c '"val_log_likelihood"' "$t/out.txt")" = 1 ] && ok || bad "-np $n: not one report: $(cat "$t/out.txt")"
    cp "$t/out.txt" "$t/np$n.json"
    awk -v a="$(val_of "$t/one.json")" -v b="$(val_of "$t/np$n.json")" \
        'BEGIN { d = a - b; if (d < 0) d = -d; r = a < 0 ? -a : a; exit !(d <= 1e-5 * r) }' && ok ||
        bad "-np $n: validation $(val_of "$t/np$n.json"), one process $(val_of "$t/one.json")"
done
# with dropout: each row's draws follow its place in the global batch, so
# a shared batch drops what one process would
# shellcheck disable=SC2086
run_ok "one process, dropout" "$nflow" train $common --dropout 0.3 --out "$t/d1.nfm"
cp "$t/out.txt" "$t/d1.json"
# shellcheck disable=SC2086
run_ok "-np 3, dropout" mpi 3 "$nflow" train $common --dropout 0.3 --out "$t/d3.nfm"
awk -v a="$(val_of "$t/d1.json")" -v b="$(val_of "$t/out.txt")" -v c="$(val_of "$t/one.json")" \
    'BEGIN { d = a - b; if (d < 0) d = -d; r = a < 0 ? -a : a; exit !(d <= 1e-5 * r && a != c) }' && ok ||
    bad "-np 3 with dropout: validation $(val_of "$t/out.txt"), one process $(val_of "$t/d1.json"), without $(val_of "$t/one.json")"
# the same N twice: the same bits
# shellcheck disable=SC2086
run_ok "-np 2 again" mpi 2 "$nflow" train $common --out "$t/m2b.nfm"
same "-np 2 twice" "$t/m2.nfm" "$t/m2b.nfm"
ls "$t" | grep -q '\.tmp\.' && bad "temporary files left: $(ls "$t")" || ok
# batch statistics differ between processes: refused, no model written
refused "-np 2 --batch-norm" 1 "batch statistics" "$t/bn.nfm" -- \
    mpi 2 "$nflow" train --data "$t/d.npy" --val "$t/v.npy" --test "$t/e.npy" --model maf --batch-norm --epochs 1 \
    --threads 1 --quiet --out "$t/bn.nfm" && ok
# rank 1 killed at its 60th reduction (a checkpoint after every step): the job
# ends, with a message, well before the timeout; the checkpoint is whole
long="--data $t/d.npy --val $t/v.npy --test $t/e.npy --model maf --layers 2 --hidden 32 --epochs 6 --batch 100
      --patience-steps 0 --threads 1 --quiet"
start=$(date +%s)
# shellcheck disable=SC2086
FAULT_MPI_KILL_RANK=1 FAULT_MPI_KILL_AT=60 mpi 2 -x FAULT_MPI_KILL_RANK -x FAULT_MPI_KILL_AT \
    -x LD_PRELOAD="$(cd "$build" && pwd)/tests/libmpifault.so" "$nflow" train $long --checkpoint "$t/ck.nfc" \
    --checkpoint-every 0 --out "$t/dead.nfm" >"$t/out.txt" 2>"$t/err.txt"
rc=$?
took=$(($(date +%s) - start))
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$took" -lt 100 ] && ok || bad "killed rank: exit $rc after $took s"
grep -q "signal 9" "$t/err.txt" && ok || bad "killed rank: no message naming the failed process: $(cat "$t/err.txt")"
[ ! -e "$t/dead.nfm" ] && ok || bad "a model was written by a failed job"
run_ok "the checkpoint is intact" "$nflow" info "$t/ck.nfc"
# ... and continues at another N, and alone, to the uninterrupted run's figures
# shellcheck disable=SC2086
run_ok "uninterrupted" "$nflow" train $long --json --out "$t/full.nfm"
cp "$t/out.txt" "$t/full.json"
run_ok "--resume at -np 3" mpi 3 "$nflow" train --data "$t/d.npy" --val "$t/v.npy" --test "$t/e.npy" --epochs 6 \
    --patience-steps 0 --threads 1 --json --resume "$t/ck.nfc" --out "$t/res3.nfm"
awk -v a="$(val_of "$t/full.json")" -v b="$(val_of "$t/out.txt")" \
    'BEGIN { d = a - b; if (d < 0) d = -d; r = a < 0 ? -a : a; exit !(d <= 1e-5 * r) }' && ok ||
    bad "resumed at -np 3: validation $(val_of "$t/out.txt"), uninterrupted $(val_of "$t/full.json")"
echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
