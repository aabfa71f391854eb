"""ctypes declarations of libnflow's public C API (include/nflow.h), and the loading of the library.

Structures and prototypes are written below as nflow.h writes them (argument names left out) and turned
into ctypes by _ctype; tests/python/test_binding.py checks the layouts (the documented defaults read back,
guard bytes past each structure left alone by the C side).

The library is looked for, in order: the file named by $NFLOW_LIBRARY; a copy bundled into the package
(pip install ./python); the path make install recorded in _install.py; the installed layout
(PREFIX/lib/libnflow.so.1); the source tree's build/libnflow.so; the dynamic loader's search for
libnflow.so.1; ctypes.util.find_library("nflow").
"""
import ctypes
import ctypes.util
import os
import re

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_long, c_size_t,
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


# libgomp reads its waiting policy once, as it loads: threads that spin at the barriers (its default) collapse
# when the processors are shared (the README example took 31.6 s beside busy loops against 0.8 s on one
# thread); passive threads sleep. As the tool does, only where neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set
# and no library loaded libgomp before us (then its setting stands; nflow.omp_wait_policy() says which).
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
NF_OPTION_INT, NF_OPTION_REAL, NF_OPTION_CHOICE, NF_OPTION_FLAG = range(4)
NF_PROGRESS_QUIET, NF_PROGRESS_REWRITE, NF_PROGRESS_BAR, NF_PROGRESS_BAR_AT_ONCE = 1, 2, 4, 8
NF_PROGRESS_EVERY_EPOCH, NF_PROGRESS_MARK_BEST = 16, 32

c_float_p, c_double_p, c_int_p = POINTER(c_float), POINTER(c_double), POINTER(c_int)
flow_p = data_p = recipe_p = progress_p = c_void_p  # nf_flow *, nf_data *, nf_recipe *, nf_progress *: opaque
_BASE = {"void": None, "void *": c_void_p, "char *": c_char_p, "char": c_char, "int": c_int, "nf_status": c_int,
         "long": c_long, "size_t": c_size_t, "uint64_t": c_uint64, "float": c_float, "double": c_double}
_OPAQUE = ("void", "char", "nf_flow", "nf_data", "nf_recipe", "nf_progress")  # T * is c_void_p (char *: c_char_p)


def _ctype(decl):
    """A C type as written here ("double *", "nf_flow **", "nf_config *", "train_progress_fn") as ctypes."""
    base, stars = decl.replace("*", " ").split()[0], decl.count("*")
    if stars and base in _OPAQUE:
        base, stars = "char *" if base == "char" else "void *", stars - 1
    t = _BASE[base] if base in _BASE else globals()[base]  # a structure or a callback type defined above
    for _ in range(stars):
        t = POINTER(t)
    return t


def _signature(text):
    """The restype, name and argtypes of a prototype "type name(type, type)" (name may be left out)."""
    m = re.fullmatch(r"\s*(.+?)\s*(\w*)\((.*)\)\s*", text)
    return _ctype(m[1]), m[2], [_ctype(a) for a in m[3].split(",") if a.strip()]


def _callback(text):
    restype, _, argtypes = _signature(text)
    return CFUNCTYPE(restype, *argtypes)


def _struct(name, decls):
    """A mirror of nflow.h's structure `name`, field by field from declarations "type name, name[n]; ..."
    (the type applies to every name of its declaration)."""
    fields = []
    for decl in filter(str.strip, decls.split(";")):
        typ, names = re.fullmatch(r"\s*(\w+[\s*]*)\s(.+)", decl, re.S).groups()
        for n in names.split(","):
            n, _, count = n.strip().rstrip("]").partition("[")
            fields.append((n, _ctype(typ) * int(count) if count else _ctype(typ)))
    return type(name, (Structure,), {"_fields_": fields})


# ---- structures, field by field as in nflow.h ----------------------------
# The options structs begin with struct_size (nflow.h): the library reads only the fields this mirror has
# (ctypes.sizeof), so a mirror behind the header is defaulted, not misread. Set them with the _init calls.
nf_system_info = _struct("nf_system_info", """char cpu[64]; char cpu_features[160]; int cpu_vector_bits;
    char blas[160]; char blas_kernel[32]; int blas_kernel_bits, blas_kernel_generic; char suggested_coretype[32];
    int threads, processors""")
nf_config = _struct("nf_config", """size_t struct_size; int model, dim, layers, hidden, hidden_layers, activation,
    base, partition; uint64_t seed; int order, random_degrees, batch_norm, actnorm; double log_scale_bound;
    int components, whiten; double tail_weight; int bins; double tail_bound; int context_dim, image_shape[3], levels""")
nf_train_progress = _struct("nf_train_progress", """int epoch; double train_loss, val_log_likelihood, best_val;
    int bad_epochs; double seconds; int in_epoch; size_t rows_done, rows_per_epoch; int checkpoint_failures;
    char * checkpoint_error; char * candidate""")
train_progress_fn = _callback("int (nf_train_progress *, void *)")
reduce_fn = _callback("int (void *, size_t, int, void *)")
nf_train_options = _struct("nf_train_options", """size_t struct_size; int batch; double lr, weight_decay,
    clip_norm; int max_epochs, patience, patience_steps; double lr_decay; uint64_t seed;
    train_progress_fn progress; void * user; double progress_seconds; char * checkpoint_path;
    double checkpoint_seconds; char * resume_path; int * stop; int rank, ranks; reduce_fn reduce;
    void * reduce_user; double dropout""")
nf_train_result = _struct("nf_train_result", """int epochs, best_epoch; double train_log_likelihood,
    val_log_likelihood, seconds; int stopped""")
nf_kl_progress = _struct("nf_kl_progress", "int step; double kl, cross_entropy, entropy, kl_stderr, seconds")
kl_progress_fn = _callback("int (nf_kl_progress *, void *)")
log_density_fn = _callback("int (float *, size_t, int, double *, float *, void *)")  # nf_log_density_fn
log_density_given_fn = _callback("int (float *, float *, size_t, int, int, double *, float *, void *)")
text_fn = _callback("void (char *, void *)")
nf_kl_options = _struct("nf_kl_options", """size_t struct_size; int batch, steps; double lr, clip_norm;
    uint64_t seed; int progress_every; kl_progress_fn progress; void * user; float * context; size_t context_rows""")
nf_data_options = _struct("nf_data_options", """size_t struct_size; char * columns; char * context_columns;
    char * bounds; double * lo; double * hi; int dequantize; double val_fraction, test_fraction; uint64_t seed;
    int dim, context_dim, image_shape[3]; char * label_files[3]; int label_classes""")
nf_eval_report = _struct("nf_eval_report", """size_t struct_size, rows; double mean, two_stderr, median;
    long below_gaussian; double gaussian_mean, gap, gap_two_stderr; size_t outside, first_outside_row;
    int first_outside_column; double first_outside_value, first_outside_lo, first_outside_hi, mean_inside,
    two_stderr_inside; size_t no_density, first_no_density""")
nf_race_entry = _struct("nf_race_entry", """size_t struct_size; char model[16]; double dropout; int layers, hidden,
    epochs, best_epoch; double val_log_likelihood; int round; double seconds""")
nf_recipe_option = _struct("nf_recipe_option", """size_t struct_size; char * name; char * help; int kind;
    double min, max; int min_open, max_open; char * choices; int shapes_model, kept_on_resume""")
nf_fit_scores = _struct("nf_fit_scores", """size_t struct_size; double train, train_two_stderr;
    size_t train_scored; double val, val_two_stderr, test, test_two_stderr""")
nf_distill_report = _struct("nf_distill_report", """size_t struct_size, n; double kl, kl_two_stderr,
    cross_entropy, cross_entropy_two_stderr, entropy, entropy_two_stderr, student_samples_per_s,
    teacher_samples_per_s""")

# ---- functions: every one the binding calls, as declared in nflow.h (an indented line continues) --
_PROTOTYPES = """
char * nf_status_string(int)
char * nf_last_error()
char * nf_version()
int nf_get_threads()
int nf_threads_usable(char *, size_t)
int nf_set_threads_usable(int, char *, size_t)
void nf_system_info_get(nf_system_info *)
char * nf_model_name(int)
nf_status nf_limit_get(int, char **, double *, double *)
void nf_config_init(nf_config *, size_t, int, int)
nf_status nf_flow_create(nf_flow **, nf_config *)
nf_status nf_flow_get_config(nf_flow *, nf_config *)
void nf_flow_free(nf_flow *)
int nf_flow_dim(nf_flow *)
size_t nf_flow_param_count(nf_flow *)
size_t nf_flow_describe(nf_flow *, char *, size_t)
nf_status nf_flow_set_standardization(nf_flow *, double *, double *)
nf_status nf_flow_get_standardization(nf_flow *, double *, double *)
nf_status nf_flow_gaussian_log_prob(nf_flow *, float *, size_t, double *)
int nf_flow_context_dim(nf_flow *)
char * nf_flow_context_columns(nf_flow *)
nf_status nf_flow_set_bounds(nf_flow *, double *, double *)
int nf_flow_get_bounds(nf_flow *, double *, double *)
nf_status nf_flow_log_prob_given(nf_flow *, float *, float *, size_t, double *)
nf_status nf_flow_sample_tempered(nf_flow *, float *, size_t, uint64_t, double, float *, double *)
int nf_flow_image_shape(nf_flow *, int *)
int nf_flow_label_classes(nf_flow *)
nf_status nf_flow_context_of_labels(nf_flow *, float *, size_t, float *)
nf_status nf_flow_encode_given(nf_flow *, float *, float *, size_t, float *)
nf_status nf_flow_decode_given(nf_flow *, float *, float *, size_t, float *)
nf_status nf_flow_save(nf_flow *, char *)
nf_status nf_flow_load(nf_flow **, char *)
nf_status nf_flow_save_bytes(nf_flow *, void **, size_t *)
nf_status nf_flow_load_bytes(nf_flow **, char *, size_t)
void nf_free(void *)
void nf_train_options_init(nf_train_options *, size_t)
void nf_defaults_for_data(size_t, int, nf_config *, nf_train_options *)
int nf_default_model(size_t, int)
nf_status nf_flow_train(nf_flow *, float *, size_t, float *, size_t, nf_train_options *, nf_train_result *)
int nf_flow_checkpoint_failures(nf_flow *, char **)
void nf_kl_options_init(nf_kl_options *, size_t)
void nf_kl_options_distill_init(nf_kl_options *, size_t)
nf_status nf_flow_distill_converge(nf_flow *, nf_flow *, nf_kl_options *, int, double, nf_kl_progress *)
nf_status nf_flow_create_student(nf_flow **, nf_flow *, nf_config *)
void nf_flow_distill_options_sized(nf_flow *, size_t, nf_train_options *, size_t)
size_t nf_flow_distill_redrawn(nf_flow *)
size_t nf_flow_count_far_from_data(nf_flow *, float *, size_t)
size_t nf_sample_warning(nf_flow *, float *, size_t, char *, size_t)
nf_status nf_flow_distill_run(nf_flow *, nf_flow *, float *, size_t, size_t, nf_train_options *,
    nf_kl_options *, int, double, nf_train_result *, nf_kl_progress *)
nf_status nf_flow_distill_forward(nf_flow *, nf_flow *, size_t, float *, size_t, nf_train_options *,
    nf_train_result *)
nf_status nf_flow_fit_target(nf_flow *, log_density_fn, void *, nf_kl_options *, nf_kl_progress *)
nf_status nf_flow_fit_target_given(nf_flow *, log_density_given_fn, void *, nf_kl_options *, nf_kl_progress *)
void nf_distill_report_init(nf_distill_report *, size_t)
nf_status nf_flow_distill_evaluate_sized(nf_flow *, nf_flow *, float *, size_t, size_t, uint64_t, int,
    nf_distill_report *, size_t)
void nf_data_options_init(nf_data_options *, size_t)
nf_status nf_data_from_arrays(nf_data **, float *, float *, size_t, int, int, float *, float *, size_t,
    nf_data_options *)
void nf_data_free(nf_data *)
size_t nf_data_rows(nf_data *, int, float **, float **)
size_t nf_data_warning(nf_data *, char *, size_t)
size_t nf_data_note(nf_data *, char *, size_t)
void nf_eval_report_init(nf_eval_report *, size_t)
nf_status nf_flow_evaluate_sized(nf_flow *, float *, float *, size_t, double *, nf_eval_report *, size_t)
size_t nf_eval_warnings(nf_eval_report *, nf_data *, char *, size_t)
nf_status nf_flow_create_for_data(nf_flow **, nf_data *, nf_config *)
nf_status nf_flow_fit(nf_flow *, nf_data *, nf_train_options *, nf_train_result *)
nf_status nf_flow_fit_auto(nf_flow **, nf_data *, nf_train_options *, double, nf_train_result *)
void nf_race_entry_init(nf_race_entry *, size_t)
int nf_flow_race_count(nf_flow *)
nf_status nf_flow_race_entry_sized(nf_flow *, int, nf_race_entry *, size_t)
size_t nf_flow_race_table(nf_flow *, char *, size_t)
nf_status nf_flow_mean_log_prob(nf_flow *, nf_data *, int, size_t, nf_train_options *, double *, double *)
nf_status nf_recipe_create(nf_recipe **)
void nf_recipe_free(nf_recipe *)
nf_status nf_recipe_set(nf_recipe *, char *, char *)
int nf_recipe_option_index(char *)
nf_status nf_recipe_option_sized(int, nf_recipe_option *, size_t)
nf_status nf_recipe_apply_sized(nf_recipe *, nf_config *, size_t, nf_train_options *, size_t)
nf_status nf_recipe_resolve_sized(nf_recipe *, nf_data *, nf_config *, size_t, nf_train_options *, size_t, int *)
size_t nf_recipe_summary(nf_data *, nf_config *, nf_train_options *, int, char *, size_t)
nf_status nf_recipe_student_sized(nf_recipe *, nf_flow *, int, nf_config *, size_t)
int nf_progress_flags(int, char *, size_t)
nf_status nf_progress_create(nf_progress **, int, char *, double)
void nf_progress_set_output(nf_progress *, text_fn, void *, int)
void nf_progress_free(nf_progress *)
int nf_progress_show(nf_train_progress *, nf_progress *)
int nf_progress_show_kl(nf_kl_progress *, nf_progress *)
void nf_progress_finish(nf_progress *)
void nf_progress_attach(nf_progress *, nf_train_options *)
size_t nf_flow_config_json(nf_flow *, nf_train_options *, char *, size_t)
void nf_fit_scores_init(nf_fit_scores *, size_t)
nf_status nf_flow_fit_scores_sized(nf_flow *, nf_data *, nf_train_options *, nf_fit_scores *, size_t)
size_t nf_fit_report(nf_flow *, nf_data *, nf_train_options *, nf_train_result *, nf_fit_scores *, int, char *,
    size_t)
size_t nf_fit_warning(nf_flow *, nf_data *, nf_train_result *, char *, size_t)
"""
for _line in re.sub(r"\n\s+", " ", _PROTOTYPES).strip().splitlines():  # indented lines continue
    _restype, _name, _argtypes = _signature(_line)
    getattr(lib, _name).restype, getattr(lib, _name).argtypes = _restype, _argtypes

# the model kinds by name, as the library names them (nf_model_name)
MODELS = {}
while lib.nf_model_name(len(MODELS)) is not None:
    MODELS[lib.nf_model_name(len(MODELS)).decode()] = len(MODELS)
