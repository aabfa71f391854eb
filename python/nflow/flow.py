"""The Flow class: a normalizing flow of libnflow, with NumPy arrays in and out (reference: docs/python.md)."""
import contextlib
import ctypes
import inspect
import json
import operator
import os
import shutil
import signal
import sys
import threading
import warnings

import numpy as np

from . import _lib
from ._lib import lib

__all__ = ["Flow", "Error", "PerformanceWarning", "set_threads", "get_threads", "library_version", "system_info"]


class PerformanceWarning(UserWarning):
    """OpenBLAS runs generic kernels on this CPU: nflow is several times slower than it could be."""


class NotFittedError(ValueError, AttributeError):
    """A Flow used before it has a model (fit it, or Flow.load one); a ValueError and an AttributeError."""


class Error(RuntimeError):
    """A failure reported by libnflow: str(e) is its message (nf_last_error); status: the nf_status code,
    status_name: e.g. "NF_ERR_FORMAT", reason: nf_status_string(status)."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status, self.status_name = status, _lib.STATUS_NAMES.get(status, "status %d" % status)
        self.reason = lib.nf_status_string(status).decode()


def _check(status, value_error=()):
    """Raises Error with the library's message for a failed status; ValueError (input the library refused, as
    scikit-learn wants) for a status in value_error, or for any with value_error=True."""
    if status != _lib.NF_OK:
        msg = lib.nf_last_error().decode(errors="replace") or lib.nf_status_string(status).decode()
        raise ValueError(msg) if value_error is True or status in value_error else Error(msg, status)


def _text(fn, *args, size=4096):
    """The text a library call writes into the buffer it takes last, with its size: fn(*args, buf, size)."""
    buf = ctypes.create_string_buffer(size)
    fn(*args, buf, size)
    return buf.value.decode(errors="replace")


def _new(struct, *args, init="_init"):
    """A library structure set to its defaults by its nf_..._init call (nf_config's: args model, dim)."""
    s = struct()
    getattr(lib, struct.__name__ + init)(ctypes.byref(s), ctypes.sizeof(s), *args)
    return s


def _sized(fn, *args, struct):
    """A structure filled by a sized library call fn(*args, &s, sizeof s), checked."""
    s = _new(struct) if hasattr(lib, struct.__name__ + "_init") else struct()
    _check(fn(*args, ctypes.byref(s), ctypes.sizeof(s)))
    return s


def _fields(s):
    """A structure's fields (struct_size left out) as a dict, text decoded."""
    return {k: v.decode(errors="replace") if isinstance(v, bytes) else v
            for k, v in ((k, getattr(s, k)) for k, _ in s._fields_) if k != "struct_size"}


def set_threads(n=0):
    """Sets the threads of nflow's arithmetic, process-wide; n <= 0: OMP_NUM_THREADS, else usable_threads().
    More than usable_threads() warns and uses that many. Results are the same bits at any count."""
    n = _int(n, "n")
    text = _text(lib.nf_set_threads_usable, n, size=320)
    if text:
        warnings.warn("nflow.set_threads(%d): %s" % (n, text), stacklevel=2)


def usable_threads():
    """(count, why): the threads this process may use (affinity, cores, cgroup quota) and where that came from."""
    why = ctypes.create_string_buffer(256)
    return lib.nf_threads_usable(why, 256), why.value.decode()


def omp_wait_policy():
    """(policy, who): how OpenMP's threads wait at barriers; ('passive', 'nflow') when nflow set it."""
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
    """The library's limits on a model's sizes: {name: (smallest, largest)}, e.g. limits()["hidden"]."""
    out, name, lo, hi = {}, ctypes.c_char_p(), ctypes.c_double(), ctypes.c_double()
    while lib.nf_limit_get(len(out), ctypes.byref(name), ctypes.byref(lo), ctypes.byref(hi)) == _lib.NF_OK:
        out[name.value.decode()] = (lo.value, hi.value)
    return out


def system_info():
    """What nflow runs on (nf_system_info_get), as a dict: CPU, vector features, BLAS kernels, threads."""
    info = _lib.nf_system_info()
    lib.nf_system_info_get(ctypes.byref(info))
    return _fields(info)


def _check_kernels():
    """Warns where OpenBLAS runs generic kernels: the tool restarts itself with OPENBLAS_CORETYPE, Python cannot."""
    info = system_info()
    if not os.environ.get("OPENBLAS_CORETYPE") and info["blas_kernel_generic"] and info["suggested_coretype"]:
        warnings.warn("OpenBLAS runs its generic %s kernels on this CPU (%s), several times slower than it allows: "
                      "set OPENBLAS_CORETYPE=%s in the environment before Python starts (it cannot change once "
                      "OpenBLAS is loaded; the nflow tool does this itself)" %
                      (info["blas_kernel"], info["cpu"], info["suggested_coretype"]), PerformanceWarning,
                      stacklevel=3)


# ---- arguments ----------------------------------------------------------------
def _rows(X, name, dim=None, images=False):
    """X as a C-contiguous float32 (rows, dim) array (a float32 C-ordered one as it is), checked: 2-D, real,
    finite, `dim` columns. images: (N, H, W) and (N, H, W, C) arrays too, an image per row."""
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
        raise ValueError("%s must be 2-D (rows, columns), not %d-D of shape %s%s" % (name, a.ndim, a.shape, (
            ". Reshape your data: %s.reshape(-1, 1) for one column" % name) if a.ndim == 1 else ""))
    if a.shape[1] == 0:
        raise ValueError("%s has 0 feature(s) (shape=%s) while a minimum of 1 is required." % (name, a.shape))
    with np.errstate(over="ignore"):  # beyond float32: inf, refused below
        a = np.ascontiguousarray(a, dtype=np.float32)
    if dim is not None and a.shape[1] != dim:
        raise ValueError("%s has %d columns, the model has %d" % (name, a.shape[1], dim))
    if a.size and not np.isfinite(a).all():
        r, c = np.argwhere(~np.isfinite(a))[0]
        raise ValueError("%s[%d, %d] is %s%s: nflow needs finite values (no NaN or inf)" %
                         (name, r, c, a[r, c], "" if np.asarray(X).dtype == np.float32 else " (as float32)"))
    return a


def _plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def _context(C, nc, who, rows=None, of="X", name="context", more=""):
    """A context checked as _rows checks data (1-D: a column; a number: one row) against `who`, which takes nc
    values per row (None: any; 0: none, so C must be None), of `rows` rows (None: any), as float32."""
    if C is None or nc == 0:
        if C is None and nc:
            raise ValueError("%s is conditional, p(x | c) with %s per row: pass context=%s" %
                             (who, _plural(nc, "context value"), more))
        if C is not None:
            raise ValueError("context: %s is not conditional (it takes no context): leave context out" % who)
        return None
    a = np.asarray(C)
    c = _rows(a.reshape(-1, 1) if a.ndim < 2 else a, name)
    if nc is not None and c.shape[1] != nc:
        raise ValueError("%s has %s, the model takes %s per row" %
                         (name, _plural(c.shape[1], "column"), _plural(nc, "context value")))
    if rows is not None and c.shape[0] != rows:
        raise ValueError("%s has %d rows, %s has %d: one context row per row of %s" % (name, c.shape[0], of, rows, of))
    return c


def _bounds_arrays(bounds, dim):
    """Flow(bounds=...) ({column: (lo, hi)} or a (lo, hi) per column) as (lo, hi) float64 arrays of dim values,
    NaN on open sides; None: no bounds."""
    if bounds is None:
        return None
    lohi = np.full((2, dim), np.nan)
    items = list(bounds.items() if isinstance(bounds, dict) else enumerate(bounds)) if hasattr(
        bounds, "__iter__") else None
    if items is None or (not isinstance(bounds, dict) and len(items) != dim):
        raise ValueError("bounds: a dict {column: (lo, hi)} (the bounded columns) or a list of one (lo, hi) per "
                         "column (%d), not %r" % (dim, bounds))
    for col, pair in items:
        if isinstance(col, bool) or not isinstance(col, (int, np.integer)) or not 0 <= col < dim:
            raise ValueError("bounds: column %r is not one of X's columns 0..%d" % (col, dim - 1))
        if pair is not None and (not hasattr(pair, "__len__") or len(pair) != 2):
            raise ValueError("bounds: column %d: %r is not a pair (lo, hi)" % (col, pair))
        for side, v in enumerate(pair or ()):
            try:
                if isinstance(v, (bool, str, bytes)):
                    raise TypeError
                lohi[side, col] = np.nan if v is None else float(v)
            except (TypeError, ValueError):
                raise ValueError("bounds: column %d: %s %r is not a number" % (col, ("lo", "hi")[side], v)) from None
    return lohi


def _ptr(a):
    """An array's data as the library takes it (float * or double *); None (NULL) for None."""
    return None if a is None else a.ctypes.data_as(_lib.c_float_p if a.dtype == np.float32 else _lib.c_double_p)


def _int(value, name, lo=-2 ** 31, hi=2 ** 31 - 1):
    """An integer argument (int or NumPy integer) within [lo, hi] (default: a C int's, which ctypes would wrap);
    bool, floats (3.0 too) and strings raise TypeError, never truncated or parsed."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError("%s must be an integer, not bool (%r)" % (name, value))
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError("%s must be an integer, not %s (%r)" % (name, type(value).__name__, value)) from None
    if not lo <= v <= hi:
        raise ValueError("%s %d out of range %d..%d" % (name, v, lo, hi))
    return v


def _seed(seed, name="seed"):
    return _int(seed, name, 0, 2 ** 64 - 1)


def _path(path, name="path"):
    """A path (str, bytes, os.PathLike) as bytes; one holding a NUL byte raises ValueError, as open() does."""
    p = os.fsencode(path)
    if b"\0" in p:
        raise ValueError("%s: embedded null byte in %r" % (name, path))
    return p


def _say(text):
    """Writes text on stderr, as the tool writes its reports."""
    sys.stderr.write(text)
    sys.stderr.flush()


class _Shown:
    """nflow train's progress display (nf_progress) on sys.stderr, its clock and max_time attached to topt (when
    given); verbose 0: quiet (max_time alone), 2: a line after every epoch."""

    def __init__(self, verbose, max_time=0, topt=None, more_flags=0):
        tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        flags = more_flags | (_lib.NF_PROGRESS_QUIET if not verbose else _lib.NF_PROGRESS_EVERY_EPOCH
                              if verbose >= 2 else lib.nf_progress_flags(int(tty), None, 0))
        self.p = _lib.progress_p()
        _check(lib.nf_progress_create(ctypes.byref(self.p), flags, b"nflow: ", float(max_time or 0)))
        self._write = _lib.text_fn(lambda text, user: _say(text.decode(errors="replace")))
        lib.nf_progress_set_output(self.p, self._write, None, shutil.get_terminal_size().columns)
        if topt is not None:
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
    """Runs Python code inside a C callback: an exception is kept, the callback returns 1 (the C loop stops) and
    reraise() raises it once the C call has returned. Around the C call (with; in the main thread, under Python's
    own SIGINT handler), Ctrl-C only sets `stop` (nf_train_options' stop), the next callback returns 1, and
    reraise() raises KeyboardInterrupt, the best parameters in place."""

    def __init__(self):
        self.error, self.stop, self._old = None, ctypes.c_int(0), None

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._old = signal.signal(signal.SIGINT, lambda signum, frame: setattr(self.stop, "value", 1))
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None

    def run(self, fn, *args):
        if self.failed:
            return 1
        try:
            return 1 if fn(*args) or self.stop.value else 0
        except BaseException as e:  # noqa: B902 - raised again after the C call
            self.error = e
            return 1

    @property
    def failed(self):
        return self.error is not None or self.stop.value != 0

    def reraise(self):
        e, self.error = self.error, None
        if e is None and self.stop.value:
            e, self.stop.value = KeyboardInterrupt(), 0
        if e is not None:
            raise e


_MODEL_NAMES = {v: k for k, v in _lib.MODELS.items()}


class Flow:
    """A normalizing flow (NICE, RealNVP, neural spline flows, MADE, MAF, MAF MoG, IAF, Glow, the Gaussian fit,
    a Gaussian mixture) with exact log-densities, sampling and latent codes, trained by the library's recipe.

    Flow(...) takes the choices of `nflow train`; None picks what the tool picks (model None races candidates,
    as model='auto'). fit(X) trains, then log_prob, sample, transform, save, ...; context= makes it p(x | c).
    Arrays in are (rows, dim), converted to C-ordered float32; arrays out are float32, log-densities float64.
    Every parameter, option and fitted attribute: docs/python.md in the nflow source tree.
    """

    def __init__(self, model=None, layers=None, hidden=None, hidden_layers=None, activation="relu",
                 base="normal", partition="even_odd", order="natural", degrees="sequential", components=None,
                 batch_norm=False, actnorm=False, whiten=True, tail_weight=1e-3, scale_bound=3.0, bins=8,
                 tail_bound=3.0, bounds=None, seed=1, levels=None):
        params = dict(locals())  # scikit-learn's protocol: __init__ stores its parameters, nothing else
        for name in self._param_names():
            setattr(self, name, params[name])

    # the model (fitted or loaded) and its record are set by fit, load, distill and fit_target
    _f = None
    model_ = None
    history_ = ()

    @property
    def _lock(self):
        """A lock per Flow, made on first use (one nf_flow per thread)."""
        return self.__dict__.get("_lock_") or self.__dict__.setdefault("_lock_", threading.RLock())

    # ---- scikit-learn's estimator protocol --------------------------------
    @staticmethod
    def _defaults():
        return {k: p.default for k, p in inspect.signature(Flow.__init__).parameters.items() if k != "self"}

    @classmethod
    def _param_names(cls):
        return list(cls._defaults())

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params):
        for k, v in params.items():
            if k not in self._param_names():
                raise ValueError("Flow has no parameter %r" % k)
            setattr(self, k, v)
        return self

    # ---- the C object ------------------------------------------------------
    def _set_flow(self, ptr, model=None, history=None):
        old, self._f = self._f, ptr
        if old:
            lib.nf_flow_free(old)
        self.model_ = model or self._kind()
        if history is not None:
            self.history_ = history

    def __del__(self):
        f = getattr(self, "_f", None)
        if f and lib is not None:
            self._f = None
            lib.nf_flow_free(f)

    def _need(self):
        if not self._f:
            raise NotFittedError("this Flow has no model yet: fit it, or load one (Flow.load)")
        return self._f

    dim = property(lambda self: lib.nf_flow_dim(self._need()), doc="Columns of the data the model is for.")
    n_features_in_ = dim
    context_dim = property(lambda self: lib.nf_flow_context_dim(self._need()),
                           doc="Context values per row of a conditional model p(x | c); 0: unconditional.")
    label_classes_ = property(lambda self: lib.nf_flow_label_classes(self._need()),
                              doc="A model fit with labels=: its count of classes (0 otherwise).")
    n_params = property(lambda self: lib.nf_flow_param_count(self._need()))

    @property
    def context_columns(self):
        """A conditional model's context columns in its data files' rows ("2-3"); None when not known or none."""
        v = lib.nf_flow_context_columns(self._need())
        return None if v is None else v.decode(errors="replace")

    @property
    def bounds_(self):
        """The model's bounds as {column: (lo, hi)}, None on an open side; {} without."""
        lo, hi = np.empty(self.dim), np.empty(self.dim)
        if not lib.nf_flow_get_bounds(self._f, _ptr(lo), _ptr(hi)):
            return {}
        side = lambda v: None if np.isinf(v) else float(v)  # noqa: E731
        return {j: (side(lo[j]), side(hi[j])) for j in range(len(lo)) if np.isfinite(lo[j]) or np.isfinite(hi[j])}

    def _given(self, context, rows, of="X"):
        """The context for `rows` rows of `of` (None: any number), checked against the model: required by a
        conditional model, refused by another; a model fit with labels= takes labels (their one-hot code)."""
        nc, classes = self.context_dim, self.label_classes_
        c = _context(context, 1 if classes else nc, "this model", rows, of, more=", an array (rows, %d)%s" % (
            nc, "" if rows is None else " with one row per row of %s" % of))
        if classes:
            y, c = c, np.empty((c.shape[0], nc), np.float32)
            if y.shape[0]:
                _check(lib.nf_flow_context_of_labels(self._f, _ptr(y), y.shape[0], _ptr(c)), True)
        return c

    @property
    def image_shape_(self):
        """(height, width, channels) of an image model's images; None for a model of columns."""
        shape = (ctypes.c_int * 3)()
        return tuple(shape) if self._f and lib.nf_flow_image_shape(self._f, shape) else None

    def describe(self):
        """The architecture, parameter counts, data statistics and training summary (nflow info)."""
        with self._lock:
            return _text(lib.nf_flow_describe, self._need(), size=lib.nf_flow_describe(self._f, None, 0) + 1)

    @property
    def race_(self):
        """The race that chose this model (model='auto'; saved with it): a dict per candidate (model, dropout,
        layers, hidden, epochs, best_epoch, val_log_likelihood, round, seconds); [] for a model that was named."""
        with self._lock:
            return [_fields(_sized(lib.nf_flow_race_entry_sized, self._f, i, struct=_lib.nf_race_entry))
                    for i in range(lib.nf_flow_race_count(self._need()))]

    def _kind(self):
        """The model kind of the flow's config (nf_flow_get_config), or "custom" (built layer by layer)."""
        cfg = _new(_lib.nf_config, 0, 1)
        with self._lock:
            if lib.nf_flow_get_config(self._need(), ctypes.byref(cfg)) != 0:
                return "custom"
        return _MODEL_NAMES[cfg.model]

    def __repr__(self):
        if self._f:
            nc = self.context_dim
            return "Flow(model=%r, dim=%d, %sn_params=%d)" % (self.model_, self.dim, "context_dim=%d, " % nc if nc
                                                             else "", self.n_params)
        defaults = self._defaults()
        return "Flow(%s)" % ", ".join("%s=%r" % (k, v) for k, v in self.get_params().items() if v != defaults[k])

    @contextlib.contextmanager
    def _recipe(self, shape=True, **training):
        """A library recipe (nf_recipe) holding the Flow's model options that differ from __init__'s defaults (with
        shape) and the training options given (not None), by nflow train's names: the library checks each
        (ValueError naming it) and puts them over the data's defaults as the tool does."""
        defaults = self._defaults()
        given = [(k, getattr(self, k)) for k in defaults if shape and k not in ("bounds", "seed")]
        given = [(k, v) for k, v in given if type(v) is not type(defaults[k]) or v != defaults[k]]
        given += [(k, v) for k, v in training.items() if v is not None]
        r, o = _lib.recipe_p(), _lib.nf_recipe_option()
        _check(lib.nf_recipe_create(ctypes.byref(r)))
        try:
            for name, value in given:
                key = {"whiten": "no-whiten", "clip_norm": "clip"}.get(name, name.replace("_", "-"))
                i = lib.nf_recipe_option_index(key.encode())  # the library's table says how to write the value
                if i < 0 or lib.nf_recipe_option_sized(i, ctypes.byref(o), ctypes.sizeof(o)) != _lib.NF_OK:
                    raise ValueError("unknown option '%s'" % key)
                if o.kind == _lib.NF_OPTION_FLAG:  # whiten=False is the flag --no-whiten
                    text = "1" if bool(value) != (name == "whiten") else "0"
                elif o.kind == _lib.NF_OPTION_INT:
                    text = str(_int(value, name))  # a float or a bool is refused, never truncated
                else:
                    text = str(value) if o.kind == _lib.NF_OPTION_CHOICE else repr(float(value))
                _check(lib.nf_recipe_set(r, key.encode(), text.encode()), True)
            yield r
        finally:
            lib.nf_recipe_free(r)

    # ---- maximum-likelihood training --------------------------------------
    def fit(self, X, y=None, *, X_val=None, epochs=None, batch=None, lr=None, lr_decay=None, weight_decay=None,
            clip_norm=None, patience=None, patience_steps=None, seed=None, max_time=None,
            validation_fraction=0.1, test_fraction=0.0, dequantize=False, warm_start=False, verbose=True,
            callback=None, progress_seconds=0.0, context=None, context_val=None, dropout=None, labels=None,
            labels_val=None):
        """Trains by maximum likelihood as `nflow train` does (Adam; early stopping on validation rows split off X,
        or X_val; the best epoch kept) and returns self; y is ignored. context= (rows, k) trains p(x | c),
        labels= p(x | class); callback(progress) returning True stops. Options, fitted attributes: docs/python.md."""
        seed = _seed(self.seed if seed is None else seed)
        if warm_start and not self._f:
            raise ValueError("warm_start=True: this Flow has no model to train further")
        X = X if hasattr(X, "nnz") else np.asarray(X)  # (scipy.sparse: refused by _rows)
        shape = (X.shape[1:] + (1,))[:3] if X.ndim in (3, 4) else None  # images: (N, H, W) or (N, H, W, C)
        x = _rows(X, "X", self.dim if warm_start else None, images=True)
        n, dim = x.shape
        xv = None if X_val is None else _rows(X_val, "X_val", dim, images=shape is not None)
        # the contexts of a conditional model (warm_start: of the model's width); labels are one column
        who, classes = "the model trained further (warm_start)", self.label_classes_ if warm_start else 0
        if labels is not None or labels_val is not None:
            if context is not None or context_val is not None:
                raise ValueError("labels and context: the context is one or the other")
            if labels is None:
                raise ValueError("labels_val without labels: the model takes labels only when fit gets labels=")
            if warm_start and not classes:
                raise ValueError("labels: the model trained further (warm_start) was not fit with labels")
            context, context_val, classes = labels, labels_val, classes or -1  # -1: the library counts them
        elif classes:
            raise ValueError("the model trained further (warm_start) was fit with labels: pass labels=")
        c = _context(context, 1 if classes else self.context_dim if warm_start else None, who, n)
        cv = None
        if context_val is not None:
            if c is None:
                raise ValueError("context_val without context: the model is conditional only when fit gets context=")
            if xv is None:
                raise ValueError("context_val without X_val: give X_val, the rows it is the context of")
            cv = _context(context_val, c.shape[1], who, xv.shape[0], "X_val", "context_val")
        elif xv is not None and c is not None:
            raise ValueError("X_val needs context_val, the context of its rows, for a conditional model")
        # the bounds' check names X's rows (warm_start: the model's, as nflow train --resume checks)
        lohi = _bounds_arrays((self.bounds_ or None) if warm_start else self.bounds, dim)
        if not (0 <= validation_fraction < 1 and 0 <= test_fraction < 1 and validation_fraction + test_fraction < 1):
            raise ValueError("validation_fraction %r and test_fraction %r: each in [0, 1), their sum below 1" %
                             (validation_fraction, test_fraction))
        validation_fraction = 0.0 if xv is not None else validation_fraction
        if n < 2 and not warm_start:
            raise ValueError("X has %d sample%s (n_samples = %d): a density needs at least 2 rows" %
                             (n, "" if n == 1 else "s", n))
        if validation_fraction > 0 and round(validation_fraction * n) < 2:
            # too few rows to validate on (as scikit-learn's checks fit 10): all of them train, no early stopping
            warnings.warn("X has %d rows: too few to split off %g%% validation rows (at least 2); training on all "
                          "of them without early stopping" % (n, 100 * validation_fraction), stacklevel=2)
            validation_fraction = 0.0
        # the recipe is the library's (nf_data_*): the split, dequantisation, bounds, defaults, as nflow train
        dopt = _new(_lib.nf_data_options)
        dopt.dequantize, dopt.seed, dopt.label_classes = int(bool(dequantize)), seed, classes
        dopt.val_fraction, dopt.test_fraction = validation_fraction, test_fraction
        if lohi is not None:
            dopt.lo, dopt.hi = _ptr(lohi[0]), _ptr(lohi[1])
        if shape is not None:
            dopt.image_shape[:] = [int(v) for v in shape]
        data = _lib.data_p()
        _check(lib.nf_data_from_arrays(ctypes.byref(data), _ptr(x), _ptr(c), n, dim, 0 if c is None else c.shape[1],
                                       _ptr(xv), _ptr(cv), 0 if xv is None else xv.shape[0], ctypes.byref(dopt)),
               (_lib.NF_ERR_INVALID, _lib.NF_ERR_FORMAT))
        try:  # the prepared data are freed however fit ends
            return self._fit_data(data, warm_start, verbose, max_time, callback, progress_seconds, dict(
                epochs=epochs, batch=batch, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, clip_norm=clip_norm,
                patience=patience, patience_steps=patience_steps, dropout=dropout))
        finally:
            lib.nf_data_free(data)

    def _fit_data(self, data, warm_start, verbose, max_time, callback, progress_seconds, training):
        warning = _text(lib.nf_data_warning, data)
        if warning:  # whole-numbered columns (images are dequantised)
            warnings.warn(warning + "; fit(..., dequantize=True) adds U[0,1) noise", stacklevel=3)
        elif verbose and (note := _text(lib.nf_data_note, data)):  # dequantised, as nflow train says
            _say("nflow: %s\n" % note)
        n_train, n_val, n_test = (lib.nf_data_rows(data, k, None, None) for k in range(3))
        if n_train < 2 and not warm_start:
            raise ValueError("X has %d rows after the split: at least 2 are needed" % n_train)
        # the options over the data's defaults, as nflow train puts them (warm_start: training options alone)
        cfg, topt, race = _new(_lib.nf_config, 0, 1), _new(_lib.nf_train_options), ctypes.c_int()
        with self._recipe(not warm_start, **training) as r:
            _check(lib.nf_recipe_resolve_sized(r, data, ctypes.byref(cfg), ctypes.sizeof(cfg), ctypes.byref(topt),
                                               ctypes.sizeof(topt), ctypes.byref(race)), (_lib.NF_ERR_INVALID,))
        race = bool(race.value) and not warm_start
        if warm_start and training["epochs"] is None and (self.model_ or self._kind()) == "gaussian":
            topt.max_epochs = 0  # the fit is the maximum-likelihood Gaussian already
        if not warm_start:
            if not race:
                f = _lib.flow_p()
                _check(lib.nf_flow_create_for_data(ctypes.byref(f), data, ctypes.byref(cfg)))
                self._set_flow(f, _MODEL_NAMES[cfg.model])
            self.history_ = []
            if verbose:
                _say("nflow: %s\n" % _text(lib.nf_recipe_summary, data, ctypes.byref(cfg), ctypes.byref(topt),
                                           int(race)))
        shown, guard, history, asked_stop = _Shown(verbose, max_time, topt), _Callback(), [], []

        def on_progress(p):
            d = {"epoch": p.epoch, "in_epoch": bool(p.in_epoch), "train_loss": p.train_loss,
                 "train_log_likelihood": -p.train_loss, "val_log_likelihood": p.val_log_likelihood,
                 "best_val_log_likelihood": p.best_val, "bad_epochs": p.bad_epochs, "seconds": p.seconds,
                 "rows_done": p.rows_done, "rows_per_epoch": p.rows_per_epoch}
            stop = bool(lib.nf_progress_show(ctypes.byref(p), shown.p))  # the display; max_time ends training
            if not d["in_epoch"]:
                history.append(d)
            if callback is not None and (not d["in_epoch"] or progress_seconds > 0):  # within epochs when asked
                stop = bool(callback(d)) or stop
            if stop:
                asked_stop.append(p.epoch)
            return stop

        topt.progress = _lib.train_progress_fn(lambda p, user: guard.run(on_progress, p.contents))
        topt.stop = ctypes.pointer(guard.stop)  # Ctrl-C
        # progress within epochs, at least every half second, so that Ctrl-C stops training promptly
        topt.progress_seconds = min(float(progress_seconds) if progress_seconds > 0 else 0.5, 0.5,
                                    topt.progress_seconds or 0.5)
        res, f = _lib.nf_train_result(), self._f
        with guard, self._lock:
            if race:
                f = _lib.flow_p()
                st = lib.nf_flow_fit_auto(ctypes.byref(f), data, ctypes.byref(topt), float(max_time or 0),
                                          ctypes.byref(res))
            else:
                st = lib.nf_flow_fit(f, data, ctypes.byref(topt), ctypes.byref(res))
        shown.finish()
        if race and f:
            self._set_flow(f)
            if verbose:
                _say(_text(lib.nf_flow_race_table, f))
        self.history_ = list(self.history_) + history
        if st == _lib.NF_OK or guard.failed:
            self.batch_, self.epochs_, self.best_epoch_ = topt.batch, res.epochs, res.best_epoch
            self.train_log_likelihood_, self.val_log_likelihood_ = res.train_log_likelihood, res.val_log_likelihood
            self.seconds_, self.stopped_ = res.seconds, bool(asked_stop) or guard.failed or bool(res.stopped)
            self.n_train_, self.n_val_, self.n_test_ = n_train, n_val, n_test
            self.test_log_likelihood_ = self.test_two_stderr_ = float("nan")
            self.config_ = json.loads(_text(lib.nf_flow_config_json, self._f, ctypes.byref(topt)))
        guard.reraise()
        _check(st)
        with self._lock:  # the figures nflow train reports, in its words when verbose
            scores = _sized(lib.nf_flow_fit_scores_sized, f, data, ctypes.byref(topt), struct=_lib.nf_fit_scores)
        self.test_log_likelihood_, self.test_two_stderr_ = scores.test, scores.test_two_stderr
        warning = _text(lib.nf_fit_warning, f, data, ctypes.byref(res))
        if warning:
            warnings.warn(warning + " (fit(lr=...))", stacklevel=3)
        if verbose:
            _say(_text(lib.nf_fit_report, f, data, ctypes.byref(topt), ctypes.byref(res), ctypes.byref(scores), 0))
        return self

    # ---- densities, samples, codes -----------------------------------------
    def _input(self, X, context, name="X", images=False):
        """X checked against the model (dim columns; images: an image per row too) and its context."""
        x = _rows(X, name, self.dim, images=images)
        return x, self._given(context, x.shape[0], name)

    def log_prob(self, X, context=None):
        """log p(x) per row in nats, float64 (rows,); a conditional model: log p(x | c), a context row per row."""
        x, c = self._input(X, context, images=self.image_shape_ is not None)
        out = np.empty(x.shape[0], np.float64)
        with self._lock:
            _check(lib.nf_flow_log_prob_given(self._f, _ptr(x), _ptr(c), x.shape[0], _ptr(out)))
        return out

    def evaluate(self, X, context=None):
        """What `nflow eval` reports of the rows of X, as a dict (rows, mean, two_stderr, median, below_gaussian,
        gap, gap_two_stderr, outside, mean_inside, no_density: docs/python.md); warns of rows outside the bounds."""
        x, c = self._input(X, context)
        with self._lock:
            r = _sized(lib.nf_flow_evaluate_sized, self._f, _ptr(x), _ptr(c), x.shape[0], None,
                       struct=_lib.nf_eval_report)
        out = {k: getattr(r, k) for k in ("rows", "mean", "two_stderr", "median", "below_gaussian", "gap",
                                          "gap_two_stderr", "outside", "mean_inside", "no_density")}
        out["below_gaussian"] = None if r.below_gaussian < 0 else r.below_gaussian
        for line in _text(lib.nf_eval_warnings, ctypes.byref(r), None).splitlines():  # as nflow eval warns
            warnings.warn(line, stacklevel=2)
        return out

    def score(self, X, y=None, context=None):
        """Mean log-likelihood of the rows of X in nats (scikit-learn's score); no rows: ValueError."""
        lp = self.log_prob(X, context=context)
        if lp.size == 0:
            raise ValueError("score: X has no rows, and the mean of no log-densities is not defined")
        return float(np.mean(lp))

    def gaussian_log_prob(self, X):
        """log N(x) per row under the model's Gaussian fit of its training data: the baseline for log_prob."""
        x = _rows(X, "X", self.dim)
        out = np.empty(x.shape[0], np.float64)
        with self._lock:
            _check(lib.nf_flow_gaussian_log_prob(self._f, _ptr(x), x.shape[0], _ptr(out)))
        return out

    def count_far_from_data(self, X):
        """Rows of X outside the training data's range widened by that range on each side (where the density is
        no guide); 0 for a model without its data's range."""
        x = _rows(X, "X", self.dim)
        with self._lock:
            return int(lib.nf_flow_count_far_from_data(self._f, _ptr(x), x.shape[0]))

    def sample(self, n, seed=1, return_log_prob=False, context=None, temperature=1.0):
        """n samples drawn with `seed`, float32 (n, dim), as `nflow sample --seed`; with return_log_prob also their
        log-densities. A conditional model: n per context row, (rows * n, dim). An image model: images."""
        f, n, seed = self._need(), _int(n, "n", 0, 2 ** 63 - 1), _seed(seed)
        c = self._given(context, None)
        c = None if c is None else np.repeat(c, n, axis=0)  # each context row's n samples together
        rows = n if c is None else c.shape[0]
        x = np.empty((rows, self.dim), np.float32)
        lp = np.empty(rows, np.float64) if return_log_prob else None
        if rows:
            with self._lock:
                _check(lib.nf_flow_sample_tempered(f, _ptr(c), rows, seed, float(temperature), _ptr(x), _ptr(lp)))
            warning = _text(lib.nf_sample_warning, f, _ptr(x), rows)  # samples far beyond the data, as nflow sample
            if warning:
                warnings.warn(warning, stacklevel=2)
        if self.image_shape_ is not None:
            x = x.reshape((rows,) + self.image_shape_)
        return (x, lp) if return_log_prob else x

    def transform(self, X, context=None):
        """Data to latent codes, x -> z (encode; the density direction): float32 (rows, dim)."""
        return self._code(X, "X", lib.nf_flow_encode_given, context)

    def inverse_transform(self, Z, context=None):
        """Latent codes to data, z -> x (decode; the sampling direction): float32 (rows, dim)."""
        return self._code(Z, "Z", lib.nf_flow_decode_given, context)

    encode, decode, score_samples = transform, inverse_transform, log_prob  # (scikit-learn's name: score_samples)

    def fit_transform(self, X, y=None, **fit_params):
        """fit(X, **fit_params), then the latent codes of X (transform)."""
        return self.fit(X, y, **fit_params).transform(X, context=fit_params.get("context"))

    def _more_tags(self):
        # scikit-learn's estimator tags: the codes are float32 whatever the input
        return {"preserves_dtype": [np.float32]}

    def _code(self, X, name, fn, context):
        x, c = self._input(X, context, name)
        out = np.empty_like(x)
        if x.shape[0]:
            with self._lock:
                _check(fn(self._f, _ptr(x), _ptr(c), x.shape[0], _ptr(out)))
        return out

    def standardization(self):
        """(mean, std) of the standardisation the model applies first (float64, (dim,) each)."""
        mean, std = np.empty(self.dim), np.empty(self.dim)
        _check(lib.nf_flow_get_standardization(self._f, _ptr(mean), _ptr(std)))
        return mean, std

    # ---- model files ---------------------------------------------------------
    def save(self, path):
        """Writes the model file `nflow` reads (atomically: a temporary file renamed over path); returns path."""
        with self._lock:
            _check(lib.nf_flow_save(self._need(), _path(path)))
        return path

    @classmethod
    def load(cls, path):
        """Reads a model file written by save or by the nflow tool."""
        f, self = _lib.flow_p(), cls()
        _check(lib.nf_flow_load(ctypes.byref(f), _path(path)))
        self._set_flow(f)
        return self

    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("_f", "_lock_")}
        if self._f:  # the model file's bytes (nf_flow_save_bytes)
            data, size = ctypes.c_void_p(), ctypes.c_size_t()
            with self._lock:
                _check(lib.nf_flow_save_bytes(self._f, ctypes.byref(data), ctypes.byref(size)))
            state["_model_file"] = ctypes.string_at(data, size.value)
            lib.nf_free(data)
        return state

    def __setstate__(self, state):
        data = state.pop("_model_file", None)
        self.__dict__.update(state)
        self._f = None
        if data is not None:
            f = _lib.flow_p()
            _check(lib.nf_flow_load_bytes(ctypes.byref(f), data, len(data)))
            self._f = f

    # ---- reverse-KL training -------------------------------------------------
    def _kl_options(self, steps, batch, lr, clip_norm, seed, progress_every, context=None, distill=False):
        """nf_kl_options: the library's defaults (distill: distillation's), the values given (not None) over them
        (the library checks their ranges); context (a float32 array the caller keeps alive through the C call): the
        contexts to train under."""
        o = _new(_lib.nf_kl_options, init="_distill_init" if distill else "_init")
        o.seed = _seed(self.seed if seed is None else seed)
        for k, v in dict(steps=steps, batch=batch, progress_every=progress_every, lr=lr, clip_norm=clip_norm).items():
            if v is not None:
                setattr(o, k, float(v) if k in ("lr", "clip_norm") else _int(v, k))
        if o.progress_every < 1:
            raise ValueError("progress_every %d: 1 or more steps between reports" % o.progress_every)
        if context is not None:
            o.context, o.context_rows = _ptr(context), context.shape[0]
        return o

    @staticmethod
    def _train_contexts(context, nc, who):
        """The contexts to train under, checked: required when `who` is conditional on nc values, refused when it
        is not (nc None: any width); at least one."""
        c = _context(context, nc, who, more=", the contexts to train under (rows, %d)" % (nc or 0))
        if c is not None and c.shape[0] < 1:
            raise ValueError("context has no rows: at least one context to train under is needed")
        return c

    def _reverse_kl(self, run, opt, verbose, callback, guard, keeps_best=False):
        history = []
        shown = _Shown(verbose, more_flags=_lib.NF_PROGRESS_MARK_BEST if keeps_best else 0)

        def on_progress(p):
            d = {k: getattr(p, k) for k in ("step", "kl", "kl_stderr", "cross_entropy", "entropy", "seconds")}
            history.append(d)
            lib.nf_progress_show_kl(ctypes.byref(p), shown.p)
            return callback is not None and callback(d)

        opt.progress = _lib.kl_progress_fn(  # (the structure keeps the function alive)
            lambda p, user: guard.run(on_progress, p.contents))
        last = _lib.nf_kl_progress()
        with guard:
            st = run(ctypes.byref(opt), ctypes.byref(last))
        shown.finish()
        self.history_ = list(self.history_) + history
        if st == _lib.NF_OK or guard.failed:
            self.steps_, self.kl_, self.kl_stderr_ = last.step, last.kl, last.kl_stderr
            self.cross_entropy_, self.entropy_ = last.cross_entropy, last.entropy
        guard.reraise()
        _check(st, (_lib.NF_ERR_INVALID,))  # options out of range: ValueError
        return self

    def distill(self, teacher, steps=None, batch=None, lr=None, clip_norm=None, seed=None, progress_every=None,
                warm_start=False, verbose=True, callback=None, context=None, patience=None, max_time=None,
                samples=None, epochs=None):
        """Trains this Flow (the student) to match `teacher` (a fitted Flow, not changed), as `nflow distill`:
        maximum likelihood on fresh teacher samples, then reverse KL when steps is given (or samples=0); returns
        self with distill_report_. A conditional teacher needs context=, the contexts to train under. The
        phases, options and fitted attributes: docs/python.md."""
        if not isinstance(teacher, Flow):
            raise TypeError("teacher must be an nflow.Flow, not %s" % type(teacher).__name__)
        t, nc, warm = teacher._need(), teacher.context_dim, bool(warm_start and self._f)
        if teacher is self:
            raise ValueError("a Flow cannot be its own teacher")
        if warm and self.context_dim != nc:
            raise ValueError("the student (warm_start) takes %d context values per row, the teacher %d" %
                             (self.context_dim, nc))
        c = self._train_contexts(context, nc, "the teacher")
        reverse = steps is not None or samples == 0
        opt = self._kl_options(steps, batch, lr, clip_norm, seed, progress_every, c, distill=True)
        samples = 0 if samples is None else _int(samples, "samples", 0) or -1  # -1: no first phase
        epochs = None if epochs is None else _int(epochs, "epochs", 1)
        patience = 0 if patience is None else _int(patience, "patience", 1)
        if not warm:  # the library's student (nf_recipe_student) with this Flow's options over it
            cfg = _lib.nf_config()
            with self._recipe() as r:
                _check(lib.nf_recipe_student_sized(r, t, int(reverse), ctypes.byref(cfg), ctypes.sizeof(cfg)),
                       (_lib.NF_ERR_INVALID,))
            cfg.seed, f = _seed(self.seed), _lib.flow_p()
            _check(lib.nf_flow_create_student(ctypes.byref(f), t, ctypes.byref(cfg)))
            self._set_flow(f, _MODEL_NAMES[cfg.model], [])
        first, second = sorted((self, teacher), key=id)
        with first._lock, second._lock:
            to, res, n_c = None, _lib.nf_train_result(), 0 if c is None else c.shape[0]
            if samples >= 0:  # the first phase: maximum likelihood on fresh teacher samples
                to = _lib.nf_train_options()
                lib.nf_flow_distill_options_sized(t, samples, ctypes.byref(to), ctypes.sizeof(to))
                to.seed, to.max_epochs = opt.seed, to.max_epochs if epochs is None else epochs
                to.lr = to.lr if lr is None else float(lr)

            def run(kl, last):  # both phases, max_time shared: the library's recipe, as nflow distill's
                ml = None if to is None else ctypes.byref(to)
                st = lib.nf_flow_distill_run(self._f, t, _ptr(c), n_c, max(samples, 0), ml, kl, patience,
                                             float(max_time or 0), ctypes.byref(res), last)
                if to is not None:
                    self.ml_epochs_, self.ml_val_log_likelihood_ = res.epochs, res.val_log_likelihood
                    self.samples_redrawn_ = lib.nf_flow_distill_redrawn(self._f)
                return st

            if reverse:
                self._reverse_kl(run, opt, verbose, callback, _Callback(), keeps_best=True)
            else:
                _check(run(None, None), (_lib.NF_ERR_INVALID,))
            # nflow distill's report: 10,000 fresh samples, seed + 1, both timed
            self.distill_report_ = _fields(_sized(lib.nf_flow_distill_evaluate_sized, self._f, t, _ptr(c), n_c, 0,
                                                  opt.seed + 1, 1, struct=_lib.nf_distill_report))
            return self

    def fit_target(self, log_prob_fn, dim=None, steps=None, batch=None, lr=None, clip_norm=None, seed=None,
                   progress_every=None, warm_start=False, verbose=True, callback=None, dtype=np.float64,
                   context=None):
        """Reverse-KL fit to an unnormalised density, as `nflow fit`: log_prob_fn(x) gets x (rows, dim) of dtype
        and returns (log_p (rows,), d log p / dx (rows, dim)); an exception in it is raised again here. Builds a
        student of `dim` dimensions unless warm_start; context= (rows, k) fits t(x | c), log_prob_fn(x, c).
        Returns self (kl_, steps_, history_, ...: docs/python.md)."""
        if not callable(log_prob_fn):
            raise TypeError("log_prob_fn must be callable")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError("dtype: float32 or float64")
        warm = bool(warm_start and self._f)
        c = self._train_contexts(context, self.context_dim if warm else None, "the model trained further "
                                 "(warm_start)")
        opt = self._kl_options(steps, batch, lr, clip_norm, seed, progress_every, c)
        dim = None if dim is None else _int(dim, "dim")
        if not warm:
            if dim is None or dim < 1:
                raise ValueError("fit_target needs dim >= 1 (the target's dimension)")
            self._student(dim, 0 if c is None else c.shape[1])
        elif dim is not None and dim != self.dim:
            raise ValueError("dim %d differs from the model's %d" % (dim, self.dim))
        guard = _Callback()

        def energy(x_p, rows, d, log_p_p, grad_p, c_p=None, k=0):
            x = np.ctypeslib.as_array(x_p, shape=(rows, d)).astype(dtype)  # a copy the callable may keep
            result = log_prob_fn(x) if c_p is None else log_prob_fn(
                x, np.ctypeslib.as_array(c_p, shape=(rows, k)).astype(dtype))
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError("log_prob_fn must return (log_p, grad), not %s" % type(result).__name__)
            lp, g = np.asarray(result[0], dtype=np.float64), np.asarray(result[1], dtype=np.float32)
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
            c_energy = _lib.nf_log_density_fn(lambda x_p, rows, d, lp_p, g_p, user:
                                              guard.run(energy, x_p, rows, d, lp_p, g_p))
            run = lambda o, last: lib.nf_flow_fit_target(self._f, c_energy, None, o, last)  # noqa: E731
        else:
            c_energy = _lib.nf_log_density_given_fn(lambda x_p, c_p, rows, d, k, lp_p, g_p, user:
                                                    guard.run(energy, x_p, rows, d, lp_p, g_p, c_p, k))
            run = lambda o, last: lib.nf_flow_fit_target_given(self._f, c_energy, None, o, last)  # noqa: E731
        with self._lock:
            return self._reverse_kl(run, opt, verbose, callback, guard)

    def _student(self, dim, context_dim):
        """fit_target's student, as nflow fit builds it (nf_recipe_target_flow; model None: iaf)."""
        f = _lib.flow_p()
        with self._recipe() as r:
            _check(lib.nf_recipe_target_flow(r, dim, context_dim, _seed(self.seed), ctypes.byref(f)),
                   (_lib.NF_ERR_INVALID,))
        self._set_flow(f, None, [])
