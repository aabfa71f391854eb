"""scikit-learn's GaussianMixture on the splits `nflow train` makes: the peer
many users try first (bench/RESULTS.md, "The race").

For each set: the library's own split and dequantisation (nf_data_from_arrays
with the seed, 10% validation, 10% test or the set's _test file), then a
full-covariance GaussianMixture for each number of components in COMPONENTS,
the one with the best validation log-likelihood kept; its test
log-likelihood (nats, mean +- 2 standard errors) and the seconds of the whole
search, one thread.

usage: OMP_NUM_THREADS=1 NFLOW_LIBRARY=build/libnflow.so PYTHONPATH=python \
       /usr/bin/python3 bench/gmm_reference.py DATADIR SET [SET ...]
"""
import ctypes
import os
import sys
import time

import numpy as np
from sklearn.mixture import GaussianMixture

from nflow import _lib

COMPONENTS = (1, 2, 4, 8, 16, 32, 64)


def parts(x, x_test, seed=1):
    """The train, validation and test rows nflow train --dequantize --seed 1 uses."""
    lib = _lib.lib
    o = _lib.nf_data_options()
    lib.nf_data_options_init(ctypes.byref(o), ctypes.sizeof(o))
    o.dequantize, o.seed = 1, seed
    if x_test is not None:
        o.test_fraction = 0.0
    d = _lib.data_p()
    x = np.ascontiguousarray(x, dtype=np.float32)
    st = lib.nf_data_from_arrays(ctypes.byref(d), x.ctypes.data_as(_lib.c_float_p), None, x.shape[0], x.shape[1],
                                 0, None, None, 0, ctypes.byref(o))
    if st:
        raise RuntimeError(lib.nf_last_error().decode())
    out = []
    for k in range(3):
        p = _lib.c_float_p()
        n = lib.nf_data_rows(d, k, ctypes.byref(p), None)
        out.append(np.ctypeslib.as_array(p, shape=(n, x.shape[1])).copy() if n else None)
    lib.nf_data_free(d)
    if x_test is not None:  # nflow train --test: the file as read, dequantised as nflow eval --dequantize would
        t = np.asarray(x_test, dtype=np.float64)
        whole = np.all(np.floor(x) == x, axis=0)
        t = t + np.where(whole, np.random.default_rng(seed).random(t.shape), 0)
        out[2] = t
    return out


def read(data, name):
    """DATA/NAME.npy or DATA/NAME.csv (as nflow reads it: comma-separated, no header), or None."""
    for ext, load in ((".npy", np.load), (".csv", lambda p: np.loadtxt(p, delimiter=",", ndmin=2))):
        if os.path.exists(os.path.join(data, name + ext)):
            return load(os.path.join(data, name + ext))
    return None


def main():
    data = sys.argv[1]
    print("| set | components | test LL +- 2 s.e. | seconds |")
    print("|---|---|---|---|")
    for name in sys.argv[2:]:
        train, val, test = parts(read(data, name), read(data, name + "_test"))
        started = time.monotonic()
        best = None
        for k in COMPONENTS:
            if k > train.shape[0] // 2:
                break
            g = GaussianMixture(k, covariance_type="full", reg_covar=1e-6, max_iter=500, random_state=1)
            try:
                g.fit(train)
            except ValueError:  # a component collapsed
                continue
            v = g.score(val)
            if best is None or v > best[0]:
                best = (v, k, g)
        lp = best[2].score_samples(test)
        print("| %s | %d | %.4f +- %.4f | %.1f |" % (name, best[1], lp.mean(), 2 * lp.std(ddof=1) / np.sqrt(len(lp)),
                                                   time.monotonic() - started))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
