"""nflow: normalizing flows (NICE, RealNVP, MADE, MAF, MAF MoG, IAF) from Python.

A binding of libnflow (C11) through ctypes, with NumPy arrays in and out;
no compiler and no PyTorch needed.

    import numpy as np, nflow
    X = np.random.default_rng(0).normal(size=(1000, 2))
    flow = nflow.Flow(model="realnvp").fit(X, epochs=20)
    flow.log_prob(X[:5]); flow.sample(100, seed=7); flow.save("m.nfm")

Model files are those of the nflow command-line tool, both ways. Reference: docs/python.md.
"""
from .flow import (Error, Flow, NotFittedError, PerformanceWarning, get_threads, library_version, limits,
                   omp_wait_policy, set_threads, system_info, usable_threads, _check_kernels)
from ._lib import path as library_path

__version__ = "0.1.0"
__all__ = ["Flow", "Error", "NotFittedError", "PerformanceWarning", "set_threads", "get_threads", "usable_threads",
           "omp_wait_policy", "library_version", "library_path", "system_info", "limits", "__version__"]

_check_kernels()
