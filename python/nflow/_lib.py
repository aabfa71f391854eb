"""ctypes declarations of libnflow's public C API (include/nflow.h).

Every structure is mirrored field by field from nflow.h, and every function
the binding calls has its argtypes and restype. tests/python/test_binding.py
checks the layouts (the documented defaults read back through ctypes, and
guard bytes past each structure left alone by the C side).

The library is looked for, in order: the file named by the environment
variable NFLOW_LIBRARY; a copy bundled into the package (pip install
./python after make); the path make install recorded in _install.py; the
installed layout (PREFIX/lib/python3/dist-packages/nflow and
PREFIX/lib/libnflow.so.1); the source tree's build/libnflow.so; the dynamic
loader's own search for libnflow.so.1; ctypes.util.find_library("nflow").
"""
import ctypes
import ctypes.util
import os

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_size_t,
                    c_uint64, c_void_p)

SONAME = "libnflow.so.1"
_here = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("NFLOW_LIBRARY")
    if env:
        yield "NFLOW_LIBRARY=" + env, env, True
        return  # an explicit choice is not second-guessed
    yield "bundled with the package", os.path.join(_here, SONAME), False
    try:  # written by make install: the library's path relative to the package
        from ._install import LIBRARY
        yield "make install", os.path.normpath(os.path.join(_here, LIBRARY)), False
    except ImportError:
        pass
    # PREFIX/lib/python3/dist-packages/nflow -> PREFIX/lib/libnflow.so.1
    yield "installed layout", os.path.normpath(os.path.join(_here, "..", "..", "..", SONAME)), False
    # python/nflow -> build/libnflow.so of the source tree
    yield "source tree", os.path.normpath(os.path.join(_here, "..", "..", "build", "libnflow.so")), False
    yield "dynamic loader", SONAME, True
    found = ctypes.util.find_library("nflow")
    if found:
        yield "ctypes.util.find_library", found, True


def _load():
    tried = []
    for how, path, always_try in _candidates():
        if not always_try and not os.path.exists(path):
            tried.append("%s (%s: no such file)" % (path, how))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s: %s)" % (path, how, e))
    raise ImportError("nflow: cannot load libnflow; tried: " + "; ".join(tried) +
                      ". Build it (make), install it (make install), or set NFLOW_LIBRARY to its path.")


def _libgomp_loaded():
    try:
        with open("/proc/self/maps") as f:
            return "libgomp" in f.read()
    except OSError:
        return True  # unknown: leave OpenMP as it is


# libgomp reads its waiting policy once, as it loads: threads that spin at
# the barriers (its default) collapse when the processors are shared (the
# README example took 31.6 s beside busy loops against 0.8 s on one
# thread); passive threads sleep. As the tool does, only where neither
# OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set and no library loaded libgomp
# before us (then its setting stands; nflow.omp_wait_policy() says which).
WAIT_POLICY_SET = False
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ and not _libgomp_loaded():
    os.environ["OMP_WAIT_POLICY"] = "passive"
    os.environ["NFLOW_OMP_WAIT_POLICY"] = "passive"  # who chose it, for nf_system_report
    WAIT_POLICY_SET = True

lib, path = _load()

# ---- status codes and enums (nflow.h) ----------------------------------
NF_OK = 0
NF_ERR_INVALID, NF_ERR_FORMAT = 2, 4
STATUS_NAMES = {0: "NF_OK", 1: "NF_ERR_NOMEM", 2: "NF_ERR_INVALID", 3: "NF_ERR_IO", 4: "NF_ERR_FORMAT",
                5: "NF_ERR_CHECKSUM", 6: "NF_ERR_NONFINITE", 7: "NF_ERR_DIMENSION", 8: "NF_ERR_UNSUPPORTED"}

c_float_p = POINTER(c_float)
c_double_p = POINTER(c_double)
c_int_p = POINTER(c_int)


# ---- structures, field by field as in nflow.h ----------------------------
# The options structs begin with struct_size (nflow.h): the library reads
# only the fields this mirror has (ctypes.sizeof), so a mirror behind the
# header is defaulted, not misread. Set them with the _init calls.
class nf_system_info(Structure):
    _fields_ = [("cpu", c_char * 64), ("cpu_features", c_char * 160), ("cpu_vector_bits", c_int),
                ("blas", c_char * 160), ("blas_kernel", c_char * 32), ("blas_kernel_bits", c_int),
                ("blas_kernel_generic", c_int), ("suggested_coretype", c_char * 32), ("threads", c_int),
                ("processors", c_int)]


class nf_config(Structure):
    _fields_ = [("struct_size", c_size_t), ("model", c_int), ("dim", c_int), ("layers", c_int), ("hidden", c_int), ("hidden_layers", c_int),
                ("activation", c_int), ("base", c_int), ("partition", c_int), ("seed", c_uint64),
                ("order", c_int), ("random_degrees", c_int), ("batch_norm", c_int), ("actnorm", c_int),
                ("log_scale_bound", c_double), ("components", c_int), ("whiten", c_int),
                ("tail_weight", c_double), ("bins", c_int), ("tail_bound", c_double),
                ("context_dim", c_int), ("image_shape", c_int * 3), ("levels", c_int)]


class nf_train_progress(Structure):
    _fields_ = [("epoch", c_int), ("train_loss", c_double), ("val_log_likelihood", c_double),
                ("best_val", c_double), ("bad_epochs", c_int), ("seconds", c_double), ("in_epoch", c_int),
                ("rows_done", c_size_t), ("rows_per_epoch", c_size_t),
                ("checkpoint_failures", c_int), ("checkpoint_error", c_char_p), ("candidate", c_char_p)]


train_progress_fn = CFUNCTYPE(c_int, POINTER(nf_train_progress), c_void_p)


class nf_train_options(Structure):
    _fields_ = [("struct_size", c_size_t), ("batch", c_int), ("lr", c_double), ("weight_decay", c_double), ("clip_norm", c_double),
                ("max_epochs", c_int), ("patience", c_int), ("patience_steps", c_int), ("lr_decay", c_double),
                ("seed", c_uint64), ("progress", train_progress_fn), ("user", c_void_p),
                ("progress_seconds", c_double), ("checkpoint_path", c_char_p), ("checkpoint_seconds", c_double),
                ("resume_path", c_char_p), ("stop", c_int_p), ("rank", c_int), ("ranks", c_int),
                ("reduce", CFUNCTYPE(c_int, c_void_p, c_size_t, c_int, c_void_p)), ("reduce_user", c_void_p),
                ("dropout", c_double)]


class nf_train_result(Structure):
    _fields_ = [("epochs", c_int), ("best_epoch", c_int), ("train_log_likelihood", c_double),
                ("val_log_likelihood", c_double), ("seconds", c_double), ("stopped", c_int)]


class nf_kl_progress(Structure):
    _fields_ = [("step", c_int), ("kl", c_double), ("cross_entropy", c_double), ("entropy", c_double),
                ("kl_stderr", c_double), ("seconds", c_double)]


kl_progress_fn = CFUNCTYPE(c_int, POINTER(nf_kl_progress), c_void_p)
# nf_log_density_fn(const float *x, size_t rows, int dim, double *log_p, float *grad, void *user)
log_density_fn = CFUNCTYPE(c_int, c_float_p, c_size_t, c_int, c_double_p, c_float_p, c_void_p)
# nf_log_density_given_fn(const float *x, const float *context, size_t rows, int dim, int context_dim,
#                         double *log_p, float *grad, void *user)
log_density_given_fn = CFUNCTYPE(c_int, c_float_p, c_float_p, c_size_t, c_int, c_int, c_double_p, c_float_p,
                                 c_void_p)


class nf_kl_options(Structure):
    _fields_ = [("struct_size", c_size_t), ("batch", c_int), ("steps", c_int), ("lr", c_double), ("clip_norm", c_double), ("seed", c_uint64),
                ("progress_every", c_int), ("progress", kl_progress_fn), ("user", c_void_p),
                ("context", c_float_p), ("context_rows", c_size_t)]


# ---- functions --------------------------------------------------------------
flow_p = c_void_p  # nf_flow *, opaque


def _declare(name, restype, *argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_S = c_int  # nf_status
_declare("nf_status_string", c_char_p, c_int)
_declare("nf_last_error", c_char_p)
_declare("nf_version", c_char_p)
_declare("nf_get_threads", c_int)
_declare("nf_system_info_get", None, POINTER(nf_system_info))
_declare("nf_model_name", c_char_p, c_int)
_declare("nf_flow_get_config", _S, c_void_p, POINTER(nf_config))
# the model kinds by name, as the library names them (nf_model_name)
MODELS = {}
while lib.nf_model_name(len(MODELS)) is not None:
    MODELS[lib.nf_model_name(len(MODELS)).decode()] = len(MODELS)
_declare("nf_limit_get", _S, c_int, POINTER(c_char_p), c_double_p, c_double_p)
_declare("nf_config_init", None, POINTER(nf_config), c_size_t, c_int, c_int)
_declare("nf_flow_create", _S, POINTER(flow_p), POINTER(nf_config))
_declare("nf_flow_free", None, flow_p)
_declare("nf_flow_dim", c_int, flow_p)
_declare("nf_flow_param_count", c_size_t, flow_p)
_declare("nf_flow_describe", c_size_t, flow_p, ctypes.c_char_p, c_size_t)
_declare("nf_flow_set_standardization", _S, flow_p, c_double_p, c_double_p)
_declare("nf_flow_get_standardization", _S, flow_p, c_double_p, c_double_p)
_declare("nf_flow_gaussian_log_prob", _S, flow_p, c_float_p, c_size_t, c_double_p)
# conditional flows p(x | c)
_declare("nf_flow_context_dim", c_int, flow_p)
_declare("nf_flow_context_columns", c_char_p, flow_p)
# bounded support
_declare("nf_flow_set_bounds", _S, flow_p, c_double_p, c_double_p)
_declare("nf_flow_get_bounds", c_int, flow_p, c_double_p, c_double_p)
_declare("nf_flow_log_prob_given", _S, flow_p, c_float_p, c_float_p, c_size_t, c_double_p)
_declare("nf_flow_sample_tempered", _S, flow_p, c_float_p, c_size_t, c_uint64, c_double, c_float_p, c_double_p)
_declare("nf_flow_image_shape", c_int, flow_p, c_int_p)
_declare("nf_flow_label_classes", c_int, flow_p)
_declare("nf_flow_context_of_labels", _S, flow_p, c_float_p, c_size_t, c_float_p)
_declare("nf_flow_encode_given", _S, flow_p, c_float_p, c_float_p, c_size_t, c_float_p)
_declare("nf_flow_decode_given", _S, flow_p, c_float_p, c_float_p, c_size_t, c_float_p)
_declare("nf_train_options_init", None, POINTER(nf_train_options), c_size_t)
_declare("nf_defaults_for_data", None, c_size_t, c_int, POINTER(nf_config), POINTER(nf_train_options))
_declare("nf_default_model", c_int, c_size_t, c_int)
_declare("nf_flow_train", _S, flow_p, c_float_p, c_size_t, c_float_p, c_size_t, POINTER(nf_train_options),
         POINTER(nf_train_result))
_declare("nf_flow_checkpoint_failures", c_int, flow_p, POINTER(c_char_p))
_declare("nf_kl_options_init", None, POINTER(nf_kl_options), c_size_t)
_declare("nf_kl_options_distill_init", None, POINTER(nf_kl_options), c_size_t)
_declare("nf_flow_distill_converge", _S, flow_p, flow_p, POINTER(nf_kl_options), c_int, c_double,
         POINTER(nf_kl_progress))
_declare("nf_flow_create_student", _S, POINTER(flow_p), flow_p, POINTER(nf_config))
_declare("nf_threads_usable", c_int, c_char_p, c_size_t)
_declare("nf_set_threads_usable", c_int, c_int, c_char_p, c_size_t)
_declare("nf_flow_distill_options_sized", None, flow_p, c_size_t, POINTER(nf_train_options), c_size_t)
_declare("nf_flow_distill_redrawn", c_size_t, flow_p)
_declare("nf_flow_count_far_from_data", c_size_t, flow_p, c_float_p, c_size_t)
_declare("nf_sample_warning", c_size_t, flow_p, c_float_p, c_size_t, c_char_p, c_size_t)
_declare("nf_flow_distill_run", _S, flow_p, flow_p, c_float_p, c_size_t, c_size_t, POINTER(nf_train_options),
         POINTER(nf_kl_options), c_int, c_double, POINTER(nf_train_result), POINTER(nf_kl_progress))
_declare("nf_flow_distill_forward", _S, flow_p, flow_p, c_size_t, c_float_p, c_size_t, POINTER(nf_train_options),
         POINTER(nf_train_result))
_declare("nf_flow_fit_target", _S, flow_p, log_density_fn, c_void_p, POINTER(nf_kl_options),
         POINTER(nf_kl_progress))
_declare("nf_flow_fit_target_given", _S, flow_p, log_density_given_fn, c_void_p, POINTER(nf_kl_options),
         POINTER(nf_kl_progress))
_declare("nf_flow_save", _S, flow_p, c_char_p)
_declare("nf_flow_load", _S, POINTER(flow_p), c_char_p)


class nf_data_options(Structure):
    _fields_ = [("struct_size", c_size_t), ("columns", c_char_p), ("context_columns", c_char_p), ("bounds", c_char_p),
                ("lo", c_double_p), ("hi", c_double_p), ("dequantize", c_int), ("val_fraction", c_double),
                ("test_fraction", c_double), ("seed", c_uint64), ("dim", c_int), ("context_dim", c_int),
                ("image_shape", c_int * 3), ("label_files", c_char_p * 3), ("label_classes", c_int)]


class nf_eval_report(Structure):
    _fields_ = [("struct_size", c_size_t), ("rows", c_size_t), ("mean", c_double), ("two_stderr", c_double),
                ("median", c_double), ("below_gaussian", ctypes.c_long), ("gaussian_mean", c_double),
                ("gap", c_double), ("gap_two_stderr", c_double), ("outside", c_size_t),
                ("first_outside_row", c_size_t), ("first_outside_column", c_int), ("first_outside_value", c_double),
                ("first_outside_lo", c_double), ("first_outside_hi", c_double), ("mean_inside", c_double),
                ("two_stderr_inside", c_double), ("no_density", c_size_t), ("first_no_density", c_size_t)]


data_p = c_void_p  # nf_data *, opaque
_declare("nf_data_options_init", None, POINTER(nf_data_options), c_size_t)
_declare("nf_data_from_arrays", _S, POINTER(data_p), c_float_p, c_float_p, c_size_t, c_int, c_int, c_float_p,
         c_float_p, c_size_t, POINTER(nf_data_options))
_declare("nf_data_free", None, data_p)
_declare("nf_eval_report_init", None, POINTER(nf_eval_report), c_size_t)
_declare("nf_flow_evaluate_sized", _S, flow_p, c_float_p, c_float_p, c_size_t, c_double_p, POINTER(nf_eval_report),
         c_size_t)
_declare("nf_eval_warnings", c_size_t, POINTER(nf_eval_report), data_p, c_char_p, c_size_t)
_declare("nf_data_rows", c_size_t, data_p, c_int, POINTER(c_float_p), POINTER(c_float_p))
_declare("nf_flow_create_for_data", _S, POINTER(flow_p), data_p, POINTER(nf_config))
_declare("nf_flow_fit", _S, flow_p, data_p, POINTER(nf_train_options), POINTER(nf_train_result))


class nf_race_entry(Structure):
    _fields_ = [("struct_size", c_size_t), ("model", ctypes.c_char * 16), ("dropout", c_double), ("layers", c_int),
                ("hidden", c_int), ("epochs", c_int), ("best_epoch", c_int), ("val_log_likelihood", c_double),
                ("round", c_int), ("seconds", c_double)]


_declare("nf_flow_fit_auto", _S, POINTER(flow_p), data_p, POINTER(nf_train_options), c_double,
         POINTER(nf_train_result))
_declare("nf_race_entry_init", None, POINTER(nf_race_entry), c_size_t)
_declare("nf_flow_race_count", c_int, flow_p)
_declare("nf_flow_race_entry_sized", _S, flow_p, c_int, POINTER(nf_race_entry), c_size_t)
_declare("nf_flow_mean_log_prob", _S, flow_p, data_p, c_int, c_size_t, POINTER(nf_train_options), POINTER(c_double),
         POINTER(c_double))

# the recipe's options by name (nflow train's flags, Flow's keywords): the library checks and applies them
recipe_p = c_void_p  # nf_recipe *, opaque
_declare("nf_recipe_create", _S, POINTER(recipe_p))
_declare("nf_recipe_free", None, recipe_p)
_declare("nf_recipe_set", _S, recipe_p, c_char_p, c_char_p)
_declare("nf_recipe_option_index", c_int, c_char_p)
NF_OPTION_INT, NF_OPTION_REAL, NF_OPTION_CHOICE, NF_OPTION_FLAG = range(4)


class nf_recipe_option(Structure):
    _fields_ = [("struct_size", c_size_t), ("name", c_char_p), ("help", c_char_p), ("kind", c_int), ("min", c_double),
                ("max", c_double), ("min_open", c_int), ("max_open", c_int), ("choices", c_char_p),
                ("shapes_model", c_int), ("kept_on_resume", c_int)]


_declare("nf_recipe_option_sized", _S, c_int, POINTER(nf_recipe_option), c_size_t)
_declare("nf_recipe_apply_sized", _S, recipe_p, POINTER(nf_config), c_size_t, POINTER(nf_train_options), c_size_t)
_declare("nf_recipe_resolve_sized", _S, recipe_p, data_p, POINTER(nf_config), c_size_t, POINTER(nf_train_options),
         c_size_t, POINTER(c_int))
_declare("nf_recipe_summary", c_size_t, data_p, POINTER(nf_config), POINTER(nf_train_options), c_int, c_char_p,
         c_size_t)
_declare("nf_recipe_student_sized", _S, recipe_p, flow_p, c_int, POINTER(nf_config), c_size_t)
_declare("nf_flow_race_table", c_size_t, flow_p, c_char_p, c_size_t)
NF_PROGRESS_QUIET, NF_PROGRESS_REWRITE, NF_PROGRESS_BAR, NF_PROGRESS_BAR_AT_ONCE, NF_PROGRESS_EVERY_EPOCH = 1, 2, 4, 8, 16
NF_PROGRESS_MARK_BEST = 32
progress_p = c_void_p  # nf_progress *, opaque
text_fn = CFUNCTYPE(None, c_char_p, c_void_p)
_declare("nf_progress_flags", c_int, c_int, c_char_p, c_size_t)
_declare("nf_progress_create", _S, POINTER(progress_p), c_int, c_char_p, c_double)
_declare("nf_progress_set_output", None, progress_p, text_fn, c_void_p, c_int)
_declare("nf_progress_free", None, progress_p)
_declare("nf_progress_show", c_int, POINTER(nf_train_progress), progress_p)
_declare("nf_progress_finish", None, progress_p)
_declare("nf_progress_attach", None, progress_p, POINTER(nf_train_options))
_declare("nf_progress_show_kl", c_int, POINTER(nf_kl_progress), progress_p)
_declare("nf_flow_config_json", c_size_t, flow_p, POINTER(nf_train_options), c_char_p, c_size_t)


class nf_fit_scores(Structure):
    _fields_ = [("struct_size", c_size_t), ("train", c_double), ("train_two_stderr", c_double),
                ("train_scored", c_size_t), ("val", c_double), ("val_two_stderr", c_double), ("test", c_double),
                ("test_two_stderr", c_double)]


class nf_distill_report(Structure):
    _fields_ = [("struct_size", c_size_t), ("n", c_size_t), ("kl", c_double), ("kl_two_stderr", c_double),
                ("cross_entropy", c_double), ("cross_entropy_two_stderr", c_double), ("entropy", c_double),
                ("entropy_two_stderr", c_double), ("student_samples_per_s", c_double),
                ("teacher_samples_per_s", c_double)]


_declare("nf_distill_report_init", None, POINTER(nf_distill_report), c_size_t)
_declare("nf_flow_distill_evaluate_sized", _S, flow_p, flow_p, c_float_p, c_size_t, c_size_t, c_uint64, c_int,
         POINTER(nf_distill_report), c_size_t)
_declare("nf_fit_scores_init", None, POINTER(nf_fit_scores), c_size_t)
_declare("nf_flow_fit_scores_sized", _S, flow_p, data_p, POINTER(nf_train_options), POINTER(nf_fit_scores), c_size_t)
_declare("nf_fit_report", c_size_t, flow_p, data_p, POINTER(nf_train_options), POINTER(nf_train_result),
         POINTER(nf_fit_scores), c_int, c_char_p, c_size_t)
_declare("nf_fit_warning", c_size_t, flow_p, data_p, POINTER(nf_train_result), c_char_p, c_size_t)
_declare("nf_data_warning", c_size_t, data_p, c_char_p, c_size_t)
_declare("nf_data_note", c_size_t, data_p, c_char_p, c_size_t)
