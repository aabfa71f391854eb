/* The ready-made architectures' configurations. */
#ifndef NF_MODELS_API_CONFIG_H
#define NF_MODELS_API_CONFIG_H

#include "nflow.h"

/* NF_ERR_INVALID with a message naming the field when a configuration is
 * outside what nf_flow_create builds (the limits of nflow.h); the model-file
 * reader checks a file's config section with it too. */
nf_status flow_config_check(const nf_config *cfg);

/* The caller's config (its struct_size bytes, core/sized.h) over the
 * defaults of its model and dimension, into `full`. */
nf_status config_in(const nf_config *cfg, nf_config *full);

#endif
