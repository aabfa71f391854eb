#include "layer.h"

#include <stdlib.h>

#include "error.h"

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
