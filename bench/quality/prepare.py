#!/usr/bin/python3
"""Builds the data sets of the density-estimation quality benchmark.

Usage: /usr/bin/python3 bench/quality/prepare.py OUTDIR [--shared ../shared]

Writes OUTDIR/NAME.npy (float32, C order, shape (rows, dims)) for each set
described in bench/quality/README.md, and prints one line per set: name, rows,
dims, and whether any column takes only integer values (such sets are trained
with nflow's dequantisation). nflow splits 80/10/10 itself, so each set is one
file. A set whose source is missing is skipped with a message; the others are
still written. The synthetic set ar8 also gets ar8_test.npy and its exact test
log-likelihood in ar8_truth.txt. Needs only Debian's python3-numpy.
"""
import argparse
import gzip
import os
import subprocess
import tempfile

import numpy as np

SKLEARN_DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data"  # python3-sklearn
FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"  # dataset-fashion-mnist


def need(path):
    # A missing source skips its set only (caught in main), never the whole run.
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return path


def magic(shared):
    # Last column is the class letter g/h: read only the 10 numeric columns.
    return np.loadtxt(need(shared + "/data/tabular/magic04.csv"), delimiter=",", usecols=range(10))


def htru2(shared):
    # Header x1..x8,y; y is the label.
    return np.loadtxt(need(shared + "/data/tabular/htru2.csv"), delimiter=",", skiprows=1, usecols=range(8))


def bsds300_train_small(shared):
    # Reuse the shared recipe (patches, dequantisation, mean removal) rather than
    # copy it: its --small training split, 20,000 x 63.
    script = need(shared + "/data/bsds300/prepare.py")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["/usr/bin/python3", script, tmp, "--small"], check=True, stdout=subprocess.DEVNULL)
        return np.load(os.path.join(tmp, "train.npy"))


def bsds300_small(shared):
    # only the first 3,000 training rows are kept
    return bsds300_train_small(shared)[:3000]


def digits(shared):
    # 64 pixel counts 0..16, then the label (dropped). Kept as integers on purpose.
    return np.loadtxt(need(SKLEARN_DATA + "/digits.csv.gz"), delimiter=",")[:, :64]


def breast_cancer(shared):
    # First line is "569,30,malignant,benign" (counts and class names), not data;
    # the last column is the target.
    return np.loadtxt(need(SKLEARN_DATA + "/breast_cancer.csv"), delimiter=",", skiprows=1)[:, :30]


def fashion_images(count):
    # IDX3: big-endian magic 0x00000803, then n, rows, cols, then uint8 pixels.
    with gzip.open(need(FASHION), "rb") as f:
        magic_, n, h, w = np.frombuffer(f.read(16), ">u4")
        assert magic_ == 0x803 and (h, w) == (28, 28), "not an IDX3 28x28 image file"
        return np.frombuffer(f.read(count * h * w), np.uint8).reshape(count, h, w)


def fashion196(shared):
    im = fashion_images(4000)
    # Sum 2x2 blocks: 14x14 = 196 columns, still integers (0..1020), so the
    # set stays discrete but has fewer columns than rows (4,000 x 196).
    return im.astype(np.int64).reshape(4000, 14, 2, 14, 2).sum(axis=(2, 4)).reshape(4000, 196)


def bsds300_20k(shared):
    # The whole --small training split (distillation, bench/distill_real.sh).
    return bsds300_train_small(shared)


def fashion16(shared):
    # Sums of 7x7 blocks: 4x4 = 16 integer columns (0..12,495) of the first 20,000 images.
    im = fashion_images(20000)
    return im.astype(np.int64).reshape(20000, 4, 7, 4, 7).sum(axis=(2, 4)).reshape(20000, 16)


# ar8: x1 ~ N(0,1); x_i | x_<i ~ N(mu_i, sigma_i^2) with
#   mu_i = 0.8 sin(1.5 x_{i-1}) + 0.3 x_{i-2},  sigma_i = 0.25 + 0.5 / (1 + exp(-x_{i-1}))
# (x_0 := 0). Smooth but non-Gaussian and heteroscedastic, with an exact density
# by the chain rule, so a model's test log-likelihood has a known ceiling.
AR_DIMS = 8


def ar_params(prev1, prev2):
    return 0.8 * np.sin(1.5 * prev1) + 0.3 * prev2, 0.25 + 0.5 / (1.0 + np.exp(-prev1))


def ar_sample(n, seed):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, AR_DIMS))
    x[:, 0] = rng.standard_normal(n)
    for i in range(1, AR_DIMS):
        mu, sigma = ar_params(x[:, i - 1], x[:, i - 2] if i >= 2 else 0.0)
        x[:, i] = mu + sigma * rng.standard_normal(n)
    return x


def ar_log_prob(x):
    # Float64 chain rule, applied to the values as stored (float32), so the
    # truth is that of the very file nflow reads.
    x = x.astype(np.float64)
    lp = -0.5 * x[:, 0] ** 2 - 0.5 * np.log(2 * np.pi)
    for i in range(1, AR_DIMS):
        mu, sigma = ar_params(x[:, i - 1], x[:, i - 2] if i >= 2 else 0.0)
        lp += -0.5 * ((x[:, i] - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
    return lp


def ar8(shared):
    return ar_sample(20000, seed=8)


SETS = [magic, htru2, bsds300_small, digits, breast_cancer, fashion196, ar8, bsds300_20k, fashion16]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--shared", default="../shared", help="the shared folder holding data/ (default ../shared)")
    args = ap.parse_args()
    outdir, shared = args.outdir, args.shared
    os.makedirs(outdir, exist_ok=True)
    for make in SETS:
        name = make.__name__
        try:
            a = np.ascontiguousarray(make(shared), dtype=np.float32)
        except FileNotFoundError as e:
            print("%-14s skipped: source missing: %s" % (name, e), flush=True)
            continue
        except Exception as e:  # a broken source skips its set, not the run
            print("%-14s skipped: %s: %s" % (name, type(e).__name__, e), flush=True)
            continue
        assert a.ndim == 2 and np.isfinite(a).all(), name
        np.save(os.path.join(outdir, name + ".npy"), a)
        integer = bool((a == np.round(a)).all(axis=0).any())
        print("%-14s rows %6d  dims %3d  integer-column %s" % (name, a.shape[0], a.shape[1],
                                                               "yes" if integer else "no"), flush=True)
    # ar8's held-out set and exact mean log-likelihood (+- 2 standard errors).
    test = ar_sample(5000, seed=88).astype(np.float32)
    np.save(os.path.join(outdir, "ar8_test.npy"), test)
    lp = ar_log_prob(test)
    mean, se2 = lp.mean(), 2 * lp.std(ddof=1) / np.sqrt(len(lp))
    truth = "%.4f +- %.4f" % (mean, se2)
    with open(os.path.join(outdir, "ar8_truth.txt"), "w") as f:
        # first field: the number (bench/quality.sh reads it); then what it is
        f.write("%.6f ar8_test.npy exact mean log-likelihood (nats), +- %.4f (2 s.e.; 5000 rows)\n" % (mean, se2))
    print("ar8_test       rows %6d  dims %3d  exact mean log-likelihood %s" % (len(test), AR_DIMS, truth))


if __name__ == "__main__":
    main()
