/* MADE: a masked MLP whose output block k depends only on the inputs of
 * degree <= k (degrees 1..n, input k+1 has degree k+1 after reordering).
 *
 * Everything inside is kept in degree order: inputs are gathered by
 * `order`, hidden units are sorted by degree and output block k (per_dim
 * outputs) belongs to the input of degree k+1. Every mask is then a
 * staircase: a unit reads a prefix of its layer's inputs. That makes the
 * sequential direction cheap: made_seq_step(k) computes only the hidden
 * units of degree k and output block k, so the n steps together evaluate
 * each weight once.
 *
 * Parameters: those of an mlp (src/nets/mlp.h) of the same shape.
 * Masked weights are held at exactly zero (init, constrain, gradients
 * masked), so the parallel pass is a plain dense product. */
#ifndef NF_MADE_H
#define NF_MADE_H

#include <stddef.h>

#include "io/mfile.h"
#include "nets/mlp.h"
#include "core/real.h"
#include "core/rng.h"

typedef struct made {
    int n, hidden, depth, act, per_dim, n_out;
    int nc, n_in;    /* context inputs (degree 0: every unit reads them), and nc + n */
    mlp net;         /* the dense shape, parameter layout and activations */
    int *order;      /* order[k]: the dimension with degree k + 1 */
    int *deg;        /* depth x hidden: hidden degrees, ascending in a layer */
    int *end;        /* depth x (n + 1): units of layer l with degree <= d */
    int max_rows;
    real *in;        /* rows x n_in: the context, then the inputs in degree order */
    real *out;       /* rows x n_out: outputs, block k = [k per_dim, (k+1) per_dim) */
    real *din;       /* rows x n_in: dL/din, the same layout */
    real *dh;        /* depth x rows x hidden: dL/dh */
} made;

/* Degrees: order (n entries) gives the input order; hidden degrees are
 * `degrees` (depth x hidden) when not NULL, else sequential
 * ((j mod (n-1)) + 1) or drawn from r. n_context inputs of degree 0 come
 * first (a conditional MADE: every hidden unit reads them), and its hidden
 * degrees start at 0 ((j mod n), or drawn from 0..n-1): units of degree 0
 * read the context alone and carry it to every output block, the first
 * dimension's included. */
nf_status made_setup(made *m, int n, int n_context, int hidden, int depth, int act, int per_dim, const int *order,
                     const int *degrees, int random_degrees, rng *r);
void made_free(made *m);
size_t made_n_params(const made *m);
/* Uniform(+-1/sqrt(fan-in)) on the unmasked weights; the output layer is
 * zero when zero_last (the flow layer starts as the identity). */
void made_init_params(const made *m, real *p, rng *r, int zero_last);
void made_constrain(const made *m, real *p);
/* 1 when every masked weight is zero. */
int made_check(const made *m, const real *p);
/* 1 when weight (layer l, out unit j, in unit i) is not masked. */
int made_allowed(const made *m, int l, int j, int i);
nf_status made_reserve(made *m, int rows);

/* Whether the output layer's weights and biases are all zero (an
 * untrained MADE's, made_init_params with zero_last): its outputs are then
 * 0 for any finite hidden units, and a pass no backward pass follows need
 * not compute them. */
int made_output_is_zero(const made *m, const real *p);

/* Parallel pass on x (rows x n, data order) and the context (rows x nc;
 * NULL when nc is 0): m->out. */
void made_forward(made *m, const real *p, int rows, const real *x, const real *context);
/* Backward of made_forward given dout (rows x n_out): dx (data order,
 * written; NULL skips), dcontext += dL/dcontext (NULL skips), dp +=
 * dL/dparams (NULL skips). */
void made_backward(made *m, const real *p, int rows, const real *dout, real *dx, real *dcontext, real *dp);

/* Input k (degree order) of row r, and its gradient. */
static inline real *made_in(const made *m, int r, int k) { return m->in + (size_t)r * m->n_in + m->nc + k; }
static inline real *made_din(const made *m, int r, int k) { return m->din + (size_t)r * m->n_in + m->nc + k; }
/* For the sequential pass: rows [r0, r0 + rows) of m->in get their context
 * (rows x nc, from its row 0); and after the sequential backward, dcontext
 * (from its row 0) += the context's gradient of those rows. No-ops when nc
 * is 0 or the pointer is NULL. */
void made_load_context(made *m, int r0, int rows, const real *context);
void made_context_grad(const made *m, int r0, int rows, real *dcontext);

/* Sequential pass, step k = 0..n-1, on rows [r0, r0 + rows): needs the
 * context (made_load_context) and inputs 0..k-1 (made_in) filled by the
 * caller and steps 0..k-1
 * done on those rows; computes the hidden units of degree k and output
 * block k. Callers run it on tiles of rows that fit in cache: each step
 * re-reads the tile's activations. */
void made_seq_step(made *m, const real *p, int r0, int rows, int k);
/* Weight gradients of the last backward, either kind: dp += dL/dparams
 * from dout (rows x n_out, dL/d(output)) and the hidden gradients the
 * backward left in m->dh. The masked weights' entries of dp are left 0
 * where they came in 0 (a flow's gradient is, between steps). */
void made_param_grad(const made *m, int rows, const real *dout, real *dp);

/* Reverse of the sequential pass on rows [r0, r0 + rows), k = n-1 down to
 * 0, after a full forward (either kind): begin zeroes their m->din and
 * m->dh; step k takes dblock = dL/d(output block k) (rows x per_dim, row
 * stride ld, at row r0) and pushes it through the units of degree k to
 * the context's and inputs 0..k-1's m->din. Before step k, made_din(k) is
 * final. Rows are
 * independent, so tiles of rows may run on different threads; the weight
 * gradients come after, from every block: made_param_grad. */
void made_seq_backward_begin(made *m, int r0, int rows);
void made_seq_backward_step(made *m, const real *p, int r0, int rows, int k, const real *dblock, int ld);

/* The structure (sizes, activation, order, hidden degrees) in a model
 * file section, and back; made_get fills a made_setup-ready spec. */
typedef struct made_spec {
    int hidden, depth, act, context;
    int *order, *degrees; /* malloc'ed; made_spec_free */
} made_spec;
nf_status made_put(const made *m, mf_writer *w);
nf_status made_get(const mf_file *f, const mf_section *s, int dim, made_spec *out);
void made_spec_free(made_spec *sp);

#endif
