#include "layers/layer.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

layer *layer_alloc(const layer_ops *ops, int dim, size_t self_size)
{
    layer *l = calloc(1, sizeof *l);
    void *self = calloc(1, self_size ? self_size : 1);
    if (!l || !self) {
        free(l);
        free(self);
        nf_fail(NF_ERR_NOMEM, "out of memory creating a %s layer", ops->tag);
        return NULL;
    }
    l->ops = ops;
    l->dim = dim;
    l->self = self;
    return l;
}

void layer_free(layer *l)
{
    if (!l)
        return;
    if (l->ops->destroy)
        l->ops->destroy(l);
    free(l->self);
    free(l);
}

size_t layer_no_params(const layer *l)
{
    (void)l;
    return 0;
}

void layer_no_init(layer *l, real *p, rng *r) { (void)l, (void)p, (void)r; }

nf_status layer_no_reserve(layer *l, int rows)
{
    (void)l, (void)rows;
    return NF_OK;
}

nf_status layer_save_tag(const layer *l, mf_writer *w) { return mf_begin(w, l->ops->tag); }

size_t layer_describe_tag(const layer *l, char *buf, size_t size)
{
    return (size_t)snprintf(buf, size, "%s", l->ops->tag);
}
