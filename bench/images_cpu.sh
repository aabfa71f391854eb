#!/bin/sh
# Long image runs on a machine you keep working on (bench/RESULTS.md,
# "Images"): nflow train --model glow and the PyTorch reference of the same
# architecture side by side, one thread each, each pinned to a processor of
# its own and each stopped at the same CPU time (its own user + system
# seconds), so that whatever else runs costs both wall time alone. nflow is
# stopped as Ctrl-C stops it (the best epoch kept, or the parameters where it
# stopped when better on the validation rows); the reference reports its
# test bits/dim at each CPU time of --report.
#
# Both keep their training state in OUTDIR (glow.ckpt, torch.ckpt), so a run
# longer than the machine stays up goes on where it stopped.
#
# usage: sh bench/images_cpu.sh [build] [outdir]
#   IMAGES_CPU_SECONDS  CPU seconds of each run (default 3600)
#   IMAGES_RESUME       1: continue the runs in OUTDIR from their checkpoints,
#                       the budget counting the CPU time they had used
#                       (glow.cpu: "time CPU-seconds" every 2 s; the
#                       reference keeps its own in its checkpoint)
# Needs Debian's dataset-fashion-mnist and python3-torch; two processors.
build=${1:-build}
out=${2:-/tmp/nflow-images-cpu}
here=$(cd "$(dirname "$0")" && pwd)
budget=${IMAGES_CPU_SECONDS:-3600}
mkdir -p "$out"
# a copy: the build may change while the run goes on
resume=${IMAGES_RESUME:-}
if [ -z "$resume" ]; then
    cp "$build/nflow" "$out/nflow" || exit 1
    rm -f "$out/glow.ckpt" "$out/glow.cpu" "$out/torch.ckpt" "$out/torch.json"
    IMAGES_SKIP="nflow labels torch speed" sh "$here/images.sh" "$build" "$out" || exit 1
fi
. "$here/find_python.sh"
[ -n "$py" ] || { echo "images_cpu.sh: python3-torch not installed" >&2; exit 1; }

# CPU seconds of process $1 so far (0 once it is gone)
cpu_seconds() {
    awk -v tck="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / tck }' "/proc/$1/stat" 2>/dev/null ||
        echo 0
}

before=0
if [ -n "$resume" ]; then
    # the CPU time when the checkpoint was written: the last record (taken every 2 s) not after it
    written=$(stat -c %Y "$out/glow.ckpt") || exit 1
    before=$(awk -v w="$written" '$1 <= w + 1 { c = $2 } END { print c + 0 }' "$out/glow.cpu") || exit 1
    taskset -c 0 "$out/nflow" train --data "$out/fashion_train.npy" --test "$out/fashion_test.npy" \
        --resume "$out/glow.ckpt" --threads 1 --out "$out/glow.nfm" --json > "$out/glow.json" 2>> "$out/glow.err" &
else
    taskset -c 0 "$out/nflow" train --data "$out/fashion_train.npy" --test "$out/fashion_test.npy" --model glow \
        --threads 1 --checkpoint "$out/glow.ckpt" --checkpoint-every 60 --out "$out/glow.nfm" --json \
        > "$out/glow.json" 2> "$out/glow.err" &
fi
nflow_pid=$!
torch_resume=""
[ -z "$resume" ] || [ ! -f "$out/torch.ckpt" ] || torch_resume=--resume # (none yet: from the start)
OMP_NUM_THREADS=1 taskset -c 1 "$py" "$here/glow_reference.py" train --data "$out/fashion_train.npy" \
    --test "$out/fashion_test.npy" --threads 1 --clock cpu --seconds "$budget" \
    --report "$((budget / 6)),$((budget / 2)),$budget" --checkpoint "$out/torch.ckpt" --checkpoint-every 60 \
    $torch_resume >> "$out/torch.json" 2>> "$out/torch.err" &
torch_pid=$!
while kill -0 "$nflow_pid" 2> /dev/null; do
    used=$(awk -v s="$(cpu_seconds "$nflow_pid")" -v b="$before" 'BEGIN { print s + b }')
    echo "$(date +%s) $used" >> "$out/glow.cpu"
    if awk -v s="$used" -v b="$budget" 'BEGIN { exit !(s >= b) }'; then
        kill -INT "$nflow_pid"
        break
    fi
    sleep 2
done
wait "$nflow_pid"
wait "$torch_pid"
/usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
print("nflow glow, %s CPU s, 1 thread: test %.3f bits/dim (val %.3f), %d epochs, %.0f s wall" % (sys.argv[2],
      d["test_bits_per_dim"], d["val_bits_per_dim"], d["epochs"], d["seconds"]))' "$out/glow.json" "$budget"
cat "$out/torch.json"
"$out/nflow" sample "$out/glow.nfm" --n 64 --temperature 0.7 --out "$out/glow.png" && echo "samples: $out/glow.png"
