/* Permutations of the dimensions (docs/layers.md):
 *   z[:, i] = x[:, perm[i]]  log|det| = 0 */
#include "layers/permute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "core/perm.h"

typedef struct permute {
    int *perm, *inv;
} permute;

static void gather(int dim, const int *idx, int rows, const real *src, real *dst)
{
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < dim; i++)
            dst[(size_t)r * dim + i] = src[(size_t)r * dim + idx[i]];
}

static void permute_x2z(layer *l, const real *p, int rows, const real *x, real *z, double *ldj)
{
    (void)p, (void)ldj;
    gather(l->dim, ((permute *)l->self)->perm, rows, x, z);
}

static void permute_z2x(layer *l, const real *p, int rows, const real *z, real *x, double *ldj)
{
    (void)p, (void)ldj;
    gather(l->dim, ((permute *)l->self)->inv, rows, z, x);
}

static void permute_x2z_backward(layer *l, const real *p, int rows, const real *x, const real *z, const real *dz,
                                 real dldj, real *dx, real *dp)
{
    (void)p, (void)x, (void)z, (void)dldj, (void)dp;
    if (dx)
        gather(l->dim, ((permute *)l->self)->inv, rows, dz, dx);
}

static void permute_z2x_backward(layer *l, const real *p, int rows, const real *z, const real *x, const real *dx,
                                 real dldj, real *dz, real *dp)
{
    (void)p, (void)x, (void)z, (void)dldj, (void)dp;
    if (dz)
        gather(l->dim, ((permute *)l->self)->perm, rows, dx, dz);
}

static nf_status permute_save(const layer *l, mf_writer *w)
{
    const permute *s = l->self;
    int32_t *v = malloc(sizeof(int32_t) * l->dim);
    if (!v)
        return nf_fail(NF_ERR_NOMEM, "out of memory saving a permutation");
    for (int i = 0; i < l->dim; i++)
        v[i] = s->perm[i];
    nf_status st = mf_begin(w, l->ops->tag);
    if (!st)
        st = mf_put_i32s(w, "perm", v, l->dim);
    free(v);
    return st;
}

static size_t permute_describe(const layer *l, char *buf, size_t size)
{
    const permute *s = l->self;
    int reversed = 1;
    for (int i = 0; i < l->dim; i++)
        reversed &= s->perm[i] == l->dim - 1 - i;
    return (size_t)snprintf(buf, size, "permutation (%s)", reversed ? "reverse" : "fixed random");
}

static void permute_destroy(layer *l)
{
    permute *s = l->self;
    free(s->perm);
    free(s->inv);
}

const layer_ops permute_ops = {
    .load = permute_load,
    .tag = "permutation",
    .n_params = layer_no_params,
    .init_params = layer_no_init,
    .reserve = layer_no_reserve,
    .x2z = permute_x2z,
    .x2z_backward = permute_x2z_backward,
    .z2x = permute_z2x,
    .z2x_backward = permute_z2x_backward,
    .save = permute_save,
    .describe = permute_describe,
    .destroy = permute_destroy,
};

layer *permute_new(int dim, const int *perm)
{
    if (!perm_is_valid(perm, dim)) {
        nf_fail(NF_ERR_INVALID, "not a permutation of 0..%d", dim - 1);
        return NULL;
    }
    layer *l = layer_alloc(&permute_ops, dim, sizeof(permute));
    if (!l)
        return NULL;
    permute *s = l->self;
    s->perm = malloc(sizeof(int) * dim);
    s->inv = malloc(sizeof(int) * dim);
    if (!s->perm || !s->inv) {
        layer_free(l);
        nf_fail(NF_ERR_NOMEM, "out of memory creating a permutation");
        return NULL;
    }
    for (int i = 0; i < dim; i++) {
        s->perm[i] = perm[i];
        s->inv[perm[i]] = i;
    }
    return l;
}

nf_status permute_load(const mf_file *f, const mf_section *s, int dim, layer **out)
{
    const int32_t *v;
    nf_status st = mf_get_i32s(f, s, "perm", (size_t)dim, &v, NULL);
    if (st)
        return st;
    int *perm = malloc(sizeof(int) * dim);
    if (!perm)
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    for (int i = 0; i < dim; i++)
        perm[i] = v[i];
    *out = permute_new(dim, perm);
    free(perm);
    if (!*out)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'permutation': not a permutation of 0..%d", mf_path(f), dim - 1);
    return NF_OK;
}
