#!/bin/sh
# Faults on purpose (issue 14): a failing fsync or rename (an LD_PRELOAD
# shim, tests/fault_shim.c) and a full disk (`ulimit -f`, with SIGXFSZ
# ignored so that write fails with EFBIG): the command fails with the
# reason, the old output and the checkpoint survive, and no temporary
# file is left behind.
suite=cli_faults
. "$(dirname "$0")/lib_cli.sh"
shim="$(cd "$build" && pwd)/tests/libfault.so"
[ -f "$shim" ] || { bad "no $shim (make check builds it)"; echo "$suite: $passed passed, $failed failed"; exit 1; }
# an ASan build lets a plain library be preloaded before its runtime
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

"$nflow" toy banana --n 400 --seed 1 --out "$t/d.csv" || bad "toy"
run_ok "train" "$nflow" train --data "$t/d.csv" --epochs 2 --threads 1 --quiet --out "$t/m.nfm" --checkpoint "$t/m.nfc"
run_ok "sample" "$nflow" sample "$t/m.nfm" --n 50 --out "$t/s.csv"
cp "$t/m.nfm" "$t/m.keep"; cp "$t/m.nfc" "$t/c.keep"; cp "$t/s.csv" "$t/s.keep"
no_temp() { [ "$(ls "$t" | grep -c '\.tmp\.')" -eq 0 ] && ok || bad "$1: left $(ls "$t" | grep '\.tmp\.')"; }

for call in fsync rename; do
    refused "sample, $call fails" 1 "write failed" - -- \
        env LD_PRELOAD="$shim" NFLOW_FAULT=$call "$nflow" sample "$t/m.nfm" --n 80 --seed 3 --out "$t/s.csv" && ok
    cmp -s "$t/s.csv" "$t/s.keep" && ok || bad "$call: the old samples were changed"
    no_temp "sample, $call"
    refused "train, $call fails" 1 "write failed" - -- \
        env LD_PRELOAD="$shim" NFLOW_FAULT=$call "$nflow" train --data "$t/d.csv" --epochs 3 --threads 1 --quiet \
        --out "$t/m.nfm" --checkpoint "$t/m.nfc" && ok
    cmp -s "$t/m.nfm" "$t/m.keep" && cmp -s "$t/m.nfc" "$t/c.keep" && ok || bad "$call: the old model or checkpoint changed"
    no_temp "train, $call"
done

# a full checkpoint disk, the model's with space (issue 26): the checkpoint's
# writes fail with ENOSPC (after every step, and the final one), training
# goes on, the model is written (the bits of a run without --checkpoint),
# a warning names the checkpoint and the reason, the exit status is 0
mkdir "$t/ckdisk"
run_ok "train, no checkpoint" "$nflow" train --data "$t/d.csv" --epochs 3 --threads 1 --quiet --out "$t/plain.nfm"
for call in fwrite fsync; do
    rm -f "$t/full.nfm"
    if env LD_PRELOAD="$shim" NFLOW_FAULT=$call,enospc NFLOW_FAULT_PATH="$t/ckdisk/" "$nflow" train --data "$t/d.csv" \
        --epochs 3 --threads 1 --quiet --out "$t/full.nfm" --checkpoint "$t/ckdisk/c.nfc" --checkpoint-every 0 \
        >"$t/out.txt" 2>"$t/err.txt"; then ok; else bad "full checkpoint disk ($call): exit $?: $(cat "$t/err.txt")"; fi
    grep -q "warning: checkpoint not written: .*ckdisk/c.nfc: write failed: No space left on device; training goes on" \
        "$t/err.txt" && grep -q "warning: [0-9]* checkpoints not written (the last: .*ckdisk/c.nfc: write failed: No space left on device): .*ckdisk/c.nfc may hold an earlier state of this run, or none; the model is written all the same" \
        "$t/err.txt" && ok || bad "full checkpoint disk ($call): the warnings: $(cat "$t/err.txt")"
    cmp -s "$t/full.nfm" "$t/plain.nfm" && ok || bad "full checkpoint disk ($call): not the model of a run without it"
    [ -z "$(ls -A "$t/ckdisk")" ] && ok || bad "full checkpoint disk ($call): left $(ls -A "$t/ckdisk")"
done

# a full disk: files of at most 8 KiB (the model is larger)
refused "full disk" 1 "File too large" - -- \
    sh -c "ulimit -f 16; trap '' XFSZ; exec \"$nflow\" train --data \"$t/d.csv\" --epochs 2 --threads 1 --quiet --out \"$t/m.nfm\"" && ok
cmp -s "$t/m.nfm" "$t/m.keep" && ok || bad "full disk: the old model changed"
no_temp "full disk"

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
