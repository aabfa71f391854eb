#!/bin/sh
# The same bits at any thread count: training, densities and samples with
# --threads 1, 2 and 3 (tiles of a 500-row batch taken unevenly, the
# sequential tiles of a MAF's sampling and an IAF's density on different
# threads) give identical files.
suite=cli_threads
. "$(dirname "$0")/lib_cli.sh"

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
echo "cli_threads: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
