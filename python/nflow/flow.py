"""The Flow class: a normalizing flow of libnflow, with NumPy arrays in and out."""
import ctypes
import inspect
import json
import math
import operator
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings

import numpy as np

from . import _lib
from ._lib import lib

__all__ = ["Flow", "Error", "PerformanceWarning", "set_threads", "get_threads", "library_version", "system_info"]


class PerformanceWarning(UserWarning):
    """OpenBLAS runs generic kernels on this CPU: nflow is several times slower than it could be."""


class NotFittedError(ValueError, AttributeError):
    """A Flow used before it has a model (fit it, or Flow.load one); as
    scikit-learn's NotFittedError, a ValueError and an AttributeError."""


class Error(RuntimeError):
    """A failure reported by libnflow: str(e) is nf_last_error()'s message.

    status: the nf_status code (int); status_name: e.g. "NF_ERR_FORMAT";
    reason: nf_status_string(status), a short fixed description."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status
        self.status_name = _lib.STATUS_NAMES.get(status, "status %d" % status)
        self.reason = lib.nf_status_string(status).decode()


def _check(status):
    if status != _lib.NF_OK:
        msg = lib.nf_last_error().decode(errors="replace") or lib.nf_status_string(status).decode()
        raise Error(msg, status)


def set_threads(n=0):
    """Threads of nflow's arithmetic, process-wide; n <= 0: the default (OMP_NUM_THREADS, else
    usable_threads()). More than usable_threads() warns and uses that many: a team larger than
    its processors spins while its threads wait. Results are the same bits at any count."""
    n = _int(n, "n")
    buf = ctypes.create_string_buffer(320)
    lib.nf_set_threads_usable(n, buf, 320)
    if buf.value:
        warnings.warn("nflow.set_threads(%d): %s" % (n, buf.value.decode()), stacklevel=2)


def usable_threads():
    """(count, why): the threads this process may use (its affinity mask, one per core, its
    cgroup CPU quota) and where the count came from (nf_threads_usable)."""
    buf = ctypes.create_string_buffer(256)
    n = lib.nf_threads_usable(buf, 256)
    return n, buf.value.decode()


def omp_wait_policy():
    """How OpenMP's threads wait at barriers in this process and who chose it: ('passive', 'nflow')
    when nflow set it before libgomp loaded, else the environment's or libgomp's default."""
    if _lib.WAIT_POLICY_SET:
        return "passive", "nflow"
    for var in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        if var in os.environ:
            return os.environ[var], var
    return "libgomp's default (spin, then sleep)", "libgomp"


def get_threads():
    return lib.nf_get_threads()


def library_version():
    """The version of the libnflow that was loaded, e.g. "0.1.0"."""
    return lib.nf_version().decode()


def limits():
    """The library's limits on a model's sizes (nf_limit_get): a dict of
    name -> (smallest, largest), e.g. limits()["hidden"] == (1, 65536)."""
    out = {}
    name, lo, hi = ctypes.c_char_p(), ctypes.c_double(), ctypes.c_double()
    while lib.nf_limit_get(len(out), ctypes.byref(name), ctypes.byref(lo), ctypes.byref(hi)) == _lib.NF_OK:
        out[name.value.decode()] = (lo.value, hi.value)  # the library's count, as MODELS is the library's names
    return out


def system_info():
    """What nflow runs on (nf_system_info_get): CPU, vector features, BLAS kernels, threads."""
    info = _lib.nf_system_info()
    lib.nf_system_info_get(ctypes.byref(info))
    out = {}
    for name, _ in info._fields_:
        v = getattr(info, name)
        out[name] = v.decode(errors="replace") if isinstance(v, bytes) else v
    return out


def _check_kernels():
    """OpenBLAS fixes its kernels when it is loaded, from a table of CPU models;
    on one it does not know it runs generic SSE kernels. The nflow tool then
    restarts itself with OPENBLAS_CORETYPE set; a Python process cannot, so
    it is told how."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return
    info = system_info()
    if info["blas_kernel_generic"] and info["suggested_coretype"]:
        warnings.warn("OpenBLAS runs its generic %s kernels on this CPU (%s), several times slower than it allows: "
                      "set OPENBLAS_CORETYPE=%s in the environment before Python starts (it cannot change once "
                      "OpenBLAS is loaded; the nflow tool does this itself)" %
                      (info["blas_kernel"], info["cpu"], info["suggested_coretype"]), PerformanceWarning,
                      stacklevel=3)


# ---- arrays ------------------------------------------------------------------
def _rows(X, name, dim=None, images=False):
    """X as a C-contiguous float32 (rows, dim) array, checked: 2-D, numeric,
    finite, `dim` columns. A float32 C-ordered array is used as it is.
    images: (N, H, W) or (N, H, W, C) arrays are taken too, a row each."""
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy.sparse, without importing it
        raise TypeError("%s is a sparse matrix: sparse input is not supported (a density needs every value); "
                        "pass %s.toarray()" % (name, name))
    a = np.asarray(X)
    if a.dtype.kind == "O":  # numbers held as objects: as float64, or float()'s own message
        a = np.asarray(a, dtype=np.float64)
    if a.dtype.kind == "c":
        raise ValueError("%s: Complex data not supported (nflow models real numbers)" % name)
    if a.dtype.kind not in "fiub":
        raise ValueError("%s must hold real numbers, not %s" % (name, a.dtype))
    if images and a.ndim in (3, 4):
        a = a.reshape(a.shape[0], -1)
    if a.ndim != 2:
        raise ValueError("%s must be 2-D (rows, columns), not %d-D of shape %s%s" %
                         (name, a.ndim, a.shape, ". Reshape your data: %s.reshape(-1, 1) for one column" % name
                          if a.ndim == 1 else ""))
    if a.shape[1] == 0:
        raise ValueError("%s has 0 feature(s) (shape=%s) while a minimum of 1 is required." % (name, a.shape))
    with np.errstate(over="ignore"):  # beyond float32: inf, refused below
        a = np.ascontiguousarray(a, dtype=np.float32)
    if dim is not None and a.shape[1] != dim:
        raise ValueError("%s has %d columns, the model has %d" % (name, a.shape[1], dim))
    if a.size and not np.isfinite(a).all():
        r, c = np.argwhere(~np.isfinite(a))[0]
        raise ValueError("%s[%d, %d] is %s%s: nflow needs finite values (no NaN or inf)" %
                         (name, r, c, a[r, c], "" if np.asarray(X).dtype == np.float32 else
                          " (as float32)"))
    return a


def _context_rows(C, name, width=None, rows=None, of="X"):
    """A context array as a C-contiguous float32 (rows, width) array, checked
    as _rows checks data; a 1-D array is one column (a value per row), a
    single number one row of one column; rows: as many as `of` has."""
    a = np.asarray(C)
    if a.ndim < 2:
        a = a.reshape(-1, 1)
    c = _rows(a, name)
    if c.shape[1] < 1:
        raise ValueError("%s has no columns" % name)
    if width is not None and c.shape[1] != width:
        raise ValueError("%s has %d column%s, the model takes %d context value%s per row" %
                         (name, c.shape[1], "" if c.shape[1] == 1 else "s", width, "" if width == 1 else "s"))
    if rows is not None and c.shape[0] != rows:
        raise ValueError("%s has %d rows, %s has %d: one context row per row of %s" % (name, c.shape[0], of, rows, of))
    return c


def _bounds_arrays(bounds, dim):
    """Flow(bounds=...) as (lo, hi) float64 arrays of dim values, NaN on open
    sides: a dict {column: (lo, hi)} or a sequence of dim (lo, hi) pairs, a
    side None (or a pair None) for open; None: no bounds."""
    if bounds is None:
        return None
    lo, hi = np.full(dim, np.nan), np.full(dim, np.nan)
    if isinstance(bounds, dict):
        items = list(bounds.items())
    else:
        try:
            items = list(enumerate(bounds))
        except TypeError:
            raise ValueError("bounds: a dict {column: (lo, hi)} or a list of (lo, hi) per column, not %r" %
                             (bounds,)) from None
        if len(items) != dim:
            raise ValueError("bounds: %d pairs for %d columns (a dict {column: (lo, hi)} names only the bounded "
                             "ones)" % (len(items), dim))
    for col, pair in items:
        if isinstance(col, bool) or not isinstance(col, (int, np.integer)) or not 0 <= col < dim:
            raise ValueError("bounds: column %r is not one of X's columns 0..%d" % (col, dim - 1))
        if pair is None:
            continue
        try:
            a, b = pair
        except (TypeError, ValueError):
            raise ValueError("bounds: column %d: %r is not a pair (lo, hi)" % (col, pair)) from None
        for side, v, arr in (("lo", a, lo), ("hi", b, hi)):
            if v is None:
                continue
            if isinstance(v, (bool, str, bytes)):
                raise ValueError("bounds: column %d: %s %r is not a number" % (col, side, v))
            try:
                arr[col] = float(v)
            except (TypeError, ValueError):
                raise ValueError("bounds: column %d: %s %r is not a number" % (col, side, v)) from None
    return lo, hi


def _fptr(a):
    return a.ctypes.data_as(_lib.c_float_p)


def _cptr(c):
    """A context's pointer; NULL for an unconditional model."""
    return None if c is None else _fptr(c)


def _dptr(a):
    return a.ctypes.data_as(_lib.c_double_p)


def _int(value, name, lo=-2 ** 31, hi=2 ** 31 - 1):
    """An integer argument: a Python int or a NumPy integer (operator.index,
    as range() takes them), within [lo, hi] (default: a C int's range, which
    ctypes would otherwise wrap silently). bool, floats (2.5, and 3.0 too:
    the type decides, not the value) and strings are refused with TypeError,
    never truncated or parsed."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError("%s must be an integer, not bool (%r)" % (name, value))
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError("%s must be an integer, not %s (%r)" % (name, type(value).__name__, value)) from None
    if not lo <= v <= hi:
        raise ValueError("%s %d out of range %d..%d" % (name, v, lo, hi))
    return v


def _path(path, name="path"):
    """A path argument (str, bytes or os.PathLike) as bytes for the library.
    One holding a NUL byte is refused with ValueError, as open() refuses it:
    C would read only what comes before the NUL, another file."""
    p = os.fsencode(path)
    if b"\0" in p:
        raise ValueError("%s: embedded null byte in %r" % (name, path))
    return p


def _seed(seed, name="seed"):
    return _int(seed, name, 0, 2 ** 64 - 1)


def _choice(name, value, table):
    key = str(value).replace("_", "-") if name in ("model",) else str(value).replace("-", "_")
    if key not in table:
        raise ValueError("%s: unknown value %r (one of %s)" % (name, value, ", ".join(sorted(table))))
    return table[key]


class _Shown:
    """nflow train's progress display (the library's nf_progress: epoch lines, the bar
    within a long epoch on a terminal, the race's candidates), written to sys.stderr.
    verbose 2: a line after every epoch (or check), never rewritten."""

    def __init__(self, verbose, max_time, topt, more_flags=0):
        tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        flags = more_flags | (_lib.NF_PROGRESS_EVERY_EPOCH if verbose >= 2 else lib.nf_progress_flags(int(tty), None, 0))
        self.p = _lib.progress_p()
        _check(lib.nf_progress_create(ctypes.byref(self.p), flags, b"nflow: ", float(max_time or 0)))
        self._write = _lib.text_fn(lambda text, user: (sys.stderr.write(text.decode(errors="replace")),
                                                       sys.stderr.flush()))
        lib.nf_progress_set_output(self.p, self._write, None, shutil.get_terminal_size().columns)
        if topt is not None:  # its clock and epochs; fit's own callback calls nf_progress_show
            lib.nf_progress_attach(self.p, ctypes.byref(topt))

    def finish(self):
        if self.p:
            lib.nf_progress_finish(self.p)
        self.__del__()

    def __del__(self):
        if self.p:
            lib.nf_progress_free(self.p)
            self.p = None


class _Callback:
    """Runs Python code inside a C callback: an exception is kept, the
    callback returns 1 so that the C loop stops, and the exception is raised
    again once the C call has returned (ctypes would print and drop it).

    Used as a context manager around the C call, it also takes Ctrl-C: a
    KeyboardInterrupt raised at a callback's first instruction would escape
    the try, so while the call runs (in the main thread, under Python's own
    SIGINT handler) SIGINT only sets a flag, and `stop` (nf_train_options'
    stop), and the next callback returns 1; KeyboardInterrupt is raised
    once the C call has returned, its best parameters in place."""

    def __init__(self):
        self.error = None
        self.interrupted = False
        self.stop = ctypes.c_int(0)
        self._old = None

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._old = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None
        return False

    def _on_sigint(self, signum, frame):
        self.interrupted = True
        self.stop.value = 1

    def run(self, fn, *args):
        if self.error is not None or self.interrupted:
            return 1
        try:
            stop = 1 if fn(*args) else 0
        except BaseException as e:  # noqa: B902 - raised again after the C call
            self.error = e
            return 1
        return 1 if self.interrupted else stop

    @property
    def failed(self):
        return self.error is not None or self.interrupted

    def reraise(self):
        if self.error is not None:
            e, self.error = self.error, None
            raise e
        if self.interrupted:
            self.interrupted = False
            raise KeyboardInterrupt


_MODEL_NAMES = {v: k for k, v in _lib.MODELS.items()}


def _option_kind(key):
    """The kind (NF_OPTION_INT, ...) of the library's recipe option named key."""
    o = _lib.nf_recipe_option()  # the library writes every field, struct_size too
    i = lib.nf_recipe_option_index(key.encode())
    if i < 0 or lib.nf_recipe_option_sized(i, ctypes.byref(o), ctypes.sizeof(o)) != _lib.NF_OK:
        raise ValueError("unknown option '%s'" % key)
    return o.kind


class Flow:
    """A normalizing flow (NICE, RealNVP, neural spline flows, MADE, MADE MoG, MAF,
    MAF MoG, IAF or the Gaussian fit) with exact log-densities, sampling and latent codes.

    The constructor takes the choices of `nflow train`; None picks what the
    command picks. model None races candidates at their defaults (as
    model='auto'), unless an option that shapes one model is set (hidden,
    layers, ..., or fit's dropout): then the data's rule at fit time
    (nf_default_model, nf_defaults_for_data): MAF MoG up to 2,000,000 values
    or 4 columns, MAF beyond; 100 hidden units (4 x columns up to 512 from
    50,000 rows on).

        model       'auto' | 'maf-mog' | 'maf' | 'realnvp' | 'nice' | 'nsf' | 'nsf-ar' | 'made' | 'made-mog' | 'iaf' | 'iaf-mog' | 'gaussian' | 'gmm'
                    'auto': a race among maf-mog, maf, nsf-ar and made-mog at their defaults (and, up to 32
                    columns and 200,000 rows without a context, gmm: full-covariance Gaussians fitted by EM)
                    (nf_flow_fit_auto, `nflow train --model auto`), scored on the validation
                    rows; the winner is model_, the race race_
        layers      MADEs (default 5) or coupling layers (default 8)
        hidden      units per hidden layer; hidden_layers (default 2)
        activation  'relu' | 'tanh';  base 'normal' | 'logistic'
        partition   'even_odd' | 'halves' (couplings)
        order       'natural' | 'reversed' | 'random' (first MADE); degrees 'sequential' | 'random'
        components  Gaussians per conditional of the MoG models (per dimension of iaf-mog; default 10); of the
                    gmm (default: 1 to 64, chosen on the validation rows)
        batch_norm, actnorm   after every MADE or coupling
        whiten      start from the full-covariance Gaussian fit (default True)
        tail_weight the Gaussian fit's weight in the density, a floor under the tails (1e-3; an image
                    model's floor is N(0, I) of its standardised logits, weight 1e-6)
        scale_bound affine log-scales bounded by B tanh(a / B); 0: unbounded (3)
        bins, tail_bound  the splines of nsf, nsf-ar: bins (8) on [-tail_bound, tail_bound] (3)
        bounds      columns on an interval or a half-line: {column: (lo, hi)} (0-based columns
                    of X), or a list of one (lo, hi) per column; None for an open side (or
                    column): {0: (0, 1), 2: (0, None)}. As `nflow train --bounds`: the model
                    maps them to the real line first (nf_flow_set_bounds), its density is
                    that of X on the open box (log_prob -inf outside) and its samples lie
                    strictly inside. None: no bounds.
        seed        initial parameters, the validation split and the shuffling (1)

    Conditional models p(x | c): fit(X, context=C) with C (rows, k), one row
    of context values per row of X (a 1-D C is one column); log_prob, score,
    sample, transform and inverse_transform then take context= too, and
    context_dim is k (0: unconditional).

    Arrays in are (rows, dim), converted to C-ordered float32 (the library's
    type); arrays out are float32, log-densities float64. A Flow may be used
    from several threads (its calls take turns); the GIL is released while
    libnflow computes.
    """

    def __init__(self, model=None, layers=None, hidden=None, hidden_layers=None, activation="relu",
                 base="normal", partition="even_odd", order="natural", degrees="sequential", components=None,
                 batch_norm=False, actnorm=False, whiten=True, tail_weight=1e-3, scale_bound=3.0, bins=8,
                 tail_bound=3.0, bounds=None, seed=1, levels=None):
        self.model = model
        self.levels = levels
        self.layers = layers
        self.hidden = hidden
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.base = base
        self.partition = partition
        self.order = order
        self.degrees = degrees
        self.components = components
        self.batch_norm = batch_norm
        self.actnorm = actnorm
        self.whiten = whiten
        self.tail_weight = tail_weight
        self.scale_bound = scale_bound
        self.bins = bins
        self.tail_bound = tail_bound
        self.bounds = bounds
        self.seed = seed

    # scikit-learn's protocol: __init__ sets the parameters alone; the model
    # (fitted or loaded) and its record are set by fit, load and distill
    _f = None
    model_ = None
    history_ = ()

    @property
    def _lock(self):
        """A lock per Flow, made on first use (one nf_flow per thread)."""
        lock = self.__dict__.get("_lock_")
        if lock is None:
            lock = self.__dict__.setdefault("_lock_", threading.RLock())
        return lock

    # ---- scikit-learn's estimator protocol --------------------------------
    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params):
        for k, v in params.items():
            if k not in self._param_names():
                raise ValueError("Flow has no parameter %r" % k)
            setattr(self, k, v)
        return self

    # ---- the C object ------------------------------------------------------
    def _set_flow(self, ptr):
        old, self._f = self._f, ptr
        if old:
            lib.nf_flow_free(old)

    def __del__(self):
        f = getattr(self, "_f", None)
        if f and lib is not None:
            self._f = None
            lib.nf_flow_free(f)

    def _need(self):
        if not self._f:
            raise NotFittedError("this Flow has no model yet: fit it, or load one (Flow.load)")
        return self._f

    @property
    def dim(self):
        """Columns of the data the model is for."""
        return lib.nf_flow_dim(self._need())

    @property
    def context_dim(self):
        """Context values per row of a conditional model p(x | c); 0: unconditional."""
        return lib.nf_flow_context_dim(self._need())

    @property
    def context_columns(self):
        """A conditional model's context columns in the rows of its data files,
        as the tool's column list (fit writes "dim-(dim+k-1)": the layout
        [X | C]); None when not known or unconditional."""
        v = lib.nf_flow_context_columns(self._need())
        return None if v is None else v.decode(errors="replace")

    @property
    def bounds_(self):
        """The model's bounds as {column: (lo, hi)}, None on an open side; {} without."""
        f = self._need()
        d = self.dim
        lo, hi = np.empty(d), np.empty(d)
        if not lib.nf_flow_get_bounds(f, _dptr(lo), _dptr(hi)):
            return {}
        return {j: (None if np.isinf(lo[j]) else float(lo[j]), None if np.isinf(hi[j]) else float(hi[j]))
                for j in range(d) if np.isfinite(lo[j]) or np.isfinite(hi[j])}

    def _given(self, context, rows, of="X"):
        """The context array for `rows` rows of `of` (None: any number), checked
        against the model before the library is called: required by a
        conditional model, refused by an unconditional one."""
        nc = self.context_dim
        if context is None:
            if nc:
                raise ValueError("this model is conditional, p(x | c) with %d context value%s per row: pass "
                                 "context=, an array (rows, %d)%s" %
                                 (nc, "" if nc == 1 else "s", nc, "" if rows is None else
                                  " with one row per row of %s" % of))
            return None
        if not nc:
            raise ValueError("this model is not conditional (it takes no context): leave context out")
        if self.label_classes_:  # fit with labels=: the context is their one-hot code
            y = _context_rows(context, "context", 1, rows, of)  # class labels
            c = np.empty((y.shape[0], nc), np.float32)
            if y.shape[0] and lib.nf_flow_context_of_labels(self._f, _fptr(y), y.shape[0], _fptr(c)):
                raise ValueError(lib.nf_last_error().decode(errors="replace"))
            return c
        return _context_rows(context, "context", nc, rows, of)

    @property
    def label_classes_(self):
        """A model fit with labels=: its count of classes (0 otherwise)."""
        return lib.nf_flow_label_classes(self._need())

    @property
    def n_features_in_(self):
        return self.dim

    @property
    def image_shape_(self):
        """(height, width, channels) of an image model's images; None for a model of columns."""
        shape = (ctypes.c_int * 3)()
        return tuple(shape) if self._f and lib.nf_flow_image_shape(self._f, shape) else None

    @property
    def n_params(self):
        return lib.nf_flow_param_count(self._need())

    def describe(self):
        """The architecture, parameter counts, data statistics and training summary (nflow info)."""
        f = self._need()
        with self._lock:
            n = lib.nf_flow_describe(f, None, 0) + 1
            buf = ctypes.create_string_buffer(n)
            lib.nf_flow_describe(f, buf, n)
        return buf.value.decode(errors="replace")

    @property
    def race_(self):
        """The race that chose this model (model='auto'; saved with it): one dict per
        candidate (model, dropout, layers, hidden, epochs, best_epoch, val_log_likelihood,
        round: the round it was dropped after, 0 for the winner; seconds, 0 once loaded);
        [] for a model that was named."""
        out = []
        with self._lock:
            for i in range(lib.nf_flow_race_count(self._need())):
                e = _lib.nf_race_entry()
                lib.nf_race_entry_init(ctypes.byref(e), ctypes.sizeof(e))
                _check(lib.nf_flow_race_entry_sized(self._f, i, ctypes.byref(e), ctypes.sizeof(e)))
                out.append({"model": e.model.decode(), "dropout": e.dropout, "layers": e.layers,
                            "hidden": e.hidden, "epochs": e.epochs, "best_epoch": e.best_epoch,
                            "val_log_likelihood": e.val_log_likelihood, "round": e.round, "seconds": e.seconds})
        return out

    def _kind(self):
        """The model kind of the flow's config (nf_flow_get_config), or "custom" (built layer by layer)."""
        cfg = _lib.nf_config()
        lib.nf_config_init(ctypes.byref(cfg), ctypes.sizeof(cfg), 0, 1)
        with self._lock:
            if lib.nf_flow_get_config(self._need(), ctypes.byref(cfg)) != 0:
                return "custom"
        return lib.nf_model_name(cfg.model).decode()

    def __repr__(self):
        if self._f:
            nc = self.context_dim
            return "Flow(model=%r, dim=%d, %sn_params=%d)" % (self.model_, self.dim, "context_dim=%d, " % nc if nc
                                                             else "", self.n_params)
        defaults = {k: p.default for k, p in inspect.signature(Flow.__init__).parameters.items() if k != "self"}
        args = ["%s=%r" % (k, v) for k, v in self.get_params().items() if v != defaults[k]]
        return "Flow(%s)" % ", ".join(args)

    # the keywords whose library option has another name (whiten: the flag's opposite)
    _OPTION_NAMES = {"whiten": "no-whiten", "clip_norm": "clip"}
    _SHAPE = ("model", "layers", "hidden", "hidden_layers", "activation", "base", "partition", "order", "degrees",
              "components", "batch_norm", "actnorm", "whiten", "tail_weight", "scale_bound", "bins", "tail_bound",
              "levels")

    def _recipe(self, shape=True, **training):
        """A library recipe (nf_recipe) holding the Flow's model options that differ from __init__'s defaults (with
        shape) and the training options given (not None), by nflow train's names: the library checks each
        (ValueError naming it) and puts them over the data's defaults as the tool does. The caller frees it."""
        defaults = inspect.signature(Flow.__init__).parameters
        given = [(k, getattr(self, k)) for k in self._SHAPE if shape]
        given = [(k, v) for k, v in given if type(v) is not type(defaults[k].default) or v != defaults[k].default]
        given += [(k, v) for k, v in training.items() if v is not None]
        r = _lib.recipe_p()
        _check(lib.nf_recipe_create(ctypes.byref(r)))
        try:
            for name, value in given:
                key = self._OPTION_NAMES.get(name, name.replace("_", "-"))
                kind = _option_kind(key)  # the library's table says how to write the value
                if kind == _lib.NF_OPTION_FLAG:  # whiten=False is the flag --no-whiten
                    text = "1" if bool(value) != (name == "whiten") else "0"
                elif kind == _lib.NF_OPTION_INT:
                    text = str(_int(value, name))  # a float or a bool is refused, never truncated
                elif kind == _lib.NF_OPTION_CHOICE:
                    text = str(value)
                else:
                    text = repr(float(value))
                if lib.nf_recipe_set(r, key.encode(), text.encode()) != _lib.NF_OK:
                    raise ValueError(lib.nf_last_error().decode(errors="replace"))
        except BaseException:
            lib.nf_recipe_free(r)
            raise
        return r

    def _create(self, cfg):
        f = _lib.flow_p()
        _check(lib.nf_flow_create(ctypes.byref(f), ctypes.byref(cfg)))
        return f

    # ---- maximum-likelihood training --------------------------------------
    def fit(self, X, y=None, *, X_val=None, epochs=None, batch=None, lr=None, lr_decay=None, weight_decay=None,
            clip_norm=None, patience=None, patience_steps=None, seed=None, max_time=None,
            validation_fraction=0.1, test_fraction=0.0, dequantize=False, warm_start=False, verbose=True,
            callback=None, progress_seconds=0.0, context=None, context_val=None, dropout=None, labels=None,
            labels_val=None):
        """Trains by maximum likelihood (Adam, early stopping on validation data,
        the best validation epoch kept) and returns self. y: ignored (a
        density has no targets; scikit-learn's pipelines pass one).

        X_val None: validation_fraction of X (shuffled with the seed) is split
        off, and test_fraction as well (evaluated once, kept in the model as
        its test log-likelihood), as nf_matrix_split does for `nflow train`;
        fit(X, test_fraction=0.1) trains what `nflow train --data X` trains.
        validation_fraction=0 trains on all of X without early stopping.
        Standardisation (and the Gaussian start) come from the training rows.
        epochs None: 1000 (0 for the Gaussian model); batch None: from the
        data's size; lr, lr_decay, weight_decay, clip_norm, patience,
        patience_steps None: the library's (nf_recipe_resolve: nflow train's
        defaults, 0.5, 1e-6, 100, 20, 1000 for the last five). seed None: the
        Flow's seed. max_time: stop once this
        many seconds have passed (inside an epoch too), keeping the best
        epoch, or the parameters where it stopped when better.
        dequantize: add U[0,1) noise to the columns holding only whole
        numbers (a warning names them otherwise). warm_start: train the
        present model further (no new model, no new standardisation).
        verbose: progress on stderr, the library's display (True: as nflow
        train's, on a terminal a line rewritten and a bar within long
        epochs, else every 10th epoch; 2: a line every epoch).
        callback(progress: dict) after every epoch (and within epochs every
        progress_seconds when > 0, with progress['in_epoch'] True); a true
        return value stops training. An exception raised in it (Ctrl-C
        included) stops training and is raised again from fit, the best
        parameters so far in place. dropout: drop each hidden unit of the
        networks with this probability in training steps, as `nflow train
        --dropout`; None: from the data's size (0.2 for 8 columns or more
        below 5,000 rows, else 0).

        context: a conditional model p(x | c), one row of context values per
        row of X ((rows, k); a 1-D array is one column): the model takes k
        context values (context_dim), standardised with the training rows'
        mean and standard deviation; context_val goes with X_val. The split
        keeps each row's x and c together: it is nf_matrix_split's of the
        rows [X | C], the one `nflow train --context-columns` makes of a data
        file with those columns; the model records that layout (context
        columns dim..dim+k-1, see context_columns) for the tool.

        labels: a class-conditional model p(x | class), a class label per row
        of X (whole numbers from 0; labels_val with X_val): its context is
        their one-hot code of label_classes_ (the largest label + 1) values,
        as `nflow train --labels`. log_prob, sample and the rest then take
        the labels as context= (sample(n, context=[0, 3]): n of each class).

        Fitted attributes: model_, batch_, epochs_, best_epoch_,
        train_log_likelihood_, val_log_likelihood_, test_log_likelihood_,
        test_two_stderr_, seconds_, stopped_, n_train_, n_val_, n_test_,
        history_ (one dict per epoch), config_ (what the model was built and
        trained with, defaults resolved: `nflow train --json`'s "config")."""
        seed = _seed(self.seed if seed is None else seed)
        if warm_start and not self._f:
            raise ValueError("warm_start=True: this Flow has no model to train further")
        dim = self.dim if warm_start else None
        if not hasattr(X, "nnz"):  # (scipy.sparse: refused by _rows)
            X = np.asarray(X)
        shape = X.shape[1:] if X.ndim in (3, 4) else None  # images: (N, H, W) or (N, H, W, C)
        if shape is not None and len(shape) == 2:
            shape = shape + (1,)
        x = _rows(X, "X", dim, images=True)
        dim = x.shape[1]
        if dim < 1:
            raise ValueError("X has no columns")
        val_given = X_val is not None
        xv = _rows(X_val, "X_val", dim, images=shape is not None) if val_given else None
        # the contexts of a conditional model (warm_start: the model's width)
        c = cv = None
        nc_model = self.context_dim if warm_start else None
        classes = 0
        if warm_start and labels is None and self.label_classes_:
            raise ValueError("the model trained further (warm_start) was fit with labels: pass labels=")
        if labels is not None or labels_val is not None:
            if context is not None or context_val is not None:
                raise ValueError("labels and context: the context is one or the other")
            if labels is None:
                raise ValueError("labels_val without labels: the model takes labels only when fit gets labels=")
            y = _context_rows(labels, "labels", 1)
            if not np.all(np.isfinite(y)) or y.size and y.min() < 0:
                raise ValueError("labels must be whole numbers from 0")
            classes = self.label_classes_ if warm_start else int(y.max()) + 1 if y.size else 1
            if warm_start and not classes:
                raise ValueError("labels: the model trained further (warm_start) was not fit with labels")
            context, context_val, nc_model = y, labels_val, 1 if warm_start else None
        if context is not None:
            if nc_model == 0:
                raise ValueError("context: the model trained further (warm_start) is not conditional")
            c = _context_rows(context, "context", nc_model, x.shape[0])
        elif nc_model:
            raise ValueError("the model trained further (warm_start) is conditional on %d context value%s per row: "
                             "pass context=" % (nc_model, "" if nc_model == 1 else "s"))
        if context_val is not None:
            if c is None:
                raise ValueError("context_val without context: the model is conditional only when fit gets context=")
            if not val_given:
                raise ValueError("context_val without X_val: give X_val, the rows it is the context of")
            cv = _context_rows(context_val, "context_val", c.shape[1], xv.shape[0], "X_val")
        elif val_given and c is not None:
            raise ValueError("X_val needs context_val, the context of its rows, for a conditional model")
        nc = 0 if c is None else c.shape[1]
        # the bounds' check names X's rows (warm_start: the model's, as nflow train --resume checks)
        lohi = _bounds_arrays((self.bounds_ or None) if warm_start else self.bounds, dim)
        for name, v in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
            if not 0 <= v < 1:
                raise ValueError("%s %r out of range [0, 1)" % (name, v))
        if validation_fraction + test_fraction >= 1:
            raise ValueError("validation_fraction + test_fraction must be below 1")
        if val_given:
            validation_fraction = 0.0
        if x.shape[0] < 2 and not warm_start:
            raise ValueError("X has %d sample%s (n_samples = %d): a density needs at least 2 rows" %
                             (x.shape[0], "" if x.shape[0] == 1 else "s", x.shape[0]))
        if validation_fraction > 0 and not val_given and round(validation_fraction * x.shape[0]) < 2:
            # too few rows to validate on (as scikit-learn's checks fit 10): all of them train, no early stopping
            warnings.warn("X has %d rows: too few to split off %g%% validation rows (at least 2); training on all "
                          "of them without early stopping" % (x.shape[0], 100 * validation_fraction), stacklevel=2)
            validation_fraction = 0.0
        # the recipe is the library's (nf_data_*): the split, dequantisation, bounds, defaults, as nflow train
        dopt = _lib.nf_data_options()
        lib.nf_data_options_init(ctypes.byref(dopt), ctypes.sizeof(dopt))
        dopt.dequantize, dopt.seed = int(bool(dequantize)), seed
        dopt.val_fraction, dopt.test_fraction = validation_fraction, test_fraction
        if lohi is not None:
            dopt.lo, dopt.hi = _dptr(lohi[0]), _dptr(lohi[1])
        if shape is not None:
            dopt.image_shape[:] = [int(v) for v in shape]
        dopt.label_classes = classes
        data = _lib.data_p()
        n_v = 0 if xv is None else xv.shape[0]
        st = lib.nf_data_from_arrays(ctypes.byref(data), _fptr(x), _cptr(c), x.shape[0], dim, nc,
                                     _fptr(xv) if n_v else None, _cptr(cv) if n_v else None, n_v, ctypes.byref(dopt))
        if st in (_lib.NF_ERR_INVALID, _lib.NF_ERR_FORMAT):  # the data or an option: scikit-learn's ValueError
            raise ValueError(lib.nf_last_error().decode(errors="replace"))
        _check(st)
        try:  # the prepared data are freed however fit ends
            buf = ctypes.create_string_buffer(512)
            if lib.nf_data_warning(data, buf, len(buf)):  # whole-numbered columns (images are dequantised)
                warnings.warn(buf.value.decode() + "; fit(..., dequantize=True) adds U[0,1) noise", stacklevel=2)
            elif verbose and lib.nf_data_note(data, buf, len(buf)):  # dequantised, as nflow train says
                print("nflow: " + buf.value.decode(errors="replace"), file=sys.stderr)
            n_train, n_val, n_test = (lib.nf_data_rows(data, k, None, None) for k in range(3))
            if n_train < 2 and not warm_start:
                raise ValueError("X has %d rows after the split: at least 2 are needed" % n_train)
            # the options over the data's defaults, as nflow train puts them (warm_start: training options alone)
            r = self._recipe(not warm_start, epochs=epochs, batch=batch, lr=lr, lr_decay=lr_decay,
                             weight_decay=weight_decay, clip_norm=clip_norm, patience=patience,
                             patience_steps=patience_steps, dropout=dropout)
            cfg, topt, race = _lib.nf_config(), _lib.nf_train_options(), ctypes.c_int()
            lib.nf_config_init(ctypes.byref(cfg), ctypes.sizeof(cfg), 0, 1)
            lib.nf_train_options_init(ctypes.byref(topt), ctypes.sizeof(topt))
            try:
                st = lib.nf_recipe_resolve_sized(r, data, ctypes.byref(cfg), ctypes.sizeof(cfg), ctypes.byref(topt),
                                                 ctypes.sizeof(topt), ctypes.byref(race))
            finally:
                lib.nf_recipe_free(r)
            if st == _lib.NF_ERR_INVALID:  # options that do not fit the data: scikit-learn's ValueError
                raise ValueError(lib.nf_last_error().decode(errors="replace"))
            _check(st)
            race = bool(race.value) and not warm_start
            model = self.model_ or self._kind() if warm_start else _MODEL_NAMES[cfg.model]
            if warm_start and epochs is None and model == "gaussian":
                topt.max_epochs = 0  # the fit is the maximum-likelihood Gaussian already
            if not warm_start and not race:
                f = _lib.flow_p()
                _check(lib.nf_flow_create_for_data(ctypes.byref(f), data, ctypes.byref(cfg)))
                self._set_flow(f)
                self.model_ = model
            if not warm_start:
                self.history_ = []
            f = self._f
            if verbose and not warm_start:
                line = ctypes.create_string_buffer(512)
                lib.nf_recipe_summary(data, ctypes.byref(cfg), ctypes.byref(topt), int(race), line, len(line))
                print("nflow: " + line.value.decode(errors="replace"), file=sys.stderr)
                sys.stderr.flush()

            shown = _Shown(verbose, max_time, topt) if verbose else None
            guard = _Callback()
            started = time.monotonic()
            history = []
            asked_stop = []

            def on_progress(p):
                d = {"epoch": p.epoch, "in_epoch": bool(p.in_epoch), "train_loss": p.train_loss,
                     "train_log_likelihood": -p.train_loss, "val_log_likelihood": p.val_log_likelihood,
                     "best_val_log_likelihood": p.best_val, "bad_epochs": p.bad_epochs, "seconds": p.seconds,
                     "rows_done": p.rows_done, "rows_per_epoch": p.rows_per_epoch}
                if shown:
                    lib.nf_progress_show(ctypes.byref(p), shown.p)
                if d["in_epoch"]:  # Ctrl-C is seen here too; the user's callback only when asked for
                    if (callback is not None and progress_seconds > 0 and callback(d)) or \
                            (max_time is not None and time.monotonic() - started >= max_time):
                        asked_stop.append(p.epoch)
                        return True
                    return False
                history.append(d)
                stop = max_time is not None and time.monotonic() - started >= max_time
                if callback is not None and callback(d):
                    stop = True
                if stop:
                    asked_stop.append(p.epoch)
                return stop

            c_progress = _lib.train_progress_fn(lambda p, user: guard.run(on_progress, p.contents))
            topt.progress = c_progress
            # progress within epochs, at least every half second, so that Ctrl-C stops training promptly
            topt.progress_seconds = min(float(progress_seconds) if progress_seconds > 0 else 0.5, 0.5,
                                        topt.progress_seconds or 0.5)
            res = _lib.nf_train_result()
            topt.stop = ctypes.pointer(guard.stop)
            with guard, self._lock:
                if race:
                    f = _lib.flow_p()
                    st = lib.nf_flow_fit_auto(ctypes.byref(f), data, ctypes.byref(topt),
                                              float(max_time) if max_time else 0.0, ctypes.byref(res))
                else:
                    st = lib.nf_flow_fit(f, data, ctypes.byref(topt), ctypes.byref(res))
            if shown:
                shown.finish()
            if race and f:
                self._set_flow(f)
                self.model_ = model = self._kind()
                if verbose:
                    table = ctypes.create_string_buffer(4096)
                    lib.nf_flow_race_table(f, table, len(table))
                    print(table.value.decode(errors="replace"), end="", file=sys.stderr)
            self.history_ = list(self.history_) + history
            if st == _lib.NF_OK or guard.failed:
                self.batch_ = topt.batch
                self.epochs_ = res.epochs
                self.best_epoch_ = res.best_epoch
                self.train_log_likelihood_ = res.train_log_likelihood
                self.val_log_likelihood_ = res.val_log_likelihood
                self.seconds_ = res.seconds
                self.stopped_ = bool(asked_stop) or guard.failed or bool(res.stopped)
                self.n_train_, self.n_val_, self.n_test_ = n_train, n_val, n_test
                self.test_log_likelihood_ = self.test_two_stderr_ = float("nan")
                js = ctypes.create_string_buffer(1024)
                lib.nf_flow_config_json(self._f, ctypes.byref(topt), js, len(js))
                self.config_ = json.loads(js.value.decode())
            guard.reraise()
            _check(st)
            scores = _lib.nf_fit_scores()  # the figures nflow train reports, in its words when verbose
            lib.nf_fit_scores_init(ctypes.byref(scores), ctypes.sizeof(scores))
            with self._lock:
                _check(lib.nf_flow_fit_scores_sized(f, data, ctypes.byref(topt), ctypes.byref(scores),
                                                    ctypes.sizeof(scores)))
            self.test_log_likelihood_, self.test_two_stderr_ = scores.test, scores.test_two_stderr
            text = ctypes.create_string_buffer(1024)
            if lib.nf_fit_warning(f, data, ctypes.byref(res), text, len(text)):
                warnings.warn(text.value.decode(errors="replace") + " (fit(lr=...))", stacklevel=2)
            if verbose:
                lib.nf_fit_report(f, data, ctypes.byref(topt), ctypes.byref(res), ctypes.byref(scores), 0, text,
                                  len(text))
                print(text.value.decode(errors="replace"), end="", file=sys.stderr)
            return self
        finally:
            lib.nf_data_free(data)

    # ---- densities, samples, codes -----------------------------------------
    def log_prob(self, X, context=None):
        """log p(x) per row in nats: float64 (rows,). A conditional model:
        log p(x | c), context (rows, context_dim) one row per row of X."""
        f = self._need()
        x = _rows(X, "X", self.dim, images=self.image_shape_ is not None)
        c = self._given(context, x.shape[0])
        out = np.empty(x.shape[0], np.float64)
        with self._lock:
            _check(lib.nf_flow_log_prob_given(f, _fptr(x), _cptr(c), x.shape[0], _dptr(out)))
        return out

    def evaluate(self, X, context=None):
        """What `nflow eval` reports of the rows of X (nf_flow_evaluate), as a
        dict: rows, mean and two_stderr (nats), median, below_gaussian (rows
        below the model's Gaussian fit; None without one), gap and
        gap_two_stderr (the mean of log p - log N per row), outside (rows on
        or outside the bounds), mean_inside, no_density (rows at -inf
        inside them). NaN where a figure does not exist."""
        f = self._need()
        x = _rows(X, "X", self.dim)
        c = self._given(context, x.shape[0])
        r = _lib.nf_eval_report()
        lib.nf_eval_report_init(ctypes.byref(r), ctypes.sizeof(r))
        with self._lock:
            _check(lib.nf_flow_evaluate_sized(f, _fptr(x), _cptr(c), x.shape[0], None, ctypes.byref(r),
                                              ctypes.sizeof(r)))
        out = {k: getattr(r, k) for k in ("rows", "mean", "two_stderr", "median", "below_gaussian", "gap",
                                          "gap_two_stderr", "outside", "mean_inside", "no_density")}
        out["below_gaussian"] = None if r.below_gaussian < 0 else r.below_gaussian
        text = ctypes.create_string_buffer(1024)  # rows outside the bounds, rows at -inf: as nflow eval warns
        lib.nf_eval_warnings(ctypes.byref(r), None, text, len(text))
        for line in text.value.decode(errors="replace").splitlines():
            warnings.warn(line, stacklevel=2)
        return out

    def score_samples(self, X, context=None):
        """The same as log_prob (scikit-learn's name)."""
        return self.log_prob(X, context=context)

    def score(self, X, y=None, context=None):
        """Mean log-likelihood of the rows of X in nats (scikit-learn's score).
        X without rows has no mean: ValueError (log_prob of no rows is an
        empty array, as NumPy's functions map an empty array)."""
        lp = self.log_prob(X, context=context)
        if lp.size == 0:
            raise ValueError("score: X has no rows, and the mean of no log-densities is not defined")
        return float(np.mean(lp))

    def gaussian_log_prob(self, X):
        """log N(x) per row under the model's Gaussian fit of its training data
        (whitened models): the baseline to compare log_prob with."""
        f = self._need()
        x = _rows(X, "X", self.dim)
        out = np.empty(x.shape[0], np.float64)
        with self._lock:
            _check(lib.nf_flow_gaussian_log_prob(f, _fptr(x), x.shape[0], _dptr(out)))
        return out

    def count_far_from_data(self, X):
        """Rows of X (rows, dim) outside the training data's range widened by
        that range on each side: where a model's sampling pass throws the odd
        sample (a MAF's can amplify a rare base draw without bound) and its
        density is no guide. 0 for a model without its data's range."""
        f = self._need()
        x = _rows(X, "X", self.dim)
        with self._lock:
            return int(lib.nf_flow_count_far_from_data(f, _fptr(x), x.shape[0]))

    def sample(self, n, seed=1, return_log_prob=False, context=None, temperature=1.0):
        """n samples drawn with `seed` (float32, (n, dim)); nflow sample --seed S
        draws the same ones. With return_log_prob, also their log-densities
        (float64, from the sampling pass). A conditional model: n samples per
        row of context (rows, context_dim), (rows * n, dim) in all, rows
        i*n .. i*n+n-1 drawn given context row i: the x that `nflow sample
        --context` draws (it writes each row's context beside); a model fit
        with labels= takes classes (sample(8, context=[0, 7]): 8 of class 0,
        then 8 of class 7). temperature scales the base's draws (Glow's
        0.7). An image model's samples come as images, (n, H, W, C)."""
        f = self._need()
        n = _int(n, "n", 0, 2 ** 63 - 1)
        seed = _seed(seed)
        c = self._given(context, None)
        if c is not None:
            c = np.repeat(c, n, axis=0)  # each context row's n samples together
        rows = n if c is None else c.shape[0]
        x = np.empty((rows, self.dim), np.float32)
        lp = np.empty(rows, np.float64) if return_log_prob else None
        if rows:
            with self._lock:
                _check(lib.nf_flow_sample_tempered(f, _cptr(c), rows, seed, float(temperature), _fptr(x),
                                                   _dptr(lp) if return_log_prob else None))
            text = ctypes.create_string_buffer(512)  # samples far beyond the data: as nflow sample warns
            if lib.nf_sample_warning(f, _fptr(x), rows, text, len(text)):
                warnings.warn(text.value.decode(errors="replace"), stacklevel=2)
        if self.image_shape_ is not None:
            x = x.reshape((rows,) + self.image_shape_)
        return (x, lp) if return_log_prob else x

    def transform(self, X, context=None):
        """Data to latent codes, x -> z (encode; the density direction): float32 (rows, dim).
        A conditional model: given context, one row per row of X."""
        return self._code(X, "X", lib.nf_flow_encode_given, context)

    def inverse_transform(self, Z, context=None):
        """Latent codes to data, z -> x (decode; the sampling direction): float32 (rows, dim).
        A conditional model: given context, one row per row of Z."""
        return self._code(Z, "Z", lib.nf_flow_decode_given, context)

    encode, decode = transform, inverse_transform

    def fit_transform(self, X, y=None, **fit_params):
        """fit(X, **fit_params), then the latent codes of X (transform)."""
        return self.fit(X, y, **fit_params).transform(X, context=fit_params.get("context"))

    def _more_tags(self):
        # scikit-learn's estimator tags: the codes are float32 whatever the input
        return {"preserves_dtype": [np.float32]}

    def _code(self, X, name, fn, context):
        f = self._need()
        x = _rows(X, name, self.dim)
        c = self._given(context, x.shape[0], name)
        out = np.empty_like(x)
        if x.shape[0]:
            with self._lock:
                _check(fn(f, _fptr(x), _cptr(c), x.shape[0], _fptr(out)))
        return out

    def standardization(self):
        """(mean, std) of the standardisation the model applies first (float64, (dim,) each)."""
        f = self._need()
        d = self.dim
        mean, std = np.empty(d), np.empty(d)
        _check(lib.nf_flow_get_standardization(f, _dptr(mean), _dptr(std)))
        return mean, std

    # ---- model files ---------------------------------------------------------
    def save(self, path):
        """Writes the model file `nflow` reads (atomically: a temporary file renamed over path)."""
        f = self._need()
        with self._lock:
            _check(lib.nf_flow_save(f, _path(path)))
        return path

    @classmethod
    def load(cls, path):
        """Reads a model file written by save or by the nflow tool."""
        p = _path(path)
        f = _lib.flow_p()
        _check(lib.nf_flow_load(ctypes.byref(f), p))
        self = cls()
        self._set_flow(f)
        self.model_ = self._kind()
        return self

    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("_f", "_lock_")}
        if self._f:
            with tempfile.TemporaryDirectory() as d:
                p = os.path.join(d, "m.nfm")
                self.save(p)
                with open(p, "rb") as fh:
                    state["_model_file"] = fh.read()
        return state

    def __setstate__(self, state):
        data = state.pop("_model_file", None)
        self.__dict__.update(state)
        self._f = None
        if data is not None:
            with tempfile.TemporaryDirectory() as d:
                p = os.path.join(d, "m.nfm")
                with open(p, "wb") as fh:
                    fh.write(data)
                f = _lib.flow_p()
                _check(lib.nf_flow_load(ctypes.byref(f), os.fsencode(p)))
                self._f = f

    # ---- reverse-KL training -------------------------------------------------
    def _student(self, dim, mean, std, default_model="iaf", context_dim=0, bounds=None):
        """A student built as nflow distill / nflow fit build it: no whitening
        layer (no data to whiten), the given standardisation (after the
        bounds (lo, hi), a teacher's, when given); conditional on context_dim
        values per row when > 0."""
        model_id = _choice("model", self.model if self.model is not None else default_model, _lib.MODELS)
        cfg = _lib.nf_config()
        lib.nf_config_init(ctypes.byref(cfg), ctypes.sizeof(cfg), model_id, dim)
        r = self._recipe()
        try:
            _check(lib.nf_recipe_apply_sized(r, ctypes.byref(cfg), ctypes.sizeof(cfg), None, 0))
        finally:
            lib.nf_recipe_free(r)
        cfg.seed = _seed(self.seed)
        cfg.whiten = 0
        cfg.context_dim = int(context_dim)
        f = self._create(cfg)
        try:
            if bounds is not None:
                _check(lib.nf_flow_set_bounds(f, _dptr(bounds[0]), _dptr(bounds[1])))
            _check(lib.nf_flow_set_standardization(f, _dptr(mean), _dptr(std)))
        except BaseException:
            lib.nf_flow_free(f)
            raise
        self._set_flow(f)
        self.model_ = _MODEL_NAMES[model_id]
        self.history_ = []

    def _kl_options(self, steps, batch, lr, clip_norm, seed, progress_every, context=None, distill=False):
        """nf_kl_options: the library's defaults (distill: distillation's,
        nf_kl_options_distill), the values given (not None) over them;
        context (a float32 array the caller keeps alive through the C call):
        the contexts to train under."""
        o = _lib.nf_kl_options()
        (lib.nf_kl_options_distill_init if distill else lib.nf_kl_options_init)(ctypes.byref(o), ctypes.sizeof(o))
        if steps is not None:
            o.steps = _int(steps, "steps")
        if batch is not None:
            o.batch = _int(batch, "batch")
        if lr is not None:
            o.lr = float(lr)
        if clip_norm is not None:
            o.clip_norm = float(clip_norm)
        o.seed = _seed(self.seed if seed is None else seed)
        if progress_every is not None:
            o.progress_every = _int(progress_every, "progress_every")
        if o.steps < 1 or o.batch < 2 or o.progress_every < 1 or not (o.lr > 0 and math.isfinite(o.lr)):
            raise ValueError("steps >= 1, batch >= 2, progress_every >= 1 and lr > 0 are required")
        if context is not None:
            o.context, o.context_rows = _fptr(context), context.shape[0]
        return o

    def _kl_context(self, context, nc, who):
        """The contexts to train a student under, checked: required when the
        student is conditional on nc values, refused otherwise."""
        if context is None:
            if nc:
                raise ValueError("%s is conditional on %d context value%s per row: pass context=, the contexts to "
                                 "train under (rows, %d)" % (who, nc, "" if nc == 1 else "s", nc))
            return None
        if nc == 0:
            raise ValueError("context: %s is not conditional" % who)
        c = _context_rows(context, "context", nc)
        if c.shape[0] < 1:
            raise ValueError("context has no rows: at least one context to train under is needed")
        return c

    def _reverse_kl(self, run, opt, verbose, callback, guard, keeps_best=False):
        history = []
        shown = _Shown(verbose, None, None, _lib.NF_PROGRESS_MARK_BEST if keeps_best else 0) if verbose else None

        def on_progress(p):
            d = {"step": p.step, "kl": p.kl, "kl_stderr": p.kl_stderr, "cross_entropy": p.cross_entropy,
                 "entropy": p.entropy, "seconds": p.seconds}
            history.append(d)
            if shown:
                lib.nf_progress_show_kl(ctypes.byref(p), shown.p)
            return callback is not None and callback(d)

        c_progress = _lib.kl_progress_fn(lambda p, user: guard.run(on_progress, p.contents))
        opt.progress = c_progress
        last = _lib.nf_kl_progress()
        with guard:
            st = run(ctypes.byref(opt), ctypes.byref(last))
        if shown:
            shown.finish()
        self.history_ = list(self.history_) + history
        if st == _lib.NF_OK or guard.failed:
            self.steps_ = last.step
            self.kl_, self.kl_stderr_ = last.kl, last.kl_stderr
            self.cross_entropy_, self.entropy_ = last.cross_entropy, last.entropy
        guard.reraise()
        _check(st)
        return self

    def distill(self, teacher, steps=None, batch=None, lr=None, clip_norm=None, seed=None, progress_every=None,
                warm_start=False, verbose=True, callback=None, context=None, patience=None, max_time=None,
                samples=None, epochs=None):
        """Probability density distillation: trains this Flow (the student) to
        minimise KL(student || teacher) on its own samples; the teacher (a
        Flow, e.g. a MAF fitted to data) is not changed. Builds the student as
        `nflow distill` does unless warm_start (nf_recipe_student and
        nf_flow_create_student: model None: 'iaf-mog' for a teacher with a
        MoG base, else 'iaf' (always 'iaf' when reverse KL runs), sized from
        the teacher, the Flow's options that are not their defaults (layers,
        hidden, activation, ...) over it, starting as the teacher's Gaussian
        fit). Then, as `nflow distill`: maximum
        likelihood on `samples` fresh teacher samples (None: 8 x the
        teacher's training rows, 50,000 to 1,000,000, at most what the teacher's
        training visited; 0: none) for `epochs`
        (None: about the teacher's training time), the rate falling on a
        cosine from lr (None: 4e-3) to 0 (nf_flow_distill_forward and
        nf_flow_distill_options: KL(teacher || student), which covers the
        teacher's mass); and reverse KL when steps is given or samples is 0,
        until the KL on fresh samples stops falling (nf_flow_distill_converge:
        a check every progress_every steps, stop after `patience` checks
        without a lower KL, or at `steps`), keeping the best check's student
        (None: the library's nf_kl_options_distill, nflow distill's: steps
        100,000, batch 512, lr 1e-3, clip_norm 100, progress_every 100,
        patience NF_DISTILL_PATIENCE, 10); max_time
        seconds bound both phases together, as nflow distill --max-time
        (nf_flow_distill_run). callback(dict) at every check; a true return stops. Returns
        self; kl_, kl_stderr_, cross_entropy_, entropy_ (the best check's,
        when reverse KL ran), history_; after the first phase ml_epochs_,
        ml_val_log_likelihood_ and samples_redrawn_ (teacher samples outside
        the teacher's data, beyond its range on either side, drawn again:
        nf_flow_distill_redrawn); distill_report_, nflow distill's figures
        on 10,000 fresh student samples (nf_flow_distill_evaluate): n, kl,
        kl_two_stderr, cross_entropy(_two_stderr), entropy(_two_stderr),
        student_samples_per_s, teacher_samples_per_s.

        A conditional teacher p(x | c): context (rows, context_dim), the
        contexts to train under (each step draws its batch's contexts from
        them); the student is conditional too, with the teacher's context
        standardisation."""
        if not isinstance(teacher, Flow):
            raise TypeError("teacher must be an nflow.Flow, not %s" % type(teacher).__name__)
        t = teacher._need()
        if teacher is self:
            raise ValueError("a Flow cannot be its own teacher")
        nc = teacher.context_dim
        warm = bool(warm_start and self._f)
        if warm and self.context_dim != nc:
            raise ValueError("the student (warm_start) takes %d context values per row, the teacher %d" %
                             (self.context_dim, nc))
        c = self._kl_context(context, nc, "the teacher")
        reverse = steps is not None or (samples is not None and samples == 0)
        opt = self._kl_options(steps, batch, lr, clip_norm, seed, progress_every, c, distill=True)
        samples = None if samples is None else _int(samples, "samples", 0)
        epochs = None if epochs is None else _int(epochs, "epochs", 1)
        patience = None if patience is None else _int(patience, "patience")
        max_time = 0.0 if max_time is None else float(max_time)
        if (patience is not None and patience < 1) or not max_time >= 0:
            raise ValueError("patience >= 1 and max_time >= 0 are required")
        if not warm:  # the library's student (nf_recipe_student) with this Flow's options over it
            cfg, r = _lib.nf_config(), self._recipe()
            try:
                st = lib.nf_recipe_student_sized(r, t, int(reverse), ctypes.byref(cfg), ctypes.sizeof(cfg))
            finally:
                lib.nf_recipe_free(r)
            if st == _lib.NF_ERR_INVALID:
                raise ValueError(lib.nf_last_error().decode(errors="replace"))
            cfg.seed = _seed(self.seed)
            f = _lib.flow_p()
            _check(lib.nf_flow_create_student(ctypes.byref(f), t, ctypes.byref(cfg)))
            self._set_flow(f)
            self.model_ = _MODEL_NAMES[cfg.model]
            self.history_ = []
        first, second = sorted((self, teacher), key=id)
        with first._lock, second._lock:
            to = None
            if samples != 0:  # the first phase: maximum likelihood on fresh teacher samples
                to = _lib.nf_train_options()
                lib.nf_flow_distill_options_sized(t, samples or 0, ctypes.byref(to), ctypes.sizeof(to))
                to.seed = opt.seed
                if epochs is not None:
                    to.max_epochs = epochs
                if lr is not None:
                    to.lr = float(lr)
            res = _lib.nf_train_result()

            def run(kl, last):  # both phases, max_time shared: the library's recipe, as nflow distill's
                st = lib.nf_flow_distill_run(self._f, t, _fptr(c) if c is not None else None,
                                             0 if c is None else c.shape[0], samples or 0,
                                             ctypes.byref(to) if to is not None else None, kl, patience or 0, max_time,
                                             ctypes.byref(res), last)
                if to is not None:
                    self.ml_epochs_, self.ml_val_log_likelihood_ = res.epochs, res.val_log_likelihood
                    self.samples_redrawn_ = lib.nf_flow_distill_redrawn(self._f)
                return st

            if reverse:
                self._reverse_kl(run, opt, verbose, callback, _Callback(), keeps_best=True)
            else:
                _check(run(None, None))
            r = _lib.nf_distill_report()  # nflow distill's report: 10,000 fresh samples, seed + 1, both timed
            lib.nf_distill_report_init(ctypes.byref(r), ctypes.sizeof(r))
            _check(lib.nf_flow_distill_evaluate_sized(self._f, t, _fptr(c) if c is not None else None,
                                                      0 if c is None else c.shape[0], 0, opt.seed + 1, 1,
                                                      ctypes.byref(r), ctypes.sizeof(r)))
            self.distill_report_ = {k: getattr(r, k) for k, _ in r._fields_[1:]}
            return self

    def fit_target(self, log_prob_fn, dim=None, steps=None, batch=None, lr=None, clip_norm=None, seed=None,
                   progress_every=None, warm_start=False, verbose=True, callback=None, dtype=np.float64,
                   context=None):
        """Reverse-KL fit to an unnormalised density, as `nflow fit` does:
        log_prob_fn(x) gets x, an array (rows, dim) of `dtype` (float64 or
        float32), and returns (log_p, grad): log p per row (rows,) and
        d log p / dx (rows, dim). An exception raised in it stops training and
        is raised again from fit_target. Builds the student (model None:
        'iaf'; no whitening; the identity standardisation) unless warm_start.
        The reported KL is up to the target's unknown log-normaliser. steps,
        batch, lr, clip_norm, progress_every None: nf_kl_options_default's
        (3000, 512, 1e-3, 100, 100), as nflow fit's.

        A conditional target t(x | c): context (rows, k), the contexts to
        train under (each step draws its batch's contexts from them); the
        student is conditional on k values (warm_start: it must be), and
        log_prob_fn(x, c) gets c (rows, k) of `dtype` beside x, row r of x
        drawn given row r of c. The student's networks read c as given (no
        context standardisation: the library has no call that sets one
        without data), so contexts of order 1 train best."""
        if not callable(log_prob_fn):
            raise TypeError("log_prob_fn must be callable")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError("dtype: float32 or float64")
        warm = bool(warm_start and self._f)
        if warm:
            c = self._kl_context(context, self.context_dim, "the model trained further (warm_start)")
        else:
            c = None if context is None else _context_rows(context, "context")
            if c is not None and c.shape[0] < 1:
                raise ValueError("context has no rows: at least one context to train under is needed")
        opt = self._kl_options(steps, batch, lr, clip_norm, seed, progress_every, c)
        if not warm:
            if dim is None or _int(dim, "dim") < 1:
                raise ValueError("fit_target needs dim >= 1 (the target's dimension)")
            dim = _int(dim, "dim")
            self._student(dim, np.zeros(dim), np.ones(dim), context_dim=0 if c is None else c.shape[1])
        elif dim is not None and _int(dim, "dim") != self.dim:
            raise ValueError("dim %d differs from the model's %d" % (dim, self.dim))
        guard = _Callback()

        def energy(x_p, rows, d, log_p_p, grad_p, c_p=None, k=0):
            x = np.ctypeslib.as_array(x_p, shape=(rows, d)).astype(dtype)  # a copy the callable may keep
            if c_p is None:
                result = log_prob_fn(x)
            else:
                result = log_prob_fn(x, np.ctypeslib.as_array(c_p, shape=(rows, k)).astype(dtype))
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError("log_prob_fn must return (log_p, grad), not %s" % type(result).__name__)
            lp = np.asarray(result[0], dtype=np.float64)
            g = np.asarray(result[1], dtype=np.float32)
            if lp.shape not in ((rows,), (rows, 1)):
                raise ValueError("log_prob_fn returned log_p of shape %s for x of shape %s: (%d,) expected" %
                                 (lp.shape, x.shape, rows))
            if g.shape != (rows, d):
                raise ValueError("log_prob_fn returned grad of shape %s for x of shape %s: the same shape "
                                 "expected" % (g.shape, x.shape))
            np.ctypeslib.as_array(log_p_p, shape=(rows,))[:] = lp.reshape(rows)
            if grad_p:
                np.ctypeslib.as_array(grad_p, shape=(rows, d))[:] = g
            return False

        if c is None:
            c_energy = _lib.log_density_fn(lambda x_p, rows, d, lp_p, g_p, user:
                                           guard.run(energy, x_p, rows, d, lp_p, g_p))
            run = lambda o, last: lib.nf_flow_fit_target(self._f, c_energy, None, o, last)  # noqa: E731
        else:
            c_energy = _lib.log_density_given_fn(lambda x_p, c_p, rows, d, k, lp_p, g_p, user:
                                                 guard.run(energy, x_p, rows, d, lp_p, g_p, c_p, k))
            run = lambda o, last: lib.nf_flow_fit_target_given(self._f, c_energy, None, o, last)  # noqa: E731
        with self._lock:
            return self._reverse_kl(run, opt, verbose, callback, guard)
