#!/bin/sh
# What dropout does to the test log-likelihood of nflow's defaults
# (bench/RESULTS.md, "Dropout"): for each set, one seeded 80/10/10 split
# written as files (the toys: 2,000 training and 222 validation rows of
# their quality set, tested on their 10,000-row test file), the defaults
# trained with each --dropout rate on the same split, every model evaluated
# on the same test rows (`nflow eval --out`), and the per-row differences
# against no dropout: their mean +- 2 standard errors (paired, so much
# tighter than each model's own +-).
#
# usage: sh bench/dropout.sh [build] [datadir] [outdir]
#   datadir           bench/quality.sh's data (written there if missing)
#   DROPOUT_SETS      sets (default: the quality sets of 8 columns or more
#                     below 20,000 rows, subsets of 3,333 rows of magic,
#                     htru2 and ar8, and the toys at 2,222 rows)
#   DROPOUT_RATES     rates besides 0 (default "0.1 0.2 0.3 0.5")
#   DROPOUT_SECONDS   wall-clock cap per run (default 150)
#   DROPOUT_JOBS      runs side by side, one thread each (default 2)
build=${1:-build}
data=${2:-/tmp/nflow-quality}
out=${3:-/tmp/nflow-dropout}
nflow="$(cd "$(dirname "$build/nflow")" && pwd)/nflow"
here=$(cd "$(dirname "$0")" && pwd)
sets=${DROPOUT_SETS:-"breast_cancer digits bsds300_small fashion196 magic3k htru23k ar8_3k magic htru2 banana2k eight_gaussians2k"}
rates=${DROPOUT_RATES:-"0.1 0.2 0.3 0.5"}
seconds=${DROPOUT_SECONDS:-150}
jobs=${DROPOUT_JOBS:-2}
[ -x "$nflow" ] || { echo "dropout.sh: no $nflow (run make)" >&2; exit 1; }
mkdir -p "$data" "$out"
if [ ! -f "$data/ar8.npy" ]; then
    /usr/bin/python3 "$here/quality/prepare.py" "$data" --shared "$here/../../shared" >&2 || exit 1
fi
for toy in banana eight_gaussians; do # as bench/quality.sh makes them
    [ -f "$data/$toy.csv" ] || "$nflow" toy "$toy" --n 20000 --seed 1 --out "$data/$toy.csv" || exit 1
    [ -f "$data/${toy}_test.csv" ] || "$nflow" toy "$toy" --n 10000 --seed 2 --out "$data/${toy}_test.csv" || exit 1
done

# the splits: SET_{train,val,test}.npy
/usr/bin/python3 - "$data" "$out" $sets <<'EOF' || exit 1
import os, sys
import numpy as np
data, out, sets = sys.argv[1], sys.argv[2], sys.argv[3:]
def save(name, x, test=None):
    x = x[np.random.default_rng(1).permutation(len(x))]
    n = len(x) // 10
    if test is None:
        test, x = x[:n], x[n:]
    np.save(f"{out}/{name}_test.npy", test)
    np.save(f"{out}/{name}_val.npy", x[:n])
    np.save(f"{out}/{name}_train.npy", x[n:])
for s in sets:
    if os.path.exists(f"{out}/{s}_train.npy"):
        continue
    if s.endswith("2k"):  # a toy: its first 2,222 rows, its own test file
        t = s[:-2]
        save(s, np.loadtxt(f"{data}/{t}.csv", delimiter=",", dtype=np.float32)[:2222],
             np.loadtxt(f"{data}/{t}_test.csv", delimiter=",", dtype=np.float32))
    elif s == "ar8_3k":
        save(s, np.load(f"{data}/ar8.npy")[:3333], np.load(f"{data}/ar8_test.npy"))
    elif s.endswith("3k"):  # 3,333 rows drawn from the set
        x = np.load(f"{data}/{s[:-2]}.npy")
        save(s, x[np.random.default_rng(5).permutation(len(x))[:3333]])
    else:
        save(s, np.load(f"{data}/{s}.npy"))
EOF

run() { # set rate
    "$nflow" train --data "$out/$1_train.npy" --val "$out/$1_val.npy" --test "$out/$1_test.npy" \
        --out "$out/$1.$2.nfm" --json --quiet --threads 1 --seed 1 --max-time "$seconds" --dequantize \
        --dropout "$2" >"$out/$1.$2.json" 2>"$out/$1.$2.err" &&
        "$nflow" eval "$out/$1.$2.nfm" --data "$out/$1_test.npy" --dequantize --seed 1 --threads 1 \
            --out "$out/$1.$2.rows.npy" >/dev/null 2>>"$out/$1.$2.err"
}
i=0
for s in $sets; do
    for p in 0 $rates; do
        run "$s" "$p" &
        i=$((i + 1))
        [ $((i % jobs)) -ne 0 ] || wait
    done
done
wait

/usr/bin/python3 - "$out" "$seconds" "0 $rates" $sets <<'EOF'
import json, os, sys
import numpy as np
out, seconds, rates, sets = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), sys.argv[4:]
print("| set | training rows x columns | test rows | no dropout | " + " | ".join(rates[1:]) + " |")
print("|---|---|---|---|" + "---|" * (len(rates) - 1))
for s in sets:
    try:
        base = np.load(f"{out}/{s}.0.rows.npy").astype(np.float64)
    except OSError:
        print(f"| {s} | failed: see {out}/{s}.0.err |")
        continue
    shape = np.load(f"{out}/{s}_train.npy", mmap_mode="r").shape
    cells = []
    for p in rates:
        try:
            rows = np.load(f"{out}/{s}.{p}.rows.npy").astype(np.float64)
            run = json.load(open(f"{out}/{s}.{p}.json"))
        except (OSError, ValueError):
            cells.append("failed")
            continue
        note = f"{run['epochs']} ep, {run['seconds']:.0f} s" + (", capped" if run["seconds"] >= seconds - 1 else "")
        if p == "0":
            cells.append(f"{rows.mean():.3f} ({note})")
        else:
            d = rows - base
            cells.append(f"{d.mean():+.3f} ± {2 * d.std(ddof=1) / np.sqrt(len(d)):.3f} ({note})")
    print(f"| {s} | {shape[0]} x {shape[1]} | {len(base)} | " + " | ".join(cells) + " |")
EOF
