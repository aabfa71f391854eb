#!/bin/sh
# Image flows on Fashion-MNIST (bench/RESULTS.md, "Images"; issue 31):
#   1. nflow train --model glow (the defaults otherwise) for SECONDS of
#      wall time on THREADS threads, tested on the 10,000 test images;
#   2. the PyTorch reference of the same architecture and recipe
#      (bench/glow_reference.py train) for the same time and threads;
#   3. training speed, seconds per image of whole epochs (2,560 images,
#      batch 16, the default, and 64), nflow against PyTorch, at 1 and
#      THREADS threads;
#   4. a grid of 64 samples at temperature 0.7 (glow.png);
#   5. a class-conditional glow (--labels, the IDX labels) for SECONDS,
#      tested on the test images given their labels, and a grid of 8
#      samples of each class at temperature 0.7 (classes.png).
# Prints one line per figure. Needs Debian's dataset-fashion-mnist and, for
# 2 and 3, python3-torch.
#
# usage: sh bench/images.sh [build] [outdir]
#   IMAGES_SECONDS  training time of 1 and 2 (default 600)
#   IMAGES_THREADS  threads (default 2)
#   IMAGES_SKIP     any of "nflow labels torch speed" to skip
build=${1:-build}
out=${2:-/tmp/nflow-images}
nflow="$(cd "$(dirname "$build/nflow")" && pwd)/nflow"
here=$(cd "$(dirname "$0")" && pwd)
seconds=${IMAGES_SECONDS:-600}
threads=${IMAGES_THREADS:-2}
skip=${IMAGES_SKIP:-}
F=/usr/share/datasets/fashion-mnist
[ -x "$nflow" ] || { echo "images.sh: no $nflow (run make)" >&2; exit 1; }
[ -f $F/train-images-idx3-ubyte.gz ] || { echo "images.sh: apt-get install dataset-fashion-mnist" >&2; exit 1; }
mkdir -p "$out"
/usr/bin/python3 - "$out" $F << 'EOF' || exit 1
import gzip, sys
import numpy as np
out, src = sys.argv[1], sys.argv[2]
for part, name in (("train", "fashion_train"), ("t10k", "fashion_test")):
    with gzip.open("%s/%s-images-idx3-ubyte.gz" % (src, part)) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    np.save("%s/%s.npy" % (out, name), x)
x = np.load(out + "/fashion_train.npy")
np.save(out + "/speed.npy", x[:2560])
np.save(out + "/two.npy", x[2560:2562])
EOF
case $skip in *nflow*) ;; *)
    "$nflow" train --data "$out/fashion_train.npy" --test "$out/fashion_test.npy" --model glow --threads "$threads" \
        --max-time "$seconds" --out "$out/glow.nfm" --json > "$out/glow.json" 2> "$out/glow.err" || exit 1
    /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
print("nflow glow, %s s, %s threads: test %.3f bits/dim (val %.3f), %d epochs, %.0f s in all" % (sys.argv[2],
      sys.argv[3], d["test_bits_per_dim"], d["val_bits_per_dim"], d["epochs"], d["seconds"]))' \
        "$out/glow.json" "$seconds" "$threads"
    "$nflow" sample "$out/glow.nfm" --n 64 --temperature 0.7 --out "$out/glow.png" && echo "samples: $out/glow.png" ;;
esac
case $skip in *labels*) ;; *)
    "$nflow" train --data "$out/fashion_train.npy" --labels $F/train-labels-idx1-ubyte.gz \
        --test "$out/fashion_test.npy" --test-labels $F/t10k-labels-idx1-ubyte.gz --model glow --threads "$threads" \
        --max-time "$seconds" --out "$out/classes.nfm" --json > "$out/classes.json" 2> "$out/classes.err" || exit 1
    /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
print("nflow glow given the class, %s s, %s threads: test %.3f bits/dim (val %.3f), %d epochs, %.0f s in all" % (
      sys.argv[2], sys.argv[3], d["test_bits_per_dim"], d["val_bits_per_dim"], d["epochs"], d["seconds"]))' \
        "$out/classes.json" "$seconds" "$threads"
    "$nflow" sample "$out/classes.nfm" --classes 0-9 --n 8 --temperature 0.7 --out "$out/classes.png" &&
        echo "samples of each class (a row each, 0-9): $out/classes.png" ;;
esac
. "$here/find_python.sh"
if [ -z "$py" ]; then
    echo "images.sh: python3-torch not installed: the PyTorch reference skipped"
    exit 0
fi
case $skip in *torch*) ;; *)
    OMP_NUM_THREADS=$threads "$py" "$here/glow_reference.py" train --data "$out/fashion_train.npy" \
        --test "$out/fashion_test.npy" --threads "$threads" --seconds "$seconds" \
        --report "$((seconds / 5)),$seconds" ;;
esac
case $skip in *speed*) ;; *)
    for b in 16 64; do for t in 1 "$threads"; do
        s=$("$nflow" train --data "$out/speed.npy" --val "$out/two.npy" --test "$out/two.npy" --model glow \
            --batch "$b" --threads "$t" --epochs 1 --out "$out/speed.nfm" --json |
            sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p')
        awk -v s="$s" -v t="$t" -v b="$b" 'BEGIN { printf "{\"impl\": \"nflow\", \"threads\": %d, \"batch\": %d, \"seconds_per_image\": %.6f}\n", t, b, s / 2560 }'
        OMP_NUM_THREADS=$t "$py" "$here/glow_reference.py" speed --data "$out/speed.npy" --images 2560 --threads "$t" \
            --batch "$b" --repeats 1
    done; done ;;
esac
