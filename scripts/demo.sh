#!/bin/sh
# make demo: train RealNVP on a built-in 2-D density whose true density is
# known, report the test log-likelihood beside the true one, and draw it.
set -e
# 2-D models are far too small to gain from threads, and on a busy machine
# OpenMP threads waiting for a core slow them down many times over.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
build=${1:-build}
nflow="$build/nflow"
out=demo
mkdir -p "$out"
toy=eight_gaussians
"$nflow" toy $toy --n 10000 --seed 1 --out "$out/train.csv"
"$nflow" toy $toy --n 10000 --seed 2 --out "$out/test.csv"
echo "training RealNVP on $toy (10,000 points; batch 256, at most 60 epochs)..."
"$nflow" train --data "$out/train.csv" --test "$out/test.csv" --model realnvp --batch 256 --epochs 60 --out "$out/realnvp.nfm" \
    --plot "$out/realnvp.png" --quiet
"$nflow" eval "$out/realnvp.nfm" --data "$out/test.csv"
"$nflow" toy $toy --eval "$out/test.csv"
"$nflow" sample "$out/realnvp.nfm" --n 5 --seed 1 --out "$out/samples.csv"
echo "pictures: $out/realnvp.png (density, data, samples); model: $out/realnvp.nfm"

# Probability density distillation (Parallel WaveNet): a MAF teacher has an
# exact one-pass density but samples sequentially; an IAF student samples in
# one pass. The student is trained on its own samples only, to minimise
# KL(student || teacher); the teacher just scores them.
echo
toy=banana
"$nflow" toy $toy --n 10000 --seed 3 --out "$out/banana_train.csv"
"$nflow" toy $toy --n 10000 --seed 4 --out "$out/banana_test.csv"
echo "distillation 1/3: teacher = MAF (5 MADEs) trained by maximum likelihood on $toy (at most 30 epochs)..."
"$nflow" train --data "$out/banana_train.csv" --test "$out/banana_test.csv" --model maf --layers 5 --epochs 30 \
    --out "$out/maf_teacher.nfm" --quiet
echo "distillation 2/3: student = IAF, started at the teacher's Gaussian fit, fitted by maximum likelihood to"
echo "  20,000 teacher samples, then trained to minimise KL(student || teacher) on its own samples"
echo "  (progress: each check's KL +- 2 s.e. on 4096 fresh samples, cross-entropy -E log t, entropy -E log s;"
echo "  then the KL on 10,000 other fresh student samples and the sampling speed of both models)"
"$nflow" distill --teacher "$out/maf_teacher.nfm" --student iaf --layers 5 --samples 20000 --steps 400 \
    --progress-every 50 --plot "$out/distill.png" --out "$out/iaf_student.nfm"
echo "distillation 3/3: independent check: 10,000 student samples (nflow sample), log s and log t from nflow eval"
"$nflow" sample "$out/iaf_student.nfm" --n 10000 --seed 9 --out "$out/student_samples.csv"
"$nflow" eval "$out/iaf_student.nfm" --data "$out/student_samples.csv" --out "$out/log_s.csv" >/dev/null
"$nflow" eval "$out/maf_teacher.nfm" --data "$out/student_samples.csv" --out "$out/log_t.csv" >/dev/null
paste -d, "$out/log_s.csv" "$out/log_t.csv" | awk -F, '{ d = $1 - $2; n++; s += d; q += d * d }
    END { m = s / n; v = (q - n * m * m) / (n - 1); if (v < 0) v = 0
          printf "  KL(student || teacher) = mean(log s - log t) = %.4f +- %.4f nats (n = %d)\n", m, 2 * sqrt(v / n), n }'
echo "test log-likelihood on real $toy data (teacher, student, true density):"
printf '  teacher: '; "$nflow" eval "$out/maf_teacher.nfm" --data "$out/banana_test.csv" | head -1
printf '  student: '; "$nflow" eval "$out/iaf_student.nfm" --data "$out/banana_test.csv" | head -1
printf '  true:    '; "$nflow" toy $toy --eval "$out/banana_test.csv"
echo "picture: $out/distill.png (teacher density, student density, teacher samples, student samples)"
