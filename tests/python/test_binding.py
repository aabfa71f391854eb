"""The Python binding (python/nflow) against the nflow tool on the same model
files and data: densities, samples, codes and trained models agree; the C
structures' layouts match nflow.h; errors, conversions, callbacks, the GIL,
pickling, threads and the README's example; conditional flows p(x | c)
against a known density (and the tool, once it has --context-columns).

Run: python3 tests/python/test_binding.py [BUILD]   (BUILD: default build)
The environment may name the tool (NFLOW_CLI) and the library (NFLOW_LIBRARY).
When the tool and this process run the same OpenBLAS kernels (tests/cli_python.sh
sets OPENBLAS_CORETYPE to the tool's choice), results must agree bit for bit;
otherwise to float32 rounding. Last line: "test_binding: N passed, M failed".
"""
import contextlib
import ctypes
import io
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
CLI = os.environ.get("NFLOW_CLI") or os.path.join(BUILD, "nflow")
os.environ.setdefault("NFLOW_LIBRARY", os.path.join(BUILD, "libnflow.so"))
sys.path.insert(0, os.path.join(ROOT, "python"))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the generic-kernels note: tests/cli_python.sh picks the tool's kernels
    import nflow
    from nflow import _lib

TMP = tempfile.mkdtemp(prefix="nflow_py.")
CLI_ENV = dict(os.environ, OMP_NUM_THREADS="1")  # encode/decode have no --threads
nflow.set_threads(1)  # the same bits at any count; one thread is robust on a busy machine


def cli(*args, json_out=False):
    r = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True, env=CLI_ENV)
    if r.returncode != 0:
        raise AssertionError("nflow %s: exit %d: %s" % (" ".join(map(str, args)), r.returncode, r.stderr))
    return json.loads(r.stdout) if json_out else r.stdout


def path(name):
    return os.path.join(TMP, name)


def kernels_match():
    return cli("info", "--system", "--json", json_out=True)["blas_kernel"] == nflow.system_info()["blas_kernel"]


EXACT = kernels_match()


def assert_same(test, a, b, what, rtol=1e-5):
    """Bit for bit when the kernels match, else within float32 rounding."""
    a, b = np.asarray(a), np.asarray(b)
    test.assertEqual(a.shape, b.shape, what)
    if EXACT:
        test.assertTrue(np.array_equal(a, b), "%s: not the same bits (max diff %g)" % (what, np.abs(a - b).max()))
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=what)


# data made here with NumPy: a bent 2-D cloud and a correlated 3-D one
rng = np.random.default_rng(42)
x0 = rng.normal(size=400)
X2 = np.stack([x0, 0.5 * x0 ** 2 + 0.3 * rng.normal(size=400)], axis=1).astype(np.float32)
X3 = (rng.normal(size=(300, 3)) @ np.array([[1.0, 0.6, 0.2], [0.0, 0.8, -0.4], [0.0, 0.0, 0.5]])).astype(np.float32)
np.save(path("x2.npy"), X2)
np.save(path("x3.npy"), X3)
QUIET = dict(verbose=False)


def setUpModule():
    global PY2, CLI2
    # a model trained here, and one trained by the tool, on the same data
    PY2 = nflow.Flow(hidden=32, seed=3).fit(X2, epochs=4, **QUIET)
    PY2.save(path("py2.nfm"))
    cli("train", "--data", path("x2.npy"), "--model", "realnvp", "--layers", 4, "--hidden", 32, "--epochs", 4,
        "--threads", 1, "--quiet", "--out", path("cli2.nfm"))
    CLI2 = nflow.Flow.load(path("cli2.nfm"))


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


def guarded(struct_type, fill):
    """fill(pointer) into a structure followed by guard bytes: the guard must
    come back untouched (the C structure is no larger than the mirror)."""
    size = ctypes.sizeof(struct_type)
    buf = (ctypes.c_ubyte * (size + 64))(*([0xA5] * (size + 64)))
    fill(ctypes.cast(buf, ctypes.POINTER(struct_type)))
    return struct_type.from_buffer_copy(bytes(buf[:size])), bytes(buf[size:])


class Layouts(unittest.TestCase):
    """The ctypes mirrors of nflow.h's structures: the documented defaults
    read back field by field, and nothing written past their end."""

    def test_every_call_declared(self):
        # _lib reads the library's own header (nf_header): every NF_API call gets its prototype
        names = re.findall(r"^ *NF_API [^;(]*?(\w+) ?\(", _lib.lib.nf_header().decode(), re.M)
        self.assertGreater(len(names), 150)
        with open(os.path.join(ROOT, "include", "nflow.h")) as f:
            self.assertEqual(_lib.lib.nf_header().decode(), f.read())
        self.assertEqual([n for n in names if getattr(_lib.lib, n).argtypes is None], [])
        self.assertEqual(_lib.lib.nf_flow_load_bytes.argtypes[1], ctypes.c_void_p)
        self.assertEqual(_lib.STATUS_NAMES[4], "NF_ERR_FORMAT")
        self.assertEqual(_lib.NF_PROGRESS_MARK_BEST, 32)

    def test_declarations_parsed(self):
        # the forms nflow.h writes: arrays, shared types, function pointers, qualifiers, opaque pointers
        self.assertEqual(_lib._decl("const char *label_files[3]"), ("label_files", ctypes.c_char_p, "3"))
        name, fn, n = _lib._decl("int (*progress)(const nf_train_progress *p, void *user)")
        self.assertEqual((name, fn._restype_, fn._argtypes_, n),
                         ("progress", ctypes.c_int, (ctypes.POINTER(_lib.nf_train_progress), ctypes.c_void_p), None))
        self.assertEqual(_lib._fields("const double *lo, *hi; int rank, ranks; unsigned char bits[4]; "
                                      "const volatile int *stop"),
                         [("lo", ctypes.POINTER(ctypes.c_double)), ("hi", ctypes.POINTER(ctypes.c_double)),
                          ("rank", ctypes.c_int), ("ranks", ctypes.c_int), ("bits", ctypes.c_ubyte * 4),
                          ("stop", ctypes.POINTER(ctypes.c_int))])
        self.assertEqual(_lib._args("nf_flow **out, const float *x, int shape[3], uint64_t seed"),
                         [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_float),
                          ctypes.POINTER(ctypes.c_int), ctypes.c_uint64])
        self.assertEqual(_lib._args("void"), [])
        with self.assertRaisesRegex(ImportError, "cannot map"):
            _lib._ctype("FILE *")

    def test_config(self):
        size = ctypes.sizeof(_lib.nf_config)
        cfg, guard = guarded(_lib.nf_config, lambda p: _lib.lib.nf_config_init(p, size, _lib.MODELS["maf"], 3))
        self.assertEqual(guard, b"\xa5" * 64)
        want = dict(struct_size=size, model=4, dim=3, layers=5, hidden=64, hidden_layers=2, activation=0, base=0, partition=1, seed=1,
                    order=0, random_degrees=0, batch_norm=0, actnorm=0, log_scale_bound=3.0, components=10,
                    whiten=1, tail_weight=1e-3, bins=8, tail_bound=3.0, context_dim=0, image_shape=[0, 0, 0],
                    levels=2)
        self.assertEqual({k: list(getattr(cfg, k)) if k == "image_shape" else getattr(cfg, k) for k in want}, want)
        self.assertEqual([f for f, _ in _lib.nf_config._fields_], list(want))

    def test_train_options(self):
        size = ctypes.sizeof(_lib.nf_train_options)
        o, guard = guarded(_lib.nf_train_options, lambda p: _lib.lib.nf_train_options_init(p, size))
        self.assertEqual(guard, b"\xa5" * 64)
        want = dict(struct_size=size, batch=256, lr=1e-3, weight_decay=1e-6, clip_norm=100.0, max_epochs=1000, patience=20,
                    patience_steps=1000, lr_decay=0.5, seed=1, user=None, progress_seconds=0.0,
                    checkpoint_path=None, checkpoint_seconds=300.0, resume_path=None, rank=0, ranks=0,
                    reduce_user=None, dropout=0.0)
        self.assertEqual({k: getattr(o, k) for k in want}, want)
        self.assertFalse(o.progress)
        self.assertFalse(o.stop)
        # the data-size rule writes batch and hidden through the same mirrors
        cfg = _lib.nf_config()
        _lib.lib.nf_config_init(ctypes.byref(cfg), ctypes.sizeof(cfg), 4, 3)
        _lib.lib.nf_defaults_for_data(100000, 200, ctypes.byref(cfg), ctypes.byref(o))
        self.assertEqual((cfg.hidden, o.batch, o.dropout), (512, 256, 0.0))
        _lib.lib.nf_defaults_for_data(1000, 2, ctypes.byref(cfg), ctypes.byref(o))
        self.assertEqual((cfg.hidden, o.batch, o.dropout), (100, 32, 0.0))
        _lib.lib.nf_defaults_for_data(1000, 30, ctypes.byref(cfg), ctypes.byref(o))
        self.assertEqual((cfg.hidden, o.batch, o.dropout), (100, 32, 0.2))

    def test_kl_options(self):
        o, guard = guarded(_lib.nf_kl_options, lambda p: _lib.lib.nf_kl_options_init(p, ctypes.sizeof(_lib.nf_kl_options)))
        self.assertEqual(guard, b"\xa5" * 64)
        self.assertEqual((o.batch, o.steps, o.lr, o.clip_norm, o.seed, o.progress_every, o.user, bool(o.context),
                          o.context_rows), (512, 3000, 1e-3, 100.0, 1, 100, None, False, 0))

    def test_data_options_and_eval_report(self):
        o, guard = guarded(_lib.nf_data_options,
                           lambda p: _lib.lib.nf_data_options_init(p, ctypes.sizeof(_lib.nf_data_options)))
        self.assertEqual(guard, b"\xa5" * 64)
        self.assertEqual((o.val_fraction, o.test_fraction, o.seed, o.dequantize, o.dim, bool(o.columns)),
                         (0.1, 0.1, 1, 0, 0, False))
        r, guard = guarded(_lib.nf_eval_report,
                           lambda p: _lib.lib.nf_eval_report_init(p, ctypes.sizeof(_lib.nf_eval_report)))
        self.assertEqual(guard, b"\xa5" * 64)
        self.assertTrue(r.below_gaussian == -1 and np.isnan(r.mean) and r.outside == 0)

    def test_fit_scores(self):
        s, guard = guarded(_lib.nf_fit_scores, lambda p: _lib.lib.nf_fit_scores_init(p, ctypes.sizeof(_lib.nf_fit_scores)))
        self.assertEqual(guard, b"\xa5" * 64)
        self.assertEqual((s.struct_size, s.train_scored), (ctypes.sizeof(_lib.nf_fit_scores), 0))
        self.assertTrue(all(np.isnan(getattr(s, k)) for k in ("train", "train_two_stderr", "val", "val_two_stderr",
                                                              "test", "test_two_stderr")))

    def test_distill_report(self):
        r, guard = guarded(_lib.nf_distill_report,
                           lambda p: _lib.lib.nf_distill_report_init(p, ctypes.sizeof(_lib.nf_distill_report)))
        self.assertEqual(guard, b"\xa5" * 64)
        self.assertEqual((r.struct_size, r.n, r.student_samples_per_s), (ctypes.sizeof(_lib.nf_distill_report), 0, 0))
        self.assertTrue(np.isnan(r.kl) and np.isnan(r.entropy_two_stderr))

    def test_race_entry(self):
        e, guard = guarded(_lib.nf_race_entry, lambda p: _lib.lib.nf_race_entry_init(p, ctypes.sizeof(_lib.nf_race_entry)))
        self.assertEqual(guard, b"\xa5" * 64)
        self.assertEqual((e.struct_size, e.model, e.round, e.epochs, e.val_log_likelihood),
                         (ctypes.sizeof(_lib.nf_race_entry), b"", 0, 0, -np.inf))

    def test_recipe_option(self):
        """The table's entry for --hidden read through the mirror: its kind, range and help as nflow.h says."""
        size = ctypes.sizeof(_lib.nf_recipe_option)
        i = _lib.lib.nf_recipe_option_index(b"hidden")
        o, guard = guarded(_lib.nf_recipe_option, lambda p: _lib.lib.nf_recipe_option_sized(i, p, size))
        self.assertEqual(guard, b"\xa5" * 64)
        self.assertEqual((o.struct_size, o.name, o.kind, o.min, o.max, o.shapes_model, o.kept_on_resume),
                         (size, b"hidden", _lib.NF_OPTION_INT, 1, 65536, 1, 0))
        self.assertIn(b"units per hidden layer", o.help)
        a = _lib.lib.nf_recipe_option_index(b"activation")
        self.assertEqual(guarded(_lib.nf_recipe_option, lambda p: _lib.lib.nf_recipe_option_sized(a, p, size))[0].choices,
                         b"relu|tanh")

    def test_sized_structs(self):
        """A struct_size smaller than the library's (a program built against
        an older header): the library writes no byte past it; one larger (a
        newer header) is refused with a message, not misread."""
        size = ctypes.sizeof(_lib.nf_train_options) - 8  # as if without dropout
        buf = (ctypes.c_ubyte * (size + 64))(*([0xA5] * (size + 64)))
        _lib.lib.nf_train_options_init(ctypes.cast(buf, ctypes.POINTER(_lib.nf_train_options)), size)
        self.assertEqual(bytes(buf[size:]), b"\xa5" * 64)
        self.assertEqual(ctypes.c_size_t.from_buffer(buf).value, size)
        o = _lib.nf_train_options()
        _lib.lib.nf_train_options_init(ctypes.byref(o), ctypes.sizeof(o))
        o.struct_size += 8
        f = nflow.Flow(model="realnvp", layers=2, hidden=8).fit(X2, epochs=1, **QUIET)
        x = np.ascontiguousarray(X2)
        r = _lib.nf_train_result()
        self.assertNotEqual(_lib.lib.nf_flow_train(f._f, x.ctypes.data_as(_lib.c_float_p), x.shape[0], None, 0,
                                                   ctypes.byref(o), ctypes.byref(r)), 0)
        self.assertIn(b"newer nflow.h", _lib.lib.nf_last_error())

    def test_limits(self):
        lim = nflow.limits()
        self.assertEqual(len(lim), 11)  # nflow.h's NF_LIMIT_COUNT
        self.assertEqual((lim["hidden"], lim["hidden_layers"], lim["batch"]), ((1, 65536), (0, 16), (1, 1048576)))
        self.assertNotEqual(_lib.lib.nf_limit_get(len(lim), None, None, None), 0)

    def test_system_info(self):
        info, guard = guarded(_lib.nf_system_info, _lib.lib.nf_system_info_get)
        self.assertEqual(guard, b"\xa5" * 64)
        self.assertEqual(info.threads, nflow.get_threads())
        self.assertIn(info.cpu_vector_bits, (128, 256, 512))
        self.assertTrue(info.blas.startswith(b"OpenBLAS"), info.blas)
        self.assertEqual(nflow.system_info()["blas_kernel"], info.blas_kernel.decode())

    def test_progress_structures(self):
        """nf_train_progress and nf_train_result through a real run: epochs
        count up, in-epoch calls (progress_seconds) carry rows_done below
        rows_per_epoch, the epoch calls the whole epoch and the figures the
        result reports."""
        calls = []
        f = nflow.Flow(model="realnvp", layers=2, hidden=8).fit(X2, epochs=3, batch=64, callback=calls.append,
                                                                progress_seconds=1e-9, **QUIET)
        epochs = [c for c in calls if not c["in_epoch"]]
        inner = [c for c in calls if c["in_epoch"]]
        self.assertEqual([c["epoch"] for c in epochs], [1, 2, 3])
        self.assertEqual(f.n_train_, 360)
        self.assertTrue(all(c["rows_per_epoch"] == 360 and c["rows_done"] == 360 for c in epochs))
        self.assertEqual(sorted({c["rows_done"] for c in inner}), [64, 128, 192, 256, 320])
        self.assertTrue(all(c["rows_per_epoch"] == 360 and np.isnan(c["val_log_likelihood"]) for c in inner))
        self.assertEqual(f.epochs_, 3)
        self.assertEqual(f.val_log_likelihood_, epochs[-1]["best_val_log_likelihood"])
        if f.best_epoch_:  # 0: no epoch beat the untrained model (the Gaussian fit)
            self.assertEqual(f.val_log_likelihood_, epochs[f.best_epoch_ - 1]["val_log_likelihood"])
        self.assertAlmostEqual(f.train_log_likelihood_, epochs[-1]["train_log_likelihood"], places=12)
        self.assertTrue(all(c["seconds"] >= 0 and c["bad_epochs"] >= 0 for c in calls))

    def test_train_result(self):
        """nf_train_result, guarded, through a run whose checkpoint cannot be
        written: training ends (NF_OK) and the result counts the failure."""
        f = nflow.Flow(model="realnvp", layers=2, hidden=8).fit(X2, epochs=1, **QUIET)
        o = _lib.nf_train_options()
        _lib.lib.nf_train_options_init(ctypes.byref(o), ctypes.sizeof(o))
        o.max_epochs, o.batch = 2, 64
        o.checkpoint_path = os.fsencode(path("no/such/folder/ck.nfc"))
        x = np.ascontiguousarray(X2)
        r, guard = guarded(_lib.nf_train_result, lambda p: self.assertEqual(
            _lib.lib.nf_flow_train(f._f, x.ctypes.data_as(_lib.c_float_p), x.shape[0], None, 0, ctypes.byref(o), p),
            0))
        self.assertEqual(guard, b"\xa5" * 64)
        self.assertEqual((r.epochs, r.best_epoch, r.stopped), (2, 2, 0))
        last = ctypes.c_char_p()
        self.assertEqual(_lib.lib.nf_flow_checkpoint_failures(f._f, ctypes.byref(last)), 1)
        self.assertIn(b"no/such/folder/ck.nfc", last.value)

    def test_kl_progress(self):
        reports = []
        nflow.Flow(model="realnvp", layers=2, hidden=8).fit_target(
            lambda x: (-0.5 * (x ** 2).sum(1), -x), 2, steps=30, batch=64, progress_every=10,
            callback=reports.append, **QUIET)
        self.assertEqual([r["step"] for r in reports], [10, 20, 30])
        for r in reports:  # kl = cross-entropy - entropy, and a positive standard error
            self.assertAlmostEqual(r["kl"], r["cross_entropy"] - r["entropy"], places=9)
            self.assertGreater(r["kl_stderr"], 0)
            self.assertGreaterEqual(r["seconds"], 0)


class AgainstTheTool(unittest.TestCase):
    """The same model file and data give the same numbers in Python and in nflow."""

    def test_eval_of_a_python_model(self):
        got = cli("eval", path("py2.nfm"), "--data", path("x2.npy"), "--out", path("lp.npy"), "--threads", 1,
                  "--json", json_out=True)
        lp = PY2.log_prob(X2)
        assert_same(self, lp, np.load(path("lp.npy")).reshape(-1), "per-row log-densities")
        self.assertLess(abs(got["mean_log_likelihood"] - lp.mean()), 1e-9 * abs(lp.mean()) if EXACT else 1e-5)
        self.assertAlmostEqual(PY2.score(X2), lp.mean(), places=12)
        self.assertEqual(got["n"], 400)

    def test_sample(self):
        cli("sample", path("py2.nfm"), "--n", 300, "--seed", 11, "--out", path("s.npy"), "--log-prob",
            path("slp.npy"), "--threads", 1)
        x, lp = PY2.sample(300, seed=11, return_log_prob=True)
        self.assertEqual((x.dtype, lp.dtype, x.shape), (np.float32, np.float64, (300, 2)))
        assert_same(self, x, np.load(path("s.npy")), "samples")
        assert_same(self, lp, np.load(path("slp.npy")).reshape(-1), "samples' log-densities")
        self.assertFalse(np.array_equal(x, PY2.sample(300, seed=12)))
        self.assertTrue(np.array_equal(x, PY2.sample(300, seed=11)))
        # the default seed is the tool's (1)
        cli("sample", path("py2.nfm"), "--n", 5, "--out", path("s1.npy"), "--threads", 1)
        assert_same(self, PY2.sample(5), np.load(path("s1.npy")), "default seed")

    def test_encode_decode(self):
        cli("encode", path("py2.nfm"), "--data", path("x2.npy"), "--out", path("z.npy"))
        z = PY2.transform(X2)
        assert_same(self, z, np.load(path("z.npy")), "encode")
        cli("decode", path("py2.nfm"), "--data", path("z.npy"), "--out", path("xb.npy"))
        assert_same(self, PY2.inverse_transform(np.load(path("z.npy"))), np.load(path("xb.npy")), "decode")
        np.testing.assert_allclose(PY2.inverse_transform(z), X2, atol=1e-4)

    def test_a_tool_model_in_python(self):
        cli("eval", path("cli2.nfm"), "--data", path("x2.npy"), "--out",
            path("clp.npy"), "--threads", 1)
        assert_same(self, CLI2.log_prob(X2), np.load(path("clp.npy")).reshape(-1), "log-densities of a tool model")
        self.assertEqual((CLI2.dim, CLI2.model_), (2, "realnvp"))
        self.assertIn("model: realnvp, 4 coupling layers", CLI2.describe())
        self.assertIn("realnvp", repr(CLI2))
        np.testing.assert_allclose(CLI2.inverse_transform(CLI2.transform(X2)), X2, atol=1e-4)

    def test_training_matches_nflow_train(self):
        """fit(X, test_fraction=0.1) trains what `nflow train --data X` trains:
        the same split, data-size defaults, seed and options."""
        got = cli("train", "--data", path("x3.npy"), "--epochs", 3, "--hidden", 16, "--seed", 5, "--threads", 1,
                  "--json", "--out", path("t3.nfm"), json_out=True)
        f = nflow.Flow(hidden=16, seed=5).fit(X3, epochs=3, test_fraction=0.1, **QUIET)
        self.assertEqual((f.model_, f.n_params, f.n_train_, f.n_val_, f.n_test_, f.epochs_, f.best_epoch_),
                         (got["model"], got["params"], got["n_train"], got["n_val"], got["n_test"], got["epochs"],
                          got["best_epoch"]))
        assert_same(self, f.log_prob(X3), nflow.Flow.load(path("t3.nfm")).log_prob(X3), "trained models",
                    rtol=1e-3)
        for key, mine in (("val_log_likelihood", f.val_log_likelihood_),
                          ("test_log_likelihood", f.test_log_likelihood_)):
            self.assertLess(abs(got[key] - mine), 1e-6 + (0 if EXACT else 1e-3), key)

    def test_dropout_default_matches_nflow_train(self):
        """8 columns of a thousand rows: fit and `nflow train` both take the data-size rule's dropout 0.2."""
        z = np.random.default_rng(8).normal(size=(1000, 8))
        X8 = np.concatenate([z[:, :4], np.sin(2 * z[:, :4]) + 0.3 * z[:, 4:]], axis=1).astype(np.float32)
        np.save(path("x8.npy"), X8)
        got = cli("train", "--data", path("x8.npy"), "--model", "maf", "--layers", 2, "--hidden", 16, "--epochs", 5,
                  "--threads", 1, "--json", "--out", path("t8.nfm"), json_out=True)
        f = nflow.Flow(model="maf", layers=2, hidden=16).fit(X8, epochs=5, test_fraction=0.1, **QUIET)
        g = nflow.Flow(model="maf", layers=2, hidden=16).fit(X8, epochs=5, test_fraction=0.1, dropout=0, **QUIET)
        self.assertTrue(f.best_epoch_ > 0 and g.best_epoch_ > 0, "trained past the Gaussian start")
        assert_same(self, f.log_prob(X8), nflow.Flow.load(path("t8.nfm")).log_prob(X8), "trained models", rtol=1e-3)
        self.assertLess(abs(got["val_log_likelihood"] - f.val_log_likelihood_), 1e-6 + (0 if EXACT else 1e-3))
        self.assertGreater(np.max(np.abs(f.log_prob(X8) - g.log_prob(X8))), 1e-3)

    def test_race_matches_nflow_train(self):
        """Flow(model='auto') runs the library's race, as `nflow train --model auto`: the same winner, bits
        and table; race_ survives save and load; options that shape one model are refused."""
        opts = ("--batch", 32, "--patience", 3, "--patience-steps", 0, "--epochs", 12)
        got = cli("train", "--data", path("x3.npy"), "--model", "auto", "--seed", 5, "--threads", 1, *opts,
                  "--json", "--out", path("race.nfm"), json_out=True)
        f = nflow.Flow(model="auto", seed=5).fit(X3, epochs=12, batch=32, patience=3, patience_steps=0,
                                                 test_fraction=0.1, **QUIET)
        self.assertEqual(f.model_, got["model"])
        self.assertEqual([(e["model"], e["dropout"], e["round"], e["epochs"]) for e in f.race_],
                         [(e["model"], e["dropout"], e["round"], e["epochs"]) for e in got["race"]])
        self.assertEqual(sorted(e["round"] for e in f.race_), [0, 1, 1, 2, 3])  # the gmm meets the last flow
        self.assertEqual(f.race_[-1]["model"], "gmm")
        loaded = nflow.Flow.load(path("race.nfm"))
        assert_same(self, f.log_prob(X3), loaded.log_prob(X3), "raced models", rtol=1e-3)
        np.testing.assert_allclose([e["val_log_likelihood"] for e in loaded.race_],
                                   [e["val_log_likelihood"] for e in got["race"]], rtol=1e-8)
        self.assertEqual(nflow.Flow(model="maf").fit(X3, epochs=1, **QUIET).race_, [])
        for bad in (dict(hidden=8), dict(whiten=False)):
            with self.assertRaisesRegex(ValueError, "shapes one model"):
                nflow.Flow(model="auto", **bad).fit(X3, epochs=1, **QUIET)
        g = nflow.Flow(model="auto").fit(X3, epochs=1, dropout=0.1, **QUIET)  # every candidate's
        self.assertEqual([e["dropout"] for e in g.race_], [0.1] * 4 + [0])  # the gmm has no network

    def test_explicit_validation_matches(self):
        """fit(X, X_val) trains what `nflow train --data X --val V --test T` does."""
        np.save(path("tr.npy"), X2[:300])
        np.save(path("va.npy"), X2[300:])
        cli("train", "--data", path("tr.npy"), "--val", path("va.npy"), "--test", path("va.npy"), "--model", "maf",
            "--layers", 2, "--hidden", 16, "--epochs", 5, "--batch", 50, "--lr", 3e-3, "--threads", 1, "--quiet",
            "--out", path("tv.nfm"))
        f = nflow.Flow(model="maf", layers=2, hidden=16).fit(X2[:300], X_val=X2[300:], epochs=5, batch=50, lr=3e-3,
                                                            **QUIET)
        self.assertEqual((f.n_train_, f.n_val_, f.batch_), (300, 100, 50))
        assert_same(self, f.log_prob(X2), nflow.Flow.load(path("tv.nfm")).log_prob(X2), "trained models", rtol=1e-3)

    def test_dropout_matches_nflow_train(self):
        """fit(dropout=p) trains what `nflow train --dropout p` does, and not what it does without."""
        np.save(path("tr.npy"), X2[:300])
        np.save(path("va.npy"), X2[300:])
        cli("train", "--data", path("tr.npy"), "--val", path("va.npy"), "--test", path("va.npy"), "--model", "maf",
            "--layers", 2, "--hidden", 16, "--epochs", 3, "--batch", 50, "--dropout", 0.3, "--threads", 1, "--quiet",
            "--out", path("td.nfm"))
        kw = dict(epochs=3, batch=50, **QUIET)
        f = nflow.Flow(model="maf", layers=2, hidden=16).fit(X2[:300], X_val=X2[300:], dropout=0.3, **kw)
        g = nflow.Flow(model="maf", layers=2, hidden=16).fit(X2[:300], X_val=X2[300:], **kw)
        assert_same(self, f.log_prob(X2), nflow.Flow.load(path("td.nfm")).log_prob(X2), "trained models", rtol=1e-3)
        self.assertGreater(np.max(np.abs(f.log_prob(X2) - g.log_prob(X2))), 1e-3)

    def test_distill_matches_nflow_distill(self):
        cli("train", "--data", path("x2.npy"), "--model", "maf", "--layers", 2, "--hidden", 16, "--epochs", 5,
            "--threads", 1, "--quiet", "--out", path("teacher.nfm"))
        got = cli("distill", "--teacher", path("teacher.nfm"), "--student", "iaf", "--layers", 2, "--hidden", 16,
                  "--steps", 40, "--batch", 128, "--seed", 3, "--threads", 1, "--quiet", "--json", "--out",
                  path("student.nfm"), json_out=True)
        teacher = nflow.Flow.load(path("teacher.nfm"))
        s = nflow.Flow(model="iaf", layers=2, hidden=16, seed=3).distill(teacher, steps=40, batch=128, **QUIET)
        assert_same(self, s.sample(200, seed=4), nflow.Flow.load(path("student.nfm")).sample(200, seed=4),
                    "distilled students", rtol=1e-3)
        # the tool's final figures: the same fresh samples (10,000, seed + 1) of the same student
        want, r = got, s.distill_report_
        self.assertEqual(r["n"], want["eval_n"])
        for k in ("kl", "kl_two_stderr", "cross_entropy", "entropy"):
            self.assertAlmostEqual(r[k], want[k], delta=1e-3 * (1 + abs(want[k])), msg=k)
        self.assertGreater(min(r["student_samples_per_s"], r["teacher_samples_per_s"]), 0)
        np.testing.assert_allclose(s.standardization()[0], teacher.standardization()[0])


class Training(unittest.TestCase):
    def test_fitted_attributes(self):
        f = nflow.Flow(model="realnvp", layers=2, hidden=16).fit(X2, epochs=4, **QUIET)
        self.assertEqual((f.dim, f.n_features_in_, f.model_, f.epochs_, len(f.history_)), (2, 2, "realnvp", 4, 4))
        self.assertEqual((f.n_train_, f.n_val_, f.n_test_, f.batch_), (360, 40, 0, 32))
        self.assertTrue(np.isfinite(f.val_log_likelihood_) and np.isnan(f.test_log_likelihood_))
        self.assertFalse(f.stopped_)
        self.assertGreater(f.n_params, 0)
        self.assertIn("realnvp", f.describe())
        f.fit(X2, epochs=2, warm_start=True, **QUIET)  # trains further
        self.assertEqual((f.epochs_, len(f.history_)), (2, 6))
        g = nflow.Flow.load(f.save(path("warm.nfm")))  # a loaded model has no record yet, and trains further
        self.assertEqual(len(g.history_), 0)
        g.fit(X2, epochs=1, warm_start=True, **QUIET)
        self.assertEqual(len(g.history_), 1)
        f2 = nflow.Flow(model="realnvp", layers=2, hidden=16).fit(X2, validation_fraction=0, epochs=2, **QUIET)
        self.assertEqual((f2.n_train_, f2.n_val_), (400, 0))
        self.assertTrue(np.isnan(f2.val_log_likelihood_))

    def test_gaussian_model(self):
        g = nflow.Flow(model="gaussian").fit(X3, **QUIET)
        self.assertEqual(g.epochs_, 0)
        np.testing.assert_allclose(g.log_prob(X3), g.gaussian_log_prob(X3), rtol=1e-5)
        mean, std = g.standardization()  # of the training rows (the validation split's 10% left out)
        np.testing.assert_allclose(mean, X3.mean(axis=0), atol=0.1)
        np.testing.assert_allclose(std, X3.std(axis=0), rtol=0.1)

    def test_gmm_model(self):
        """Flow(model='gmm') fits the library's EM mixture as `nflow train --model gmm` does (the same
        bits), draws from it, and refuses a context."""
        xs = np.concatenate([X3[:150] * 0.3 - 2, X3[150:] * 0.5 + 2]).astype(np.float32)
        np.save(path("gm.npy"), xs)
        got = cli("train", "--data", path("gm.npy"), "--model", "gmm", "--seed", 3, "--threads", 1, "--json",
                  "--out", path("gm.nfm"), json_out=True)
        g = nflow.Flow(model="gmm", seed=3).fit(xs, test_fraction=0.1, **QUIET)
        self.assertEqual((g.model_, got["model"], g.n_params), ("gmm", "gmm", 0))
        assert_same(self, g.log_prob(xs), nflow.Flow.load(path("gm.nfm")).log_prob(xs), "gmm", rtol=1e-6)
        self.assertRegex(g.describe(), r"model: gmm, [2-8] full-covariance")
        s = g.sample(4000, seed=1)
        self.assertEqual(s.shape, (4000, 3))
        self.assertLess(abs(np.mean(s[:, 0] < 0) - 0.5), 0.05)  # half the draws from each cluster
        with self.assertRaisesRegex(ValueError, "does not depend on a context"):
            nflow.Flow(model="gmm").fit(xs, context=xs[:, :1], **QUIET)

    def test_image_model(self):
        """Flow(model='glow').fit(images) with arrays of shape (N, H, W) or (N, H, W, C) trains what `nflow
        train` trains from the same images in a .npy (the same bits), reports its image shape, and samples
        images of that shape at a temperature."""
        rng = np.random.default_rng(5)
        yy, xx = np.mgrid[:8, :8]
        imgs = np.stack([200 * np.exp(-((yy - rng.integers(2, 6)) ** 2 + (xx - rng.integers(2, 6)) ** 2) / 4.0)
                         + rng.integers(0, 30, (8, 8)) for _ in range(120)]).astype(np.uint8)
        np.save(path("img.npy"), imgs)
        got = cli("train", "--data", path("img.npy"), "--steps", 2, "--channels", 8, "--epochs", 2, "--threads", 1,
                  "--json", "--out", path("img.nfm"), json_out=True)
        g = nflow.Flow(layers=2, hidden=8).fit(imgs, epochs=2, test_fraction=0.1, **QUIET)
        self.assertEqual((g.model_, got["model"], g.image_shape_), ("glow", "glow", (8, 8, 1)))
        x = imgs[:10].astype(np.float32) + 0.5
        assert_same(self, g.log_prob(x), nflow.Flow.load(path("img.nfm")).log_prob(x.reshape(10, -1)), "glow",
                    rtol=1e-6)
        h = nflow.Flow(model="realnvp-ms", layers=2, hidden=8).fit(imgs[..., None], epochs=1, **QUIET)
        self.assertEqual((h.model_, h.image_shape_), ("realnvp-ms", (8, 8, 1)))
        s = g.sample(5, temperature=0.7)
        self.assertEqual(s.shape, (5, 8, 8, 1))
        with self.assertRaisesRegex(ValueError, "256"):
            nflow.Flow(model="glow").fit(imgs.astype(np.float32) * 2, **QUIET)

    def test_class_labels(self):
        """fit(images, labels=y) trains the class-conditional model `nflow train --labels` trains (the same
        bits); log_prob and sample then take labels as the context."""
        rng = np.random.default_rng(6)
        yy, xx = np.mgrid[:8, :8]
        y = np.arange(120) % 2
        imgs = np.stack([(60 + 140 * c) * np.exp(-((yy - rng.integers(2, 6)) ** 2 + (xx - rng.integers(2, 6)) ** 2)
                                                 / 4.0) + rng.integers(0, 30, (8, 8)) for c in y]).astype(np.uint8)
        np.save(path("limg.npy"), imgs)
        np.save(path("lab.npy"), y)
        got = cli("train", "--data", path("limg.npy"), "--labels", path("lab.npy"), "--steps", 2, "--channels", 8,
                  "--epochs", 2, "--threads", 1, "--json", "--out", path("limg.nfm"), json_out=True)
        g = nflow.Flow(layers=2, hidden=8).fit(imgs, labels=y, epochs=2, test_fraction=0.1, **QUIET)
        self.assertEqual((g.label_classes_, g.context_dim, got["label_classes"]), (2, 2, 2))
        x = imgs[:10].astype(np.float32) + 0.5
        assert_same(self, g.log_prob(x, context=y[:10]),
                    nflow.Flow.load(path("limg.nfm")).log_prob(x.reshape(10, -1), context=y[:10]), "labels", rtol=1e-6)
        self.assertEqual(g.sample(3, context=[1, 0]).shape, (6, 8, 8, 1))
        with self.assertRaisesRegex(ValueError, "label 5"):
            g.log_prob(x[:1], context=[5])
        with self.assertRaisesRegex(ValueError, "one or the other"):
            nflow.Flow().fit(imgs, labels=y, context=y, **QUIET)

    def test_callback_stops(self):
        seen = []
        f = nflow.Flow(model="realnvp", layers=2, hidden=8).fit(
            X2, epochs=50, callback=lambda p: seen.append(p["epoch"]) or p["epoch"] == 2, **QUIET)
        self.assertEqual((seen, f.epochs_, f.stopped_), ([1, 2], 2, True))
        self.assertTrue(np.isfinite(f.log_prob(X2)).all())

    def test_exception_in_callback(self):
        class Boom(Exception):
            pass

        def cb(p):
            if p["epoch"] == 2:
                raise Boom("from the callback")

        f = nflow.Flow(model="realnvp", layers=2, hidden=8)
        with self.assertRaises(Boom):
            f.fit(X2, epochs=50, callback=cb, **QUIET)
        self.assertEqual((f.epochs_, f.stopped_), (2, True))  # the best parameters so far, usable
        self.assertTrue(np.isfinite(f.log_prob(X2)).all())
        with self.assertRaises(KeyboardInterrupt):
            f.fit(X2, epochs=50, callback=lambda p: (_ for _ in ()).throw(KeyboardInterrupt()), **QUIET)

    def test_ctrl_c(self):
        """A real SIGINT during a long fit stops it within a second (the
        in-epoch progress calls see it) and raises KeyboardInterrupt."""
        # a process started in the background by a non-interactive shell
        # inherits SIGINT ignored, and Python then installs no handler of
        # its own: give this test the interactive one
        inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
        self.addCleanup(signal.signal, signal.SIGINT, inherited)
        big = np.tile(X2, (100, 1)) + np.float32(0.01) * rng.normal(size=(40000, 2)).astype(np.float32)
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        f = nflow.Flow(model="maf", layers=2, hidden=32)
        t0 = time.monotonic()
        timer.start()
        try:
            with self.assertRaises(KeyboardInterrupt):
                f.fit(big, epochs=1000, patience=0, **QUIET)
        finally:
            timer.cancel()
        self.assertLess(time.monotonic() - t0, 0.3 + 3.0)
        self.assertTrue(f.stopped_)
        self.assertTrue(np.isfinite(f.log_prob(X2)).all())
        # the same in reverse-KL training, and Python's handler is back afterwards
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        g = nflow.Flow(model="iaf", hidden=16)
        timer.start()
        try:
            with self.assertRaises(KeyboardInterrupt):
                g.fit_target(lambda x: (-0.5 * (x ** 2).sum(1), -x), 2, steps=10 ** 8, batch=64, **QUIET)
        finally:
            timer.cancel()
        self.assertLess(g.steps_, 10 ** 8)
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_max_time(self):
        big = np.tile(X2, (20, 1))
        t0 = time.monotonic()
        f = nflow.Flow(model="maf", layers=2, hidden=16).fit(big, epochs=100000, patience=0, max_time=0.3, **QUIET)
        self.assertTrue(f.stopped_)
        self.assertLess(f.epochs_, 100000)
        self.assertLess(time.monotonic() - t0, 10)

    def test_verbose(self):
        import io
        err, old = io.StringIO(), sys.stderr
        sys.stderr = err
        try:
            nflow.Flow(model="realnvp", layers=2, hidden=8).fit(X2, epochs=3, verbose=2)
        finally:
            sys.stderr = old
        lines = err.getvalue().splitlines()
        self.assertTrue(lines[0].startswith("nflow: realnvp, 2 layers of 2 x 8 units, batch 32"), lines[0])
        self.assertEqual(len([l for l in lines if l.startswith("epoch ")]), 3, lines)
        # the end of the run in nflow train's words (nf_fit_report)
        self.assertRegex(lines[-2], r"^realnvp: \d+ parameters, 3 epochs \(best \d\), ")
        self.assertTrue(lines[-1].startswith("mean log-likelihood (nats): train "), lines[-1])

    def test_config(self):
        # config_: what the model was built and trained with, defaults resolved, as nflow train --json's
        f = nflow.Flow(model="maf", layers=2).fit(X2, epochs=2, batch=16, **QUIET)
        c = f.config_
        self.assertEqual((c["model"], c["layers"], c["batch"], c["epochs"]), ("maf", 2, 16, 2))
        self.assertEqual(c["hidden"], 100)  # the data's default
        got = cli("train", "--data", path("x2.npy"), "--out", path("config.nfm"), "--model", "maf", "--layers", 2,
                  "--batch", 16, "--epochs", 2, "--threads", 1, "--json", json_out=True)
        self.assertEqual(got["config"], c)

    def test_progress_on_a_terminal(self):
        # the library's display (nf_progress), as nflow train's: on a terminal each epoch's line
        # rewrites the last, and NFLOW_PROGRESS=always draws the bar within epochs
        import io

        class Terminal(io.StringIO):
            def isatty(self):
                return True

        err, old, env = Terminal(), sys.stderr, os.environ.get("NFLOW_PROGRESS")
        sys.stderr, os.environ["NFLOW_PROGRESS"] = err, "always"
        try:
            f = nflow.Flow(model="maf", layers=2, hidden=16).fit(np.tile(X2, (20, 1)), batch=8, epochs=2,
                                                                 progress_seconds=0.001)
        finally:
            sys.stderr = old
            if env is None:
                del os.environ["NFLOW_PROGRESS"]
            else:
                os.environ["NFLOW_PROGRESS"] = env
        text = err.getvalue()
        self.assertEqual(f.epochs_, 2)
        self.assertRegex(text, r"\repoch +1 \[[#.]{10,30}\] +\d+%  [0-9-]+ rows/s  [0-9:-]+ left\x1b\[K")
        self.assertRegex(text, r"\repoch +2  train +-?\d+\.\d{4}  val +-?\d+\.\d{4}  best ")
        self.assertNotIn("\nepoch    2  train", text)  # rewritten, not a log's line

    def test_dequantize(self):
        xi = np.round(X3 * 3)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            nflow.Flow(model="gaussian").fit(xi, **QUIET)
        self.assertTrue(any("whole numbers" in str(x.message) for x in w), [str(x.message) for x in w])
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            g = nflow.Flow(model="gaussian").fit(xi, dequantize=True, **QUIET)
        self.assertFalse([x for x in w if "whole numbers" in str(x.message)])
        self.assertTrue(np.array_equal(xi, np.round(X3 * 3)))  # the caller's array is left alone
        self.assertEqual(g.dim, 3)
        err = io.StringIO()  # verbose: what was done, in nflow train's words
        with contextlib.redirect_stderr(err):
            nflow.Flow(model="gaussian").fit(xi, dequantize=True, verbose=True)
        self.assertIn("nflow: dequantised 3 integer-valued columns of 3 (U[0,1) noise)\n", err.getvalue())

    def test_fit_target_gaussian(self):
        """Reverse KL against a Python energy: a diagonal Gaussian's mean and
        standard deviations are learned."""
        mu, sd = np.array([1.0, -2.0]), np.array([0.5, 2.0])
        calls = []

        def log_p(x):
            calls.append(x.dtype)
            d = (x - mu) / sd
            return -0.5 * (d ** 2).sum(axis=1), -d / sd

        f = nflow.Flow(model="iaf", hidden=32).fit_target(log_p, 2, steps=400, batch=256, lr=3e-3, **QUIET)
        y = f.sample(20000, seed=5)
        np.testing.assert_allclose(y.mean(axis=0), mu, atol=0.1)
        np.testing.assert_allclose(y.std(axis=0), sd, rtol=0.1)
        self.assertEqual((len(calls), calls[0], f.steps_), (400, np.float64, 400))
        # the KL up to log Z: log Z of this Gaussian is log(2 pi sd1 sd2)
        self.assertLess(abs(f.kl_ + np.log(2 * np.pi * sd.prod())), 0.1)

    def test_fit_target_errors(self):
        def raising(x):
            raise ZeroDivisionError("in the energy")

        f = nflow.Flow(model="iaf", hidden=8)
        with self.assertRaises(ZeroDivisionError):
            f.fit_target(raising, 2, steps=5, batch=8, **QUIET)
        with self.assertRaisesRegex(ValueError, r"grad of shape \(8, 3\)"):
            f.fit_target(lambda x: (np.zeros(len(x)), np.zeros((len(x), 3))), 2, steps=5, batch=8, **QUIET)
        with self.assertRaisesRegex(TypeError, "return \\(log_p, grad\\)"):
            f.fit_target(lambda x: np.zeros(len(x)), 2, steps=5, batch=8, **QUIET)
        with self.assertRaises(nflow.Error) as e:  # a MoG base cannot be a student: the library says so
            nflow.Flow(model="maf-mog").fit_target(lambda x: (-x.sum(1), -np.ones_like(x)), 2, steps=2, **QUIET)
        self.assertEqual(e.exception.status_name, "NF_ERR_UNSUPPORTED")
        self.assertIn("MoG", str(e.exception))
        got = []
        nflow.Flow(model="iaf", hidden=8).fit_target(lambda x: got.append(x.dtype) or (-(x ** 2).sum(1), -2 * x), 2,
                                                     steps=2, batch=8, dtype=np.float32, **QUIET)
        self.assertEqual(got, [np.float32, np.float32])

    def test_distill_reduces_kl(self):
        teacher = nflow.Flow.load(path("py2.nfm"))

        def kl(student):  # on fresh student samples: mean log s - log t
            x, ls = student.sample(4000, seed=99, return_log_prob=True)
            return float(np.mean(ls - teacher.log_prob(x)))

        before = nflow.Flow(model="iaf", layers=2, hidden=32).distill(teacher, steps=1, batch=256, samples=0, **QUIET)
        after = nflow.Flow(model="iaf", layers=2, hidden=32).distill(teacher, steps=300, batch=256, lr=3e-3, samples=0,
                                                                     **QUIET)
        k0, k1 = kl(before), kl(after)
        self.assertLess(k1, 0.5 * k0, (k0, k1))
        self.assertLess(k1, 0.1)
        self.assertTrue(0 <= after.steps_ <= 300, after.steps_)  # the kept (best) check's step
        self.assertEqual(after.history_[-1]["step"] % 100, 0)  # a check every progress_every steps
        with self.assertRaises(ValueError):
            teacher.distill(teacher, steps=1, **QUIET)
        with self.assertRaises(TypeError):
            after.distill("teacher.nfm", steps=1, **QUIET)

    def test_distill_mog_teacher(self):
        # a MAF MoG teacher: the default student is iaf-mog (maximum likelihood), iaf where reverse KL runs
        rng = np.random.default_rng(5)
        x = np.concatenate([rng.normal(-2, 0.4, (1500, 2)), rng.normal(2, 0.4, (1500, 2))])
        teacher = nflow.Flow(model="maf-mog", layers=2, hidden=16, components=3, seed=2).fit(x, epochs=10, **QUIET)
        s = nflow.Flow(seed=3).distill(teacher, samples=20000, epochs=5, **QUIET)
        self.assertEqual(s.model_, "iaf-mog")
        self.assertEqual((s.ml_epochs_, type(s.samples_redrawn_)), (5, int))  # none far outside two clusters
        self.assertLess(s.samples_redrawn_, 200)
        far = x.copy()
        far[:7, 1] = 1e6  # far beyond the data's range
        self.assertEqual((teacher.count_far_from_data(x), teacher.count_far_from_data(far)), (0, 7))
        self.assertLess(abs(float(np.mean(teacher.log_prob(x) - s.log_prob(x)))), 0.3)
        r = nflow.Flow(seed=3).distill(teacher, samples=0, steps=20, **QUIET)
        self.assertEqual(r.model_, "iaf")
        with self.assertRaises(Exception):
            nflow.Flow(model="iaf-mog").distill(teacher, samples=0, steps=20, **QUIET)


class Arrays(unittest.TestCase):
    def test_conversions(self):
        ref = PY2.log_prob(X2)
        self.assertEqual(ref.dtype, np.float64)
        for variant in (X2.astype(np.float64), np.asfortranarray(X2), X2.tolist(),
                        np.ascontiguousarray(np.hstack([X2, X2])[:, :2]), X2[::1].copy(order="F")):
            self.assertTrue(np.array_equal(PY2.log_prob(variant), ref))
        strided = np.hstack([X2, X2])[:, ::2]  # not contiguous
        self.assertTrue(np.array_equal(PY2.log_prob(strided), PY2.log_prob(np.ascontiguousarray(strided))))
        ints = np.arange(10).reshape(5, 2)
        self.assertTrue(np.array_equal(PY2.log_prob(ints), PY2.log_prob(ints.astype(np.float32))))
        self.assertEqual(PY2.log_prob(np.empty((0, 2))).shape, (0,))
        self.assertEqual(PY2.transform(np.empty((0, 2))).shape, (0, 2))
        self.assertEqual(PY2.sample(0).shape, (0, 2))

    def test_refusals(self):
        with self.assertRaisesRegex(ValueError, "X has 3 columns, the model has 2"):
            PY2.log_prob(X3)
        with self.assertRaisesRegex(ValueError, "Z has 3 columns, the model has 2"):
            PY2.inverse_transform(X3)
        with self.assertRaisesRegex(ValueError, "must be 2-D.*reshape"):
            PY2.log_prob(X2[:, 0])
        with self.assertRaisesRegex(ValueError, "must be 2-D"):
            PY2.log_prob(X2[None])
        with self.assertRaisesRegex(ValueError, "real numbers"):
            PY2.log_prob(X2.astype(np.complex64))
        with self.assertRaisesRegex(ValueError, "real numbers"):
            PY2.log_prob([["a", "b"]])
        bad = X2.copy()
        bad[7, 1] = np.nan
        with self.assertRaisesRegex(ValueError, r"X\[7, 1\] is nan"):
            PY2.log_prob(bad)
        with self.assertRaisesRegex(ValueError, r"X\[0, 0\] is inf"):
            PY2.transform(np.array([[1e300, 0.0]]))  # beyond float32
        with self.assertRaisesRegex(ValueError, r"X_val\[7, 1\] is nan"):
            nflow.Flow(model="gaussian").fit(X2, X_val=bad, **QUIET)
        with self.assertRaisesRegex(ValueError, "X_val has 3 columns"):
            nflow.Flow(model="gaussian").fit(X2, X_val=X3, **QUIET)
        with self.assertWarnsRegex(UserWarning, "5 rows: too few to split off 10% validation rows .* without early"):
            f = nflow.Flow(model="gaussian").fit(X2[:5], **QUIET)  # all five train (scikit-learn fits 10)
        self.assertEqual(f.n_train_, 5)
        with self.assertRaisesRegex(ValueError, r"1 sample \(n_samples = 1\)"):
            nflow.Flow().fit(X2[:1], **QUIET)
        with self.assertRaisesRegex(ValueError, "model: unknown value 'flowy'"):
            nflow.Flow(model="flowy").fit(X2, **QUIET)
        with self.assertRaisesRegex(ValueError, "no model yet"):
            nflow.Flow().log_prob(X2)
        with self.assertRaisesRegex(ValueError, "seed -1 out of range"):
            PY2.sample(3, seed=-1)
        with self.assertRaisesRegex(ValueError, r"^lr: -1 out of range \(0, 10\)$"):  # the library's check (nf_recipe_set)
            nflow.Flow(model="realnvp", layers=2, hidden=8).fit(X2, epochs=1, lr=-1, **QUIET)

    def test_empty_input(self):
        """No rows: log_prob, gaussian_log_prob, transform give empty arrays; score,
        a mean of nothing, raises instead of returning nan with NumPy's warnings."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            self.assertEqual(PY2.gaussian_log_prob(np.empty((0, 2))).shape, (0,))
            with self.assertRaisesRegex(ValueError, "X has no rows"):
                PY2.score(np.empty((0, 2)))
            with self.assertRaisesRegex(ValueError, "X has no rows"):
                PY2.score(np.zeros((0, 2), np.int32))
        self.assertIsInstance(PY2.score(X2[:1]), float)

    def test_integer_arguments(self):
        """Every integer argument takes ints and NumPy integers; floats (2.5 and
        3.0), strings and bools are refused, never truncated or parsed."""
        self.assertEqual(PY2.sample(np.int64(3)).shape, (3, 2))
        self.assertEqual(PY2.sample(np.uint8(2), seed=np.uint64(7)).shape, (2, 2))
        self.assertTrue(np.array_equal(PY2.sample(4, seed=np.int32(5)), PY2.sample(4, seed=5)))
        for bad in (2.5, 3.0, "3", True, np.float64(3), None, [3]):
            with self.assertRaisesRegex(TypeError, "n must be an integer"):
                PY2.sample(bad)
        with self.assertRaisesRegex(ValueError, "n -1 out of range"):
            PY2.sample(-1)
        for bad in (1.5, "7", False):
            with self.assertRaisesRegex(TypeError, "seed must be an integer"):
                PY2.sample(3, seed=bad)
        with self.assertRaisesRegex(ValueError, "seed 18446744073709551616 out of range"):
            PY2.sample(3, seed=2 ** 64)
        for kw, name in ((dict(epochs=1.5), "epochs"), (dict(epochs="2"), "epochs"), (dict(batch=64.0), "batch"),
                         (dict(patience=True), "patience"), (dict(patience_steps=10.5), "patience_steps"),
                         (dict(seed=2.0), "seed")):
            with self.assertRaisesRegex(TypeError, name + " must be an integer"):
                nflow.Flow(model="realnvp", layers=2, hidden=8).fit(X2, **kw, **QUIET)
        for kw, name in ((dict(layers=2.0), "layers"), (dict(hidden="8"), "hidden"), (dict(hidden_layers=1.5),
                         "hidden_layers"), (dict(components=True), "components"), (dict(bins=8.0), "bins"),
                         (dict(seed="1"), "seed")):
            with self.assertRaisesRegex(TypeError, name + " must be an integer"):
                nflow.Flow(**kw).fit(X2, epochs=1, **QUIET)
        with self.assertRaisesRegex(ValueError, "layers 4294967298 out of range"):  # ctypes would wrap it to 2
            nflow.Flow(model="realnvp", layers=2 ** 32 + 2).fit(X2, epochs=1, **QUIET)
        f = nflow.Flow(model="realnvp", layers=np.int64(2), hidden=np.int32(8), seed=np.uint16(3))
        f.fit(X2, epochs=np.int8(1), batch=np.int64(64), **QUIET)
        self.assertEqual(f.epochs_, 1)
        for kw, name in ((dict(steps=2.0), "steps"), (dict(batch="64"), "batch"), (dict(progress_every=1.5),
                         "progress_every"), (dict(seed=0.0), "seed")):
            with self.assertRaisesRegex(TypeError, name + " must be an integer"):
                nflow.Flow(model="iaf", layers=1, hidden=4).distill(PY2, **kw, **QUIET)
        with self.assertRaisesRegex(TypeError, "dim must be an integer"):
            nflow.Flow().fit_target(lambda x: (-0.5 * (x ** 2).sum(1), -x), dim=2.0, steps=1, **QUIET)
        for bad in (1.5, "1", True):
            with self.assertRaisesRegex(TypeError, "n must be an integer"):
                nflow.set_threads(bad)
        nflow.set_threads(np.int64(1))
        self.assertEqual(nflow.get_threads(), 1)

    def test_outputs_are_fresh(self):
        a = PY2.transform(X2)
        a[:] = 0
        self.assertFalse(np.array_equal(PY2.transform(X2), a))


class Files(unittest.TestCase):
    def test_round_trip(self):
        p = path("round.nfm")
        self.assertEqual(PY2.save(p), p)
        g = nflow.Flow.load(p)
        self.assertTrue(np.array_equal(g.log_prob(X2), PY2.log_prob(X2)))
        self.assertTrue(np.array_equal(g.sample(50, seed=2), PY2.sample(50, seed=2)))
        self.assertEqual((g.model_, g.n_params, g.describe()), (PY2.model_, PY2.n_params, PY2.describe()))
        import pathlib
        self.assertEqual(nflow.Flow.load(pathlib.Path(p)).n_params, PY2.n_params)

    def test_bad_files(self):
        garbage = path("garbage.nfm")
        with open(garbage, "w") as fh:
            fh.write("not a model\n")
        with self.assertRaises(nflow.Error) as e:
            nflow.Flow.load(garbage)
        self.assertIn(garbage, str(e.exception))
        self.assertEqual(e.exception.status_name, "NF_ERR_FORMAT")
        self.assertIsInstance(e.exception, RuntimeError)
        missing = path("missing.nfm")
        with self.assertRaises(nflow.Error) as e:
            nflow.Flow.load(missing)
        self.assertIn(missing, str(e.exception))
        self.assertEqual(e.exception.status_name, "NF_ERR_IO")
        with open(path("py2.nfm"), "rb") as fh:
            data = bytearray(fh.read())
        data[len(data) // 2] ^= 0xFF
        with open(path("corrupt.nfm"), "wb") as fh:
            fh.write(data)
        with self.assertRaises(nflow.Error) as e:
            nflow.Flow.load(path("corrupt.nfm"))
        self.assertIn("corrupt.nfm", str(e.exception))
        with self.assertRaises(nflow.Error) as e:
            PY2.save(path("no/such/folder/m.nfm"))
        self.assertIn("no/such/folder", str(e.exception))

    def test_nul_in_path(self):
        """A NUL byte would end the path in C (x\\0y.nfm writing x, g.nfm\\0junk
        loading g.nfm): refused as open() refuses it, for str, bytes and PathLike."""
        import pathlib
        d = tempfile.mkdtemp(dir=TMP)
        for p in (os.path.join(d, "x\0y.nfm"), os.fsencode(os.path.join(d, "x\0y.nfm")),
                  pathlib.Path(d) / "x\0y.nfm"):
            with self.assertRaisesRegex(ValueError, "embedded null byte"):
                PY2.save(p)
        self.assertEqual(os.listdir(d), [])
        good = PY2.save(os.path.join(d, "g.nfm"))
        for p in (good + "\0junk", os.fsencode(good) + b"\0junk", pathlib.Path(good + "\0junk")):
            with self.assertRaisesRegex(ValueError, "embedded null byte"):
                nflow.Flow.load(p)
        with self.assertRaises(TypeError):
            nflow.Flow.load(3)

    def test_pickle(self):
        g = pickle.loads(pickle.dumps(PY2))
        self.assertTrue(np.array_equal(g.log_prob(X2), PY2.log_prob(X2)))
        self.assertEqual((g.epochs_, g.model_, g.get_params()), (PY2.epochs_, PY2.model_, PY2.get_params()))
        u = pickle.loads(pickle.dumps(nflow.Flow(model="maf", layers=2)))
        self.assertEqual((u.model, u.layers), ("maf", 2))
        # the model's bytes come from the library in memory: no temporary file (TMPDIR unusable), the file's bytes
        saved = os.path.join(tempfile.mkdtemp(), "m.nfm")
        PY2.save(saved)
        old = os.environ.get("TMPDIR")
        os.environ["TMPDIR"], tempfile.tempdir = "/nonexistent/nflow", None
        try:
            state = pickle.dumps(PY2)
        finally:
            os.environ.pop("TMPDIR") if old is None else os.environ.__setitem__("TMPDIR", old)
            tempfile.tempdir = None
        with open(saved, "rb") as fh:
            self.assertEqual(PY2.__getstate__()["_model_file"], fh.read())
        self.assertTrue(np.array_equal(pickle.loads(state).log_prob(X2), PY2.log_prob(X2)))
        with self.assertRaisesRegex(nflow.Error, "model bytes"):
            nflow.Flow().__setstate__({"_model_file": b"NFLOW\0\0\0 truncated"})


# a conditional data set with a known density p(x | c): c ~ U(-2, 2),
# x1 = 1.5 sin(c) + (0.2 + 0.15 c^2) e1, x2 = 0.6 c x1 + cos(2c) + 0.25 e2
def conditional_data(n, seed):
    r = np.random.default_rng(seed)
    c = r.uniform(-2, 2, n)
    s1 = 0.2 + 0.15 * c ** 2
    x1 = (1.5 * np.sin(c) + s1 * r.normal(size=n)).astype(np.float32)
    x2 = (0.6 * c * x1 + np.cos(2 * c) + 0.25 * r.normal(size=n)).astype(np.float32)
    X, C = np.stack([x1, x2], axis=1), c.astype(np.float32)[:, None]
    cd, xd = C[:, 0].astype(np.float64), X.astype(np.float64)  # the truth at the float32 values
    e1 = (xd[:, 0] - 1.5 * np.sin(cd)) / (0.2 + 0.15 * cd ** 2)
    e2 = (xd[:, 1] - 0.6 * cd * xd[:, 0] - np.cos(2 * cd)) / 0.25
    truth = -0.5 * (e1 ** 2 + e2 ** 2) - np.log(0.2 + 0.15 * cd ** 2) - np.log(0.25) - np.log(2 * np.pi)
    return X, C, truth


XC, CC, _ = conditional_data(4000, 11)
XC_TEST, CC_TEST, TRUTH_TEST = conditional_data(2000, 12)


def tool_has_conditional():
    r = subprocess.run([CLI, "eval", "--help"], capture_output=True, text=True, env=CLI_ENV)
    return "--context-columns" in r.stdout + r.stderr


class Conditional(unittest.TestCase):
    """Conditional flows p(x | c) through fit(..., context=C) and the calls
    that take context=."""

    @classmethod
    def setUpClass(cls):
        cls.f = nflow.Flow(model="maf", layers=3, hidden=32, seed=2).fit(XC, context=CC, epochs=12, batch=64, lr=3e-3,
                                                                       test_fraction=0.1, **QUIET)

    def test_fit_and_log_prob(self):
        f = self.f
        self.assertEqual((f.dim, f.context_dim, f.context_columns, f.model_), (2, 1, "2", "maf"))
        self.assertEqual((f.n_train_, f.n_val_, f.n_test_), (3200, 400, 400))
        self.assertIn("context_dim=1", repr(f))
        lp = f.log_prob(XC_TEST, context=CC_TEST)
        self.assertTrue(np.isfinite(lp).all())
        gap = float(np.mean(TRUTH_TEST - lp))
        self.assertLess(abs(gap), 0.3, "mean log p(x | c) %.3f nats from the truth" % gap)
        # the split kept each row's x and c together: validation and test rows score like the training rows
        for held_out in (f.val_log_likelihood_, f.test_log_likelihood_):
            self.assertLess(abs(held_out - f.train_log_likelihood_), 0.3, (held_out, f.train_log_likelihood_))
        # a 1-D context is one column; score and score_samples take it too
        self.assertTrue(np.array_equal(f.log_prob(XC_TEST, context=CC_TEST[:, 0]), lp))
        self.assertTrue(np.array_equal(f.score_samples(XC_TEST, context=CC_TEST.astype(np.float64)), lp))
        self.assertEqual(f.score(XC_TEST, context=CC_TEST), float(np.mean(lp)))
        # the context matters: the same x under other contexts is less likely
        self.assertLess(f.score(XC_TEST, context=-CC_TEST), f.score(XC_TEST, context=CC_TEST) - 1)

    def test_fit_with_validation_rows(self):
        g = nflow.Flow(model="realnvp", layers=2, hidden=8).fit(XC[:3000], X_val=XC[3000:], context=CC[:3000],
                                                               context_val=CC[3000:], epochs=2, **QUIET)
        self.assertEqual((g.n_train_, g.n_val_, g.context_dim), (3000, 1000, 1))
        self.assertTrue(np.isfinite(g.val_log_likelihood_))
        # warm_start trains the conditional model further, given its contexts
        g.fit(XC, context=CC, epochs=1, warm_start=True, **QUIET)
        self.assertEqual(g.context_dim, 1)
        # two context columns
        C2 = np.hstack([CC, CC ** 2])
        h = nflow.Flow(model="maf", layers=1, hidden=8).fit(XC, context=C2, epochs=1, **QUIET)
        self.assertEqual((h.context_dim, h.context_columns), (2, "2-3"))
        self.assertEqual(h.sample(2, context=C2[:3]).shape, (6, 2))

    def test_sample(self):
        f = self.f
        x = f.sample(3, context=CC_TEST[:5], seed=4)
        self.assertEqual((x.shape, x.dtype), ((15, 2), np.float32))
        # n per context row, grouped: the draws of the contexts repeated row by row
        self.assertTrue(np.array_equal(x, f.sample(1, context=np.repeat(CC_TEST[:5], 3, axis=0), seed=4)))
        self.assertEqual(f.sample(0, context=CC_TEST[:5]).shape, (0, 2))
        self.assertEqual(f.sample(4, context=np.empty((0, 1))).shape, (0, 2))
        s, lp = f.sample(4000, context=[1.2], seed=5, return_log_prob=True)
        self.assertEqual((s.shape, lp.shape), ((4000, 2), (4000,)))
        self.assertLess(abs(s[:, 0].mean() - 1.5 * np.sin(1.2)), 0.15, s[:, 0].mean())
        np.testing.assert_allclose(lp, f.log_prob(s, context=np.full((4000, 1), 1.2)), atol=1e-3)

    def test_one_column(self):
        # p(y | c) for a single y (issue 26): the default model hears c in its only dimension, and a
        # coupling model takes one column (element-wise, conditioned on c alone)
        y, c = XC[:, :1], CC
        yt, ct = XC_TEST[:, :1], CC_TEST
        # x1 | c ~ N(1.5 sin(c), (0.2 + 0.15 c^2)^2) in conditional_data
        sd = 0.2 + 0.15 * ct[:, 0] ** 2
        truth = -0.5 * ((yt[:, 0] - 1.5 * np.sin(ct[:, 0])) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)
        for model in (None, "realnvp"):
            g = nflow.Flow(model=model, layers=2, hidden=32).fit(y, context=c, epochs=15, lr=3e-3, **QUIET)
            self.assertEqual((g.dim, g.context_dim), (1, 1))
            gap = float(np.mean(truth - g.log_prob(yt, context=ct)))
            self.assertLess(abs(gap), 0.1, "%s: mean log p(y | c) %.3f nats from the truth" % (model, gap))
            s = g.sample(2000, context=[-1.5], seed=3)
            self.assertLess(abs(s.mean() - 1.5 * np.sin(-1.5)), 0.1, (model, s.mean()))

    def test_codes(self):
        f = self.f
        z = f.transform(XC_TEST, context=CC_TEST)
        np.testing.assert_allclose(f.inverse_transform(z, context=CC_TEST), XC_TEST, atol=1e-4)
        self.assertFalse(np.allclose(f.transform(XC_TEST, context=-CC_TEST), z))
        self.assertTrue(np.array_equal(f.encode(XC_TEST, context=CC_TEST), z))

    def test_save_load(self):
        p = path("cond.nfm")
        self.f.save(p)
        g = nflow.Flow.load(p)
        self.assertEqual((g.context_dim, g.context_columns, g.model_), (1, "2", "maf"))
        self.assertTrue(np.array_equal(g.log_prob(XC_TEST, context=CC_TEST),
                                       self.f.log_prob(XC_TEST, context=CC_TEST)))
        self.assertTrue(np.array_equal(g.sample(2, context=CC_TEST[:4], seed=3),
                                       self.f.sample(2, context=CC_TEST[:4], seed=3)))
        h = pickle.loads(pickle.dumps(self.f))
        self.assertTrue(np.array_equal(h.transform(XC_TEST, context=CC_TEST),
                                       self.f.transform(XC_TEST, context=CC_TEST)))

    def test_refusals(self):
        f = self.f
        for call in (lambda: f.log_prob(XC_TEST), lambda: f.score(XC_TEST), lambda: f.sample(3),
                     lambda: f.transform(XC_TEST), lambda: f.inverse_transform(XC_TEST)):
            with self.assertRaisesRegex(ValueError, r"conditional, p\(x \| c\) with 1 context value per row: pass "
                                                    "context="):
                call()
        with self.assertRaisesRegex(ValueError, "not conditional"):
            PY2.log_prob(X2, context=np.zeros((400, 1)))
        with self.assertRaisesRegex(ValueError, "not conditional"):
            PY2.sample(3, context=[1.0])
        with self.assertRaisesRegex(ValueError, "context has 2 columns, the model takes 1 context value per row"):
            f.log_prob(XC_TEST, context=np.zeros((2000, 2)))
        with self.assertRaisesRegex(ValueError, "context has 5 rows, X has 2000: one context row per row of X"):
            f.log_prob(XC_TEST, context=CC_TEST[:5])
        with self.assertRaisesRegex(ValueError, "context has 5 rows, Z has 2000"):
            f.inverse_transform(XC_TEST, context=CC_TEST[:5])
        with self.assertRaisesRegex(ValueError, "must be 2-D"):
            f.log_prob(XC_TEST, context=CC_TEST[None])
        bad = CC_TEST.copy()
        bad[3, 0] = np.nan
        with self.assertRaisesRegex(ValueError, r"context\[3, 0\] is nan"):
            f.log_prob(XC_TEST, context=bad)
        flow = nflow.Flow(model="maf", layers=1, hidden=8)
        with self.assertRaisesRegex(ValueError, "context has 5 rows, X has 4000"):
            flow.fit(XC, context=CC[:5], **QUIET)
        with self.assertRaisesRegex(ValueError, "context_val without X_val"):
            flow.fit(XC, context=CC, context_val=CC, **QUIET)
        with self.assertRaisesRegex(ValueError, "context_val without context"):
            flow.fit(XC, X_val=XC, context_val=CC, **QUIET)
        with self.assertRaisesRegex(ValueError, "X_val needs context_val"):
            flow.fit(XC, X_val=XC, context=CC, **QUIET)
        with self.assertRaisesRegex(ValueError, "context_val has 2 columns"):
            flow.fit(XC, X_val=XC, context=CC, context_val=np.zeros((4000, 2)), **QUIET)
        with self.assertRaisesRegex(ValueError, "the gaussian model does not depend on a context"):
            nflow.Flow(model="gaussian").fit(XC, context=CC, **QUIET)
        with self.assertRaisesRegex(ValueError, r"warm_start.*conditional, p\(x \| c\) with 1 context value per row: pass context="):
            nflow.Flow.load(f.save(path("cond_refusals.nfm"))).fit(XC, warm_start=True, **QUIET)
        with self.assertRaisesRegex(ValueError, "warm_start\) is not conditional"):
            nflow.Flow.load(path("py2.nfm")).fit(X2, context=X2[:, :1], warm_start=True, **QUIET)
        with self.assertRaisesRegex(ValueError, r"the teacher is conditional, p\(x \| c\) with 1 context value per row: pass context="):
            nflow.Flow(model="iaf", hidden=8).distill(f, steps=1, **QUIET)
        with self.assertRaisesRegex(ValueError, "context: the teacher is not conditional"):
            nflow.Flow(model="iaf", hidden=8).distill(PY2, steps=1, context=CC, **QUIET)
        with self.assertRaisesRegex(ValueError, "context has no rows"):
            nflow.Flow(model="iaf", hidden=8).distill(f, steps=1, context=np.empty((0, 1)), **QUIET)

    def test_fit_target(self):
        """Reverse KL to x | c ~ N((c, -c), 0.5^2 I): the conditional mean is learned."""
        contexts = np.random.default_rng(3).uniform(-2, 2, size=(2000, 1))
        seen = []

        def log_p(x, c):
            seen.append((x.shape, c.shape, c.dtype))
            d = (x - np.hstack([c, -c])) / 0.5
            return -0.5 * (d ** 2).sum(axis=1), -d / 0.5

        f = nflow.Flow(model="iaf", layers=3, hidden=32).fit_target(log_p, 2, steps=400, batch=256, lr=3e-3,
                                                                   context=contexts, **QUIET)
        self.assertEqual((f.context_dim, seen[0]), (1, ((256, 2), (256, 1), np.float64)))
        for cv in (-1.0, 1.0):
            m = f.sample(2000, context=[cv], seed=6).mean(axis=0)
            np.testing.assert_allclose(m, [cv, -cv], atol=0.15, err_msg="given c = %g" % cv)
        self.assertLess(f.kl_ + np.log(2 * np.pi * 0.25), 0.1)  # KL up to log Z = log(2 pi 0.5^2)
        with self.assertRaises(ZeroDivisionError):  # an exception in the callback comes back
            nflow.Flow(model="iaf", hidden=8).fit_target(lambda x, c: 1 / 0, 2, steps=3, batch=8, context=contexts,
                                                         **QUIET)
        with self.assertRaisesRegex(ValueError, r"warm_start\) is conditional, p\(x \| c\) with 1 context value"):
            f.fit_target(log_p, steps=1, warm_start=True, **QUIET)
        with self.assertRaisesRegex(ValueError, "context has 2 columns, the model takes 1"):
            f.fit_target(log_p, steps=1, warm_start=True, context=np.zeros((5, 2)), **QUIET)
        f.fit_target(log_p, steps=2, batch=16, warm_start=True, context=contexts, **QUIET)  # further, given contexts

    def test_distill(self):
        teacher = self.f
        ctx = CC_TEST[:1000]

        def kl(student):  # one fresh sample per context: mean log s - log t
            x, ls = student.sample(1, context=ctx, seed=99, return_log_prob=True)
            return float(np.mean(ls - teacher.log_prob(x, context=ctx)))

        # reverse KL alone (samples=0)
        before = nflow.Flow(model="iaf", layers=2, hidden=32).distill(teacher, steps=1, batch=256, context=CC,
                                                                      samples=0, **QUIET)
        after = nflow.Flow(model="iaf", layers=3, hidden=32).distill(teacher, steps=1000, batch=256, lr=3e-3,
                                                                     context=CC, samples=0, **QUIET)
        k0, k1 = kl(before), kl(after)
        self.assertEqual(after.context_dim, 1)
        self.assertTrue(0 <= after.steps_ <= 1000, after.steps_)
        self.assertLess(k1, 0.2 * k0, (k0, k1))
        self.assertLess(k1, 0.1, (k0, k1))
        # maximum likelihood on teacher samples under the contexts (the default recipe, issue 27)
        ml = nflow.Flow(layers=2, hidden=32).distill(teacher, context=CC, samples=20000, epochs=15, **QUIET)
        self.assertEqual((ml.context_dim, ml.model_), (1, "iaf"))
        self.assertGreater(ml.ml_epochs_, 0)
        gap = float(np.mean(teacher.log_prob(XC_TEST, context=CC_TEST) - ml.log_prob(XC_TEST, context=CC_TEST)))
        self.assertLess(abs(gap), 0.3, "the student's log-likelihood %.3f nats from its teacher's" % gap)

    @unittest.skipUnless(tool_has_conditional(), "the tool has no conditional models (--context-columns) yet")
    def test_against_the_tool(self):
        """The same conditional model file and data layout [X | C] in Python and in nflow."""
        np.save(path("xc.npy"), np.hstack([XC, CC]))
        np.save(path("xc_test.npy"), np.hstack([XC_TEST, CC_TEST]))
        np.save(path("c_test.npy"), CC_TEST[:7])
        self.f.save(path("cond_py.nfm"))
        cli("eval", path("cond_py.nfm"), "--data", path("xc_test.npy"), "--out", path("clp.npy"), "--threads", 1)
        assert_same(self, self.f.log_prob(XC_TEST, context=CC_TEST), np.load(path("clp.npy")).reshape(-1),
                    "conditional log-densities")
        cli("sample", path("cond_py.nfm"), "--context", path("c_test.npy"), "--n", 3, "--seed", 8, "--out",
            path("cs.npy"), "--threads", 1)
        drawn = np.load(path("cs.npy"))  # rows [x | c], the training data's layout
        assert_same(self, self.f.sample(3, context=CC_TEST[:7], seed=8), drawn[:, :2], "conditional samples")
        self.assertTrue(np.array_equal(drawn[:, 2:], np.repeat(CC_TEST[:7], 3, axis=0)))
        cli("encode", path("cond_py.nfm"), "--data", path("xc_test.npy"), "--out", path("cz.npy"))
        coded = np.load(path("cz.npy"))  # [z | c]: the context passes through
        assert_same(self, self.f.transform(XC_TEST, context=CC_TEST), coded[:, :2], "conditional codes")
        self.assertTrue(np.array_equal(coded[:, 2:], CC_TEST))
        # fit(X, context=C, test_fraction=0.1) trains what nflow train --context-columns trains on [X | C]
        got = cli("train", "--data", path("xc.npy"), "--context-columns", 2, "--model", "maf", "--layers", 2,
                  "--hidden", 16, "--epochs", 2, "--seed", 5, "--threads", 1, "--json", "--out", path("ct.nfm"),
                  json_out=True)
        g = nflow.Flow(model="maf", layers=2, hidden=16, seed=5).fit(XC, context=CC, epochs=2, test_fraction=0.1,
                                                                    **QUIET)
        self.assertEqual((g.n_train_, g.n_val_, g.n_test_, g.n_params, g.context_dim),
                         (got["n_train"], got["n_val"], got["n_test"], got["params"], got["context_dim"]))
        t = nflow.Flow.load(path("ct.nfm"))
        self.assertEqual(t.context_columns, "2")
        assert_same(self, g.log_prob(XC_TEST, context=CC_TEST), t.log_prob(XC_TEST, context=CC_TEST),
                    "conditional models trained by each", rtol=1e-3)
        self.assertLess(abs(got["test_log_likelihood"] - g.test_log_likelihood_), 1e-6 + (0 if EXACT else 1e-3))


# a bounded chain with a known density: x0 ~ Beta(2, 5), x1 | x0 ~ Gamma(3, scale 1 + x0)
def bounded_data(n, seed):
    r = np.random.default_rng(seed)
    x0 = r.beta(2, 5, n).astype(np.float32)
    x1 = (r.gamma(3, 1, n) * (1 + x0)).astype(np.float32)
    X = np.stack([x0, x1], axis=1)
    a, g = X[:, 0].astype(np.float64), X[:, 1].astype(np.float64)
    s = 1 + a
    truth = np.log(30) + np.log(a) + 4 * np.log1p(-a) - np.log(2) + 2 * np.log(g) - g / s - 3 * np.log(s)
    return X, truth


class Bounded(unittest.TestCase):
    """Flow(bounds=...): the library's bounded support (nf_flow_set_bounds)."""

    @classmethod
    def setUpClass(cls):
        cls.X, _ = bounded_data(6000, 21)
        cls.XT, cls.truth = bounded_data(3000, 22)
        cls.f = nflow.Flow(model="maf", layers=3, hidden=32, bounds={0: (0, 1), 1: (0, None)},
                           seed=3).fit(cls.X, epochs=20, **QUIET)

    def test_density_and_samples(self):
        f = self.f
        self.assertEqual(f.bounds_, {0: (0.0, 1.0), 1: (0.0, None)})
        lp = f.log_prob(self.XT)
        gap = float(np.mean(self.truth - lp))
        self.assertLess(abs(gap), 0.05, "mean log p %.3f nats from the truth" % gap)
        s = f.sample(100000, seed=5)
        self.assertTrue(((s[:, 0] > 0) & (s[:, 0] < 1) & (s[:, 1] > 0) & np.isfinite(s[:, 1])).all())
        # outside, on a bound: -inf, never nan; no latent code
        out = np.array([[0.3, 1], [1.5, 2], [0.2, -1], [0, 3]], np.float32)
        lo = f.log_prob(out)
        self.assertTrue(np.isfinite(lo[0]) and (lo[1:] == -np.inf).all(), lo)
        with self.assertRaises(nflow.Error) as e:
            f.transform(out)
        self.assertIn("row 1 (0-based), column 0", str(e.exception))
        # evaluate warns as nflow eval does (the library's words); the figures beside
        with self.assertWarns(UserWarning) as w:
            r = f.evaluate(out)
        self.assertEqual(r["outside"], 3)
        self.assertIn("3 of 4 rows lie on or outside the model's bounds (the first: row 1 (0-based), column 0 = 1.5",
                      str(w.warning))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # none for rows inside
            f.evaluate(self.XT[:50])
        z = f.transform(self.XT[:50])
        self.assertTrue(np.allclose(f.inverse_transform(z), self.XT[:50], rtol=1e-4, atol=1e-6))
        far = f.inverse_transform(np.array([[1e30, 1e30], [-1e30, -1e30]], np.float32))
        self.assertTrue(((far[:, 0] > 0) & (far[:, 0] < 1) & (far[:, 1] > 0) & np.isfinite(far[:, 1])).all(), far)

    def test_files_and_the_tool(self):
        p = path("bounded.nfm")
        self.f.save(p)
        g = nflow.Flow.load(p)
        self.assertEqual(g.bounds_, self.f.bounds_)
        self.assertTrue(np.array_equal(g.log_prob(self.XT), self.f.log_prob(self.XT)))
        self.assertEqual(pickle.loads(pickle.dumps(self.f)).bounds_, self.f.bounds_)
        self.assertIn("column 0 in (0, 1) by logit", self.f.describe())
        np.save(path("bounded_test.npy"), self.XT)
        res = cli("eval", p, "--data", path("bounded_test.npy"), "--json", json_out=True)
        self.assertAlmostEqual(res["mean_log_likelihood"], float(np.mean(self.f.log_prob(self.XT))), places=6)
        self.assertEqual(res["outside_bounds"], 0)
        # a distilled student takes the teacher's bounds
        st = nflow.Flow(model="iaf", layers=2, hidden=16).distill(self.f, steps=30, batch=128, **QUIET)
        self.assertEqual(st.bounds_, self.f.bounds_)
        s = st.sample(20000, seed=2)
        self.assertTrue(((s[:, 0] > 0) & (s[:, 0] < 1) & (s[:, 1] > 0)).all())

    def test_warm_start_keeps_rows_inside(self):
        # training further checks X against the model's bounds as the first fit did, naming X's row (not the split's)
        f = nflow.Flow(model="maf", layers=2, hidden=16, bounds={0: (0, 1), 1: (0, None)}, seed=4)
        f.fit(self.X[:1500], epochs=1, **QUIET)
        before = f.log_prob(self.XT[:20])
        bad = self.X[:1500].copy()
        bad[5, 0] = 1.5
        with self.assertRaises(ValueError) as e:
            f.fit(bad, epochs=1, warm_start=True, **QUIET)
        self.assertIn("row 5 (0-based), column 0: 1.5 is not strictly inside its bounds (0, 1)", str(e.exception))
        self.assertTrue(np.array_equal(f.log_prob(self.XT[:20]), before))  # the model as it was
        f.fit(self.X[:1500], epochs=1, warm_start=True, **QUIET)
        self.assertEqual(f.bounds_, {0: (0.0, 1.0), 1: (0.0, None)})

    def test_forms_and_refusals(self):
        X = self.X[:2000]
        a = nflow.Flow(model="gaussian", bounds={0: (0, 1), 1: (0, None)}).fit(X, **QUIET)
        b = nflow.Flow(model="gaussian", bounds=[(0, 1), (0, None)]).fit(X, **QUIET)
        c = nflow.Flow(model="gaussian", bounds=[(0, 1), None]).fit(X, **QUIET)
        self.assertTrue(np.array_equal(a.log_prob(self.XT), b.log_prob(self.XT)))
        self.assertEqual(c.bounds_, {0: (0.0, 1.0)})
        self.assertEqual(nflow.Flow(model="gaussian").fit(X, **QUIET).bounds_, {})
        for bad in ({2: (0, 1)}, {"0": (0, 1)}, {0: 1}, {0: ("a", 1)}, [(0, 1)], 5):
            with self.assertRaises(ValueError, msg=repr(bad)):
                nflow.Flow(model="gaussian", bounds=bad).fit(X, **QUIET)
        with self.assertRaises(ValueError) as e:
            nflow.Flow(model="gaussian", bounds={1: (3, 2)}).fit(X, **QUIET)
        self.assertIn("column 1", str(e.exception))
        Y = X.copy()
        Y[17, 1] = 0
        with self.assertRaises(ValueError) as e:
            nflow.Flow(model="gaussian", bounds={1: (0, None)}).fit(Y, **QUIET)
        self.assertIn("X: row 17 (0-based), column 1: 0 is not strictly inside its bounds (0, inf)", str(e.exception))
        with self.assertRaises(ValueError) as e:
            nflow.Flow(model="gaussian", bounds={1: (0, None)}).fit(X, X_val=Y[10:20], **QUIET)
        self.assertIn("X_val: row 7 (0-based), column 1", str(e.exception))
        # evaluate: nflow eval's figures, the row outside the bounds counted
        f = nflow.Flow(model="gaussian", bounds={1: (0, None)}).fit(X, **QUIET)
        r = f.evaluate(Y[:40])
        lp = f.log_prob(Y[:40])
        self.assertEqual((r["rows"], r["outside"], r["no_density"]), (40, 1, 0))
        self.assertAlmostEqual(r["mean_inside"], float(np.mean(lp[np.isfinite(lp)])), places=9)
        self.assertAlmostEqual(f.evaluate(X[:40])["mean"], float(np.mean(f.log_prob(X[:40]))), places=9)


class Process(unittest.TestCase):
    def test_gil_released(self):
        """A Python thread keeps counting while log_prob runs in C: as fast as
        while the main thread sleeps (it would stand still if the GIL were held)."""
        big = np.tile(X2, (1000, 1))  # 400,000 rows
        count, stop = [0], threading.Event()

        def counter():
            while not stop.is_set():
                count[0] += 1

        t = threading.Thread(target=counter)
        t.start()
        try:
            c0, t0 = count[0], time.perf_counter()
            time.sleep(0.2)
            rate_idle = (count[0] - c0) / (time.perf_counter() - t0)
            best = 0.0
            for _ in range(3):  # a busy machine may steal the counter's core once
                c0, t0 = count[0], time.perf_counter()
                PY2.log_prob(big)
                dt = time.perf_counter() - t0
                best = max(best, (count[0] - c0) / dt / rate_idle)
                if best > 0.3:
                    break
        finally:
            stop.set()
            t.join()
        self.assertGreater(dt, 0.05, "log_prob too short to tell")
        self.assertGreater(best, 0.3, "the counter ran at %.2f of its idle rate during log_prob" % best)

    def test_threads(self):
        usable, why = nflow.usable_threads()
        self.assertGreaterEqual(usable, 1)
        self.assertIn("affinity mask", why)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            nflow.set_threads(usable + 5)  # more than the process may use: a warning, and the usable count
            self.assertEqual(nflow.get_threads(), usable)
        self.assertTrue(any("may use %d" % usable in str(x.message) for x in w), [str(x.message) for x in w])
        policy, who = nflow.omp_wait_policy()
        self.assertIn(who, ("nflow", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "libgomp"))
        nflow.set_threads(min(2, usable))
        try:
            self.assertEqual(nflow.get_threads(), min(2, usable))
            two = PY2.sample(500, seed=3), PY2.log_prob(X2)
        finally:
            nflow.set_threads(1)
        self.assertEqual(nflow.get_threads(), 1)
        self.assertTrue(np.array_equal(two[0], PY2.sample(500, seed=3)))
        self.assertTrue(np.array_equal(two[1], PY2.log_prob(X2)))

    def test_one_flow_from_several_threads(self):
        ref = PY2.log_prob(X2)
        out = [None] * 4
        threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, PY2.log_prob(X2))) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(all(np.array_equal(o, ref) for o in out))

    def test_versions_and_params(self):
        self.assertEqual(nflow.__version__, nflow.library_version())
        f = nflow.Flow(model="maf", hidden=10)
        self.assertEqual(repr(f), "Flow(model='maf', hidden=10)")
        self.assertEqual(f.set_params(layers=3).get_params()["layers"], 3)
        with self.assertRaises(ValueError):
            f.set_params(nonsense=1)
        self.assertTrue(os.path.samefile(nflow.library_path, os.environ["NFLOW_LIBRARY"]))

    def test_library_not_found(self):
        r = subprocess.run([sys.executable, "-c", "import nflow"], capture_output=True, text=True,
                           env=dict(os.environ, NFLOW_LIBRARY=path("nowhere/libnflow.so"),
                                    PYTHONPATH=os.path.join(ROOT, "python")))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ImportError: nflow: cannot load libnflow; tried: %s" % path("nowhere/libnflow.so"), r.stderr)
        self.assertIn("NFLOW_LIBRARY", r.stderr)

    def test_readme_example(self):
        """The README's Python lines, as written, from another folder."""
        with open(os.path.join(ROOT, "README.md")) as fh:
            text = fh.read()
        section = text.split("\n## Python\n", 1)[1]
        section = section.split("\n## ", 1)[0]
        blocks = re.findall(r"```python\n(.*?)```", section, re.S)  # the conditional example continues the first
        self.assertEqual(len(blocks), 2)
        code = "".join(blocks)
        work = tempfile.mkdtemp(dir=TMP)
        with open(os.path.join(work, "example.py"), "w") as fh:
            fh.write(code)
        # one thread: the same bits, and no OpenMP team spinning against a busy machine's other processes
        r = subprocess.run([sys.executable, "example.py"], cwd=work, capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), OMP_NUM_THREADS="1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(work, "flow.nfm")), os.listdir(work))
        self.assertIn("epoch", r.stderr)  # progress on stderr
        self.assertEqual(r.stdout.splitlines()[-1], "(10, 2)")  # the conditional example's samples
        cli("eval", os.path.join(work, "flow.nfm"), "--data", path("x2.npy"))


class ScikitLearn(unittest.TestCase):
    """scikit-learn's conventions (Debian's python3-sklearn; skipped without
    it): its own estimator checks pass on the default Flow, and a Flow
    works inside a Pipeline and cross-validation, where fit gets labels."""

    def setUp(self):
        try:
            import sklearn  # noqa: F401
        except ImportError:
            self.skipTest("no scikit-learn (Debian: python3-sklearn)")

    def test_check_estimator(self):
        import contextlib
        import io
        from sklearn.utils.estimator_checks import check_estimator
        failed = []
        for estimator, check in check_estimator(nflow.Flow(), generate_only=True):
            name = getattr(check, "func", check).__name__
            try:
                with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                    warnings.simplefilter("ignore")
                    check(estimator)
            except Exception as e:  # noqa: BLE001 - every check's failure, named
                failed.append("%s: %s" % (name, str(e)[:200]))
        self.assertEqual(failed, [])

    def test_pipeline_and_cross_validation(self):
        from sklearn.model_selection import cross_val_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        y = (X2[:, 0] > 0).astype(int)  # labels a pipeline passes on: ignored by the density
        pipe = make_pipeline(StandardScaler(), nflow.Flow(model="gaussian"))
        pipe.fit(X2, y)
        self.assertTrue(np.isfinite(pipe.score_samples(X2[:5])).all())
        scores = cross_val_score(nflow.Flow(model="gaussian"), X2, cv=3)
        self.assertEqual(len(scores), 3)
        self.assertTrue(np.isfinite(scores).all())
        with self.assertRaises(nflow.NotFittedError):
            nflow.Flow().score_samples(X2)
        self.assertFalse(hasattr(nflow.Flow(), "n_features_in_"))
        f = nflow.Flow(model="gaussian").fit(X2, **QUIET)
        self.assertEqual(f.n_features_in_, 2)
        g = pickle.loads(pickle.dumps(f))
        self.assertTrue(np.array_equal(g.score_samples(X2[:7]), f.score_samples(X2[:7])))


if __name__ == "__main__":
    t0 = time.monotonic()
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=1 if os.environ.get("NFLOW_TEST_VERBOSE") is None else 2,
                                     stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print("python %s, numpy %s, kernels %s%s, %.1f s" % (sys.version.split()[0], np.__version__,
                                                         nflow.system_info()["blas_kernel"],
                                                         " (the tool's: comparisons bit for bit)" if EXACT
                                                         else " (not the tool's: comparisons to float32 rounding)",
                                                         time.monotonic() - t0))
    print("test_binding: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
