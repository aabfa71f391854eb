/* Every layer kind, by the tag that names it in model files: what the
 * model-file reader looks a section up in. Adding a kind: its own file with
 * its layer_ops (load and file_params included), a line in registry.c, its
 * tests (docs/adding-a-layer.md). */
#ifndef NF_LAYERS_REGISTRY_H
#define NF_LAYERS_REGISTRY_H

#include "layers/layer.h"

/* The kind with this tag, or NULL. */
const layer_ops *layer_kind(const char *tag);

/* The n-th kind (0..), NULL past the last: for tests and listings. */
const layer_ops *layer_kind_at(int n);

#endif
