/* nflow: normalizing flows in C.
 *
 * The only public header of libnflow. Not in this header means not API.
 *
 * Conventions
 * - Every fallible call returns an nf_status; NF_OK is 0. After a failure,
 *   nf_last_error() gives a message naming the file, line, field or argument
 *   at fault. The library never prints and never exits.
 * - Objects come back through out-parameters and are freed by their _free
 *   call; every _free accepts NULL.
 * - Data are row-major (rows, dim) arrays of float; per-row log-densities are
 *   double.
 * - Directions are named by what they map: x2z is data -> latent (the density
 *   direction, "encode"), z2x is latent -> data (sampling, "decode").
 * - Threads: one nf_flow per thread. The thread count of the arithmetic is
 *   process-wide (nf_set_threads). The same seed and thread count give the
 *   same bits.
 * - Denormals: the calls that compute (log-densities, sampling, encoding,
 *   training, distillation, fitting) flush denormal floats to zero on x86-64
 *   (SSE's FTZ and DAZ, on the calling thread and nflow's OpenMP threads;
 *   denormals cost a hundred normal operations, and training makes them),
 *   and give the caller's setting back before they return. The callbacks
 *   they make (progress, target densities) run with the flushing on.
 * - Options structs that grow (nf_config, nf_made_options, nf_read_options,
 *   nf_train_options, nf_kl_options) begin with struct_size: their _default
 *   call, an inline function of this header, sets it to the sizeof the
 *   caller was compiled with, so a program built against an older header
 *   keeps working with a newer libnflow.so.1 (the library reads only the
 *   fields the program knows, and defaults the rest) and one built against
 *   a newer header is refused with NF_ERR_INVALID, not misread. Set such a
 *   struct with its _default call before anything else; a library call
 *   that fills one keeps its struct_size. New fields go at the end and
 *   make the struct larger. The other structs do not grow.
 */
#ifndef NFLOW_H
#define NFLOW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NF_API __attribute__((visibility("default")))
#else
#define NF_API
#endif

#define NF_VERSION_MAJOR 0
#define NF_VERSION_MINOR 1
#define NF_VERSION_PATCH 0
#define NF_VERSION_STRING "0.1.0"
#define NF_VERSION_NUMBER (NF_VERSION_MAJOR * 10000 + NF_VERSION_MINOR * 100 + NF_VERSION_PATCH)

/* ---- status and errors ------------------------------------------------ */

typedef enum nf_status {
    NF_OK = 0,
    NF_ERR_NOMEM = 1,       /* an allocation failed */
    NF_ERR_INVALID = 2,     /* an argument or option is out of range */
    NF_ERR_IO = 3,          /* a file could not be opened, read or written */
    NF_ERR_FORMAT = 4,      /* a file is malformed or truncated */
    NF_ERR_CHECKSUM = 5,    /* a model file's checksum does not match */
    NF_ERR_NONFINITE = 6,   /* NaN or Inf in data or in a loss */
    NF_ERR_DIMENSION = 7,   /* data and model disagree on the dimension */
    NF_ERR_UNSUPPORTED = 8  /* the operation does not exist for this model */
} nf_status;

/* A short fixed description of a status code. Never NULL. */
NF_API const char *nf_status_string(nf_status status);
/* The detailed message of the last failure in this thread. Never NULL. */
NF_API const char *nf_last_error(void);
/* The runtime version, e.g. "0.1.0". */
NF_API const char *nf_version(void);
/* This header's text, as the library was built with it: a binding (the
 * Python one's ctypes, cffi's cdef) declares the types and calls of the
 * library it loaded from it, so that the two cannot disagree. */
NF_API const char *nf_header(void);
/* Threads for the arithmetic: nflow's one OpenMP team. Work is cut into
 * pieces whose shapes do not depend on the thread count (tiles of rows,
 * fixed panels of units), each thread takes whole pieces and calls the
 * BLAS single-threaded on them, so results are the same bits at any count,
 * whichever BLAS kernel family runs (two families differ from each other
 * by float rounding). n <= 0 means the default: OMP_NUM_THREADS when the
 * environment sets it, else nf_threads_usable(); at most 1024. nflow
 * changes no OpenMP setting of the calling program: it holds the BLAS to
 * one thread through the settings of its own parallel regions only, so a
 * caller's own BLAS calls keep their threads. */
NF_API void nf_set_threads(int n);
#define NF_MAX_THREADS 1024
NF_API int nf_get_threads(void);
/* The threads this process may use: the processors of its affinity mask,
 * one per core where SMT siblings share it, at most its cgroup CPU quota
 * (v2 cpu.max or v1 cfs_quota_us, rounded up). `why` (may be NULL) gets
 * where the count came from, for a person. A team larger than that spins
 * at its barriers while its threads wait for a processor. */
NF_API int nf_threads_usable(char *why, size_t why_size);
/* nf_set_threads(n), but no more than nf_threads_usable() (unless the
 * environment sets NFLOW_OVERSUBSCRIBE=1: tests of larger teams). Returns
 * the count set; warning (may be NULL) gets "this process may use U (why);
 * using N" when n was more, else "". What nflow's --threads and Python's
 * set_threads do. */
NF_API int nf_set_threads_usable(int n, char *warning, size_t warning_size);

/* ---- the machine ------------------------------------------------------ */

/* What nflow runs on. OpenBLAS picks its kernels when it is loaded, from a
 * table of CPU models; on a model it does not know (a newer Xeon, say) it
 * falls back to generic SSE kernels, 2-5x slower than the CPU allows. Then
 * blas_kernel_generic is 1 and suggested_coretype names the kernel family
 * that fits the CPU's features: set OPENBLAS_CORETYPE to it in the
 * environment before the process starts (it cannot change after OpenBLAS
 * is loaded). The nflow tool does this itself, restarting once. */
typedef struct nf_system_info {
    char cpu[64];                /* the CPU's brand string */
    char cpu_features[160];      /* space-separated: sse4_2 avx avx2 fma avx512f ... */
    int cpu_vector_bits;         /* widest vectors the CPU runs: 128, 256 or 512 */
    char blas[160];              /* the BLAS's description of itself */
    char blas_kernel[32];        /* the kernel family it runs, e.g. "SkylakeX" */
    int blas_kernel_bits;        /* that family's vector width: 128, 256 or 512 */
    int blas_kernel_generic;     /* 1: SSE or AVX-without-FMA kernels on a CPU with AVX2 and FMA */
    char suggested_coretype[32]; /* when generic: the OPENBLAS_CORETYPE that fits; else "" */
    int threads;                 /* nf_get_threads() */
    int processors;              /* processors OpenMP may use */
    /* The caller allocates this struct: it does not grow (what the machine
     * reports beyond it comes through calls, e.g. nf_threads_usable). */
} nf_system_info;
NF_API void nf_system_info_get(nf_system_info *info);
/* What `nflow info --system` prints: the CPU and its vector features, the
 * BLAS and its kernels (and who chose them), the threads (and where their
 * count came from), how OpenMP's threads wait at barriers (and who set
 * it), the library's limits; in words, or with NF_REPORT_JSON as one JSON
 * object. A program that chose for the process before libgomp and
 * OpenBLAS loaded says so in its environment, as the nflow tool does:
 * NFLOW_OMP_WAIT_POLICY (set: it set OMP_WAIT_POLICY), NFLOW_OPENBLAS_PICKED
 * (the family OpenBLAS picked, when it set OPENBLAS_CORETYPE over it). Its
 * length; buf gets as much as fits. */
#define NF_REPORT_JSON 1
NF_API size_t nf_system_report(int flags, char *buf, size_t size);

/* ---- data matrices ---------------------------------------------------- */

/* A row-major float32 matrix. The library owns `values` of matrices it
 * returns; release with nf_matrix_free. A float32 .npy file in this
 * machine's byte order, read whole (no column list), is mapped into memory
 * rather than copied: `mapping` is then the mapping (private and
 * copy-on-write, so `values` may still be written), NULL otherwise. */
typedef struct nf_matrix { /* does not grow */
    size_t rows, cols;
    float *values;
    void *mapping;
    size_t mapping_bytes;
} nf_matrix;

typedef struct nf_read_options {
    size_t struct_size; /* set by nf_read_options_default */
    /* CSV only: 1 header line, 0 none, -1 detect (a first line none of whose
     * selected fields is a number is a header). */
    int header;
    /* Columns to keep, 0-based, e.g. "0-9" or "1,3,5-7"; NULL keeps all. */
    const char *columns;
} nf_read_options;

NF_API void nf_read_options_init(nf_read_options *opt, size_t struct_size);
static inline void nf_read_options_default(nf_read_options *opt) { nf_read_options_init(opt, sizeof *opt); }
/* Reads .npy (float32/float64, 1-D or 2-D, C order) or .csv (by extension;
 * anything else is read as CSV). NaN or Inf, a non-numeric cell, a ragged
 * row or a truncated file is an error naming the file, line and field. */
NF_API nf_status nf_matrix_read(const char *path, const nf_read_options *opt, nf_matrix *out);
/* Writes .npy (float32) or .csv by extension, through a temporary file that
 * is renamed over `path` only when complete. */
NF_API nf_status nf_matrix_write(const char *path, const nf_matrix *m);
/* Writes doubles (e.g. per-row log-densities): .npy float64 or .csv. */
NF_API nf_status nf_matrix_write_double(const char *path, const double *values, size_t rows, size_t cols);
NF_API void nf_matrix_free(nf_matrix *m);
/* Shuffles the rows with `seed` and splits them: the last test_frac of the
 * shuffled rows to *test, the val_frac before them to *val, the rest to
 * *train (each a copy; a part of 0 rows comes back empty). */
NF_API nf_status nf_matrix_split(const nf_matrix *m, double val_frac, double test_frac, uint64_t seed,
                                 nf_matrix *train, nf_matrix *val, nf_matrix *test);

/* flags[j] (n_cols entries) = 1 for the columns a list such as "0-2" or
 * "1,3,5-7" (0-based) names, else 0; a malformed list, or a column out of
 * range or named twice, is NF_ERR_INVALID with the reason. */
NF_API nf_status nf_column_flags(const char *columns, size_t n_cols, int *flags);
/* The data file's column (0-based) of the k-th column (0-based) that a list
 * selects, e.g. 5 for k = 2 of "1,3,5-7" (columns NULL: k itself), to name
 * a column of the data as read the way the file counts it; NF_ERR_INVALID
 * for a malformed list or one that selects k columns or fewer. */
NF_API nf_status nf_column_of(const char *columns, size_t k, size_t *column);
/* Integer-valued columns: is_integer[j] (m->cols entries) gets 1 when every
 * value of column j is a whole number below 2^24 in magnitude (beyond it
 * every float32 is whole); returns how many columns are. */
NF_API size_t nf_matrix_integer_columns(const nf_matrix *m, int *is_integer);
/* Dequantisation: adds u ~ U[0, 1), drawn with `seed`, to every value of
 * the columns j with columns[j] != 0. A density of the result is a density
 * of the integers spread over unit cells: its log-likelihood is a lower
 * bound on the log-probability of the integer data (float32 keeps the noise
 * for values below 2^23 or so). */
NF_API nf_status nf_matrix_dequantize(nf_matrix *m, const int *columns, uint64_t seed);
/* The same with the training recipe's noise streams (nflow train
 * --dequantize, Python's fit(dequantize=True)): for the run's `seed`, part
 * 0 is the data as read (before validation and test rows are split off),
 * 1 validation rows given apart, 2 test rows given apart; each a stream of
 * its own, apart from the split's and the model's. */
NF_API nf_status nf_matrix_dequantize_part(nf_matrix *m, const int *columns, uint64_t seed, int part);

/* ---- flows -------------------------------------------------------------- */

typedef struct nf_flow nf_flow;

/* Limits on the sizes of a model: what nf_flow_create and the nf_flow_add_*
 * builders accept, what a model file may hold (the reader refuses anything
 * else) and what `nflow` options take, one definition each. */
#define NF_MAX_DIM 100000            /* columns of x */
#define NF_MAX_CONTEXT 65536         /* context values per row */
#define NF_MAX_LAYERS 1000           /* nf_config.layers */
#define NF_MAX_HIDDEN 65536          /* units per hidden layer */
#define NF_MAX_HIDDEN_LAYERS 16      /* hidden layers per network (0..) */
#define NF_MIN_BINS 2                /* bins of a spline */
#define NF_MAX_BINS 128
#define NF_MAX_TAIL_BOUND 1e6        /* a spline's interval [-B, B]: 0 < B <= this */
#define NF_MAX_LOG_SCALE_BOUND 100.0 /* log-scale bounds: 0 <= bound < this */
#define NF_MAX_COMPONENTS 1000       /* Gaussians per conditional of a MoG */
#define NF_MAX_BATCH 1048576         /* rows of a training or distillation step */

/* The limits as the library was built with them (this header's macros, or
 * those of the header it was built against): which limit's name ("dim",
 * "context", "layers", "hidden", "hidden_layers", "bins", "tail_bound",
 * "log_scale_bound", "components", "batch", "threads"), its smallest and
 * largest value (log_scale_bound: strictly below the largest; tail_bound:
 * strictly above the smallest). Any pointer may be NULL; NF_ERR_INVALID for
 * a `which` outside 0..NF_LIMIT_COUNT-1. `nflow info --system` lists them. */
typedef enum nf_limit {
    NF_LIMIT_DIM, NF_LIMIT_CONTEXT, NF_LIMIT_LAYERS, NF_LIMIT_HIDDEN, NF_LIMIT_HIDDEN_LAYERS, NF_LIMIT_BINS,
    NF_LIMIT_TAIL_BOUND, NF_LIMIT_LOG_SCALE_BOUND, NF_LIMIT_COMPONENTS, NF_LIMIT_BATCH, NF_LIMIT_THREADS,
    NF_LIMIT_COUNT
} nf_limit;
NF_API nf_status nf_limit_get(nf_limit which, const char **name, double *min, double *max);

typedef enum nf_model {
    NF_MODEL_NICE = 0,
    NF_MODEL_REALNVP = 1,
    NF_MODEL_MADE = 2,     /* one Gaussian MADE: a MAF with a single layer */
    NF_MODEL_MADE_MOG = 3, /* a MADE whose conditionals are mixtures of Gaussians */
    NF_MODEL_MAF = 4,      /* masked autoregressive flow: fast density, sequential sampling */
    NF_MODEL_MAF_MOG = 5,  /* MAF on a MADE MoG base */
    NF_MODEL_IAF = 6,      /* inverse autoregressive flow: fast sampling, sequential density */
    NF_MODEL_GAUSSIAN = 7, /* the full-covariance Gaussian: the whitening layer alone (see whiten) */
    NF_MODEL_NSF = 8,      /* neural spline flow: rational-quadratic spline couplings, LU layers between */
    NF_MODEL_NSF_AR = 9,   /* autoregressive neural spline flow: spline MAFs (density one pass, sampling sequential) */
    NF_MODEL_IAF_MOG = 10, /* IAF on a MoG base of independent dimensions: sampling one pass (the distillation
                            * student of a MoG teacher) */
    NF_MODEL_GMM = 11,     /* a mixture of full-covariance Gaussians fitted by EM (scikit-learn's GaussianMixture):
                            * components 0 chooses their number on the validation rows */
    NF_MODEL_REALNVP_MS = 12, /* images: RealNVP's multi-scale flow (checkerboard and channel couplings with
                               * convolutional networks, squeezes, half the channels factored out per level) */
    NF_MODEL_GLOW = 13,    /* images: Glow (per level a squeeze, steps of ActNorm, 1x1 convolution and channel
                            * coupling, then half the channels factored out with a learned conditional prior) */
    NF_MODEL_COUNT         /* the number of kinds */
} nf_model;
/* A kind's name as the tool, the Python binding and model files spell it
 * ("maf-mog"; NULL outside 0..NF_MODEL_COUNT-1), and the kind of a name
 * (NF_ERR_INVALID, listing the names, for any other). */
NF_API const char *nf_model_name(nf_model model);
NF_API nf_status nf_model_from_name(const char *name, nf_model *model);
/* Input orders of a MADE: degree 1 first. */
typedef enum nf_order { NF_ORDER_NATURAL = 0, NF_ORDER_REVERSED = 1, NF_ORDER_RANDOM = 2 } nf_order;
typedef enum nf_activation { NF_ACT_RELU = 0, NF_ACT_TANH = 1 } nf_activation;
typedef enum nf_base { NF_BASE_NORMAL = 0, NF_BASE_LOGISTIC = 1, NF_BASE_UNIFORM = 2 } nf_base;
typedef enum nf_partition {
    NF_PART_HALVES = 0,     /* first half conditions, second half changes; alternates */
    NF_PART_EVEN_ODD = 1,   /* even indices condition, odd change; alternates */
    NF_PART_MASK = 2        /* the user's mask: 1 = conditioning dimension */
} nf_partition;
typedef enum nf_permutation { NF_PERM_REVERSE = 0, NF_PERM_RANDOM = 1 } nf_permutation;

/* A ready-made architecture (what `nflow train --model` builds). */
typedef struct nf_config {
    size_t struct_size;  /* set by nf_config_default */
    nf_model model;
    int dim;
    int layers;          /* coupling layers, or MADEs of a MAF/IAF */
    int hidden;          /* units per hidden layer of each coupling network or MADE */
    int hidden_layers;   /* hidden layers of each coupling network or MADE */
    nf_activation activation;
    nf_base base;
    nf_partition partition;
    uint64_t seed;       /* initial parameters and random permutations */
    /* autoregressive models */
    nf_order order;      /* of the first MADE; natural/reversed alternate between MADEs,
                            random draws a new order for each */
    int random_degrees;  /* hidden-unit degrees drawn at random (default: sequential) */
    int batch_norm;      /* batch normalisation after every MADE or coupling */
    int actnorm;         /* ActNorm after every MADE or coupling (initialised by the first batch) */
    double log_scale_bound; /* affine layers' log-scales: bound * tanh(a / bound); 0: unbounded (default 3) */
    int components;      /* Gaussians per conditional of a MoG model; of the gmm (default 0: 1 to 64,
                            chosen on the validation rows, else by BIC) */
    /* An invertible linear (LU) layer first, which nf_flow_fit_standardization
     * sets to the whitening of the training data's covariance (Ledoit-Wolf
     * shrunk): the untrained flow is then the full-covariance Gaussian fit,
     * as every other layer starts as the identity. Default 1. */
    int whiten;
    /* With whiten: the Gaussian fit's weight w in the model's density
     * p = (1 - w) p_flow + w N(fit), a floor under the tails that costs at
     * most -log(1 - w) nats inside the data (src/flow/gaussian_fit.c). Encoding
     * and decoding are the flow's alone; sampling draws from the mixture (a
     * conditional model's from the flow alone: the fit ignores the context);
     * distillation and nf_flow_fit_target use the flow's own density.
     * Default 1e-3; 0: the flow alone. */
    double tail_weight;
    /* spline models: bins of each rational-quadratic spline (default 8) on
     * [-tail_bound, tail_bound] (default 3; the identity outside) */
    int bins;
    double tail_bound;
    /* A conditional model p(x | c): context values per row (default 0:
     * unconditional); see "conditional flows" below. */
    int context_dim;
    /* Image models (realnvp-ms, glow): the images' height, width and
     * channels (their product is dim; nf_data_defaults sets them from
     * image data), and the levels of the multi-scale architecture
     * (default 2). `layers` counts the steps of each level, `hidden` the
     * channels of each coupling's convolutional network and
     * `hidden_layers` its residual blocks. */
    int image_shape[3];
    int levels;
} nf_config;

/* Defaults for a model and dimension (the values README.md explains). */
NF_API void nf_config_init(nf_config *cfg, size_t struct_size, nf_model model, int dim);
static inline void nf_config_default(nf_config *cfg, nf_model model, int dim)
{
    nf_config_init(cfg, sizeof *cfg, model, dim);
}
NF_API nf_status nf_flow_create(nf_flow **out, const nf_config *cfg);
/* The config a flow was built from (nf_flow_create, or read back with a
 * model file), into *cfg as far as its struct_size reaches (set it with
 * nf_config_default first). NF_ERR_UNSUPPORTED for a flow built layer by
 * layer, which has none. */
NF_API nf_status nf_flow_get_config(const nf_flow *f, nf_config *cfg);

/* Building a flow layer by layer. Layers are listed in the density
 * direction: the first one added is applied to the data first. */
NF_API nf_status nf_flow_new(nf_flow **out, int dim, nf_base base);
/* Uniform base on the box [lo, hi]^dim (nf_flow_new uses [0, 1]). */
NF_API nf_status nf_flow_set_uniform_box(nf_flow *f, double lo, double hi);
/* NICE additive coupling; `mask` (dim entries, 1 = conditioning) only with
 * NF_PART_MASK. `flip` swaps the roles of the two parts. */
NF_API nf_status nf_flow_add_additive_coupling(nf_flow *f, nf_partition part, const int *mask, int flip,
                                               int hidden, int hidden_layers, nf_activation act);
/* RealNVP affine coupling with log-scale bounded to (-bound, bound). */
NF_API nf_status nf_flow_add_affine_coupling(nf_flow *f, nf_partition part, const int *mask, int flip,
                                             int hidden, int hidden_layers, nf_activation act, double bound);
/* Rational-quadratic spline coupling (Durkan et al. 2019): `bins` bins on
 * [-tail_bound, tail_bound], the identity outside; the network (as for the
 * affine coupling) gives each changed dimension 3 bins - 1 raw parameters;
 * it starts as the identity. */
NF_API nf_status nf_flow_add_spline_coupling(nf_flow *f, nf_partition part, const int *mask, int flip, int hidden,
                                             int hidden_layers, nf_activation act, int bins, double tail_bound);
/* The same with the spline reading (x - mu) exp(-alpha), mu and alpha from
 * the same network (alpha = scale_bound tanh(a / scale_bound), 0:
 * unbounded), so that the spline's interval follows each changed
 * dimension's conditional location and scale; two more network outputs
 * per changed dimension. nf_flow_create's nsf is built of these (with the
 * config's log_scale_bound); the function above is the paper's form. */
NF_API nf_status nf_flow_add_shifted_spline_coupling(nf_flow *f, nf_partition part, const int *mask, int flip,
                                                     int hidden, int hidden_layers, nf_activation act, int bins,
                                                     double tail_bound, double scale_bound);
/* NICE's diagonal rescaling by positive scales exp(t_i). */
NF_API nf_status nf_flow_add_rescale(nf_flow *f);
NF_API nf_status nf_flow_add_permutation(nf_flow *f, nf_permutation kind, uint64_t seed);
/* Invertible linear layer W = P L (U + diag(s)), O(dim) log-determinant. */
NF_API nf_status nf_flow_add_linear_lu(nf_flow *f, uint64_t seed);
/* A MADE-based layer. The input order: `order` (natural, reversed, random
 * drawn with `seed`), or when `perm` is not NULL, perm[k] = the dimension
 * with degree k + 1. Hidden degrees sequential or (random_degrees) drawn
 * with `seed`. Log-scales bounded to (-bound, bound). */
typedef struct nf_made_options {
    size_t struct_size; /* set by nf_made_options_default */
    int hidden, hidden_layers;
    nf_activation activation;
    nf_order order;
    const int *perm;
    int random_degrees;
    uint64_t seed;
    double bound;
} nf_made_options;
NF_API void nf_made_options_init(nf_made_options *opt, size_t struct_size);
static inline void nf_made_options_default(nf_made_options *opt) { nf_made_options_init(opt, sizeof *opt); }
/* MAF layer: density in one pass, sampling sequential (one pass of work). */
NF_API nf_status nf_flow_add_maf(nf_flow *f, const nf_made_options *opt);
/* Spline MAF layer (autoregressive neural spline flow): each dimension
 * through a rational-quadratic spline of `bins` bins on [-tail_bound,
 * tail_bound] (the identity outside) whose 3 bins - 1 raw parameters the
 * MADE gives; density in one pass, sampling sequential (one pass of
 * work). With opt->bound >= 0 (the default 3) the spline reads (x - mu)
 * exp(-alpha), mu and alpha from the same MADE (alpha bounded as a MAF's,
 * 0: unbounded), so that the spline's interval follows each dimension's
 * conditional location and scale: on BSDS300 this gained 1.8 nats an
 * epoch early on for two more outputs per dimension. opt->bound < 0: the
 * spline reads x itself, as in the paper. */
NF_API nf_status nf_flow_add_spline_maf(nf_flow *f, const nf_made_options *opt, int bins, double tail_bound);
/* IAF layer: sampling in one pass, density sequential (one pass of work). */
NF_API nf_status nf_flow_add_iaf(nf_flow *f, const nf_made_options *opt);
/* Batch normalisation (MAF paper): batch statistics while training, running
 * averages (saved with the model) otherwise. */
NF_API nf_status nf_flow_add_batch_norm(nf_flow *f);
/* ActNorm (Glow): a per-dimension affine map z = (x - b) exp(-logs) with
 * trainable b and logs, set on the first training batch so that its output
 * has mean 0 and variance 1 there (the identity until then); whether that
 * happened is saved with the model. */
NF_API nf_status nf_flow_add_actnorm(nf_flow *f);
/* Replaces the base density by a MADE mixture of `components` Gaussians per
 * conditional (MADE MoG). */
NF_API nf_status nf_flow_set_mog_base(nf_flow *f, int components, const nf_made_options *opt);
/* Allocates and initialises the parameters; call once after the last add. */
NF_API nf_status nf_flow_finalize(nf_flow *f, uint64_t seed);

NF_API void nf_flow_free(nf_flow *f);
NF_API int nf_flow_dim(const nf_flow *f);
NF_API size_t nf_flow_param_count(const nf_flow *f);
/* A human-readable description of the architecture, the context (of a
 * conditional flow) and the data statistics;
 * returns the length it needs (like snprintf). */
NF_API size_t nf_flow_describe(const nf_flow *f, char *buf, size_t size);

/* Standardisation x -> (x - mean) / std, part of every density the model
 * reports (its log-Jacobian included). fit computes it from data, and
 * for a flow made by nf_flow_create with whiten set it also sets the
 * whitening layer (see nf_config): call it before training. */
NF_API nf_status nf_flow_set_standardization(nf_flow *f, const double *mean, const double *std);
NF_API nf_status nf_flow_fit_standardization(nf_flow *f, const float *x, size_t rows);

/* ---- bounded support ----------------------------------------------------- */
/* Columns that live on an interval or a half-line (fractions, rates,
 * positive measurements): lo[i], hi[i] (dim each) bound column i of x to
 * the open interval (lo[i], hi[i]); NaN or -INFINITY (lo), NaN or INFINITY
 * (hi) for an open side; lo and hi NULL: no bounds. The flow's first layer
 * then maps each bounded column to the real line by an exact bijection, its
 * log-Jacobian part of every density: the logit of (x - lo) / (hi - lo) for
 * an interval, log(x - lo) for (lo, inf), -log(hi - x) for (-inf, hi). The
 * standardisation, the whitening, the Gaussian fit and the data statistics
 * are of the mapped columns. Densities are of x on its support: log p(x) =
 * -inf for a row with a value on or outside a bound (nf_flow_log_prob);
 * samples and decoded rows lie strictly inside by construction (the
 * inverse map is computed in double; where rounding to float32 lands on a
 * bound, or beyond float32's range, the nearest float32 inside is
 * returned). Encoding refuses a row outside (it has no latent code), and
 * so do nf_flow_fit_standardization and training for their rows. Call it
 * after nf_flow_new or nf_flow_create and before
 * nf_flow_fit_standardization (later calls are refused); calling it again
 * replaces the bounds. The bounds are saved with the model. Finite bounds
 * lie within +-1e30 with lo < hi and a float32 strictly between. */
NF_API nf_status nf_flow_set_bounds(nf_flow *f, const double *lo, const double *hi);
/* 1 when the flow has bounds, else 0; lo and hi (dim each, either may be
 * NULL) get them, -INFINITY / INFINITY on open sides. */
NF_API int nf_flow_get_bounds(const nf_flow *f, double *lo, double *hi);
/* How many of rows rows (rows x dim) have a value on or outside its
 * column's bounds; the first such row and its first such column (0-based)
 * in *first_row and *first_col when some are and the pointers are not
 * NULL. 0 for a flow without bounds. */
NF_API size_t nf_flow_outside_bounds(const nf_flow *f, const float *x, size_t rows, size_t *first_row,
                                     int *first_col);

/* ---- densities, sampling, codes --------------------------------------- */

/* log p(x) per row, in nats; -inf (never NaN) for a row the model gives no
 * density or whose values overflow its arithmetic. */
NF_API nf_status nf_flow_log_prob(nf_flow *f, const float *x, size_t rows, double *log_prob);
/* log N(x) per row under the model's Gaussian fit (a whitened model's
 * full-covariance Gaussian of its training data): the baseline a model's
 * log-densities can be compared with row by row. NF_ERR_UNSUPPORTED for a
 * model without one. */
NF_API nf_status nf_flow_gaussian_log_prob(nf_flow *f, const float *x, size_t rows, double *log_prob);
/* x -> z and z -> x (encoding refuses a row outside the bounds).
 * NF_ERR_NONFINITE when a row's result is not finite (its values overflow
 * the model's float arithmetic). */
NF_API nf_status nf_flow_encode(nf_flow *f, const float *x, size_t rows, float *z);
NF_API nf_status nf_flow_decode(nf_flow *f, const float *z, size_t rows, float *x);
/* rows samples drawn with `seed`; log_prob (may be NULL) gets log p(x). */
NF_API nf_status nf_flow_sample(nf_flow *f, size_t rows, uint64_t seed, float *x, double *log_prob);
/* Rows of x (rows x the model's dimension) outside its training data's
 * range widened by that range on each side: where a model's sampling pass
 * throws the odd sample (a MAF's can amplify a rare base draw without
 * bound: 0.6% of a BSDS300 MAF MoG's samples, up to 14,000 ranges away) and
 * its density is no guide. 0 for a model without its data's range. */
NF_API size_t nf_flow_count_far_from_data(const nf_flow *f, const float *x, size_t rows);
/* The warning (one line, no '\n') for samples x of f of which more than 1
 * in 1,000 lie that far from the data; its length, 0 when none. */
NF_API size_t nf_sample_warning(const nf_flow *f, const float *x, size_t rows, char *buf, size_t size);

/* ---- conditional flows -------------------------------------------------- */
/* A conditional flow models p(x | c) for a context c of context_dim values
 * per row: nf_config.context_dim for a ready-made model, or
 * nf_flow_set_context_dim right after nf_flow_new, before any layer. Its
 * networks read c, standardised with the training rows' mean and standard
 * deviation (nf_flow_fit_standardization_given): coupling networks take c
 * beside their half of x, MADEs (MAF, IAF, spline MAF, the MoG base) as
 * inputs of degree 0 that every unit reads; the other layers do not depend
 * on c. Every call with data then takes the context rows beside x (rows x
 * context_dim, row r conditioning row r); the calls without _given refuse
 * a conditional flow, and the _given calls a NULL context for one. */
NF_API nf_status nf_flow_set_context_dim(nf_flow *f, int context_dim);
NF_API int nf_flow_context_dim(const nf_flow *f);
/* Which columns of a data file hold the context, as the tool's column list
 * ("0-2"), kept with the model (NULL: not known). */
NF_API nf_status nf_flow_set_context_columns(nf_flow *f, const char *columns);
NF_API const char *nf_flow_context_columns(const nf_flow *f);
NF_API nf_status nf_flow_fit_standardization_given(nf_flow *f, const float *x, const float *context, size_t rows);
/* The context's standardisation (c - mean) / std set directly (a student
 * of reverse-KL training has no data to fit it from); context_dim each. */
NF_API nf_status nf_flow_set_context_standardization(nf_flow *f, const double *mean, const double *std);
/* log p(x | c) per row. */
NF_API nf_status nf_flow_log_prob_given(nf_flow *f, const float *x, const float *context, size_t rows,
                                        double *log_prob);
/* One sample per context row (repeat a row for several). */
NF_API nf_status nf_flow_sample_given(nf_flow *f, const float *context, size_t rows, uint64_t seed, float *x,
                                      double *log_prob);
/* Draws at a temperature T (Glow's sampling at T = 0.7): the base's draws
 * scaled by T, the model's layers as ever; T = 1 is nf_flow_sample_given.
 * For models on a normal or logistic base (not a MoG or gmm base, nor a
 * uniform one: NF_ERR_UNSUPPORTED); context NULL for an unconditional
 * model. log_prob (NULL: not wanted) is each sample's log-density under
 * the model itself. */
NF_API nf_status nf_flow_sample_tempered(nf_flow *f, const float *context, size_t rows, uint64_t seed,
                                         double temperature, float *x, double *log_prob);
NF_API nf_status nf_flow_encode_given(nf_flow *f, const float *x, const float *context, size_t rows, float *z);
NF_API nf_status nf_flow_decode_given(nf_flow *f, const float *z, const float *context, size_t rows, float *x);

/* ---- training ----------------------------------------------------------- */

typedef struct nf_train_progress {
    int epoch;                 /* 1-based */
    double train_loss;         /* mean negative log-likelihood of the epoch */
    double val_log_likelihood; /* mean validation log-likelihood (NAN without) */
    double best_val;           /* best so far */
    int bad_epochs;            /* epochs since the best */
    double seconds;            /* of training (with a resume: in all) */
    /* 0: the call after an epoch. 1: a call within epoch `epoch` (see
     * progress_seconds), with the figures above of the epoch before. */
    int in_epoch;
    size_t rows_done;          /* of this epoch's training rows */
    size_t rows_per_epoch;
    /* Checkpoints that could not be written so far (see checkpoint_path),
     * and the last one's message ("" when none; valid during the call). */
    int checkpoint_failures;
    const char *checkpoint_error;
    /* In the race of nf_flow_fit_auto: the candidate this epoch was of
     * ("maf-mog"; epoch ends only); NULL otherwise, the winner's
     * training after the race included. (The library fills this struct: a
     * program built against an older header reads the fields it knows.) */
    const char *candidate;
} nf_train_progress;

typedef struct nf_train_options {
    size_t struct_size;        /* set by nf_train_options_default */
    int batch;
    double lr;
    double weight_decay;       /* L2, added to the gradient */
    double clip_norm;          /* global gradient-norm clipping; <= 0 disables */
    int max_epochs;
    int patience;              /* epochs without validation gain before stopping */
    /* ... and at least this many steps: an epoch of a small data set is a
     * handful of steps, too few to judge progress by (default 1000; 0:
     * epochs alone). The lr decays below wait for a quarter of it too.
     * Like patience, taken from these options on a resume. */
    int patience_steps;
    /* The learning rate is multiplied by lr_decay after every
     * max(1, patience / 4) epochs without validation gain (1: constant). */
    double lr_decay;
    uint64_t seed;             /* shuffling */
    /* Called after every epoch; return non-zero to stop early. */
    int (*progress)(const nf_train_progress *p, void *user);
    void *user;
    /* > 0: progress is also called within an epoch, after a step, at most
     * once in this many seconds (in_epoch = 1; a progress bar). 0: not. */
    double progress_seconds;
    /* Crash-safe checkpoints: when not NULL, the whole training state (the
     * model, Adam, the shuffle order and position, the best epoch so far,
     * ...) is written atomically to this file after a step when at least
     * checkpoint_seconds have passed since the last one (0: after every
     * step), and when training stops (not after an error). The file is
     * also a model file. A checkpoint that cannot be written (a full disk)
     * does not stop training: the file keeps its last good state, the next
     * is tried after the next interval, training ends as it would have,
     * and nf_flow_checkpoint_failures (and nf_train_progress) count the
     * failures and keep the last one's message. */
    const char *checkpoint_path;
    double checkpoint_seconds;
    /* Resume: continues the run saved in this checkpoint, ending with the
     * same bits as the uninterrupted run (same thread count). The flow must
     * be the one nf_flow_load read from this file, and the data the same
     * (checked: dimension, rows, checksums). The saved batch, lr,
     * weight_decay, clip_norm, lr_decay and seed are used, not these;
     * max_epochs and patience are taken from these options. */
    const char *resume_path;
    /* When not NULL: read after every step; once non-zero, training stops
     * there as if its epochs had run out (the best parameters put back,
     * the checkpoint written) and nf_train_result.stopped is 1. For a
     * SIGINT handler to set (a volatile sig_atomic_t, which is an int). */
    const volatile int *stop;
    /* Data-parallel training over `ranks` processes (the tool under
     * mpirun): each calls nf_flow_train with the same flow, data and
     * options but its own `rank` (0..ranks-1), computes its share of every
     * global batch (`batch` is the global size) and of the validation
     * passes, and `reduce` sums a buffer element-wise across the processes
     * in place, leaving the same values on all (n values, doubles when
     * is_double, else floats; return 0, or non-zero to fail the run). All
     * then take the same Adam step; shuffling is global. The library links
     * no MPI: the caller passes its MPI_Allreduce. Checkpoint only on one
     * process (checkpoint_path NULL on the others); a stop request or a
     * progress callback's stop on any process stops all at the same step;
     * within-epoch progress calls cannot stop a shared run. Layers with
     * batch statistics (batch norm, ActNorm) are refused: their statistics
     * would differ between processes. ranks <= 1: alone. */
    int rank, ranks;
    int (*reduce)(void *buf, size_t n, int is_double, void *user);
    void *reduce_user;
    /* Dropout of the networks' hidden units in training steps (0 <= rate
     * < 1; default 0): each unit of each row is zeroed with this
     * probability and the kept ones scaled by 1 / (1 - rate), so that
     * evaluation, sampling and the other passes use the whole network
     * unchanged. A regulariser for many parameters on few rows (the
     * neural spline flows' paper used 0.1 to 0.2 on its tabular data).
     * Saved in checkpoints and taken from them on a resume. */
    double dropout;
} nf_train_options;

typedef struct nf_train_result {
    int epochs;                /* epochs run (with a resume: in all) */
    int best_epoch;
    double train_log_likelihood;
    double val_log_likelihood; /* of the kept (best) parameters */
    double seconds;
    int stopped;               /* 1: stopped through opt->stop */
    /* The caller allocates this struct: it does not grow (a program built
     * against an older header passes a smaller one). What training reports
     * beyond it comes through calls, e.g. nf_flow_checkpoint_failures. */
} nf_train_result;

/* Defaults; checkpoint_seconds 300, no checkpoint, no resume. */
NF_API void nf_train_options_init(nf_train_options *opt, size_t struct_size);
static inline void nf_train_options_default(nf_train_options *opt) { nf_train_options_init(opt, sizeof *opt); }
/* The sizes that fit a data set of `rows` training rows (README.md, "Defaults
 * that fit the data"): hidden units of cfg (100, or 4 x dim up to 512 from
 * 50,000 rows on), and the batch of opt (the largest power of two giving at
 * least 250 steps an epoch, within 32..256) and its dropout (0.2 for 8
 * columns or more below 5,000 rows, else 0). Either pointer may be NULL. */
NF_API void nf_defaults_for_data(size_t rows, int dim, nf_config *cfg, nf_train_options *opt);
/* The model that fits a data set (what `nflow train` builds without
 * --model): MAF MoG while rows x dim <= 2,000,000 or dim <= 4 (its MoG
 * base scored best on every small set of bench/quality.sh, at 2-6x MAF's
 * training time), MAF beyond. */
NF_API nf_model nf_default_model(size_t rows, int dim);
/* Sets batch, lr, weight_decay, clip_norm, max_epochs, patience, lr_decay
 * and seed to those saved in a checkpoint; the other fields are left. */
NF_API nf_status nf_train_options_read(const char *checkpoint_path, nf_train_options *opt);
/* Maximum-likelihood training with Adam. With validation data, keeps the
 * parameters of the best validation epoch and stops after `patience` epochs
 * without gain. A non-finite loss stops training with NF_ERR_NONFINITE and
 * leaves the best parameters in place. */
NF_API nf_status nf_flow_train(nf_flow *f, const float *train, size_t n_train, const float *val, size_t n_val,
                               const nf_train_options *opt, nf_train_result *result);
/* Data-parallel training (opt->ranks > 1) needs the same data on every
 * process, and nf_flow_train checks it first: two reductions through
 * opt->reduce (rank 0's row counts and a 64-bit hash of its training and
 * validation rows, contexts and shapes; then the count of processes that
 * differ), after which every process refuses alike (NF_ERR_INVALID, each
 * message saying what that process holds) or goes on. A caller may check
 * before building anything, with this call on every process (its data;
 * contexts NULL for an unconditional model): NF_OK on every process, or
 * the refusal on every process, so that all can stop without an abort.
 * opt->ranks <= 1: NF_OK at once. */
NF_API nf_status nf_train_check_same_data(const float *train, const float *train_context, size_t n_train,
                                          const float *val, const float *val_context, size_t n_val, int dim,
                                          int context_dim, const nf_train_options *opt);
/* Checkpoints that the last nf_flow_train call on f could not write
 * (training went on without them; its status is NF_OK unless something
 * else failed); *last_error (when not NULL) gets the last one's message,
 * "" when none, valid until f trains again or is freed. */
NF_API int nf_flow_checkpoint_failures(const nf_flow *f, const char **last_error);
/* One Adam step on one batch (the optimiser state lives in the flow);
 * `loss` gets the batch's mean negative log-likelihood. */
NF_API nf_status nf_flow_train_step(nf_flow *f, const float *batch, size_t rows, const nf_train_options *opt,
                                    double *loss);

/* The same for a conditional flow (see "conditional flows"): each data
 * set's context rows beside it. */
NF_API nf_status nf_flow_train_given(nf_flow *f, const float *train, const float *train_context, size_t n_train,
                                     const float *val, const float *val_context, size_t n_val,
                                     const nf_train_options *opt, nf_train_result *result);
NF_API nf_status nf_flow_train_step_given(nf_flow *f, const float *batch, const float *context, size_t rows,
                                          const nf_train_options *opt, double *loss);

/* Evaluates a held-out test set once: its mean log-likelihood and two
 * standard errors of that mean (each pointer may be NULL). The model also
 * records the mean (shown by nf_flow_describe and saved). */
NF_API nf_status nf_flow_evaluate_test(nf_flow *f, const float *x, size_t rows, double *mean_log_lik,
                                       double *two_stderr);
NF_API nf_status nf_flow_evaluate_test_given(nf_flow *f, const float *x, const float *context, size_t rows,
                                             double *mean_log_lik, double *two_stderr);

/* ---- training's progress, shown to people --------------------------------- */

/* What `nflow train` shows on standard error while it trains, for any
 * program: after each epoch the line
 *   epoch   12  train   -12.3456  val   -12.4567  best   -12.4000  (2 bad)     3.4s
 * (a terminal's rewritten in place; a log's every 10th epoch, or every
 * epoch once they take 5 s or more), within an epoch that runs long a
 * bar with rows/s and the time left (in the epoch; with max_seconds, also
 * in the run), the race's candidates (nf_flow_fit_auto), and the first
 * checkpoint that could not be written. Flags: */
enum {
    NF_PROGRESS_QUIET = 1,        /* no lines or bar: only the checkpoint warning */
    NF_PROGRESS_REWRITE = 2,      /* a terminal: each line rewrites the last ("\r") */
    NF_PROGRESS_BAR = 4,          /* the bar, once an epoch has run a second */
    NF_PROGRESS_BAR_AT_ONCE = 8,  /* the bar from an epoch's first call */
    NF_PROGRESS_EVERY_EPOCH = 16, /* a log's line after every epoch */
    NF_PROGRESS_MARK_BEST = 32    /* reverse KL: "  *" after the lowest KL so far (a run that keeps it) */
};
typedef struct nf_progress nf_progress;
/* `nflow train`'s flags for a stream that is (or not) a terminal: REWRITE
 * and BAR on a terminal; the environment's NFLOW_PROGRESS=always draws
 * the bar from the first call anywhere, =never draws none; another value
 * than auto or empty is taken as auto, and *warning (when not NULL) gets
 * a sentence saying so ("" otherwise; size bytes at most). */
NF_API int nf_progress_flags(int terminal, char *warning, size_t size);
/* A display that writes to standard error, each message after `prefix`
 * ("nflow train: "; NULL: ""), with the bar as wide as stderr's terminal
 * (else COLUMNS, else 80 columns). Training stops (the callback returns
 * 1) once max_seconds have passed since nf_progress_attach (0: no limit). */
NF_API nf_status nf_progress_create(nf_progress **out, int flags, const char *prefix, double max_seconds);
/* Writes through `write` instead (a binding's stream), the bar fitted to
 * `columns` (0: 80). */
NF_API void nf_progress_set_output(nf_progress *p, void (*write)(const char *text, void *user), void *user,
                                   int columns);
NF_API void nf_progress_free(nf_progress *p);
/* Makes opt's progress callback this display's, with calls within epochs
 * as often as the bar or max_seconds needs them; starts the clock. */
NF_API void nf_progress_attach(nf_progress *p, nf_train_options *opt);
/* The callback itself (`progress` is the nf_progress), for a program with
 * a callback of its own to call from it: draws, and returns 1 once
 * max_seconds have passed. */
NF_API int nf_progress_show(const nf_train_progress *tp, void *progress);
/* The same for reverse-KL training (nf_kl_options' progress: set
 * progress to this and user to the nf_progress): the line
 *   step    300  KL   0.01234 +- 0.00210  cross-entropy   2.34567  entropy   2.33333      1.2s
 * (two standard errors), rewritten on a terminal; 1 once max_seconds
 * have passed since nf_progress_create. */
struct nf_kl_progress; /* under "reverse-KL training and distillation" */
NF_API int nf_progress_show_kl(const struct nf_kl_progress *kp, void *progress);
/* After training: erases the bar, or ends the line being rewritten. */
NF_API void nf_progress_finish(nf_progress *p);

/* ---- the training recipe: data prepared as `nflow train` prepares it ----- */
/* nflow train, Python's Flow.fit and a C program share these calls: with
 * the same data, options and seed they train the same bits.
 *
 *     nf_data_options dopt;
 *     nf_data_options_default(&dopt);         // 10% validation, 10% test
 *     nf_data *d;
 *     nf_data_read(&d, "train.csv", NULL, NULL, &dopt);
 *     nf_config cfg;
 *     nf_train_options opt;
 *     nf_data_defaults(d, NULL, &cfg, &opt);  // the model and sizes for the data
 *     nf_flow *f;
 *     nf_train_result res;
 *     nf_flow_create_for_data(&f, d, &cfg);
 *     nf_flow_fit(f, d, &opt, &res);
 *     nf_flow_save(f, "m.nfm");
 *
 * (examples/train.c checks every status.) */
typedef struct nf_data nf_data; /* training, validation and test rows: x and, for p(x | c), the context */

typedef struct nf_data_options {
    size_t struct_size;          /* set by nf_data_options_default */
    const char *columns;         /* a file's columns to read ("0-9", "1,3,5-7"; NULL: all) */
    /* A conditional model p(x | c): which columns of the data as read hold
     * the context c (a column list; NULL: none, unconditional). The model
     * keeps the list. Arrays (nf_data_from_arrays) come as [x | c]. */
    const char *context_columns;
    /* Columns on an interval or a half-line: "COLS=LO:HI" items, comma-
     * separated, COLS a column list of the data as read (not of the
     * context), a side empty for an open one, e.g. "0-1=0:1,3=0:". Or, per
     * column of x, lo[] and hi[] (NaN or an infinity: open). NULL: none.
     * Every row must lie strictly inside. */
    const char *bounds;
    const double *lo, *hi;
    int dequantize;              /* add U[0,1) noise to the x columns holding only whole numbers */
    /* Fractions of the rows split off (shuffled with seed) for validation
     * and test, 0.1 each; a part given apart is not split off, and when
     * none is split off the rows keep their order. Each part split off
     * needs at least 2 rows. */
    double val_fraction, test_fraction;
    uint64_t seed;               /* the split's and the noise's (default 1); nf_data_defaults passes it on */
    /* The widths a model expects (0: any): data for a trained model. */
    int dim, context_dim;
    /* Arrays (nf_data_from_arrays) of images: height, width and channels
     * of each row (channels innermost; their product is dim), every value
     * in [0, 256). They are then prepared as image files are (see
     * nf_data_image_shape). 0s: not images (files say it themselves). */
    int image_shape[3];
    /* Class-conditional models: a class label per row (a whole number
     * from 0 to classes - 1) is the context, as its one-hot code of
     * `classes` values. Files: label_files[0], [1], [2] hold the labels of
     * the rows of path, val_path and test_path (one value per row: an IDX
     * labels file, a .npy or a one-column .csv); label_classes 0: the
     * largest training label + 1. Arrays: label_classes > 0 says the one
     * context column given holds labels; < 0 too, their count then the
     * largest training label + 1. Not with context_columns. */
    const char *label_files[3];
    int label_classes;
} nf_data_options;

NF_API void nf_data_options_init(nf_data_options *opt, size_t struct_size);
static inline void nf_data_options_default(nf_data_options *opt) { nf_data_options_init(opt, sizeof *opt); }
/* Reads `path` (and validation and test files given apart, NULL
 * otherwise; the same columns) and prepares it: the context split from
 * x, whole-numbered x columns found (and dequantised: the noise stream of
 * nf_matrix_dequantize_part, part 0 for `path`, 1 and 2 for the others),
 * every row checked against the bounds, validation and test rows split
 * off. Messages name the file, row and column as the file counts them.
 * NF_ERR_INVALID: an option does not fit the data (a column list, the
 * bounds, the widths); NF_ERR_FORMAT: the data cannot be used as they are
 * (too few rows to split, a row outside its bounds); the readers' own. */
NF_API nf_status nf_data_read(nf_data **out, const char *path, const char *val_path, const char *test_path,
                              const nf_data_options *opt);
/* The same from arrays: rows x dim values of x and rows x context_dim of
 * the context (NULL when 0), validation rows given apart (val_rows 0:
 * none). The arrays are copied; messages call them X and X_val. */
NF_API nf_status nf_data_from_arrays(nf_data **out, const float *x, const float *context, size_t rows, int dim,
                                     int context_dim, const float *val, const float *val_context, size_t val_rows,
                                     const nf_data_options *opt);
/* Data for a trained model (to evaluate, or to train on further): sets
 * opt's dim, context_dim and label_classes to f's and its context columns
 * to f's list when opt names none (a pointer into f: keep f while opt is
 * in use), so that nf_data_read prepares a file in the layout f takes
 * (the model's bounds are not set: rows outside them have density 0, not
 * an error; nf_flow_get_bounds gives them for training further).
 * NF_ERR_INVALID, saying what is missing, when opt cannot give that
 * layout: context columns for a model that takes no context, label files
 * for a model without labels or none for one with, a conditional model
 * that does not say which columns hold its context. */
NF_API nf_status nf_data_options_for_flow(const nf_flow *f, nf_data_options *opt);
/* The same for training f further (`nflow train --resume`): also f's
 * bounds as lo and hi (pointers into f; NULL when it has none), so that
 * rows outside them are refused as they were in its first training. */
NF_API nf_status nf_data_options_to_train_further(const nf_flow *f, nf_data_options *opt);
NF_API void nf_data_free(nf_data *d);
typedef enum nf_part { NF_PART_TRAIN = 0, NF_PART_VAL = 1, NF_PART_TEST = 2 } nf_part;
/* A part's rows: its count, and (each pointer may be NULL) its x values
 * and context values (NULL for an unconditional model), row-major, owned
 * by d. */
NF_API size_t nf_data_rows(const nf_data *d, nf_part part, const float **x, const float **context);
NF_API int nf_data_dim(const nf_data *d);
NF_API int nf_data_context_dim(const nf_data *d);
/* The x columns that hold only whole numbers (before any dequantisation):
 * their count, and (list not NULL) "0, 3-6, 8" as the file counts columns,
 * cut with "..." to fit size. */
NF_API size_t nf_data_integer_columns(const nf_data *d, char *list, size_t size);
/* The warning `nflow train` and Python's Flow.fit give about d, in words;
 * "" and 0 when there is none. Today one: x columns that hold only whole
 * numbers and were not dequantised ("2 of 5 columns hold only whole
 * numbers (0, 3): a flow can raise its likelihood without limit by
 * narrowing onto them"; the callers name their switch for the noise). Its
 * length; buf gets as much as fits. */
NF_API size_t nf_data_warning(const nf_data *d, char *buf, size_t size);
/* What the preparation did to the values that the user should be told
 * (one line, no '\n'): images dequantised and given the logit layer, or
 * the integer-valued columns dequantised; its length, 0 when neither. */
NF_API size_t nf_data_note(const nf_data *d, char *buf, size_t size);
/* The configuration and training options that fit the data: `model` by
 * name (NULL: nf_default_model's for the training rows), sizes from
 * nf_defaults_for_data, the context width and the seed of the data
 * options; a Gaussian trains no epochs. Either pointer may be NULL. A
 * caller changes what it wants before nf_flow_create_for_data. */
NF_API nf_status nf_data_defaults_sized(const nf_data *d, const char *model, nf_config *cfg, size_t cfg_size,
                                        nf_train_options *opt, size_t opt_size);
static inline nf_status nf_data_defaults(const nf_data *d, const char *model, nf_config *cfg, nf_train_options *opt)
{
    return nf_data_defaults_sized(d, model, cfg, sizeof *cfg, opt, sizeof *opt);
}
/* A new model for the data: nf_flow_create with cfg, the data's bounds and
 * context column list, the standardisation (and Gaussian start) of the
 * training rows. A constant x column is refused, named as the file counts. */
NF_API nf_status nf_flow_create_for_data(nf_flow **out, const nf_data *d, const nf_config *cfg);
/* Trains f (new, or loaded to go on: a checkpoint with opt->resume_path)
 * on the training rows, validated on the validation rows: nf_flow_train_given. */
NF_API nf_status nf_flow_fit(nf_flow *f, const nf_data *d, const nf_train_options *opt, nf_train_result *result);
/* Images (data read from an N x H x W (x C) .npy or an IDX file, every
 * value in [0, 256)): *shape gets height, width and channels, and the
 * call returns 1 (0, and zeros, for other data). Such data are always
 * dequantised, and without bounds given they get RealNVP's preprocessing,
 * the logit of 0.05 + 0.9 x / 256, as bounds (the model's first layer, its
 * Jacobian in every density); a model made for them (nf_flow_create_for_data)
 * keeps the shape, saved with it. */
NF_API int nf_data_image_shape(const nf_data *d, int shape[3]);
NF_API int nf_flow_image_shape(const nf_flow *f, int shape[3]);
/* A model of data with labels (nf_data_options.label_files): the count of
 * classes, its context_dim (0 for other models). */
NF_API int nf_data_label_classes(const nf_data *d);
NF_API int nf_flow_label_classes(const nf_flow *f);
/* Labels (rows of them, whole numbers below nf_flow_label_classes) as the
 * model's context: rows x classes one-hot values. */
NF_API nf_status nf_flow_context_of_labels(const nf_flow *f, const float *labels, size_t rows, float *context);
/* A list of the model's classes ("7,0,3", "0-9"; nf_column_of reads it)
 * as labels, in its order: *labels gets them as one column (release with
 * nf_matrix_free). NF_ERR_INVALID for a malformed list, a class beyond
 * the model's, or a model without labels. */
NF_API nf_status nf_flow_labels_of_list(const nf_flow *f, const char *list, nf_matrix *labels);
/* A mean log-likelihood (nats) of an image model in bits per dimension of
 * the 8-bit data, the figure the image-flow papers quote: -ll / (dim ln 2);
 * NaN for a model not made for images. */
NF_API double nf_flow_bits_per_dim(const nf_flow *f, double mean_log_likelihood);
/* The race among models (`nflow train --model auto`): candidates built by
 * nf_data_defaults for the data (maf-mog, maf, nsf-ar, made-mog; and for
 * data without a context of at most 32 columns and 200,000 training rows
 * the gmm, fitted by EM
 * before the rounds and compared with the last flow once that one has
 * trained on: a flow still learns at the last cut), trained
 * side by side and scored on the validation rows by successive halving:
 * each round trains the survivors to twice the epochs of the last (the
 * first: about 500 steps) and keeps the better half, until
 * one is left, which trains on as nf_flow_fit trains (patience, max_epochs)
 * and is returned in *out. Deterministic for the data's seed. opt: the
 * training options as for nf_flow_fit (every candidate trains with them,
 * its dropout too; checkpoints are written for the winner's training after the race;
 * the progress callback is called after each candidate's epochs, with
 * nf_train_progress.candidate set ("maf-mog"), then as nf_flow_fit calls it; the stop
 * flag stops the race too, the best candidate so far kept). max_seconds > 0: the race takes at most
 * half of it, ending its round early (every survivor at the same epoch).
 * Without validation rows there is no race: the data's default model.
 * result: the winner's training, seconds counting the whole race. The
 * model records the race: nf_flow_race_count and nf_flow_race_entry. */
NF_API nf_status nf_flow_fit_auto(nf_flow **out, const nf_data *d, const nf_train_options *opt, double max_seconds,
                                  nf_train_result *result);
typedef struct nf_race_entry {
    size_t struct_size;        /* set by nf_race_entry_init */
    char model[16];            /* the candidate's model kind ("maf-mog") */
    double dropout;
    int layers, hidden;        /* the gmm: 0 and its components */
    int epochs, best_epoch;    /* when it left the race (the winner: at the end); the gmm: EM's iterations */
    double val_log_likelihood; /* its best; -inf when it never validated */
    int round;                 /* the round it was dropped after (1-based; the gmm, fitted first, meets the
                                  last flow after that one trained on: 1 + the rounds); 0: the winner */
    double seconds;            /* its training time (0 in a loaded model: not saved) */
} nf_race_entry;
NF_API void nf_race_entry_init(nf_race_entry *e, size_t struct_size);
/* The candidates of the race that chose a model (0: none: a model named, or built before races). */
NF_API int nf_flow_race_count(const nf_flow *f);
NF_API nf_status nf_flow_race_entry_sized(const nf_flow *f, int i, nf_race_entry *e, size_t struct_size);
static inline nf_status nf_flow_race_entry(const nf_flow *f, int i, nf_race_entry *e)
{
    return nf_flow_race_entry_sized(f, i, e, sizeof *e);
}
/* The race's table in words, a line per candidate, the winner last (what
 * `nflow train` prints): its length; buf gets as much as fits. */
NF_API size_t nf_flow_race_table(const nf_flow *f, char *buf, size_t size);
/* What a model was built and trained with, as one JSON object (`nflow
 * train --json`'s "config"): the model kind and sizes from its
 * configuration (nf_flow_get_config), the training options from opt (NULL:
 * the defaults), e.g. {"model": "maf", "layers": 5, "hidden": 100, ...,
 * "batch": 256, "lr": 0.001, ...}; "null" for a flow built layer by
 * layer. Its length; buf gets as much as fits. */
NF_API size_t nf_flow_config_json(const nf_flow *f, const nf_train_options *opt, char *buf, size_t size);
/* The figures `nflow train` reports after nf_flow_fit (or _auto) on d:
 * mean log-likelihoods (nats) with two standard errors (NaN: no rows, or
 * one), of the training rows over as many of them as validation has
 * (evenly spaced; all without validation: as precise as the validation
 * figure, at a fraction of a pass), of validation and of test (recorded
 * in the model, as nf_flow_mean_log_prob does). In a job of several
 * processes (opt->ranks > 1) every process calls it: the training and
 * validation figures are sums over all of them, the test figure is the
 * first process's. */
typedef struct nf_fit_scores {
    size_t struct_size; /* set by nf_fit_scores_init */
    double train, train_two_stderr;
    size_t train_scored; /* training rows scored */
    double val, val_two_stderr;
    double test, test_two_stderr;
} nf_fit_scores;
NF_API void nf_fit_scores_init(nf_fit_scores *s, size_t struct_size);
NF_API nf_status nf_flow_fit_scores_sized(nf_flow *f, const nf_data *d, const nf_train_options *opt,
                                          nf_fit_scores *s, size_t struct_size);
static inline nf_status nf_flow_fit_scores(nf_flow *f, const nf_data *d, const nf_train_options *opt,
                                           nf_fit_scores *s)
{
    return nf_flow_fit_scores_sized(f, d, opt, s, sizeof *s);
}
/* What `nflow train` prints at the end of a run on d (res from the fit, s
 * from nf_flow_fit_scores, opt the run's options): the model, its
 * parameters, epochs and time, then the mean log-likelihoods (and bits
 * per dimension for images), in words; or with NF_REPORT_JSON `nflow train
 * --json`'s object: {"race": [...] (a race's), "model", "dim", "context_dim",
 * "params", "epochs", "best_epoch", "n_train", "n_val", "n_test",
 * "seconds", "config" (nf_flow_config_json), "train_log_likelihood",
 * "train_rows_scored", "val_log_likelihood", "test_log_likelihood",
 * "test_two_stderr", ..., "max_rss_mib"} (null for a figure that does not
 * exist). Its length; buf gets as much as fits. */
NF_API size_t nf_fit_report(const nf_flow *f, const nf_data *d, const nf_train_options *opt,
                            const nf_train_result *res, const nf_fit_scores *s, int flags, char *buf, size_t size);
/* The warning `nflow train` and Python's Flow.fit give after training f
 * on d (res: the run's result), in words; "" and 0 when there is none.
 * Today one: no epoch validated above the untrained model (d has
 * validation rows), which is what was kept. Its length; buf gets as much
 * as fits. */
NF_API size_t nf_fit_warning(const nf_flow *f, const nf_data *d, const nf_train_result *res, char *buf, size_t size);

/* ---- the recipe's options by name ---------------------------------------- */
/* The model and training options of `nflow train` (its flags) and of the
 * Python binding (its keywords), by the names both use ("hidden",
 * "hidden-layers", "lr"), given as text and checked against their ranges
 * here; nf_recipe_resolve puts those given over the defaults that fit the
 * data, as the tool and the binding do:
 *
 *     nf_recipe *r;
 *     nf_recipe_create(&r);
 *     nf_recipe_set(r, "model", "maf");     // NF_ERR_INVALID: "hidden: 0 out of range 1..65536"
 *     nf_recipe_set(r, "hidden", "256");
 *     nf_config cfg;
 *     nf_train_options opt;
 *     nf_train_options_default(&opt);       // its callbacks and paths are kept
 *     int race;
 *     nf_recipe_resolve(r, d, &cfg, &opt, &race);
 *     // race ? nf_flow_fit_auto(&f, d, &opt, 0, &res)
 *     //      : nf_flow_create_for_data(&f, d, &cfg), then nf_flow_fit(f, d, &opt, &res)
 *
 * Flags ("batch-norm", "actnorm", "no-whiten") take "1" or "0"; choices
 * their names ('-' and '_' alike). */
typedef struct nf_recipe nf_recipe;
NF_API nf_status nf_recipe_create(nf_recipe **out);
NF_API void nf_recipe_free(nf_recipe *r);
NF_API nf_status nf_recipe_set(nf_recipe *r, const char *name, const char *value);
NF_API int nf_recipe_is_set(const nf_recipe *r, const char *name);
/* The options, for help texts and bindings: i in 0..nf_recipe_option_count()-1. */
typedef enum nf_option_kind { NF_OPTION_INT, NF_OPTION_REAL, NF_OPTION_CHOICE, NF_OPTION_FLAG } nf_option_kind;
typedef struct nf_recipe_option {
    size_t struct_size;     /* set by nf_recipe_option_init */
    const char *name, *help;
    nf_option_kind kind;
    double min, max;        /* INT, REAL: the range ... */
    int min_open, max_open; /* ... 1: that end excluded */
    const char *choices;    /* CHOICE: "relu|tanh" (the model's: nf_model_name's and "auto") */
    int shapes_model;       /* sets one model's architecture: no race without a model named; no resume */
    int kept_on_resume;     /* a training option a resumed run keeps from its checkpoint */
} nf_recipe_option;
NF_API int nf_recipe_option_count(void);
NF_API int nf_recipe_option_index(const char *name); /* -1: none of that name */
NF_API void nf_recipe_option_init(nf_recipe_option *o, size_t struct_size);
NF_API nf_status nf_recipe_option_sized(int i, nf_recipe_option *o, size_t struct_size);
static inline nf_status nf_recipe_option_get(int i, nf_recipe_option *o)
{
    nf_recipe_option_init(o, sizeof *o);
    return nf_recipe_option_sized(i, o, sizeof *o);
}
/* text read as option o's kind and range allow (*value: a number, a flag's
 * 0 or 1, a choice's index), else NF_ERR_INVALID naming o->name: "hidden:
 * 0 out of range 1..65536". o may describe a program's own option (name,
 * kind, range, choices; the rest unread): nflow's tool checks its own so. */
NF_API nf_status nf_option_parse(const nf_recipe_option *o, const char *text, double *value);
/* The configuration and training options for the data (nf_data_defaults
 * of the model set, or the data's rule) with the options set over them;
 * *race 1 when the model is "auto", or not set and no option set shapes
 * one model (images: never): then train with nf_flow_fit_auto. opt's
 * fields that are not options (callbacks, paths, ranks) are kept. Refused
 * (NF_ERR_INVALID): "auto" with an option that shapes one model. */
NF_API nf_status nf_recipe_resolve_sized(const nf_recipe *r, const nf_data *d, nf_config *cfg, size_t cfg_size,
                                         nf_train_options *opt, size_t opt_size, int *race);
static inline nf_status nf_recipe_resolve(const nf_recipe *r, const nf_data *d, nf_config *cfg,
                                          nf_train_options *opt, int *race)
{
    return nf_recipe_resolve_sized(r, d, cfg, sizeof *cfg, opt, sizeof *opt, race);
}
/* The options set, over a configuration and training options the caller
 * has (either may be NULL): a model built without data (nf_flow_create). */
NF_API nf_status nf_recipe_apply_sized(const nf_recipe *r, nf_config *cfg, size_t cfg_size, nf_train_options *opt,
                                       size_t opt_size);
static inline nf_status nf_recipe_apply(const nf_recipe *r, nf_config *cfg, nf_train_options *opt)
{
    return nf_recipe_apply_sized(r, cfg, cfg ? sizeof *cfg : 0, opt, opt ? sizeof *opt : 0);
}
/* A resumed run's options: those saved in the checkpoint, with the epochs,
 * patience and patience-steps set in r over them (the rest of *opt kept).
 * Refused (NF_ERR_INVALID): the model or an option that shapes it ("layers
 * cannot be set for a resumed run"), a kept option set to another value
 * ("lr 0.02 differs from the 0.01 saved in ..."). */
NF_API nf_status nf_recipe_resume_sized(const nf_recipe *r, const char *checkpoint_path, nf_train_options *opt,
                                        size_t opt_size);
static inline nf_status nf_recipe_resume(const nf_recipe *r, const char *checkpoint_path, nf_train_options *opt)
{
    return nf_recipe_resume_sized(r, checkpoint_path, opt, sizeof *opt);
}
/* What resolve chose, in one line ("maf, 5 layers of 2 x 100 units, batch
 * 128, dropout 0, from the Gaussian fit (chosen for ...)"): its length;
 * buf gets as much as fits. */
NF_API size_t nf_recipe_summary(const nf_data *d, const nf_config *cfg, const nf_train_options *opt, int race,
                                char *buf, size_t size);
/* A part's mean log-likelihood and two standard errors of the mean (NaN
 * for fewer than 2 rows; each pointer may be NULL), over at most max_rows
 * of its rows, evenly spaced (0: all of them). With share->ranks > 1
 * (NULL: one process), each process scores its share of the rows and the
 * sums meet through share->reduce. The test part's mean over all its rows
 * is recorded in the model, as nf_flow_evaluate_test does. */
NF_API nf_status nf_flow_mean_log_prob(nf_flow *f, const nf_data *d, nf_part part, size_t max_rows,
                                       const nf_train_options *share, double *mean, double *two_stderr);

/* What `nflow eval` reports of a model on rows x (and their context):
 * filled by nf_flow_evaluate. NaN where a figure does not exist (one row
 * has no standard error; a model without a Gaussian fit has no gap). */
typedef struct nf_eval_report {
    size_t struct_size;                /* set by nf_eval_report_init */
    size_t rows;
    double mean, two_stderr, median;   /* of the log-densities (nats) */
    long below_gaussian;               /* rows below the model's Gaussian fit beyond rounding; -1: no fit */
    double gaussian_mean;              /* the Gaussian fit's mean log-likelihood */
    double gap, gap_two_stderr;        /* the mean of log p - log N (the fit) per row, and two standard errors */
    /* rows on or outside the model's bounds (log-density -inf), the first
     * one's row, x column, value and that column's bounds; the mean over
     * the rows inside */
    size_t outside, first_outside_row;
    int first_outside_column;
    double first_outside_value, first_outside_lo, first_outside_hi;
    double mean_inside, two_stderr_inside;
    size_t no_density, first_no_density; /* rows inside the bounds at -inf */
} nf_eval_report;
NF_API void nf_eval_report_init(nf_eval_report *r, size_t struct_size);
/* The mean of n values and two standard errors of that mean (NaN for n < 2;
 * both NaN for none): the MAF paper's way to report a mean log-likelihood,
 * the one nf_flow_evaluate's figures take. mean, two_stderr may be NULL. */
NF_API void nf_mean_two_stderr(const double *v, size_t n, double *mean, double *two_stderr);
/* Scores rows x (context NULL for an unconditional model) into r and, when
 * log_prob is not NULL, each row's log-density (rows values). */
NF_API nf_status nf_flow_evaluate_sized(nf_flow *f, const float *x, const float *context, size_t rows,
                                        double *log_prob, nf_eval_report *r, size_t struct_size);
static inline nf_status nf_flow_evaluate(nf_flow *f, const float *x, const float *context, size_t rows,
                                         double *log_prob, nf_eval_report *r)
{
    return nf_flow_evaluate_sized(f, x, context, rows, log_prob, r, sizeof *r);
}
/* What `nflow eval` prints of a report r on f: lines in words (the mean
 * log-likelihood with two standard errors and the median; bits per
 * dimension for an image model; the rows below the Gaussian fit or the
 * floor; the rows outside the bounds), or with NF_REPORT_JSON one JSON
 * object, {"mean_log_likelihood", "two_stderr", "median_log_likelihood",
 * "n", "below_gaussian", ...} (null for what does not exist). Its length;
 * buf gets as much as fits. */
NF_API size_t nf_eval_report_text(const nf_flow *f, const nf_eval_report *r, int flags, char *buf, size_t size);
/* The warnings an evaluation calls for, a line each ('\n'-ended): rows on
 * or outside the model's bounds (the first one named), rows at -inf inside
 * them. d (may be NULL): the rows' data, whose file columns name the
 * column. Its length (0: nothing to warn of); buf gets as much as fits. */
NF_API size_t nf_eval_warnings(const nf_eval_report *r, const nf_data *d, char *buf, size_t size);
/* The file's column (0-based) that x column j of the data was read from
 * (column lists and context columns counted), to name it in messages. */
NF_API size_t nf_data_file_column(const nf_data *d, int j);
/* Rows of dim + context_dim values in a data file's layout: the context
 * columns named by `context_columns` (of those rows; NULL: the last
 * context_dim) taken in order from context, the others from x. */
NF_API nf_status nf_columns_merge(const float *x, int dim, const float *context, int context_dim, size_t rows,
                                  const char *context_columns, float *out);
/* Samples as the model's data files hold them (`nflow sample`): n per
 * row of `given` (rows i*n .. i*n+n-1 drawn given its row i), given_rows
 * rows of the model's context values, or of class labels (one value each)
 * for a model of labels; NULL and 0 for an unconditional model, which
 * draws n rows. Either output may be NULL: *rows_out gets each x with its
 * context in the model's context columns (the last ones when it keeps no
 * list), or x then the class; *x_out the x values alone (rows x dim);
 * *log_prob (release with nf_free) each sample's log-density from the
 * sampling pass. Release the matrices with nf_matrix_free. */
NF_API nf_status nf_flow_sample_rows(nf_flow *f, const float *given, size_t given_rows, size_t n, uint64_t seed,
                                     double temperature, nf_matrix *rows_out, nf_matrix *x_out, double **log_prob);
/* The latent codes of the training rows of d, data read for f
 * (nf_data_options_for_flow, no split), or with decode the data of codes:
 * *out gets each row's result with its context back in the columns it was
 * read from, so that decoding the encoded file gives the file back (a
 * model of class labels: the results alone). Release with nf_matrix_free. */
NF_API nf_status nf_data_code(nf_flow *f, const nf_data *d, int decode, nf_matrix *out);

/* ---- reverse-KL training and distillation ------------------------------ */
/* A target log-density, unnormalised allowed: log_p[r] for each row of x
 * (rows x dim) and, when grad is not NULL, d log p / dx into grad (rows x
 * dim). Return 0, or non-zero to stop training (NF_ERR_INVALID). */
typedef int (*nf_log_density_fn)(const float *x, size_t rows, int dim, double *log_p, float *grad, void *user);
/* The same for a conditional target log t(x | c): row r of x is drawn
 * given row r of context (rows x context_dim). */
typedef int (*nf_log_density_given_fn)(const float *x, const float *context, size_t rows, int dim, int context_dim,
                                       double *log_p, float *grad, void *user);

typedef struct nf_kl_progress {
    int step;             /* 1-based */
    double kl;            /* mean over the batch of log s(x) - log t(x), x ~ s */
    double cross_entropy; /* -mean log t(x) */
    double entropy;       /* -mean log s(x) */
    double kl_stderr;     /* the batch's standard deviation of log s - log t over sqrt(batch) */
    double seconds;       /* since training started */
} nf_kl_progress;

typedef struct nf_kl_options {
    size_t struct_size;   /* set by nf_kl_options_default */
    int batch;            /* samples per step (default 512) */
    int steps;            /* Adam steps (default 3000) */
    double lr;            /* initial learning rate, cosine-decayed to 0 over the steps (default 1e-3) */
    double clip_norm;     /* global gradient-norm clipping; <= 0 disables (default 100) */
    uint64_t seed;        /* the student's base samples */
    int progress_every;   /* progress callback every this many steps (default 100) */
    /* Return non-zero to stop early. */
    int (*progress)(const nf_kl_progress *p, void *user);
    void *user;
    /* A conditional student (and teacher): the contexts to train under,
     * context_rows rows of the student's context_dim values; each step
     * draws its batch's contexts from them uniformly (seeded with seed).
     * The student's context standardisation is its own (set it with
     * nf_flow_fit_standardization_given); nf_flow_distill gives a student
     * without one the teacher's. NULL for an unconditional student. */
    const float *context;
    size_t context_rows;
} nf_kl_options;

NF_API void nf_kl_options_init(nf_kl_options *opt, size_t struct_size);
static inline void nf_kl_options_default(nf_kl_options *opt) { nf_kl_options_init(opt, sizeof *opt); }
/* Distillation's defaults, `nflow distill`'s and Flow.distill's: the
 * reverse-KL phase runs until its checks stop finding a lower KL
 * (NF_DISTILL_PATIENCE of them, nf_flow_distill_run's patience 0), at most
 * NF_DISTILL_KL_STEPS steps (nf_kl_options_distill: nf_kl_options_default's
 * with those steps), and the student is scored on NF_DISTILL_EVAL_SAMPLES
 * fresh samples (nf_flow_distill_evaluate's n 0). */
enum { NF_DISTILL_PATIENCE = 10, NF_DISTILL_KL_STEPS = 100000, NF_DISTILL_EVAL_SAMPLES = 10000 };
NF_API void nf_kl_options_distill_init(nf_kl_options *opt, size_t struct_size);
static inline void nf_kl_options_distill(nf_kl_options *opt) { nf_kl_options_distill_init(opt, sizeof *opt); }
/* Probability density distillation: trains `student` to minimise
 * KL(student || teacher) = E_{u ~ p_Z}[log s(x(u)) - log t(x(u))] with the
 * reparameterisation x = student z2x(u). The student's log-density comes
 * from its sampling pass (log p_Z(u) - log|det|); the teacher's density
 * pass gives d log t / dx (its parameters get no gradient and are not
 * changed). The student's sampling pass must have gradients (couplings,
 * IAF, linear, rescale, batch norm; MAF too, sequentially) and a plain
 * base (not MoG). `last` (may be NULL) gets the final step's figures. */
NF_API nf_status nf_flow_distill(nf_flow *student, nf_flow *teacher, const nf_kl_options *opt,
                                 nf_kl_progress *last);
/* The same until the student stops improving, rather than for a fixed
 * count: opt->steps is then the most steps, the learning rate stays at
 * opt->lr, and every opt->progress_every steps a check estimates the KL of
 * the running average of the student's parameters (over about 500 steps:
 * it takes out the steps' noise as a decaying rate would, without a
 * schedule) on 4096 fresh student samples (the same base draws, and
 * contexts, at every check: checks differ by the student's change alone).
 * Training stops after `patience` checks without a lower KL, at
 * max_seconds (0: no limit; checked at the checks), at opt->steps, or when
 * the progress callback (which gets each check's figures) returns
 * non-zero. The student keeps the parameters of its best check (its start
 * included) and `best` (may be NULL) gets that check's figures. */
NF_API nf_status nf_flow_distill_converge(nf_flow *student, nf_flow *teacher, const nf_kl_options *opt,
                                          int patience, double max_seconds, nf_kl_progress *best);
/* Both phases of `nflow distill`, the recipe the tool and Python share:
 * with ml not NULL, maximum likelihood on `samples` fresh teacher samples
 * (nf_flow_distill_forward with ml, e.g. from nf_flow_distill_options; 0:
 * its default count) into *ml_result; then, with kl not NULL, reverse KL
 * until it stops improving (nf_flow_distill_converge, patience checks;
 * 0: NF_DISTILL_PATIENCE) into *last. max_seconds > 0 bounds both together: the first phase stops
 * after the epoch that passes it (ml->progress still called) and the
 * second gets what is left. Either result pointer may be NULL. */
NF_API nf_status nf_flow_distill_run(nf_flow *student, nf_flow *teacher, const float *context, size_t context_rows,
                                     size_t samples, const nf_train_options *ml, const nf_kl_options *kl,
                                     int patience, double max_seconds, nf_train_result *ml_result,
                                     nf_kl_progress *last);
/* A student for a teacher: the config of `model` (a sampling-friendly kind:
 * nf_flow_student_model's by default) sized from the teacher's (layers,
 * hidden layers, activation, context, a MoG base's components), its hidden
 * units the teacher's or fewer: the most with which the student samples
 * with at most a third of the teacher's sampling arithmetic; with the
 * whitening layer and the teacher's tail weight. */
NF_API void nf_flow_student_config_sized(const nf_flow *teacher, nf_model model, nf_config *cfg, size_t struct_size);
static inline void nf_flow_student_config(const nf_flow *teacher, nf_model model, nf_config *cfg)
{
    nf_flow_student_config_sized(teacher, model, cfg, sizeof *cfg);
}
/* A student's configuration with a recipe's options over it, the one way
 * `nflow distill` and the Python binding build it: the model set in r
 * (else nf_flow_student_model(teacher, reverse_kl)) sized from the teacher
 * by nf_flow_student_config, then r's options that shape a model (layers,
 * hidden, hidden-layers, activation, order, ...) as given. Refused
 * (NF_ERR_INVALID): model auto; iaf-mog with reverse_kl. */
NF_API nf_status nf_recipe_student_sized(const nf_recipe *r, const nf_flow *teacher, int reverse_kl, nf_config *cfg,
                                         size_t cfg_size);
static inline nf_status nf_recipe_student(const nf_recipe *r, const nf_flow *teacher, int reverse_kl, nf_config *cfg)
{
    return nf_recipe_student_sized(r, teacher, reverse_kl, cfg, sizeof *cfg);
}
/* A flow to fit to a target density by reverse KL (nf_flow_fit_target),
 * the one way `nflow fit` and the Python binding build it: the model set in
 * r (default iaf; auto refused) of dim columns, r's options that shape a
 * model over the kind's defaults, without the whitening layer (there are
 * no data to whiten by) and with the identity standardisation (the
 * target's own coordinates), conditional on context_dim values per row
 * when > 0; seed: its initial parameters. NF_ERR_INVALID: model auto, dim
 * or context_dim out of range. */
NF_API nf_status nf_recipe_target_flow(const nf_recipe *r, int dim, int context_dim, uint64_t seed, nf_flow **out);
/* The default student's kind: iaf-mog (an IAF on a MoG base of independent
 * dimensions, as many components as the teacher's) for a teacher with a
 * MoG base, whose multimodal conditionals an IAF on a normal base fits
 * 2 nats worse on a 64-column set; iaf otherwise, and iaf whenever the
 * student will be trained by reverse KL (reverse_kl non-zero: an
 * iaf-mog's draws are not reparameterisable). */
NF_API nf_model nf_flow_student_model(const nf_flow *teacher, int reverse_kl);
/* The student itself (cfg NULL: nf_flow_student_config of
 * nf_flow_student_model(teacher, 0)): the
 * teacher's bounds, standardisation, context standardisation and context
 * columns, its whitening layer set to the teacher's Gaussian fit (the
 * identity for a teacher without one), every other layer the identity. So
 * the untrained student is the teacher's Gaussian fit (with an iaf-mog's
 * base, a mixture within 0.02 nats of N(0, 1) on [-4, 4], lighter-tailed
 * beyond), and
 * distillation starts at KL(Gaussian fit || teacher). */
NF_API nf_status nf_flow_create_student(nf_flow **out, const nf_flow *teacher, const nf_config *cfg);
/* Distillation by maximum likelihood: trains the student (as
 * nf_flow_train_given, with opt; NULL: nf_flow_distill_options) on `rows` fresh
 * samples of the teacher (0: eight times its training rows, 50,000 to
 * 1,000,000, but no more than the teacher's training visited: see
 * nf_flow_distill_options; 10,000 at least), and a tenth as many more for
 * validation, i.e.
 * minimises KL(teacher || student). The run has a known length, so the
 * learning rate falls on a cosine from opt->lr to 0 over opt->max_epochs
 * (no halving on plateaus; the best validation epoch is kept); no
 * checkpoints. It covers the teacher's mass, where
 * reverse KL (nf_flow_distill*) seeks modes and leaves tails uncovered; an
 * IAF student trains by its sequential density pass, one pass of
 * arithmetic. A conditional teacher samples under rows of `context`
 * (context_rows rows of its context values, drawn uniformly); NULL for an
 * unconditional one. Samples outside the teacher's data are redrawn
 * (nf_flow_distill_redrawn). */
NF_API nf_status nf_flow_distill_forward(nf_flow *student, nf_flow *teacher, size_t rows, const float *context,
                                         size_t context_rows, const nf_train_options *opt, nf_train_result *result);
/* Teacher samples nf_flow_distill_forward (the last run into this student)
 * redrew because they lay outside the teacher's training data widened by
 * the data's range on each side (a MAF's sampling pass can throw a few
 * samples far off, where its density is no guide); 0 for a teacher without
 * its data's range. After 8 rounds the samples still outside are kept. */
NF_API size_t nf_flow_distill_redrawn(const nf_flow *student);
/* What `nflow distill` reports of a student s of teacher t on n fresh
 * student samples (0: NF_DISTILL_EVAL_SAMPLES; the tool and Python draw
 * them with the training seed + 1) drawn with `seed` (sample i given context row i mod
 * context_rows of a conditional pair; NULL for an unconditional one):
 * KL(s || t), the mean of log s - log t (log s from the sampling pass),
 * the cross-entropy -E log t and the entropy -E log s, each with two
 * standard errors; with `timed`, the sampling speed of both, samples per
 * second, the fastest of a few draws of the n rows (0 otherwise). A KL
 * that is not finite is reported as it is. */
typedef struct nf_distill_report {
    size_t struct_size; /* set by nf_distill_report_init */
    size_t n;
    double kl, kl_two_stderr;
    double cross_entropy, cross_entropy_two_stderr;
    double entropy, entropy_two_stderr;
    double student_samples_per_s, teacher_samples_per_s;
    /* The run, for nf_distill_report_text, set by the caller from
     * nf_flow_distill_run's results (nf_distill_report_init: none ran):
     * seconds in all and training's (both phases); the maximum-likelihood
     * phase's epochs (0: it did not run), its best and that epoch's
     * validation figure; reverse KL's steps, samples per step (0: it did
     * not run), seconds, and its best check's step, KL and standard error. */
    double seconds, train_seconds;
    int ml_epochs, ml_best_epoch;
    double ml_val_log_likelihood;
    int kl_steps, kl_batch, kl_best_step;
    double kl_seconds, kl_best, kl_best_stderr;
    /* Rows of data (nf_flow_distill_evaluate_data; 0 rows: none): the mean
     * log-likelihood of the student and the teacher with two standard
     * errors, the teacher's Gaussian fit's (NaN without one), and whether
     * the student scores below that fit beyond two standard errors of the
     * paired gap and a hundredth of a nat: distillation failed there (the
     * student misses mass the teacher has), whatever its KL says. */
    size_t data_rows;
    double student_log_likelihood, student_two_stderr, teacher_log_likelihood, teacher_two_stderr;
    double gaussian_log_likelihood;
    int below_gaussian;
} nf_distill_report;
NF_API void nf_distill_report_init(nf_distill_report *r, size_t struct_size);
NF_API nf_status nf_flow_distill_evaluate_sized(nf_flow *s, nf_flow *t, const float *context, size_t context_rows,
                                                size_t n, uint64_t seed, int timed, nf_distill_report *r,
                                                size_t struct_size);
static inline nf_status nf_flow_distill_evaluate(nf_flow *s, nf_flow *t, const float *context, size_t context_rows,
                                                 size_t n, uint64_t seed, int timed, nf_distill_report *r)
{
    return nf_flow_distill_evaluate_sized(s, t, context, context_rows, n, seed, timed, r, sizeof *r);
}
/* The student s and teacher t on `rows` rows of data x (context: their
 * context values, NULL for an unconditional pair), into r's data fields;
 * r's other fields stay as they are. */
NF_API nf_status nf_flow_distill_evaluate_data_sized(nf_flow *s, nf_flow *t, const float *x, const float *context,
                                                     size_t rows, nf_distill_report *r, size_t struct_size);
static inline nf_status nf_flow_distill_evaluate_data(nf_flow *s, nf_flow *t, const float *x, const float *context,
                                                      size_t rows, nf_distill_report *r)
{
    return nf_flow_distill_evaluate_data_sized(s, t, x, context, rows, r, sizeof *r);
}
/* What `nflow distill` prints of a student s and its report r: lines in
 * words (the student and its training, both phases, the KL on fresh
 * samples, the sampling speed of both, the figures on data_name's rows
 * where r has them), or with NF_REPORT_JSON one JSON object {"teacher"
 * (teacher_name), "student", "dim", "params", "kl", ...}. Its length; buf
 * gets as much as fits. */
NF_API size_t nf_distill_report_text(const nf_flow *s, const nf_distill_report *r, const char *teacher_name,
                                     const char *data_name, int flags, char *buf, size_t size);
/* The default options of nf_flow_distill_forward on `samples` fresh
 * samples (0: its default count): nf_train_options_default with
 * nf_defaults_for_data's settings for that many rows, but batches of 64
 * rows at most (a student that sees each sample once or twice learns more from
 * smaller steps), no dropout, a learning rate
 * of 4e-3 (the cosine's peak), and as many epochs as make the rows the
 * teacher's training visited (its epochs x training rows, times the width
 * ratio when the default student is narrower) over `samples`, 1 to 1000,
 * so that the student trains in about the teacher's time (50 for a
 * teacher without a training record). */
NF_API void nf_flow_distill_options_sized(const nf_flow *teacher, size_t samples, nf_train_options *opt,
                                          size_t struct_size);
static inline void nf_flow_distill_options(const nf_flow *teacher, size_t samples, nf_train_options *opt)
{
    nf_flow_distill_options_sized(teacher, samples, opt, sizeof *opt);
}
/* The same against a target log-density callback (variational inference,
 * sampling from an energy function). The reported KL is then up to the
 * target's unknown log-normaliser. */
NF_API nf_status nf_flow_fit_target(nf_flow *student, nf_log_density_fn target, void *user,
                                    const nf_kl_options *opt, nf_kl_progress *last);
/* ... for a conditional student and target (opt->context: the contexts). */
NF_API nf_status nf_flow_fit_target_given(nf_flow *student, nf_log_density_given_fn target, void *user,
                                          const nf_kl_options *opt, nf_kl_progress *last);
/* What `nflow fit` prints of a flow f fitted to the target named
 * target_name by reverse KL, its last check p, batch samples per step:
 * lines in words (the model, its parameters, steps and seconds; the last
 * batch's KL up to the target's log-normaliser, cross-entropy and
 * entropy), or with NF_REPORT_JSON one JSON object {"target", "model",
 * "params", "steps", "batch", "kl", ...}. Its length; buf gets as much as
 * fits. */
NF_API size_t nf_kl_report_text(const nf_flow *f, const nf_kl_progress *p, const char *target_name, int batch,
                                int flags, char *buf, size_t size);
/* The standardisation a flow applies (dim values each). */
NF_API nf_status nf_flow_get_standardization(const nf_flow *f, double *mean, double *std);
/* ---- model files ---------------------------------------------------------- */

/* Saves the whole model (architecture, parameters, standardisation, training
 * settings) to a temporary file renamed over `path` when complete. */
NF_API nf_status nf_flow_save(const nf_flow *f, const char *path);
/* Loads a model; refuses a truncated, corrupted or foreign file. */
NF_API nf_status nf_flow_load(nf_flow **out, const char *path);
/* The same model file as bytes in memory (a database, a network message,
 * Python's pickling): *bytes gets them (release with nf_free), *size their
 * count; nf_flow_load_bytes reads them back (copied: the caller keeps its
 * buffer), with the same checks as a file. */
NF_API nf_status nf_flow_save_bytes(const nf_flow *f, void **bytes, size_t *size);
NF_API nf_status nf_flow_load_bytes(nf_flow **out, const void *bytes, size_t size);
/* Releases memory the library allocated for the caller (free()). */
NF_API void nf_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
