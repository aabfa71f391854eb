/* The flow: a base density and a list of layers, all parameters in one
 * buffer (gradients and Adam moments in buffers of the same layout), and
 * the activation buffers of one batch, allocated before training so that a
 * step allocates nothing. Layer 0 is the standardisation, or with bounds
 * (nf_flow_set_bounds) the bounds layer, then the standardisation. */
#ifndef NF_FLOW_H
#define NF_FLOW_H

#include "core/base.h"
#include "flow/base_gmm.h"
#include "flow/base_mog.h"
#include "layers/layer.h"
#include "nflow.h"
#include "core/real.h"

/* The parameters no constraint pins: ranges[2i] .. ranges[2i+1] (ends
 * exclusive, in order). A pinned parameter is held at exactly zero, and
 * so are its gradient and moments (MADE's masked weights, about half of
 * a MADE's): an optimiser that skips it gives the same bits. */
typedef struct flow_live {
    size_t count, *ranges;
} flow_live;

/* What training keeps beside the parameters (the same layout): their
 * gradients (zero between steps: a step consumes them), Adam's moments
 * (saved in checkpoints) and the live parameters, found before the first
 * step (count and ranges 0 until then). */
typedef struct flow_optimizer {
    real *grads, *m, *v;
    int64_t t;
    flow_live live;
} flow_optimizer;

/* What the last training left to say of the model (saved with it). */
typedef struct flow_record {
    int64_t train_rows, epochs, best_epoch;
    int checkpoint_failures;     /* of the last training run (nf_flow_checkpoint_failures) */
    char checkpoint_error[256];
    double train_ll, val_ll, test_ll;
    double *data_min, *data_max; /* of the training data, dim each, or NULL */
    size_t samples_redrawn;      /* a distilled student's: teacher samples outside their data, redrawn */
    nf_race_entry *race;         /* the race that chose this model (nf_flow_fit_auto), race_count entries */
    int race_count;
    int image[3];                /* trained on images of this height, width, channels (0s: not images) */
    int label_classes;           /* the context is the one-hot code of this many class labels (0: not labels) */
} flow_record;

/* Rows per evaluation or sampling pass for a flow of image layers, whose
 * convolutional networks keep pixels x channels activations per row: 64
 * images of 28 x 28 through a 64-channel network are already 13 MB a
 * layer. */
enum { FLOW_IMAGE_CHUNK = 64 };
/* Rows per evaluation pass otherwise: a 1024 x 512 layer of activations stays in cache. */
enum { FLOW_EVAL_CHUNK = 1024 };

/* The passes' scratch: rows of one batch or chunk, grown by flow_reserve,
 * never saved. */
typedef struct flow_work {
    int max_rows;    /* rows the buffers below hold */
    int own_rows;    /* of them, the rows a pass a backward pass follows may have: layers that take the
                      * shared scratch keep their own buffers for these rows only */
    real **act;      /* act[l]: output of layer l (rows x dim); act[n_layers-1] = z */
    real *dbuf[2];   /* backward scratch, rows x dim */
    double *ldj, *logp;
    double *gauss_ldj; /* the bounds' log-determinants for the Gaussian fit's density */
    real *context, *dcontext; /* the pass's standardised context and its gradient */
    real *scratch;            /* the layers' shared scratch (layer_ops.scratch_floats) */
} flow_work;

/* The Gaussian fit (src/flow/gaussian_fit.c): lower Cholesky factor of the
 * standardised covariance (dim x dim) or NULL, sum log diag, and its
 * weight in the model's density; identity: the fit is N(0, I) of the
 * standardised values (an image model's floor), chol NULL. */
typedef struct flow_fit {
    real *chol;
    double log_det, tail_weight;
    int identity;
} flow_fit;

/* The per-row log-densities of the validation pass of the parameters
 * training kept, and a hash of what they came from (flow_scored_key):
 * scoring those rows again with the model unchanged (nf_flow_fit_scores
 * after nf_flow_fit) takes them, the same bits, instead of another pass. */
typedef struct flow_scored {
    uint64_t key;
    size_t rows;
    double *log_prob; /* NULL: none kept */
} flow_scored;

struct nf_flow {
    /* what the model is */
    int dim;
    /* A conditional flow's context columns (0: unconditional), their
     * standardisation (context_dim each; NULL until set). */
    int context_dim;
    int row_cap;     /* most rows per evaluation pass (0: any; FLOW_IMAGE_CHUNK with image layers) */
    double *context_mean, *context_std;
    char *context_columns; /* the tool's column list of the context (nf_flow_set_context_columns), or NULL */
    base_density base;
    mog_base *mog;   /* when not NULL, the base density instead of `base` */
    gmm_base *gmm;   /* the same (the gmm model; never with mog) */
    layer **layers;
    int n_layers, cap;
    int finalized;
    size_t n_params;
    real *params;    /* one allocation with opt's buffers */
    size_t n_state;  /* non-trainable layer state (batch-norm averages) */
    real *state;
    flow_fit fit;
    int has_config;  /* what built it (for info and saving) */
    nf_config config;

    flow_optimizer opt; /* what training needs */
    flow_record record; /* what training left */
    flow_work work;     /* scratch */
    flow_scored scored; /* a validation pass kept */
};

/* A hash of the flow's parameters and state, rows of x and context, and
 * the rows per pass (the passes' shapes) a pass over them took. */
uint64_t flow_scored_key(const nf_flow *f, const float *x, const float *context, size_t rows, int chunk);
/* Keeps log_prob (rows of them, malloc'ed; the flow takes it) as the pass of key. */
void flow_scored_keep(nf_flow *f, uint64_t key, size_t rows, double *log_prob);
/* The kept log-densities if they are those of these rows by the flow as it
 * is now, else NULL. */
const double *flow_scored_find(const nf_flow *f, const float *x, const float *context, size_t rows, int chunk);

/* The bounds layer (src/layers/bounds.h), layer 0 when there is one, or NULL. */
layer *flow_bounds(const nf_flow *f);
/* The index of the standardisation: 1 after a bounds layer, else 0. */
int flow_first(const nf_flow *f);

/* NF_ERR_INVALID naming the first of rows rows (rows x dim) on or outside
 * the flow's bounds ("<what> row R (0-based), column C: ..."); NF_OK when
 * none is, x is NULL or the flow has no bounds. */
nf_status flow_check_bounds(const nf_flow *f, const real *x, size_t rows, const char *what);

/* Appends a layer (takes ownership; frees it on failure). */
nf_status flow_add(nf_flow *f, layer *l);
/* Lays out the parameters of all layers in one buffer (zeroed); params,
 * grads and both Adam moments share one allocation. */
nf_status flow_allocate_params(nf_flow *f);
/* Whether row x lies outside the training data's range widened by that
 * range on each side (f's record holds the range). */
int flow_far_from_data(const nf_flow *f, const float *x);
/* Sets every layer's training flag (batch statistics in batch norm). */
void flow_set_training(nf_flow *f, int training);
/* The dropout of every network's hidden units in the passes that follow
 * (a training step's; rate 0: none): key seeds the draws, and each
 * network gets a key of its own; the passes' row 0 is row first_row of
 * the batch (a process's share of a data-parallel batch). */
void flow_set_dropout(nf_flow *f, double rate, uint64_t key, size_t first_row);
/* Sets every layer's inference flag: no backward pass follows the passes
 * until it is cleared. */
void flow_set_inference(nf_flow *f, int inference);
/* Initialises parameters (seeded) and layer state, then applies the
 * layers' and the base's constraints (flow_constrain: MADE masks). */
void flow_init_params(nf_flow *f, uint64_t seed);
/* Puts a parameter vector back into every layer's and the base's feasible
 * set (MADE: zeroes the masked weights). */
void flow_constrain(const nf_flow *f, real *p);
/* f's live parameters: the ranges flow_constrain leaves alone, with pinned
 * gaps shorter than a few cache lines taken in (skipping them saves no
 * memory traffic), found by constraining `scratch` (n_params values, left
 * zero: the gradient buffer between steps serves). NF_ERR_NOMEM, or NF_OK
 * with *out to free by flow_live_free. */
nf_status flow_find_live(const nf_flow *f, real *scratch, flow_live *out);
void flow_live_free(flow_live *live);
/* Frees the batch buffers (flow_reserve makes them again). */
void flow_free_buffers(nf_flow *f);
/* Grows the batch buffers (never shrinks) for passes of `rows` rows, of
 * which passes of `backward_rows` may be followed by a backward pass: the
 * layers that take the shared scratch for the others keep their own
 * buffers for these rows alone (training at batch 100 does not touch the
 * 1,024-row activations of its validation chunks in every MADE). */
nf_status flow_reserve_rows(nf_flow *f, int rows, int backward_rows);
/* Buffers for any pass of `rows` rows, a backward pass after it or not. */
static inline nf_status flow_reserve(nf_flow *f, int rows) { return flow_reserve_rows(f, rows, rows); }
/* Buffers for passes of `rows` rows that only compute (the layers in
 * inference mode): the rows a backward pass may have stay as they are. */
static inline nf_status flow_reserve_eval(nf_flow *f, int rows)
{
    return flow_reserve_rows(f, rows, f->work.own_rows ? f->work.own_rows : rows);
}
/* want, or the flow's row cap when that is lower: the rows of a pass that
 * only evaluates. */
static inline int flow_chunk(const nf_flow *f, int want) { return f->row_cap && want > f->row_cap ? f->row_cap : want; }
/* Rows per evaluation pass (the public calls step by it; a kept validation
 * pass's key names the pass size it was scored with). */
static inline int flow_eval_rows(const nf_flow *f) { return flow_chunk(f, FLOW_EVAL_CHUNK); }

/* Points every conditional layer (and a conditional MoG base) at the
 * context rows of the next passes (standardised, rows x context_dim; NULL
 * for none) and at where their gradient is to be added (NULL: not
 * wanted). */
void flow_point_context(nf_flow *f, const real *context, real *dcontext);
/* Standardises rows <= max_rows of context (raw, rows x context_dim), from
 * its row r0 on, into f->work.context and points the layers at it (no
 * gradient). No-op for an unconditional flow (or a NULL context). */
void flow_load_context(nf_flow *f, const float *context, size_t r0, int rows);
/* x -> z for rows <= max_rows: leaves z in f->work.act[last] and log p(x) in
 * logp[r]. */
void flow_x2z(nf_flow *f, int rows, const real *x, double *logp);
/* Backward of the mean negative log-likelihood of the last flow_x2z:
 * adds dL/dparams into f->opt.grads (or not, when grads is NULL) and, when dx
 * is not NULL, writes dL/dx there. Returns nothing: all is in buffers. */
void flow_nll_backward(nf_flow *f, int rows, const real *x, real *grads, real *dx);
/* The same for these rows as part of a batch of `total` rows (the mean is
 * over the whole batch: data-parallel training's share). */
void flow_nll_backward_of(nf_flow *f, int rows, const real *x, int total, real *grads, real *dx);
/* rows draws from the base density (rows <= max_rows). */
void flow_base_sample(nf_flow *f, rng *r, int rows, real *z);
/* Rows first_row.. of one draw in parts: a simple base's under `key`
 * (drawn once from r for the whole draw; base_sample_at), a MoG base's
 * from r in order. */
void flow_base_sample_at(nf_flow *f, rng *r, uint64_t key, size_t first_row, int rows, real *z);
/* The key of a draw made in parts: one draw of r for a base that samples
 * under a key, none (0) for one that reads r in order. */
uint64_t flow_base_key(const nf_flow *f, rng *r);
/* log p_Z(z) per row. */
void flow_base_log_prob(nf_flow *f, int rows, const real *z, double *out);
/* z -> x for rows <= max_rows; ldj[r] = sum of log|det dx/dz| (may be NULL). */
void flow_z2x(nf_flow *f, int rows, const real *z, real *x, double *ldj);

/* z -> x keeping every layer's input for flow_z2x_backward: layer l reads
 * act[l] and writes act[l - 1] (x for l = 0); act[last] gets a copy of z. */
void flow_z2x_cached(nf_flow *f, int rows, const real *z, real *x, double *ldj);
/* Backward of the last flow_z2x_cached given dx = dL/dx and dldj = dL/d(ldj
 * of each row): adds dL/dparams into grads (NULL: not needed), and writes
 * dL/dz into dz when not NULL. */
void flow_z2x_backward(nf_flow *f, int rows, const real *x, const real *dx, real dldj, real *grads, real *dz);
#endif
