#!/bin/sh
# The same bits at any thread count: training, densities and samples with
# --threads 1, 2 and 3 (tiles of a 500-row batch taken unevenly, the
# sequential tiles of a MAF's sampling and an IAF's density on different
# threads) give identical files.
suite=cli_threads
. "$(dirname "$0")/lib_cli.sh"
# counts above this machine's processors: kept (nflow otherwise warns and uses what it may)
NFLOW_OVERSUBSCRIBE=1
export NFLOW_OVERSUBSCRIBE

run_ok "toy" "$nflow" toy checkerboard --n 6000 --seed 5 --out "$t/d.csv"
for model in realnvp maf iaf maf-mog; do
    for th in 1 2 3; do
        run_ok "$model train $th" "$nflow" train --data "$t/d.csv" --model "$model" --layers 2 --hidden 96 \
            --batch 500 --batch-norm --components 3 --epochs 2 --seed 4 --threads "$th" --quiet --out "$t/$model.$th.nfm"
        run_ok "$model eval $th" "$nflow" eval "$t/$model.1.nfm" --data "$t/d.csv" --threads "$th" --out "$t/$model.lp.$th.npy"
        run_ok "$model sample $th" "$nflow" sample "$t/$model.1.nfm" --n 1500 --seed 2 --threads "$th" \
            --out "$t/$model.x.$th.npy" --log-prob "$t/$model.slp.$th.npy"
    done
    for th in 2 3; do
        same "$model trained, $th threads" "$t/$model.1.nfm" "$t/$model.$th.nfm"
        same "$model densities, $th threads" "$t/$model.lp.1.npy" "$t/$model.lp.$th.npy"
        same "$model samples, $th threads" "$t/$model.x.1.npy" "$t/$model.x.$th.npy"
        same "$model sample densities, $th threads" "$t/$model.slp.1.npy" "$t/$model.slp.$th.npy"
    done
done
# a checkpoint written with 1 thread and resumed with 3 ends where the
# uninterrupted 1-thread run ends
run_ok "half, 1 thread" "$nflow" train --data "$t/d.csv" --model maf --layers 2 --hidden 96 --batch 500 --epochs 1 \
    --seed 4 --threads 1 --quiet --out "$t/half.nfm" --checkpoint "$t/half.nfc"
run_ok "resumed, 3 threads" "$nflow" train --data "$t/d.csv" --threads 3 --epochs 2 --resume "$t/half.nfc" --quiet \
    --out "$t/resumed.nfm"
run_ok "whole, 1 thread" "$nflow" train --data "$t/d.csv" --model maf --layers 2 --hidden 96 --batch 500 --epochs 2 \
    --seed 4 --threads 1 --quiet --out "$t/whole.nfm"
same "resumed at another thread count" "$t/whole.nfm" "$t/resumed.nfm"

# the default count: what the process may use (its affinity mask here), and
# --threads above it warns and uses that many (issue 28)
if command -v taskset >/dev/null 2>&1; then
    taskset -c 0 "$nflow" info --system >"$t/sys.txt" 2>&1 &&
        grep -q "^threads: *1 (from the usable processors); this process may use 1: 1 processor in the affinity mask" \
            "$t/sys.txt" && ok || bad "one processor in the mask: $(cat "$t/sys.txt")"
    NFLOW_OVERSUBSCRIBE= taskset -c 0 "$nflow" eval "$t/maf.1.nfm" --data "$t/d.csv" --threads 8 --json \
        >"$t/ev.json" 2>"$t/err.txt" && grep -q "warning: --threads 8: this process may use 1 (1 processor in the affinity mask); using 1" \
        "$t/err.txt" && ok || bad "--threads above the mask: $(cat "$t/err.txt")"
fi
"$nflow" info --system >"$t/sys.txt" 2>&1 && grep -q "^waiting: *OpenMP threads wait passive (set by nflow)" "$t/sys.txt" &&
    ok || bad "the tool's waiting: $(cat "$t/sys.txt")"
OMP_WAIT_POLICY=active "$nflow" info --system >"$t/sys.txt" 2>&1 &&
    grep -q "^waiting: *OpenMP threads wait active (set by OMP_WAIT_POLICY)" "$t/sys.txt" && ok ||
    bad "the user's OMP_WAIT_POLICY: $(cat "$t/sys.txt")"
# one thread has no team to wait in: no restart for it
OMP_NUM_THREADS=1 "$nflow" info --system >"$t/sys.txt" 2>&1 &&
    grep -q "^waiting: .*libgomp's default" "$t/sys.txt" && ok || bad "one thread restarted: $(cat "$t/sys.txt")"
echo "cli_threads: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
