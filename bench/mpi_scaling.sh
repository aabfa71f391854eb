#!/bin/sh
# Data-parallel training's figures for docs/distributed.md (issue 17): the
# compute time of one step of MAF (5) 2 x 512 on n = 63 (the BSDS300 shape)
# at several global batch sizes, steps/s at 1 and 2 processes, and the time
# of one allreduce of that model's gradient. Needs `make MPI=1` (build-mpi)
# and mpirun. usage: sh bench/mpi_scaling.sh [build-mpi] [rows]
build=${1:-build-mpi}; rows=${2:-20000}
nflow="$build/nflow"
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
export OMP_NUM_THREADS=1
mpi() { n=$1; shift; mpirun --allow-run-as-root --oversubscribe -np "$n" "$@"; }
# 63 correlated columns (a random walk across the columns), rows x 63, as CSV
awk -v n="$rows" 'BEGIN { srand(7); for (r = 0; r < n; r++) { x = 0; line = "";
    for (j = 0; j < 63; j++) { u = rand(); v = rand(); g = sqrt(-2 * log(u + 1e-12)) * cos(6.2831853 * v);
        x = 0.8 * x + g; line = line (j ? "," : "") x } print line } }' > "$t/d.csv"
head -n 200 "$t/d.csv" > "$t/small.csv" # validation and test: small, so the time is the steps'
"$nflow" train --data "$t/d.csv" --model maf --layers 5 --hidden 512 --hidden-layers 2 --epochs 0 --quiet \
    --out "$t/m.nfm" > /dev/null
params=$("$nflow" info "$t/m.nfm" | sed -n 's/^parameters: //p')
echo "MAF (5) 2 x 512 on 63 columns: $params parameters; $rows rows; one thread per process"
mpicc -O2 -o "$t/allreduce" bench/allreduce.c
for n in 2; do
    mpi "$n" "$t/allreduce" "$params" 30
done
for batch in 256 1024 4096; do
    for n in 1 2; do
        mpi "$n" "$nflow" train --data "$t/d.csv" --val "$t/small.csv" --test "$t/small.csv" --model maf \
            --layers 5 --hidden 512 --hidden-layers 2 --epochs 1 --batch "$batch" --patience-steps 0 --threads 1 \
            --json --out "$t/m$n.nfm" > "$t/r.json" 2>/dev/null
        secs=$(sed -E 's/.*"seconds": ([0-9.]+).*/\1/' "$t/r.json")
        steps=$(( (rows + batch - 1) / batch ))
        awk -v s="$secs" -v k="$steps" -v n="$n" -v b="$batch" \
            'BEGIN { printf "batch %5d, %d process%s: %d steps in %.2f s: %.2f steps/s, %.1f ms a step\n", b, n, (n > 1 ? "es" : ""), k, s, k / s, 1e3 * s / k }'
    done
done
