/* A flow's base density behind one table of operations, as layers have
 * theirs: the simple bases (core/base.c: normal, logistic, uniform box)
 * and the MADE mixture of Gaussians (flow/base_mog.c) each fill one, so
 * that the flow's passes ask the table, never which kind they hold. */
#ifndef NF_FLOW_BASE_OPS_H
#define NF_FLOW_BASE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/kern.h"
#include "core/rng.h"
#include "flow/flow.h"
#include "io/mfile.h"

typedef struct flow_base_ops {
    /* draws are made under one key, in parts (base_sample_at); else read
     * from the stream in row order */
    int keyed;
    /* draws are a differentiable function of the parameters and the noise,
     * so reverse KL can train through them */
    int reparameterised;
    size_t (*n_params)(const nf_flow *f);
    void (*place_params)(nf_flow *f, size_t offset); /* its parameters start at f->params + offset */
    void (*init_params)(nf_flow *f, rng *r);
    /* puts the whole vector p's base parameters back into their feasible set; NULL: none */
    void (*constrain)(const nf_flow *f, real *p);
    nf_status (*reserve)(nf_flow *f, int rows);
    void (*point_context)(nf_flow *f, const real *context, real *dcontext);
    void (*set_dropout)(nf_flow *f, k_dropout d);
    void (*log_prob)(nf_flow *f, int rows, const real *z, double *out);
    /* after log_prob on the same z: dz = scale * d log p / dz, grads (NULL:
     * none) += scale * d log p / d its parameters */
    void (*grad)(nf_flow *f, int rows, const real *z, real scale, real *dz, real *grads);
    /* rows first_row.. of one draw (key: drawn once for the draw when keyed) */
    void (*sample)(nf_flow *f, rng *r, uint64_t key, size_t first_row, int rows, real *z);
    nf_status (*save)(const nf_flow *f, mf_writer *w); /* its own section; NULL: none (the header names it) */
    size_t (*describe)(const nf_flow *f, char *buf, size_t size);
} flow_base_ops;

/* The table of f's base. */
const flow_base_ops *flow_base_of(const nf_flow *f);

#endif
